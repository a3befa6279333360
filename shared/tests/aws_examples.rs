//! Every example line of the AWS VPC documentation page "Flow log record examples"
//! (docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html), parsed with the
//! format the page gives for it and checked field by field.

use std::net::IpAddr;

use connection_tracker::rules::flowlog::{
    Action, FlowLogFormat, LogStatus, Record, DEFAULT_FORMAT,
};

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

/// Checks every field of `format` against `expected` (`-` = absent), through `Record::get`.
fn check_text(record: &Record, format: &FlowLogFormat, expected: &str) {
    let expected: Vec<&str> = expected.split(' ').collect();
    let names: Vec<&str> = format.field_names().collect();
    assert_eq!(
        names.len(),
        expected.len(),
        "expectation has one value per field"
    );
    for (name, want) in names.iter().zip(expected) {
        let want = (want != "-").then_some(want);
        assert_eq!(record.get(name), want, "field {name}");
    }
}

#[test]
fn accepted_and_rejected_traffic() {
    let f = FlowLogFormat::parse(DEFAULT_FORMAT).unwrap();
    // SSH traffic (destination port 22, TCP) from 172.31.16.139 to 172.31.16.21, allowed.
    let line = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
    let r = f.parse_line(line).unwrap();
    assert_eq!(r.version, Some(2));
    assert_eq!(r.account_id, Some("123456789010"));
    assert_eq!(r.interface_id, Some("eni-1235b8ca123456789"));
    assert_eq!(r.srcaddr, ip("172.31.16.139"));
    assert_eq!(r.dstaddr, ip("172.31.16.21"));
    assert_eq!(
        (r.srcport, r.dstport, r.protocol),
        (Some(20641), Some(22), Some(6))
    );
    assert_eq!((r.packets, r.bytes), (Some(20), Some(4249)));
    assert_eq!((r.start, r.end), (Some(1418530010), Some(1418530070)));
    assert_eq!(
        (r.action, r.log_status),
        (Some(Action::Accept), Some(LogStatus::Ok))
    );
    check_text(&r, &f, line);

    // RDP traffic (destination port 3389, TCP) to eni-1235b8ca123456789, rejected.
    let line = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK";
    let r = f.parse_line(line).unwrap();
    assert_eq!(r.srcaddr, ip("172.31.9.69"));
    assert_eq!(r.dstaddr, ip("172.31.9.12"));
    assert_eq!((r.srcport, r.dstport), (Some(49761), Some(3389)));
    assert_eq!(
        (r.action, r.log_status),
        (Some(Action::Reject), Some(LogStatus::Ok))
    );
    check_text(&r, &f, line);
}

#[test]
fn no_data_and_skipped_records() {
    let f = FlowLogFormat::default_v2();
    let line = "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA";
    let r = f.parse_line(line).unwrap();
    assert_eq!(r.log_status, Some(LogStatus::NoData));
    assert_eq!(
        (r.srcaddr, r.dstaddr, r.srcport, r.dstport),
        (None, None, None, None)
    );
    assert_eq!(
        (r.protocol, r.packets, r.bytes, r.action),
        (None, None, None, None)
    );
    assert_eq!((r.start, r.end), (Some(1431280876), Some(1431280934)));
    check_text(&r, &f, line);

    let line =
        "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA";
    let r = f.parse_line(line).unwrap();
    assert_eq!(r.interface_id, Some("eni-11111111aaaaaaaaa"));
    assert_eq!(r.log_status, Some(LogStatus::SkipData));
    assert_eq!(r.action, None);
    check_text(&r, &f, line);
}

#[test]
fn security_group_and_network_acl_rules() {
    // ICMP ping: the inbound request accepted, the response rejected by the network ACL.
    let f = FlowLogFormat::default_v2();
    let line = "2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK";
    let r = f.parse_line(line).unwrap();
    assert_eq!(
        (r.srcaddr, r.dstaddr),
        (ip("203.0.113.12"), ip("172.31.16.139"))
    );
    assert_eq!(
        (r.srcport, r.dstport, r.protocol),
        (Some(0), Some(0), Some(1))
    );
    assert_eq!((r.packets, r.bytes), (Some(4), Some(336)));
    assert_eq!(r.action, Some(Action::Accept));
    check_text(&r, &f, line);

    let line = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK";
    let r = f.parse_line(line).unwrap();
    assert_eq!(
        (r.srcaddr, r.dstaddr),
        (ip("172.31.16.139"), ip("203.0.113.12"))
    );
    assert_eq!(r.action, Some(Action::Reject));
    assert_eq!(r.start, Some(1432917094));
    check_text(&r, &f, line);
}

#[test]
fn ipv6_traffic() {
    // SSH from 2001:db8:1234:a100:8d6e:3477:df66:f105 to 2001:db8:1234:a102:3304:8879:34cf:4071.
    let f = FlowLogFormat::default_v2();
    let line = "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK";
    let r = f.parse_line(line).unwrap();
    assert_eq!(r.srcaddr, ip("2001:db8:1234:a100:8d6e:3477:df66:f105"));
    assert_eq!(r.dstaddr, ip("2001:db8:1234:a102:3304:8879:34cf:4071"));
    assert_eq!(
        (r.srcport, r.dstport, r.protocol),
        (Some(34892), Some(22), Some(6))
    );
    assert_eq!((r.packets, r.bytes), (Some(54), Some(8855)));
    check_text(&r, &f, line);
}

#[test]
fn tcp_flag_sequence() {
    // Custom format of the TCP flags example; one flow seen as SYN, SYN-ACK, FIN, …
    let f = FlowLogFormat::parse(
        "${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status}",
    )
    .unwrap();
    // (line, srcaddr, dstaddr, srcport, dstport, bytes, packets, start, end, tcp-flags)
    let cases = [
        ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK", "52.213.180.42", "10.0.0.62", 43416, 5001, 568, 8, 1566848875, 1566848933, 2),
        ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43416 10.0.0.62 52.213.180.42 6 376 7 1566848875 1566848933 ACCEPT 18 OK", "10.0.0.62", "52.213.180.42", 5001, 43416, 376, 7, 1566848875, 1566848933, 18),
        ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43418 5001 52.213.180.42 10.0.0.62 6 100701 70 1566848875 1566848933 ACCEPT 2 OK", "52.213.180.42", "10.0.0.62", 43418, 5001, 100701, 70, 1566848875, 1566848933, 2),
        ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43418 10.0.0.62 52.213.180.42 6 632 12 1566848875 1566848933 ACCEPT 18 OK", "10.0.0.62", "52.213.180.42", 5001, 43418, 632, 12, 1566848875, 1566848933, 18),
        ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43418 10.0.0.62 52.213.180.42 6 63388 1219 1566848933 1566849113 ACCEPT 1 OK", "10.0.0.62", "52.213.180.42", 5001, 43418, 63388, 1219, 1566848933, 1566849113, 1),
        ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43418 5001 52.213.180.42 10.0.0.62 6 23294588 15774 1566848933 1566849113 ACCEPT 1 OK", "52.213.180.42", "10.0.0.62", 43418, 5001, 23294588, 15774, 1566848933, 1566849113, 1),
        ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 52.213.180.42 10.0.0.62 43638 5001 52.213.180.42 10.0.0.62 6 1260 17 1566933133 1566933193 ACCEPT 3 OK", "52.213.180.42", "10.0.0.62", 43638, 5001, 1260, 17, 1566933133, 1566933193, 3),
        ("3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43638 10.0.0.62 52.213.180.42 6 967 14 1566933133 1566933193 ACCEPT 19 OK", "10.0.0.62", "52.213.180.42", 5001, 43638, 967, 14, 1566933133, 1566933193, 19),
    ];
    for (line, src, dst, sport, dport, bytes, packets, start, end, flags) in cases {
        let r = f.parse_line(line).unwrap();
        assert_eq!(r.version, Some(3));
        assert_eq!(r.get("vpc-id"), Some("vpc-abcdefab012345678"));
        assert_eq!(r.get("subnet-id"), Some("subnet-aaaaaaaa012345678"));
        assert_eq!(r.get("instance-id"), Some("i-01234567890123456"));
        assert_eq!(r.get("type"), Some("IPv4"));
        assert_eq!((r.srcaddr, r.dstaddr), (ip(src), ip(dst)));
        assert_eq!((r.pkt_srcaddr, r.pkt_dstaddr), (ip(src), ip(dst)));
        assert_eq!((r.srcport, r.dstport), (Some(sport), Some(dport)));
        assert_eq!((r.bytes, r.packets), (Some(bytes), Some(packets)));
        assert_eq!((r.start, r.end), (Some(start), Some(end)));
        assert_eq!(r.tcp_flags, Some(flags));
        assert_eq!(
            (r.action, r.log_status),
            (Some(Action::Accept), Some(LogStatus::Ok))
        );
        check_text(&r, &f, line);
    }
}

#[test]
fn traffic_through_a_nat_gateway() {
    // pkt-srcaddr / pkt-dstaddr show the original addresses behind the NAT gateway.
    let f = FlowLogFormat::parse(
        "${instance-id} ${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr}",
    )
    .unwrap();
    let cases = [
        (
            "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
            None,
            "eni-1235b8ca123456789",
            "10.0.1.5",
            "10.0.0.220",
            "10.0.1.5",
            "203.0.113.5",
        ),
        (
            "- eni-1235b8ca123456789 10.0.0.220 203.0.113.5 10.0.0.220 203.0.113.5",
            None,
            "eni-1235b8ca123456789",
            "10.0.0.220",
            "203.0.113.5",
            "10.0.0.220",
            "203.0.113.5",
        ),
        (
            "- eni-1235b8ca123456789 203.0.113.5 10.0.0.220 203.0.113.5 10.0.0.220",
            None,
            "eni-1235b8ca123456789",
            "203.0.113.5",
            "10.0.0.220",
            "203.0.113.5",
            "10.0.0.220",
        ),
        (
            "- eni-1235b8ca123456789 10.0.0.220 10.0.1.5 203.0.113.5 10.0.1.5",
            None,
            "eni-1235b8ca123456789",
            "10.0.0.220",
            "10.0.1.5",
            "203.0.113.5",
            "10.0.1.5",
        ),
        (
            "i-01234567890123456 eni-1111aaaa2222bbbb3 10.0.1.5 203.0.113.5 10.0.1.5 203.0.113.5",
            Some("i-01234567890123456"),
            "eni-1111aaaa2222bbbb3",
            "10.0.1.5",
            "203.0.113.5",
            "10.0.1.5",
            "203.0.113.5",
        ),
        (
            "i-01234567890123456 eni-1111aaaa2222bbbb3 203.0.113.5 10.0.1.5 203.0.113.5 10.0.1.5",
            Some("i-01234567890123456"),
            "eni-1111aaaa2222bbbb3",
            "203.0.113.5",
            "10.0.1.5",
            "203.0.113.5",
            "10.0.1.5",
        ),
    ];
    for (line, instance, eni, src, dst, psrc, pdst) in cases {
        let r = f.parse_line(line).unwrap();
        assert_eq!(r.get("instance-id"), instance);
        assert_eq!(r.interface_id, Some(eni));
        assert_eq!((r.srcaddr, r.dstaddr), (ip(src), ip(dst)));
        assert_eq!((r.pkt_srcaddr, r.pkt_dstaddr), (ip(psrc), ip(pdst)));
        // This format has neither action nor log-status.
        assert_eq!((r.action, r.log_status, r.version), (None, None, None));
        check_text(&r, &f, line);
    }
}

#[test]
fn traffic_through_a_transit_gateway() {
    let f = FlowLogFormat::parse(
        "${version} ${interface-id} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${action} ${log-status}",
    )
    .unwrap();
    let cases = [
        ("3 eni-33333333333333333 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb i-01234567890123456 10.20.33.164 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK", 39812, 80, 3),
        ("3 eni-33333333333333333 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb i-01234567890123456 10.40.2.236 10.20.33.164 80 39812 6 19 IPv4 10.40.2.236 10.20.33.164 ACCEPT OK", 80, 39812, 19),
        ("3 eni-11111111111111111 123456789010 vpc-abcdefab012345678 subnet-11111111aaaaaaaaa - 10.40.1.175 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK", 39812, 80, 3),
        ("3 eni-22222222222222222 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb - 10.40.2.236 10.40.2.31 80 39812 6 19 IPv4 10.40.2.236 10.20.33.164 ACCEPT OK", 80, 39812, 19),
    ];
    for (line, sport, dport, flags) in cases {
        let r = f.parse_line(line).unwrap();
        assert_eq!(
            (r.srcport, r.dstport, r.tcp_flags),
            (Some(sport), Some(dport), Some(flags))
        );
        assert_eq!(r.protocol, Some(6));
        assert_eq!(r.account_id, Some("123456789010"));
        check_text(&r, &f, line);
    }
    // The third record is the transit gateway's own interface: no instance, and pkt-srcaddr
    // differs from srcaddr.
    let r = f.parse_line(cases[2].0).unwrap();
    assert_eq!(r.get("instance-id"), None);
    assert_eq!(
        (r.srcaddr, r.pkt_srcaddr),
        (ip("10.40.1.175"), ip("10.20.33.164"))
    );
}

#[test]
fn service_name_traffic_path_and_flow_direction() {
    let f = FlowLogFormat::parse(
        "${version} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${type} ${packets} ${bytes} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${region} ${az-id} ${sublocation-type} ${sublocation-id} ${action} ${tcp-flags} ${pkt-srcaddr} ${pkt-dstaddr} ${pkt-src-aws-service} ${pkt-dst-aws-service} ${traffic-path} ${flow-direction} ${log-status}",
    )
    .unwrap();
    let ingress = "5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK";
    let r = f.parse_line(ingress).unwrap();
    assert_eq!(r.version, Some(5));
    assert_eq!(r.region, Some("ap-southeast-2"));
    assert_eq!(r.get("az-id"), Some("apse2-az3"));
    assert_eq!(r.get("pkt-src-aws-service"), Some("S3"));
    assert_eq!(r.get("pkt-dst-aws-service"), None);
    assert_eq!(r.traffic_path, None);
    assert_eq!(r.get("flow-direction"), Some("ingress"));
    assert_eq!(
        (r.packets, r.bytes, r.tcp_flags),
        (Some(14), Some(15044), Some(19))
    );
    check_text(&r, &f, ingress);

    let egress = "5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK";
    let r = f.parse_line(egress).unwrap();
    assert_eq!(r.get("pkt-dst-aws-service"), Some("S3"));
    assert_eq!(r.traffic_path, Some(8));
    assert_eq!(r.get("flow-direction"), Some("egress"));
    check_text(&r, &f, egress);
}

#[test]
fn malformed_lines_are_rejected_with_a_reason() {
    let f = FlowLogFormat::default_v2();
    let good = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
    let cases = [
        (
            good.replace(" OK", ""),
            "field_count",
            "expected 14 fields, found 13",
        ),
        (
            format!("{good} extra"),
            "field_count",
            "expected 14 fields, found 15",
        ),
        (
            good.replace("172.31.16.139", "172.31.16.300"),
            "bad_address",
            "field `srcaddr` is `172.31.16.300`",
        ),
        (
            good.replace("172.31.16.21", "fe80::zz"),
            "bad_address",
            "field `dstaddr` is `fe80::zz`",
        ),
        (
            good.replace(" 22 ", " 70000 "),
            "bad_number",
            "field `dstport` is `70000`",
        ),
        (
            good.replace(" 4249 ", " -1 "),
            "bad_number",
            "field `bytes` is `-1`",
        ),
        (
            good.replace("1418530010", "yesterday"),
            "bad_number",
            "field `start` is `yesterday`",
        ),
        (
            good.replace("ACCEPT", "ALLOW"),
            "bad_value",
            "field `action` is `ALLOW`",
        ),
        (
            good.replace(" OK", " FINE"),
            "bad_value",
            "field `log-status` is `FINE`",
        ),
        (String::new(), "field_count", "expected 14 fields, found 0"),
    ];
    for (line, kind, message) in cases {
        let err = f.parse_line(&line).unwrap_err();
        assert_eq!(err.kind().name(), kind, "{line}");
        assert!(err.to_string().starts_with(message), "{line}: {err}");
    }
}

#[test]
fn unknown_fields_are_carried() {
    let f = FlowLogFormat::parse("${version} ${srcaddr} ${some-future-field} ${dstport}").unwrap();
    let r = f.parse_line("9 198.51.100.1 hello 443").unwrap();
    assert_eq!(r.get("some-future-field"), Some("hello"));
    assert_eq!(r.version, Some(9));
    assert_eq!(r.dstport, Some(443));
}

//! Properties of the ingest path on arbitrary lines (near-valid flow-log records with hostile
//! values, and plain garbage), with proptest: nothing panics; every line is accounted for once
//! (counted, skipped or rejected — never silently dropped); the write adds up to exactly the
//! records counted; every day written lies in the accepted window.

use connection_tracker::ingest::inventory::Inventory;
use connection_tracker::ingest::payload::LogsMessage;
use connection_tracker::ingest::{aggregate, Context, WritePolicy};
use connection_tracker::rules::classify::Networks;
use connection_tracker::rules::flowlog::FlowLogFormat;
use connection_tracker::testing::{interface, logs_message};
use proptest::prelude::*;

/// 2026-11-27T13:00:00Z.
const NOW: i64 = 1_795_784_400;
const RETENTION_DAYS: u32 = 30;

/// The rules' settings of these tests, reading lines with `format`.
fn context(format: &FlowLogFormat) -> Context<'_> {
    Context {
        fallback_format: format,
        default_region: "eu-west-1",
        retention_days: RETENTION_DAYS,
        shared_vpc_owners: &[],
        now: NOW,
    }
}

fn policy() -> WritePolicy {
    WritePolicy {
        retention_days: RETENTION_DAYS,
        dedup_window: std::time::Duration::from_secs(3600),
        limits: Default::default(),
    }
}

fn inventory() -> Inventory {
    let mut inventory = Inventory {
        networks: Networks::new(vec![("office".into(), "85.1.0.0/16".parse().unwrap())]),
        ..Inventory::default()
    };
    let mut alb = interface(
        "eni-alb",
        "111111111111",
        "eu-west-1",
        "ELB app/shop/50dc6c495c0c9188",
        "10.0.1.10",
        "52.16.0.10",
    );
    alb.lb_dns_name = Some("shop-1.eu-west-1.elb.amazonaws.com".into());
    inventory.insert_interface(&alb);
    inventory.insert_interface(&interface(
        "eni-web",
        "222222222222",
        "eu-west-1",
        "Primary network interface",
        "10.0.2.20",
        "52.16.0.20",
    ));
    inventory.insert_interface(&interface(
        "eni-nat",
        "111111111111",
        "eu-west-1",
        "Interface for NAT Gateway nat-1",
        "10.0.4.40",
        "52.16.0.40",
    ));
    inventory.own_addresses.insert(
        "34.240.0.1".parse().unwrap(),
        "222222222222/eu-west-1/nat".into(),
    );
    inventory
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(options).prop_map(|s| s.to_string())
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        pick(&[
            "8.8.8.8",
            "10.0.1.10",
            "10.0.2.20",
            "10.0.4.40",
            "10.9.9.9",
            "85.1.2.3",
            "34.240.0.1",
            "100.64.0.1",
            "203.0.113.9",
            "2a00:1450:4001::1",
            "fd00::1",
            "-",
            "8.8.8.300",
            "::ffff:8.8.8.8",
            "",
        ]),
        any::<u32>().prop_map(|n| std::net::Ipv4Addr::from(n).to_string()),
        "[0-9a-f:.]{0,20}",
    ]
}

fn time() -> impl Strategy<Value = String> {
    prop_oneof![
        // Around now, in seconds and in milliseconds, well inside and at the window's edges.
        (-(40i64 * 86_400)..2 * 86_400).prop_map(|d| (NOW + d).to_string()),
        (-(40i64 * 86_400)..2 * 86_400).prop_map(|d| ((NOW + d) * 1000).to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        pick(&[
            "-",
            "18446744073709551615",
            "253402300800000",
            "0",
            "-1",
            "1e9"
        ]),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..70_000).prop_map(|n| n.to_string()),
        pick(&["-", "99999", "4294967296", "x"])
    ]
}

/// A v2 line whose every field may be wrong, or a line of anything.
fn line() -> impl Strategy<Value = String> {
    let fields = (
        pick(&["2", "5", "x"]),
        pick(&[
            "111111111111",
            "222222222222",
            "999999999999",
            "unknown",
            "-",
        ]),
        pick(&["eni-alb", "eni-web", "eni-nat", "eni-gone", "-"]),
        address(),
        address(),
        number(),
        number(),
        (number(), number(), number()),
        (time(), time()),
        pick(&["ACCEPT", "REJECT", "-", "accept"]),
        pick(&["OK", "NODATA", "SKIPDATA", "-"]),
    )
        .prop_map(
            |(
                v,
                account,
                eni,
                src,
                dst,
                sport,
                dport,
                (proto, packets, bytes),
                (start, end),
                action,
                status,
            )| {
                format!(
                    "{v} {account} {eni} {src} {dst} {sport} {dport} {proto} {packets} {bytes} \
                     {start} {end} {action} {status}"
                )
            },
        );
    prop_oneof![6 => plausible_line(), 3 => fields, 1 => ".{0,120}"]
}

/// A well-formed v2 record on a known interface, mostly counted: public and private sources,
/// every account id, times near now and far away.
fn plausible_line() -> impl Strategy<Value = String> {
    (
        pick(&["111111111111", "222222222222", "999999999999", "unknown"]),
        pick(&[
            "eni-alb 10.0.1.10",
            "eni-web 10.0.2.20",
            "eni-web 10.0.2.99",
            "eni-nat 10.0.4.40",
        ]),
        prop_oneof![
            pick(&[
                "8.8.8.8",
                "85.1.2.3",
                "34.240.0.1",
                "100.64.0.1",
                "2a00:1450:4001::1",
                "10.9.9.9"
            ]),
            any::<u32>().prop_map(|n| std::net::Ipv4Addr::from(n).to_string()),
        ],
        any::<u16>(),
        prop_oneof![
            9 => (-(35i64 * 86_400)..86_400).prop_map(|d| NOW + d),
            1 => any::<i64>(),
        ],
        pick(&["ACCEPT", "ACCEPT", "ACCEPT", "REJECT"]),
    )
        .prop_map(|(account, eni_dst, src, port, start, action)| {
            format!(
                "2 {account} {eni_dst_src} 49152 {port} 6 10 840 {start} {start} {action} OK",
                eni_dst_src = {
                    let (eni, dst) = eni_dst.split_once(' ').unwrap();
                    format!("{eni} {src} {dst}")
                }
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_line_is_accounted_for_once_and_days_stay_in_the_window(
        lines in proptest::collection::vec(line(), 0..40),
        event_ms in any::<u64>(),
        owner in pick(&["111111111111", "222222222222", "999999999999"]),
    ) {
        let inventory = inventory();
        let format = FlowLogFormat::default_v2();
        let ctx = context(&format);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let json = logs_message(&owner, "/vpc/flow-logs", &refs, event_ms).to_string();
        let message = LogsMessage::parse(json.as_bytes()).unwrap();
        let messages = [message];
        let agg = aggregate(&inventory, &ctx, &messages);
        let s = &agg.summary;

        let non_blank = lines
            .iter()
            .flat_map(|l| l.lines())
            .filter(|l| !l.trim().is_empty())
            .count() as u64;
        prop_assert_eq!(s.records, non_blank);
        let skipped: u64 = s.skipped.values().sum();
        prop_assert_eq!(s.counted + skipped + s.rejected_total(), s.records);

        let now = time::OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let write = agg.to_write(
            &["payload"],
            &policy(),
            now,
        );
        let written = write.records();
        prop_assert_eq!(written, s.counted);
        let first = (NOW / 86_400) - i64::from(RETENTION_DAYS);
        let last = (NOW + 86_400) / 86_400;
        for day in &write.days {
            let date = connection_tracker::day::parse(&day.day).expect("a YYYY-MM-DD day");
            let n = (date - time::macros::date!(1970 - 01 - 01)).whole_days();
            prop_assert!((first..=last).contains(&n), "{} outside the window", day.day);
            prop_assert!(day.expire_at > NOW, "{} would expire at once", day.day);
        }
        for increment in write.days.iter().flat_map(|d| &d.payloads).flat_map(|p| &p.increments) {
            // Counted under the interface's owner, who is the log's owner: never an account a
            // line named, never another account's interface.
            prop_assert_eq!(increment.account, owner.as_str());
        }
    }
}

/// An interface whose region the refresh did not record is counted under the region its
/// record names, if that is a region's name (it names keys), else under `DEFAULT_REGION`; the
/// aggregate keeps what it needs of a message, so each message's bytes can go once it is added.
#[test]
fn a_record_names_the_region_only_with_a_region_name_and_messages_can_go_once_added() {
    let mut inventory = inventory();
    inventory.insert_interface(&interface(
        "eni-noregion",
        "111111111111",
        "",
        "Primary network interface",
        "10.0.3.30",
        "52.16.0.30",
    ));
    let format = FlowLogFormat::parse(
        "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} \
         ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${region}",
    )
    .unwrap();
    let ctx = context(&format);
    let line = |src: &str, region: &str| {
        format!("2 111111111111 eni-noregion {src} 10.0.3.30 49152 443 6 10 840 {NOW} {NOW} ACCEPT OK {region}")
    };
    let batches = [
        vec![line("8.8.8.8", "ap-southeast-2"), line("8.8.4.4", "}{ct:x")],
        vec![line("9.9.9.9", "ap-southeast-2"), line("1.1.1.1", "-")],
    ];
    let mut agg = connection_tracker::ingest::Aggregate::default();
    for (unit, lines) in batches.iter().enumerate() {
        // Each message lives only for its own `add`.
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let json = logs_message("111111111111", "/vpc/flow-logs", &refs, NOW as u64 * 1000)
            .to_string()
            .into_bytes();
        let message = LogsMessage::parse(&json).unwrap();
        agg.add(&inventory, &ctx, unit as u32, &message);
    }
    assert_eq!(agg.summary.counted, 4);
    let now = time::OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    let write = agg.to_write(&["one", "two"], &policy(), now);
    let mut got: Vec<(&str, &str, &str)> = write
        .days
        .iter()
        .flat_map(|d| &d.payloads)
        .flat_map(|p| {
            p.increments
                .iter()
                .map(move |i| (p.id, i.region, i.member.as_str()))
        })
        .map(|(id, region, member)| (id, region, member.split('\t').next().unwrap()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("one", "ap-southeast-2", "8.8.8.8"),
            ("one", "eu-west-1", "8.8.4.4"),
            ("two", "ap-southeast-2", "9.9.9.9"),
            ("two", "eu-west-1", "1.1.1.1"),
        ]
    );
    let mut touched = write.touched.clone();
    touched.sort();
    assert!(touched.contains(&("111111111111", "ap-southeast-2")));
    assert!(!touched.iter().any(|(_, r)| r.contains('}')));
}

//! The S3 rule (`docs/rules.md`, "The S3 rule"): traffic to an EC2 instance from a source that is
//! **both** inside the `S3` service's prefixes of AWS's published ranges (`ip-ranges.json`)
//! **and** reverse-named in S3's own grammar under the exact suffix `.amazonaws.com` is S3
//! answering on a high port, not a connection. Neither half decides alone: anyone can publish an
//! S3-looking PTR name for an address they hold, and anyone with an Elastic IP holds an address
//! in AWS's other prefixes. Pure: the refresh fetches and stores the prefixes, the API applies
//! the rule when it shows names.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::Deserialize;

use super::classify;
use crate::model::{EndpointKind, InterfaceFacts};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangesError {
    #[error("not AWS's ip-ranges.json: {0}")]
    Json(String),
    #[error("ip-ranges.json lists no prefix of the S3 service")]
    Empty,
}

#[derive(Deserialize)]
struct IpRangesFile {
    #[serde(default)]
    prefixes: Vec<V4Prefix>,
    #[serde(default)]
    ipv6_prefixes: Vec<V6Prefix>,
}

#[derive(Deserialize)]
struct V4Prefix {
    ip_prefix: String,
    #[serde(default)]
    service: String,
}

#[derive(Deserialize)]
struct V6Prefix {
    ipv6_prefix: String,
    #[serde(default)]
    service: String,
}

/// The `service` of `ip-ranges.json` whose prefixes are S3's own (`AMAZON` lists every
/// service's, EC2's included, so it is not taken).
const S3_SERVICE: &str = "S3";

/// S3's published address blocks: the prefixes of `ip-ranges.json` whose `service` is `S3`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Ranges {
    /// Sorted, deduplicated.
    blocks: Vec<IpNetwork>,
}

impl S3Ranges {
    /// Reads `ip-ranges.json`, keeping the `S3` service's prefixes; those that do not parse are
    /// skipped (counted in the answer).
    pub fn from_ip_ranges_json(bytes: &[u8]) -> Result<(S3Ranges, usize), RangesError> {
        let file: IpRangesFile =
            serde_json::from_slice(bytes).map_err(|e| RangesError::Json(e.to_string()))?;
        let texts = file
            .prefixes
            .iter()
            .filter(|p| p.service == S3_SERVICE)
            .map(|p| p.ip_prefix.as_str())
            .chain(
                file.ipv6_prefixes
                    .iter()
                    .filter(|p| p.service == S3_SERVICE)
                    .map(|p| p.ipv6_prefix.as_str()),
            );
        let (ranges, skipped) = S3Ranges::from_lines(texts);
        if ranges.blocks.is_empty() {
            return Err(RangesError::Empty);
        }
        Ok((ranges, skipped))
    }

    /// Blocks as CIDR text (as stored); answers the ranges and how many lines were skipped.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> (S3Ranges, usize) {
        let mut skipped = 0;
        let mut blocks: Vec<IpNetwork> = lines
            .into_iter()
            .filter_map(|l| match l.trim().parse::<IpNetwork>() {
                Ok(net) => Some(net),
                Err(_) => {
                    skipped += 1;
                    None
                }
            })
            .collect();
        blocks.sort_by_key(|n| (n.network(), n.prefix()));
        blocks.dedup();
        (S3Ranges { blocks }, skipped)
    }

    /// The blocks as CIDR text, one per entry, for the store.
    pub fn to_lines(&self) -> Vec<String> {
        self.blocks.iter().map(|b| b.to_string()).collect()
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // Blocks start at or before `ip` in sort order; the containing one is among them.
        let end = self.blocks.partition_point(|b| b.network() <= ip);
        self.blocks[..end].iter().rev().any(|b| b.contains(ip))
    }
}

/// The suffix every S3 reverse name ends with; only AWS can publish names under it.
const AWS_SUFFIX: &str = ".amazonaws.com";

/// Whether a reverse name is one of S3's: under the exact suffix `.amazonaws.com`, at most four
/// labels before it, the first `s3` or `s3-…` (`s3-1-w`, `s3-eu-west-1-r-w`, `s3-website-…`),
/// every label a DNS label (letters, digits, inner `-`, 1–63 characters). Case-insensitive; one
/// trailing root dot is allowed. `^s3.*amazonaws.com$` (whose `.` matches anything) is not
/// enough: `s3.evilamazonaws.com` is anyone's to register.
pub fn is_s3_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let Some(labels) = host.strip_suffix(AWS_SUFFIX) else {
        return false;
    };
    let mut labels = labels.split('.');
    let first_is_s3 = labels
        .next()
        .is_some_and(|first| first == "s3" || first.starts_with("s3-"));
    first_is_s3 && host.split('.').count() <= 6 && host.split('.').all(is_dns_label)
}

/// A DNS label in the host-name grammar (RFC 1123): letters, digits and `-`, not first or last.
fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The destinations rows to EC2 instances are counted under: each instance interface's names
/// (`Name/public-ip` or the public address). A bare private `dstaddr` (an address the refresh
/// did not see) is an instance's too: callers also treat a destination that is an address as
/// one.
pub fn instance_destinations(interfaces: &[InterfaceFacts]) -> HashSet<String> {
    interfaces
        .iter()
        .filter(|f| classify::endpoint_kind(f) == EndpointKind::Instance)
        .flat_map(|f| {
            f.public_ips
                .keys()
                .map(move |&private| classify::destination(f, Some(private)).name_or(private))
        })
        .collect()
}

/// Whether a row is S3 answering an instance: the destination is an instance's, the source
/// address is in AWS's ranges, and its reverse name is S3's.
pub fn is_s3_echo(
    dest: &str,
    source_ip: IpAddr,
    host: &str,
    instances: &HashSet<String>,
    ranges: &S3Ranges,
) -> bool {
    is_s3_host(host)
        && (instances.contains(dest) || dest.parse::<IpAddr>().is_ok())
        && ranges.contains(source_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of AWS's file, from the "AWS IP address ranges" page of the AWS documentation:
    /// `AMAZON` repeats every service's prefixes, EC2's are anyone's Elastic IPs.
    const SAMPLE: &str = r#"{
      "syncToken": "1416435608",
      "createDate": "2014-11-19-23-29-02",
      "prefixes": [
        {"ip_prefix": "52.92.16.0/20", "region": "us-east-1", "service": "AMAZON", "network_border_group": "us-east-1"},
        {"ip_prefix": "52.92.16.0/20", "region": "us-east-1", "service": "S3", "network_border_group": "us-east-1"},
        {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "S3", "network_border_group": "ap-northeast-2"},
        {"ip_prefix": "54.0.0.0/15", "region": "us-east-1", "service": "AMAZON", "network_border_group": "us-east-1"},
        {"ip_prefix": "54.0.0.0/15", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"},
        {"ip_prefix": "not a prefix", "region": "x", "service": "S3"},
        {"ip_prefix": "also not one", "region": "x", "service": "EC2"}
      ],
      "ipv6_prefixes": [
        {"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"},
        {"ipv6_prefix": "2a05:d07c::/40", "region": "eu-west-1", "service": "S3", "network_border_group": "eu-west-1"}
      ]
    }"#;

    #[test]
    fn only_the_s3_service_prefixes_are_taken() {
        let (ranges, skipped) = S3Ranges::from_ip_ranges_json(SAMPLE.as_bytes()).unwrap();
        assert_eq!((ranges.len(), skipped), (3, 1));
        for (ip, want) in [
            ("52.92.16.1", true),
            ("52.92.31.255", true),
            ("52.92.32.0", false),
            ("3.5.141.7", true),
            ("3.5.144.0", false),
            // EC2's (and AMAZON's): an Elastic IP anyone can hold.
            ("54.0.0.7", false),
            ("8.8.8.8", false),
            ("2a05:d07c::1", true),
            ("2600:1f18::1", false),
        ] {
            assert_eq!(ranges.contains(ip.parse().unwrap()), want, "{ip}");
        }
        let (again, _) = S3Ranges::from_lines(ranges.to_lines().iter().map(String::as_str));
        assert_eq!(again, ranges);
        assert!(S3Ranges::from_ip_ranges_json(b"{\"prefixes\": []}").is_err());
        let no_s3 = br#"{"prefixes": [{"ip_prefix": "54.0.0.0/15", "service": "EC2"}]}"#;
        assert_eq!(
            S3Ranges::from_ip_ranges_json(no_s3),
            Err(RangesError::Empty)
        );
        assert!(S3Ranges::from_ip_ranges_json(b"<html>").is_err());
    }

    #[test]
    fn s3_host_names_in_s3_grammar_under_the_exact_suffix() {
        for (host, want) in [
            // Reverse names S3's addresses answer with.
            ("s3-1-w.amazonaws.com", true),
            ("s3-2-w.amazonaws.com", true),
            ("s3-1.amazonaws.com", true),
            ("s3-eu-west-1-r-w.amazonaws.com", true),
            ("s3-us-west-2-r-w.amazonaws.com", true),
            ("s3-website-us-east-1.amazonaws.com", true),
            ("s3-website.eu-west-1.amazonaws.com", true),
            ("s3.eu-west-1.amazonaws.com", true),
            ("s3.dualstack.eu-west-1.amazonaws.com", true),
            ("s3.amazonaws.com", true),
            ("S3-1-W.AMAZONAWS.COM", true),
            ("s3-1-w.amazonaws.com.", true),
            // Look-alikes anyone can register or publish.
            ("s3.evilamazonaws.com", false),
            ("s3evilamazonaws.com", false),
            ("s3xamazonawsxcom", false),
            ("s3amazonawsXcom", false),
            ("s3.amazonaws.com.evil.net", false),
            ("s3.amazonaws.com.evil.example", false),
            ("s3.amazonaws.co", false),
            ("s3.amazonaws.com..", false),
            // Not S3's grammar.
            ("mys3.amazonaws.com", false),
            ("s3x.amazonaws.com", false),
            ("ec2-52-92-16-1.compute-1.amazonaws.com", false),
            ("x.s3.amazonaws.com", false),
            ("s3-.amazonaws.com", false),
            ("s3..amazonaws.com", false),
            ("s3_1.amazonaws.com", false),
            ("s3.a.b.c.d.amazonaws.com", false),
            ("amazonaws.com", false),
            (".amazonaws.com", false),
            ("s3", false),
            ("", false),
        ] {
            assert_eq!(is_s3_host(host), want, "{host}");
        }
    }

    #[test]
    fn the_echo_needs_both_an_s3_prefix_and_an_s3_name() {
        let (ranges, _) = S3Ranges::from_ip_ranges_json(SAMPLE.as_bytes()).unwrap();
        let instances = HashSet::from(["web/54.0.0.9".to_string()]);
        for (dest, source, host, want) in [
            ("web/54.0.0.9", "52.92.16.5", "s3-1-w.amazonaws.com", true),
            // A bare address destination is an instance's the refresh did not see.
            ("10.0.1.7", "52.92.16.5", "s3-1-w.amazonaws.com", true),
            // An Elastic IP in EC2's prefixes with an S3-looking (even a real-looking) name.
            ("web/54.0.0.9", "54.0.0.7", "s3-1-w.amazonaws.com", false),
            ("web/54.0.0.9", "54.0.0.7", "s3.evilamazonaws.com", false),
            // S3's address, a name that is not S3's.
            ("web/54.0.0.9", "52.92.16.5", "s3.evilamazonaws.com", false),
            // Not an instance.
            ("lb/my-alb", "52.92.16.5", "s3-1-w.amazonaws.com", false),
        ] {
            let ip = source.parse().unwrap();
            assert_eq!(
                is_s3_echo(dest, ip, host, &instances, &ranges),
                want,
                "{dest} {source} {host}"
            );
        }
    }
}

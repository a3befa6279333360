//! The S3 rule (`docs/rules.md`, "Names shown in answers"): traffic to an EC2 instance from a source that is
//! **both** inside AWS's published address ranges (`ip-ranges.json`) **and** reverse-named
//! `^s3.*amazonaws.com$` is S3 answering on a high port, not a connection. A reverse name alone
//! never decides it (anyone can publish such a PTR record for their own addresses). Pure: the
//! refresh fetches and stores the ranges, the API applies the rule when it shows names.

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
    #[error("ip-ranges.json lists no prefixes")]
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
}

#[derive(Deserialize)]
struct V6Prefix {
    ipv6_prefix: String,
}

/// AWS's published address blocks, every service (the original took them all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsRanges {
    /// Sorted, deduplicated.
    blocks: Vec<IpNetwork>,
}

impl AwsRanges {
    /// Reads `ip-ranges.json`; prefixes that do not parse are skipped (counted in the answer).
    pub fn from_ip_ranges_json(bytes: &[u8]) -> Result<(AwsRanges, usize), RangesError> {
        let file: IpRangesFile =
            serde_json::from_slice(bytes).map_err(|e| RangesError::Json(e.to_string()))?;
        let texts = file
            .prefixes
            .iter()
            .map(|p| p.ip_prefix.as_str())
            .chain(file.ipv6_prefixes.iter().map(|p| p.ipv6_prefix.as_str()));
        let (ranges, skipped) = AwsRanges::from_lines(texts);
        if ranges.blocks.is_empty() {
            return Err(RangesError::Empty);
        }
        Ok((ranges, skipped))
    }

    /// Blocks as CIDR text (as stored); answers the ranges and how many lines were skipped.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> (AwsRanges, usize) {
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
        (AwsRanges { blocks }, skipped)
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

/// The original's `^s3.*amazonaws.com$` (its `.` matches any character), case-insensitive.
pub fn is_s3_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    let b = h.as_bytes();
    b.len() >= 15
        && b.starts_with(b"s3")
        && b.ends_with(b"com")
        && b[..b.len() - 4].ends_with(b"amazonaws")
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
    ranges: &AwsRanges,
) -> bool {
    is_s3_host(host)
        && (instances.contains(dest) || dest.parse::<IpAddr>().is_ok())
        && ranges.contains(source_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of AWS's file, from the "AWS IP address ranges" page of the AWS documentation.
    const SAMPLE: &str = r#"{
      "syncToken": "1416435608",
      "createDate": "2014-11-19-23-29-02",
      "prefixes": [
        {"ip_prefix": "52.92.16.0/20", "region": "us-east-1", "service": "AMAZON", "network_border_group": "us-east-1"},
        {"ip_prefix": "52.92.16.0/20", "region": "us-east-1", "service": "S3", "network_border_group": "us-east-1"},
        {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "S3", "network_border_group": "ap-northeast-2"},
        {"ip_prefix": "not a prefix", "region": "x", "service": "S3"}
      ],
      "ipv6_prefixes": [
        {"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "AMAZON", "network_border_group": "us-east-1"}
      ]
    }"#;

    #[test]
    fn ranges_parse_and_contain() {
        let (ranges, skipped) = AwsRanges::from_ip_ranges_json(SAMPLE.as_bytes()).unwrap();
        assert_eq!((ranges.len(), skipped), (3, 1));
        for (ip, want) in [
            ("52.92.16.1", true),
            ("52.92.31.255", true),
            ("52.92.32.0", false),
            ("3.5.141.7", true),
            ("3.5.144.0", false),
            ("8.8.8.8", false),
            ("2600:1f18::1", true),
            ("2600:1f19::1", false),
        ] {
            assert_eq!(ranges.contains(ip.parse().unwrap()), want, "{ip}");
        }
        let (again, _) = AwsRanges::from_lines(ranges.to_lines().iter().map(String::as_str));
        assert_eq!(again, ranges);
        assert!(AwsRanges::from_ip_ranges_json(b"{\"prefixes\": []}").is_err());
        assert!(AwsRanges::from_ip_ranges_json(b"<html>").is_err());
    }

    #[test]
    fn s3_host_names_as_the_original_matched_them() {
        for (host, want) in [
            ("s3-website-eu-west-1.amazonaws.com", true),
            ("s3.eu-west-1.amazonaws.com", true),
            ("S3-1-W.AMAZONAWS.COM", true),
            ("s3.amazonaws.com", true),
            ("s3amazonawsXcom", true),
            ("ec2-52-92-16-1.compute-1.amazonaws.com", false),
            ("s3.amazonaws.com.evil.example", false),
            ("mys3.amazonaws.com", false),
            ("s3", false),
        ] {
            assert_eq!(is_s3_host(host), want, "{host}");
        }
    }
}

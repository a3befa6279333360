//! An S3 object's key: AWS's two `AWSLogs/` layouts, what the key says (account, region, day,
//! file format), and why any other key is skipped.

use super::ObjectSkip;
use crate::model::{is_account_id, is_region};

/// What an object's key says: whose flow logs, where, which file format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectKey {
    pub account: String,
    pub region: String,
    /// `YYYY-MM-DD` of the delivery folder.
    pub day: String,
    pub kind: ObjectKind,
    /// The key from `AWSLogs/` on: the object's identity.
    pub from_awslogs: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// `.log.gz`: gzip text, a header line, then records.
    Text,
    /// `.log.parquet`.
    Parquet,
}

impl ObjectKind {
    /// The kind a file or key name ends in, if it is a flow-log file at all.
    pub fn of(name: &str) -> Option<ObjectKind> {
        if name.ends_with(".log.gz") {
            Some(ObjectKind::Text)
        } else if name.ends_with(".parquet") {
            Some(ObjectKind::Parquet)
        } else {
            None
        }
    }
}

impl ObjectKey {
    /// Whether the object's records are all older than `unix_seconds`: AWS files a record in
    /// the folder of its day or the next, so those of a day that ended before it are.
    pub fn ends_before(&self, unix_seconds: i64) -> bool {
        crate::day::parse(&self.day)
            .and_then(|d| d.next_day())
            .and_then(|d| d.next_day())
            .is_some_and(|d| d.midnight().assume_utc().unix_timestamp() < unix_seconds)
    }
}

/// The parts of `[prefix/]AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/[<hh>/]<file>`
/// or of the Hive-compatible `[prefix/]AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/
/// aws-region=<region>/year=…/month=…/day=…/[hour=…/]<file>`; anything else is skipped with a
/// reason.
pub fn parse_key(key: &str) -> Result<ObjectKey, ObjectSkip> {
    let kind = ObjectKind::of(key).ok_or(ObjectSkip::NotAFlowLogFile)?;
    let start = key
        .match_indices("AWSLogs/")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || key.as_bytes()[i - 1] == b'/')
        .ok_or(ObjectSkip::NoAwslogsFolder)?;
    let from_awslogs = &key[start..];
    let parts: Vec<&str> = from_awslogs.split('/').collect();
    let value = |part: &str, name: &str| -> Option<String> {
        part.strip_prefix(name)
            .and_then(|v| v.strip_prefix('='))
            .map(String::from)
    };
    let (account, service, region, date) = match parts.get(1) {
        Some(p) if p.starts_with("aws-account-id=") => (
            value(p, "aws-account-id"),
            parts.get(2).and_then(|p| value(p, "aws-service")),
            parts.get(3).and_then(|p| value(p, "aws-region")),
            [4, 5, 6].map(|i| {
                parts
                    .get(i)
                    .and_then(|p| p.split_once('=').map(|(_, v)| v.to_string()))
            }),
        ),
        Some(p) => (
            Some(p.to_string()),
            parts.get(2).map(|s| s.to_string()),
            parts.get(3).map(|s| s.to_string()),
            [4, 5, 6].map(|i| parts.get(i).map(|s| s.to_string())),
        ),
        None => return Err(ObjectSkip::NoAccount),
    };
    if service.as_deref() != Some("vpcflowlogs") {
        return Err(ObjectSkip::NotVpcFlowLogs);
    }
    let account = account
        .filter(|a| is_account_id(a))
        .ok_or(ObjectSkip::BadAccount)?;
    let region = region
        .filter(|r| is_region(r))
        .ok_or(ObjectSkip::BadRegion)?;
    let [Some(y), Some(m), Some(d)] = date else {
        return Err(ObjectSkip::BadDate);
    };
    let day = format!("{y}-{m}-{d}");
    crate::day::parse(&day).ok_or(ObjectSkip::BadDate)?;
    Ok(ObjectKey {
        account,
        region,
        day,
        kind,
        from_awslogs: from_awslogs.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_both_of_aws_layouts_and_what_is_skipped() {
        let ok = [
            (
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/27/123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20261127T1200Z_fe123456.log.gz",
                ("123456789012", "us-east-1", "2026-11-27", ObjectKind::Text),
            ),
            (
                "my-prefix/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/27/09/123456789012_vpcflowlogs_eu-west-1_fl-1_20261127T0905Z_ab.log.parquet",
                ("123456789012", "eu-west-1", "2026-11-27", ObjectKind::Parquet),
            ),
            (
                "central/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-central-1/year=2026/month=11/day=28/hour=23/f.log.gz",
                ("123456789012", "eu-central-1", "2026-11-28", ObjectKind::Text),
            ),
        ];
        for (key, (account, region, day, kind)) in ok {
            let parsed = parse_key(key).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(
                (
                    parsed.account.as_str(),
                    parsed.region.as_str(),
                    parsed.day.as_str(),
                    parsed.kind
                ),
                (account, region, day, kind),
                "{key}"
            );
            assert!(parsed.from_awslogs.starts_with("AWSLogs/"));
        }
        let skipped = [
            (
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/27/x.txt",
                ObjectSkip::NotAFlowLogFile,
            ),
            (
                "logs/123456789012/vpcflowlogs/us-east-1/2026/11/27/x.log.gz",
                ObjectSkip::NoAwslogsFolder,
            ),
            (
                "xAWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/27/x.log.gz",
                ObjectSkip::NoAwslogsFolder,
            ),
            (
                "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/27/x.log.gz",
                ObjectSkip::NotVpcFlowLogs,
            ),
            (
                "AWSLogs/12345/vpcflowlogs/us-east-1/2026/11/27/x.log.gz",
                ObjectSkip::BadAccount,
            ),
            (
                "AWSLogs/123456789012/vpcflowlogs/US_EAST/2026/11/27/x.log.gz",
                ObjectSkip::BadRegion,
            ),
            (
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/13/27/x.log.gz",
                ObjectSkip::BadDate,
            ),
            (
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log.gz",
                ObjectSkip::BadDate,
            ),
        ];
        for (key, reason) in skipped {
            assert_eq!(parse_key(key), Err(reason), "{key}");
        }
    }
}

//! Identities and AWS identifiers, each with one home: the account/region pair every counter,
//! map and answer is filed under ([`AccountRegion`]), the id that makes a payload count once
//! ([`PayloadId`]), and the checks every AWS identifier passes before it names a key or a URL.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::xxh3_128;

/// An account and one of its regions, both checked: `123456789012/eu-west-1` where people and
/// the API see it ([`fmt::Display`], serde), `123456789012:eu-west-1` in the store's keys and
/// index members ([`AccountRegion::key`]). Nothing else formats or splits a pair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountRegion {
    account: String,
    region: String,
}

impl AccountRegion {
    /// The pair, when `account` is 12 digits and `region` a region's name.
    pub fn new(account: &str, region: &str) -> Option<Self> {
        (is_account_id(account) && is_region(region)).then(|| AccountRegion {
            account: account.to_string(),
            region: region.to_string(),
        })
    }

    /// `ACCOUNT:REGION`, the store's form (an index member, a map field).
    pub fn from_key(key: &str) -> Option<Self> {
        let (account, region) = key.split_once(':')?;
        Self::new(account, region)
    }

    /// `ACCOUNT/REGION`, the API's form; also the head of `account/region/name`.
    pub fn parse(text: &str) -> Option<Self> {
        let (account, region) = text.split_once('/')?;
        Self::new(account, region)
    }

    /// `ACCOUNT/REGION/REST` (our own names, `account/region/host`): the pair and the rest.
    pub fn parse_prefix(text: &str) -> Option<(Self, &str)> {
        let (account, rest) = text.split_once('/')?;
        let (region, name) = rest.split_once('/')?;
        Some((Self::new(account, region)?, name))
    }

    /// The account of `text` in the API's form, whether or not a region follows.
    pub fn account_of(text: &str) -> &str {
        text.split_once('/').map_or(text, |(account, _)| account)
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `ACCOUNT:REGION`, the store's form.
    pub fn key(&self) -> String {
        pair_key(&self.account, &self.region)
    }

    /// Whether a store-form member (`ACCOUNT:REGION`) belongs to `account`.
    pub fn key_is_of(key: &str, account: &str) -> bool {
        key.split_once(':').is_some_and(|(a, _)| a == account)
    }
}

impl fmt::Display for AccountRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// `ACCOUNT/REGION` of parts already checked (an interface's owner as the refresh stored it,
/// a key the store built): the API's form of [`AccountRegion`] without building one.
pub fn pair_text(account: &str, region: &str) -> String {
    format!("{account}/{region}")
}

/// `ACCOUNT:REGION` of parts already checked: the store's form.
pub fn pair_key(account: &str, region: &str) -> String {
    format!("{account}:{region}")
}

/// `ACCOUNT/REGION/NAME`: how one of our own addresses or databases is named
/// (`docs/rules.md`, rule 4).
pub fn own_name(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

impl Serialize for AccountRegion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AccountRegion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        AccountRegion::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not ACCOUNT/REGION (12 digits, a region)"
            ))
        })
    }
}

/// The id that makes a delivery count once: a hash of the payload as it arrived (a CloudWatch
/// Logs event's data, a Kinesis record's data, an S3 chunk's name), 32 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayloadId(String);

impl PayloadId {
    pub fn of(bytes: &[u8]) -> Self {
        PayloadId(format!("{:032x}", xxh3_128(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PayloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS account id: 12 digits.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-4`: letters and dashes, then a number.
pub fn is_region(r: &str) -> bool {
    let mut parts = r.split('-').collect::<Vec<_>>();
    let Some(last) = parts.pop() else {
        return false;
    };
    parts.len() >= 2
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
pub fn is_role_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    partition.starts_with("aws")
        && is_account_id(account)
        && resource.strip_prefix("role/").is_some_and(|name| {
            !name.is_empty()
                && name.len() <= 512
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
        })
}

/// An organizational unit id (`ou-` root part `-` 8–32 characters) or a root id (`r-…`).
pub fn is_organization_unit(id: &str) -> bool {
    let lower_alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(root) = id.strip_prefix("r-") {
        return (4..=32).contains(&root.len()) && lower_alnum(root);
    }
    let Some((root, unit)) = id.strip_prefix("ou-").and_then(|r| r.split_once('-')) else {
        return false;
    };
    (4..=32).contains(&root.len())
        && (8..=32).contains(&unit.len())
        && lower_alnum(root)
        && lower_alnum(unit)
}

/// S3's bucket naming rules (general purpose buckets): 3–63 characters, lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit.
pub fn is_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_has_one_form_for_keys_and_one_for_people() {
        let pair = AccountRegion::new("123456789012", "eu-west-1").unwrap();
        assert_eq!(pair.key(), "123456789012:eu-west-1");
        assert_eq!(pair.to_string(), "123456789012/eu-west-1");
        assert_eq!(AccountRegion::from_key(&pair.key()), Some(pair.clone()));
        assert_eq!(AccountRegion::parse(&pair.to_string()), Some(pair.clone()));
        assert_eq!(
            AccountRegion::parse_prefix("123456789012/eu-west-1/nat-a.example.org"),
            Some((pair.clone(), "nat-a.example.org"))
        );
        assert_eq!(
            serde_json::to_string(&pair).unwrap(),
            r#""123456789012/eu-west-1""#
        );
        let back: AccountRegion = serde_json::from_str(r#""123456789012/eu-west-1""#).unwrap();
        assert_eq!(back, pair);
        // As a map key, in the API's form.
        let map = std::collections::BTreeMap::from([(pair.clone(), 1)]);
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"{"123456789012/eu-west-1":1}"#
        );
    }

    #[test]
    fn only_checked_parts_make_a_pair() {
        let refused = [
            ("12345678901", "eu-west-1"),
            ("1234567890123", "eu-west-1"),
            ("12345678901x", "eu-west-1"),
            ("123456789012", "eu-west"),
            ("123456789012", "EU-west-1"),
            ("123456789012", "eu-west-1:x"),
            ("123456789012", "eu/west-1"),
            ("123456789012", ""),
        ];
        for (account, region) in refused {
            assert_eq!(
                AccountRegion::new(account, region),
                None,
                "{account} {region}"
            );
        }
        for text in [
            "",
            "123456789012",
            "123456789012:eu-west-1",
            "a/b",
            "123456789012/",
        ] {
            assert_eq!(AccountRegion::parse(text), None, "{text:?}");
        }
        for key in ["", "123456789012/eu-west-1", "123456789012:eu-west-1:x"] {
            assert_eq!(AccountRegion::from_key(key), None, "{key:?}");
        }
        assert!(serde_json::from_str::<AccountRegion>(r#""x/eu-west-1""#).is_err());
        assert_eq!(
            AccountRegion::account_of("123456789012/eu-west-1"),
            "123456789012"
        );
        assert_eq!(AccountRegion::account_of("office"), "office");
        assert!(AccountRegion::key_is_of(
            "123456789012:eu-west-1",
            "123456789012"
        ));
        assert!(!AccountRegion::key_is_of(
            "123456789012:eu-west-1",
            "123456789013"
        ));
        assert!(!AccountRegion::key_is_of(
            "1234567890123:eu-west-1",
            "123456789012"
        ));
    }

    #[test]
    fn a_payload_id_is_the_hash_of_its_bytes() {
        let id = PayloadId::of(b"H4sIAAAAAAAA/");
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id, PayloadId::of(b"H4sIAAAAAAAA/"));
        assert_ne!(id, PayloadId::of(b"H4sIAAAAAAAA+"));
        assert_eq!(
            PayloadId::of(b"").as_str(),
            format!("{:032x}", xxh3_128(b""))
        );
    }
}

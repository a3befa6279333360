//! The Redis key layout: the one place that knows it. See `docs/redis-keys.md`.
//!
//! Counters are tagged by day *and* account/region, `{YYYY-MM-DD:ACCOUNT:REGION}`: everything
//! one batch writes for one account/region on one day (its counter, bounds, estimates,
//! de-duplication and reverse-DNS work list) lives in one cluster slot, so one Lua script updates
//! it atomically, while a busy day's account/regions spread over every shard of a cluster. The
//! day's index (`{YYYY-MM-DD}`) lists the account/regions with counters. Inventory maps share the
//! tag `{inv}` so they load in one pipelined round trip.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `ct:{DAY:ACCOUNT:REGION}:conn` | sorted set | member `source\tdest\tport`, score = records |
//! | `ct:{DAY:ACCOUNT:REGION}:seen` | set | ids of payloads already counted here (idempotency) |
//! | `ct:{DAY:ACCOUNT:REGION}:unnamed` | set | public source addresses counted without a name (for reverse DNS) |
//! | `ct:{DAY:ACCOUNT:REGION}:own` | hash | our own sources' `ACCOUNT/REGION` → summed score |
//! | `ct:{DAY:ACCOUNT:REGION}:kept` | hash | `dest\tport` → bare-IP sources kept exactly (present: admitted); `dest\tport\tp` → prefixes; `dest\t#` → ports; `#` → endpoints |
//! | `ct:{DAY:ACCOUNT:REGION}:used` | hash | `dest\tport\t4` / `\t6` → score of unnamed internet sources by family; `dest\tport\t=NAME` → score of a named source (the exposure review's sums) |
//! | `ct:{DAY:ACCOUNT:REGION}:hll:H` | HyperLogLog | distinct sources of one endpoint (H: xxh3 of `dest\tport`) |
//! | `ct:{DAY}:index` | set | `ACCOUNT:REGION` pairs with counters that day |
//! | `ct:{inv}:interfaces` | hash | interface id → `InterfaceFacts` JSON |
//! | `ct:{inv}:addresses` | hash | our public address → `account/region/name` |
//! | `ct:{inv}:formats` | hash | `ACCOUNT:log-group` → flow-log `LogFormat` |
//! | `ct:{inv}:ingress` | hash | security group id → JSON array of its ingress rules that open to the internet (`IngressRule`) |
//! | `ct:{inv}:private-interfaces` | hash | interface id → `ACCOUNT:REGION` of interfaces without a public address (their lines are `private_interface`, never parked) |
//! | `ct:{inv}:accounts` | hash | account id → account JSON (name, regions) |
//! | `ct:{inv}:last-update` | hash | `ACCOUNT:REGION` → RFC 3339 time of the last counted batch |
//! | `ct:{inv}:refreshed` | hash | `ACCOUNT:REGION` → RFC 3339 time of the last successful refresh |
//! | `ct:{inv}:refresh-failed` | hash | `ACCOUNT:REGION` → `RefreshFailure` JSON of its last failed refresh, until one succeeds |
//! | `ct:{inv}:archived` | hash | day → where the evidence archive holds it (`s3://…`, or `empty`) |
//! | `ct:{inv}:members:KIND:ACCOUNT:REGION` | set | the interface ids / addresses / formats one account/region owns in the maps above |
//! | `ct:{obj:H}:chunks` | string | how far an S3 object was counted: `CHUNKS` or `CHUNKS done` (H: the payload-id hash of its key from `AWSLogs/` on), with the dedup window's TTL |
//! | `ct:{park:ACCOUNT:REGION}:lines` | hash | parked lines of interfaces not found yet: payload id → `LINES:ENTRY`, `#` → lines parked; expires `PARKED_LINES_TTL_SECONDS` after the last park |
//! | `ct:{park}:pairs` | set | `ACCOUNT:REGION` pairs with parked lines |
//! | `ct:{dns}:ptr:IP` | string | reverse-DNS name of a source address (`""`: none), with a TTL |
//! | `ct:{dns}:names` | hash | address → its resolved name, for `/addresses` (names only) |
//! | `ct:{dns}:names-until` | sorted set | address → when its entry in `names` expires (Unix seconds) |
//!
//! Every per-day key expires `RETENTION_DAYS` after its day ends.

use crate::model::{pair_key, AccountRegion, DestPort, OTHER};
use crate::rules::classify::Name;

pub const PREFIX: &str = "ct";

/// The hash tag of one account/region's day: `{DAY:ACCOUNT:REGION}`.
fn slot_tag(day: &str, account: &str, region: &str) -> String {
    format!("{PREFIX}:{{{day}:{}}}", pair_key(account, region))
}

/// `ct:{DAY:ACCOUNT:REGION}:conn`; the day's index lists the `ACCOUNT:REGION` part.
pub fn connections(day: &str, account: &str, region: &str) -> String {
    format!("{}:conn", slot_tag(day, account, region))
}

pub fn day_index(day: &str) -> String {
    format!("{PREFIX}:{{{day}}}:index")
}

/// Ids of the payloads already counted for one account/region on a day.
pub fn seen(day: &str, account: &str, region: &str) -> String {
    format!("{}:seen", slot_tag(day, account, region))
}

/// Public sources one account/region counted under their bare address on a day.
pub fn unnamed(day: &str, account: &str, region: &str) -> String {
    format!("{}:unnamed", slot_tag(day, account, region))
}

/// The scores of our own `account/region/name` sources summed by `account/region` (the answer
/// of `/account-connections` without `include`, kept by ingest with the counter).
pub fn own_sources(day: &str, account: &str, region: &str) -> String {
    format!("{}:own", slot_tag(day, account, region))
}

/// How many bare-IP sources (and prefixes) each endpoint of an account/region keeps exactly.
pub fn kept(day: &str, account: &str, region: &str) -> String {
    format!("{}:kept", slot_tag(day, account, region))
}

/// What the exposure review reads of a day instead of its rows: per endpoint (`dest\tport`,
/// folded as its rows are) the score of its unnamed internet sources by family
/// (`dest\tport\t4`, `\t6`) and of each named source (`dest\tport\t=NAME`).
pub fn used(day: &str, account: &str, region: &str) -> String {
    format!("{}:used", slot_tag(day, account, region))
}

/// The distinct-source estimate of one endpoint (`dest\tport`, as [`split_source`] gives it);
/// the endpoint is hashed, so no name from the estate ever becomes part of a key.
pub fn endpoint_sources(day: &str, account: &str, region: &str, endpoint: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_64(endpoint.as_bytes());
    format!("{}:hll:{h:016x}", slot_tag(day, account, region))
}

/// An endpoint as the write script names it: `dest\tport` (the member without its source;
/// folded ports are `dest\tother`).
pub fn endpoint(dest: &str, port: impl Into<DestPort>) -> String {
    format!("{dest}\t{}", port.into())
}

/// The source that folded sources are counted under once an endpoint's prefixes are full.
pub const OTHER_SOURCES: &str = OTHER;

/// A member written by [`connection_member`] as (source, `dest\tport`).
pub fn split_source(member: &str) -> (&str, &str) {
    member.split_once('\t').unwrap_or((member, ""))
}

/// How far one S3 object was counted. The object's key is hashed (never part of a key) and
/// the hash is the tag, so objects spread over a cluster's slots.
pub fn object_progress(identity: &str) -> String {
    let h = crate::model::PayloadId::of(format!("object\n{identity}").as_bytes());
    format!("{PREFIX}:{{obj:{h}}}:chunks")
}

/// Lines of one account/region whose interface the refresh has not found yet, parked until it
/// has: payload id → `LINES:ENTRY` (the entry: JSON, gzip, base64), and `#` → lines parked.
/// Tagged by the pair, so pairs spread over a cluster's slots.
pub fn parked_lines(pair: &AccountRegion) -> String {
    format!("{PREFIX}:{{park:{}}}:lines", pair.key())
}

/// The account/regions with parked lines (`ACCOUNT:REGION`).
pub const PARKED_PAIRS: &str = "ct:{park}:pairs";

pub const INTERFACES: &str = "ct:{inv}:interfaces";
pub const ADDRESSES: &str = "ct:{inv}:addresses";
pub const FORMATS: &str = "ct:{inv}:formats";
/// Security group id → JSON array of its ingress rules that open to the internet.
pub const INGRESS: &str = "ct:{inv}:ingress";
/// Interface id → `ACCOUNT:REGION`, for interfaces without a public address.
pub const PRIVATE_INTERFACES: &str = "ct:{inv}:private-interfaces";
pub const ACCOUNTS: &str = "ct:{inv}:accounts";
pub const LAST_UPDATE: &str = "ct:{inv}:last-update";
pub const REFRESHED: &str = "ct:{inv}:refreshed";
/// Account/regions whose last refresh failed: `ACCOUNT:REGION` → `RefreshFailure` JSON.
pub const REFRESH_FAILED: &str = "ct:{inv}:refresh-failed";
/// Closed days written to the evidence archive: day → location.
pub const ARCHIVED: &str = "ct:{inv}:archived";
/// S3's prefixes of AWS's published ranges (`ip-ranges.json`, `service` `S3`): fields `blocks` (CIDRs, one per line)
/// and `fetched_at`.
pub const S3_RANGES: &str = "ct:{inv}:s3-ranges";

/// Resolved names, listed by `/addresses`: address → name, and when each expires (the same
/// TTL as its `ptr` key; pruned whenever the refresh caches answers).
pub const RESOLVED_NAMES: &str = "ct:{dns}:names";
pub const RESOLVED_UNTIL: &str = "ct:{dns}:names-until";

/// What one account/region owns in a shared map, so a refresh can replace exactly that.
pub fn region_members(kind: &str, account: &str, region: &str) -> String {
    format!(
        "{PREFIX}:{{inv}}:members:{kind}:{}",
        pair_key(account, region)
    )
}

/// Cached reverse-DNS name of an address.
pub fn reverse_dns(ip: &str) -> String {
    format!("{PREFIX}:{{dns}}:ptr:{ip}")
}

/// A sorted-set member. Tabs and line breaks inside names would break the encoding, so they
/// become spaces.
pub fn connection_member(source: impl MemberText, dest: impl MemberText, port: u16) -> String {
    let mut member = String::with_capacity(64);
    source.push_to(&mut member);
    let source_end = member.len();
    dest.push_to(&mut member);
    if member.contains(['\t', '\n', '\r']) {
        member = member.replace(['\t', '\n', '\r'], " ");
    }
    member.insert(source_end, '\t');
    member.push('\t');
    member.push_str(itoa::Buffer::new().format(port));
    member
}

/// What a member's source and dest are written from: text as it is, or a counted
/// connection's [`Name`] (written as its `Display` writes it, without the formatting
/// machinery: every counted row is named this way).
pub trait MemberText {
    fn push_to(&self, out: &mut String);
}

impl<T: AsRef<str> + ?Sized> MemberText for T {
    fn push_to(&self, out: &mut String) {
        out.push_str(self.as_ref());
    }
}

impl MemberText for Name<'_> {
    fn push_to(&self, out: &mut String) {
        out.push_str(self.text(&mut [0; 39]));
    }
}

/// A Redis glob (`ZSCAN … MATCH`) that every member with this source (exact, or starting with
/// `source_prefix`), dest and port matches; `None` parts match anything, and `None` when nothing
/// is fixed. Glob characters in names are escaped. A pre-filter: the caller still checks rows.
pub fn member_pattern(
    source: Option<&str>,
    source_prefix: Option<&str>,
    dest: Option<&str>,
    port: Option<DestPort>,
) -> Option<String> {
    if source.is_none() && source_prefix.is_none() && dest.is_none() && port.is_none() {
        return None;
    }
    fn escaped(out: &mut String, text: &str) {
        for c in text.chars() {
            let c = if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            };
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    let mut pattern = String::with_capacity(64);
    match (source, source_prefix) {
        (Some(exact), _) => escaped(&mut pattern, exact),
        (None, Some(prefix)) => {
            escaped(&mut pattern, prefix);
            pattern.push('*');
        }
        (None, None) => pattern.push('*'),
    }
    pattern.push('\t');
    match dest {
        Some(dest) => escaped(&mut pattern, dest),
        None => pattern.push('*'),
    }
    pattern.push('\t');
    match port {
        Some(port) => pattern.push_str(&port.to_string()),
        None => pattern.push('*'),
    }
    Some(pattern)
}

/// The inverse of [`connection_member`] (and of the write script's folds, whose port is
/// `other`); `None` for a member this layout did not write.
pub fn parse_connection_member(member: &str) -> Option<(&str, &str, DestPort)> {
    let mut parts = member.split('\t');
    let (source, dest, port) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((source, dest, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC16 slot of a key, honouring hash tags, as Redis Cluster computes it.
    fn slot(key: &str) -> redis::cluster_routing::Slot {
        redis::cluster_routing::Slot::for_key(key)
    }

    #[test]
    fn one_account_region_day_shares_one_slot_and_a_day_spreads() {
        let day = "2026-11-27";
        let (a, r) = ("123456789012", "eu-west-1");
        let s = slot(&connections(day, a, r));
        for key in [
            seen(day, a, r),
            unnamed(day, a, r),
            kept(day, a, r),
            own_sources(day, a, r),
            used(day, a, r),
            endpoint_sources(day, a, r, "web/52.1.2.3\t443"),
        ] {
            assert_eq!(slot(&key), s, "{key}");
        }
        // A day of 200 account/regions lands on many slots, not one.
        let slots: std::collections::HashSet<_> = (0..100u64)
            .flat_map(|i| {
                let account = format!("{:012}", 100_000_000_000 + i);
                ["eu-west-1", "us-east-1"].map(|region| slot(&connections(day, &account, region)))
            })
            .collect();
        assert!(slots.len() > 190, "{} slots", slots.len());
        assert_ne!(slot(&connections("2026-11-28", a, r)), s);
        let inv = slot(INTERFACES);
        let members = region_members("interfaces", "123456789012", "eu-west-1");
        for key in [
            ADDRESSES,
            FORMATS,
            ACCOUNTS,
            LAST_UPDATE,
            REFRESHED,
            members.as_str(),
        ] {
            assert_eq!(slot(key), inv, "{key}");
        }
    }

    /// Redis's own glob matcher decides; these are the patterns it is given.
    #[test]
    fn member_patterns_fix_what_is_asked_and_escape_globs() {
        assert_eq!(member_pattern(None, None, None, None), None);
        assert_eq!(
            member_pattern(None, None, None, Some(22.into())).unwrap(),
            "*\t*\t22"
        );
        assert_eq!(
            member_pattern(Some("8.8.8.8"), None, Some("lb[1]*"), None).unwrap(),
            "8.8.8.8\tlb\\[1\\]\\*\t*"
        );
        assert_eq!(
            member_pattern(None, Some("office-?"), None, Some(443.into())).unwrap(),
            "office-\\?*\t*\t443"
        );
    }

    #[test]
    fn members_round_trip() {
        let cases = [
            ("8.8.8.8", "web/52.1.2.3", 443u16),
            ("111111111111/eu-west-1/nat-a", "db.rds.amazonaws.com", 5432),
            ("2001:4860::8888", "app.elb.amazonaws.com", 0),
        ];
        for (s, d, p) in cases {
            let m = connection_member(s, d, p);
            assert_eq!(parse_connection_member(&m), Some((s, d, p.into())));
        }
        let m = connection_member("a\tb", "c\nd", 22);
        assert_eq!(parse_connection_member(&m), Some(("a b", "c d", 22.into())));
        // The write script's folds: a destination's later ports, the account/region's later
        // endpoints.
        let folded = format!("8.8.8.8\t{}", endpoint("web/52.1.2.3", DestPort::Other));
        assert_eq!(
            parse_connection_member(&folded),
            Some(("8.8.8.8", "web/52.1.2.3", DestPort::Other))
        );
        assert_eq!(
            parse_connection_member("other\tother\tother"),
            Some(("other", "other", DestPort::Other))
        );
        assert_eq!(parse_connection_member("no tabs"), None);
        assert_eq!(parse_connection_member("a\tb\tnotaport"), None);
        assert_eq!(parse_connection_member("a\tb\t+22"), None);
    }
}

//! The day's write script against a model of its rules: random batches (redeliveries, kept
//! addresses, scans that overflow the bounds, named and own sources) written to a real
//! redis-server give exactly the counters, bounds, reverse-DNS list and own sums that applying
//! the rules row by row gives — the rules as `docs/redis-keys.md` states them:
//!
//! - a bare address already kept is counted on its row; else kept while its endpoint has fewer
//!   than `max_sources` (and listed for reverse DNS while the day's list has room); else its
//!   prefix, if kept; else a new prefix while the endpoint has fewer than `max_prefixes`; else
//!   `other`;
//! - first the row's endpoint: its own once admitted; else admitted while its destination has
//!   fewer than `max_ports` ports and the account/region fewer than `max_endpoints` endpoints;
//!   else the destination's folded ports (`dest⇥other`), admitted once while there is room for
//!   an endpoint; else the account/region's `other⇥other`; the source's rules below apply on
//!   that endpoint;
//! - a named source is counted on its row (never folded itself); an own `account/region/name`
//!   is summed by `account/region` too;
//! - every counted row adds its count to the exposure review's sum of its (routed) endpoint and
//!   kind of source: unnamed by address family (`⇥4`, `⇥6`), or the named source (`⇥=NAME`);
//! - a payload id counted before counts nothing;
//! - every source of a counted row, kept or folded, is in its endpoint's distinct-source
//!   estimate (a HyperLogLog: compared with one built from the model's sources).
//!
//! Batches of several payloads are written as one merged group per account/region, and sent
//! again one by one when some of them were counted before: the batches here redeliver payloads
//! within a batch and across batches, so both paths run.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use connection_tracker::config::{RedisConfig, RowLimits};
use connection_tracker::model::DestPort;
use connection_tracker::rules::classify::source_prefix;
use connection_tracker::store::{
    keys, CounterStore, DayWrite, Increment, PayloadWrite, RedisStore, WriteBatch,
};
use connection_tracker::testing::RedisServer;
use proptest::prelude::*;

const DAY: &str = "2026-11-27";
const A: &str = "111111111111";
const R: &str = "eu-west-1";
const LIMITS: RowLimits = RowLimits {
    max_sources_per_endpoint: 4,
    max_prefixes_per_endpoint: 2,
    max_unnamed_per_day: 5,
    max_ports_per_endpoint: 2,
    max_endpoints_per_account_region: 4,
};

/// One row of a payload: source, endpoint (dest, port), count.
#[derive(Clone, Debug)]
struct Row {
    source: String,
    dest: &'static str,
    port: u16,
    count: u64,
}

fn row() -> impl Strategy<Value = Row> {
    let source = prop_oneof![
        // Bare addresses in four /24s and two /48s: scans overflow the bounds.
        (0u8..4, 1u8..7).prop_map(|(c, d)| format!("45.33.{c}.{d}")),
        (0u16..2, 1u16..4).prop_map(|(p, h)| format!("2a00:1450:{p:x}::{h:x}")),
        Just("office".to_string()),
        Just("222222222222/eu-west-1/nat-eu-west-1a".to_string()),
        Just("333333333333/us-east-1/web/52.0.0.5".to_string()),
    ];
    (
        source,
        prop_oneof![
            Just("shop.elb.amazonaws.com"),
            Just("web/52.16.0.20"),
            Just("db/52.16.0.30")
        ],
        prop_oneof![Just(443u16), Just(22u16), Just(8080u16), Just(0u16)],
        1u64..6,
    )
        .prop_map(|(source, dest, port, count)| Row {
            source,
            dest,
            port,
            count,
        })
}

/// Eight payloads (an id is its content's hash: the same id always carries the same rows), and
/// batches of them by index: some payloads come again (redeliveries), within a batch or later.
fn batches() -> impl Strategy<Value = (Vec<Vec<Row>>, Vec<Vec<usize>>)> {
    (
        prop::collection::vec(prop::collection::vec(row(), 0..14), 8),
        prop::collection::vec(prop::collection::vec(0usize..8, 1..4), 1..6),
    )
}

#[derive(Default, Debug, PartialEq)]
struct Model {
    seen: BTreeSet<String>,
    conn: BTreeMap<String, u64>,
    kept: BTreeMap<String, u64>,
    unnamed: BTreeSet<String>,
    own: BTreeMap<String, u64>,
    /// The exposure review's sums: `endpoint⇥4`/`⇥6` (unnamed, by family), `endpoint⇥=NAME`.
    used: BTreeMap<String, u64>,
    /// Distinct sources by endpoint (`dest⇥port`).
    sources: BTreeMap<String, BTreeSet<String>>,
}

impl Model {
    /// The endpoint a row of (dest, port) counts under, admitting it where there is room.
    fn route(&mut self, dest: &str, port: u16) -> String {
        let endpoint = keys::endpoint(dest, port);
        if self.kept.contains_key(&endpoint) {
            return endpoint;
        }
        let count = |m: &Model, field: &str| m.kept.get(field).copied().unwrap_or(0);
        let ports = format!("{dest}\t#");
        let room = count(self, "#") < u64::from(LIMITS.max_endpoints_per_account_region);
        if room && count(self, &ports) < u64::from(LIMITS.max_ports_per_endpoint) {
            *self.kept.entry(ports).or_default() += 1;
            *self.kept.entry("#".into()).or_default() += 1;
            self.kept.insert(endpoint.clone(), 0);
            return endpoint;
        }
        let folded = keys::endpoint(dest, DestPort::Other);
        if self.kept.contains_key(&folded) {
            return folded;
        }
        if room {
            *self.kept.entry("#".into()).or_default() += 1;
            self.kept.insert(folded.clone(), 0);
            return folded;
        }
        let everything = keys::endpoint("other", DestPort::Other);
        self.kept.entry(everything.clone()).or_insert(0);
        everything
    }

    /// Applies a payload's rows unless it was counted before; whether it was applied now. A
    /// payload without rows for this account/region is no part of its write.
    fn apply(&mut self, id: &str, rows: &[Row]) -> bool {
        if rows.is_empty() || !self.seen.insert(id.to_string()) {
            return false;
        }
        for r in rows {
            let endpoint = self.route(r.dest, r.port);
            let member = format!("{}\t{endpoint}", r.source);
            let class = match r.source.parse::<IpAddr>() {
                Ok(ip) if ip.is_ipv6() => "6".to_string(),
                Ok(_) => "4".to_string(),
                Err(_) => format!("={}", r.source),
            };
            *self.used.entry(format!("{endpoint}\t{class}")).or_default() += r.count;
            self.sources
                .entry(endpoint.clone())
                .or_default()
                .insert(r.source.clone());
            match r.source.parse::<IpAddr>() {
                Ok(ip) => {
                    let prefix = format!("{}\t{endpoint}", source_prefix(ip));
                    let prefixes = format!("{endpoint}\tp");
                    let target = if self.conn.contains_key(&member) {
                        member
                    } else if self.kept.get(&endpoint).copied().unwrap_or(0)
                        < u64::from(LIMITS.max_sources_per_endpoint)
                    {
                        *self.kept.entry(endpoint.clone()).or_default() += 1;
                        if self.unnamed.len() < LIMITS.max_unnamed_per_day as usize {
                            self.unnamed.insert(r.source.clone());
                        }
                        member
                    } else if self.conn.contains_key(&prefix) {
                        prefix
                    } else if self.kept.get(&prefixes).copied().unwrap_or(0)
                        < u64::from(LIMITS.max_prefixes_per_endpoint)
                    {
                        *self.kept.entry(prefixes).or_default() += 1;
                        prefix
                    } else {
                        format!("other\t{endpoint}")
                    };
                    *self.conn.entry(target).or_default() += r.count;
                }
                Err(_) => {
                    *self.conn.entry(member).or_default() += r.count;
                    let mut parts = r.source.splitn(3, '/');
                    if let (Some(account), Some(region), Some(_)) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        *self.own.entry(format!("{account}/{region}")).or_default() += r.count;
                    }
                }
            }
        }
        true
    }
}

async fn stored(server: &RedisServer) -> Model {
    let map = |reply: String| -> BTreeMap<String, u64> {
        let lines: Vec<&str> = reply.lines().collect();
        lines
            .chunks(2)
            .filter(|p| p.len() == 2)
            .map(|p| (p[0].to_string(), p[1].parse().unwrap()))
            .collect()
    };
    Model {
        seen: BTreeSet::new(),
        conn: map(server.cli(&[
            "ZRANGE",
            &keys::connections(DAY, A, R),
            "0",
            "-1",
            "WITHSCORES",
        ])),
        kept: map(server.cli(&["HGETALL", &keys::kept(DAY, A, R)])),
        unnamed: server
            .cli(&["SMEMBERS", &keys::unnamed(DAY, A, R)])
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        own: map(server.cli(&["HGETALL", &keys::own_sources(DAY, A, R)])),
        used: map(server.cli(&["HGETALL", &keys::used(DAY, A, R)])),
        sources: BTreeMap::new(),
    }
}

/// Each endpoint's stored estimate against one built from the model's sources: the same
/// sources give the same registers, so the counts are equal, not merely close.
fn estimates_match(server: &RedisServer, model: &Model) -> Result<(), TestCaseError> {
    for (endpoint, sources) in &model.sources {
        let stored = keys::endpoint_sources(DAY, A, R, endpoint);
        server.cli(&["DEL", "scratch"]);
        let mut args = vec!["PFADD", "scratch"];
        args.extend(sources.iter().map(String::as_str));
        server.cli(&args);
        prop_assert_eq!(
            server.cli(&["PFCOUNT", &stored]),
            server.cli(&["PFCOUNT", "scratch"]),
            "distinct sources of {}",
            endpoint
        );
    }
    Ok(())
}

#[test]
fn the_write_script_applies_the_rules_row_by_row() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = RedisServer::start();
    let store = runtime.block_on(async {
        RedisStore::connect(&RedisConfig {
            url: server.url(),
            cluster: None,
            timeout: std::time::Duration::from_secs(5),
        })
        .await
        .unwrap()
    });
    let config = ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    };
    proptest!(config, |((contents, batches) in batches())| {
        server.cli(&["FLUSHALL"]);
        let mut model = Model::default();
        for batch in &batches {
            let batch: Vec<(usize, &Vec<Row>)> = batch.iter().map(|&p| (p, &contents[p])).collect();
            let ids: Vec<String> = batch.iter().map(|(p, _)| format!("payload-{p}")).collect();
            let mut fresh = 0;
            for ((_, rows), id) in batch.iter().zip(&ids) {
                fresh += usize::from(model.apply(id, rows));
            }
            let write = WriteBatch {
                days: vec![DayWrite {
                    day: DAY.into(),
                    expire_at: 4_000_000_000,
                    seen_ttl_secs: 86_400,
                    unnamed_ttl_secs: 86_400,
                    payloads: batch
                        .iter()
                        .zip(&ids)
                        .map(|((_, rows), id)| PayloadWrite {
                            id,
                            increments: rows
                                .iter()
                                .map(|r| Increment {
                                    account: A,
                                    region: R,
                                    member: keys::connection_member(&r.source, r.dest, r.port),
                                    count: r.count,
                                    bare_ip: r.source.parse().ok(),
                                })
                                .collect(),
                        })
                        .collect(),
                }],
                touched: vec![(A, R)],
                now_rfc3339: "2026-11-27T10:00:00.000000Z".into(),
                limits: LIMITS,
            };
            let outcome = runtime.block_on(store.write(&write)).unwrap();
            prop_assert_eq!(outcome.applied as usize, fresh);
            let mut got = runtime.block_on(stored(&server));
            got.seen = model.seen.clone();
            got.sources = model.sources.clone();
            prop_assert_eq!(&got, &model);
            estimates_match(&server, &model)?;
        }
        // Every record of a payload counted for the first time lands in exactly one row.
        let mut first = BTreeSet::new();
        let records: u64 = batches
            .iter()
            .flatten()
            .filter(|p| first.insert(**p))
            .flat_map(|p| contents[*p].iter().map(|r| r.count))
            .sum();
        prop_assert_eq!(model.conn.values().sum::<u64>(), records);
    });
}

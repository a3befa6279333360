//! The views: each route's answer built in memory from what the store read. Pure functions,
//! tested with tables; the wire types they answer with live in [`crate::model`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use foldhash::HashMap as FastMap;

use crate::model::{
    page_order, sort_connections, AccountInfo, Connection, DestPort, Endpoint, EndpointConnection,
    InterfaceFacts, PublicEndpoint, RegionHealth, SourceScore,
};
use crate::rules::classify;
use crate::store::ReadResult;

/// `account/region` → connections summed over the days read, in API order. Account/regions the
/// refresh knows appear with an empty list when nothing was counted: every configured account
/// is listed, quiet or not.
pub(super) fn connections_by_pair(read: ReadResult) -> BTreeMap<String, Vec<Connection>> {
    let known = known_pairs(&read);
    sum_days(read.days, known)
}

/// `account/region` pairs the refresh knows.
pub(super) fn known_pairs(read: &ReadResult) -> Vec<String> {
    read.refreshed
        .keys()
        .map(|pair| pair.replacen(':', "/", 1))
        .collect()
}

/// Days of connections (`account/region` → rows) summed into one, each list in API order;
/// `known` account/regions are listed even when empty.
pub fn sum_days(
    days: Vec<BTreeMap<String, Vec<Connection>>>,
    known: impl IntoIterator<Item = String>,
) -> BTreeMap<String, Vec<Connection>> {
    let mut out: BTreeMap<String, Vec<Connection>> =
        known.into_iter().map(|pair| (pair, Vec::new())).collect();
    let single_day = days.len() == 1;
    let mut summed: HashMap<String, FastMap<(String, String, DestPort), u64>> = HashMap::new();
    for day in days {
        for (pair, rows) in day {
            if single_day {
                out.insert(pair, rows);
                continue;
            }
            let sums = summed.entry(pair).or_default();
            for c in rows {
                *sums.entry((c.source, c.dest, c.dest_port)).or_default() += c.score;
            }
        }
    }
    for (pair, sums) in summed {
        out.insert(
            pair,
            sums.into_iter()
                .map(|((source, dest, dest_port), score)| Connection {
                    source,
                    dest,
                    dest_port,
                    score,
                })
                .collect(),
        );
    }
    for rows in out.values_mut() {
        sort_connections(rows);
    }
    out
}

/// The bare-address sources among `rows`, each once: the addresses to ask names for.
pub(super) fn addresses<'a>(rows: impl Iterator<Item = &'a Connection>) -> Vec<String> {
    let mut ips: Vec<String> = rows
        .filter(|c| c.source.parse::<std::net::IpAddr>().is_ok())
        .map(|c| c.source.clone())
        .collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

/// Sources the refresh resolved are shown as `host/ip` (`docs/rules.md`, "Names shown in
/// answers") on every day (days counted before the name was known too). The address stays in the name, so no
/// two rows merge.
pub(super) fn apply_names<'a>(
    rows: impl Iterator<Item = &'a mut Connection>,
    names: &HashMap<String, String>,
) {
    if names.is_empty() {
        return;
    }
    for c in rows {
        if let Some(host) = names.get(&c.source) {
            c.source = format!("{host}/{}", c.source);
        }
    }
}

/// Distinct destinations and ports, sorted.
pub(super) fn endpoints(rows: &[Connection]) -> BTreeSet<Endpoint<'_>> {
    rows.iter()
        .map(|c| Endpoint {
            dest: Cow::Borrowed(&c.dest),
            dest_port: c.dest_port,
            distinct_sources: None,
        })
        .collect()
}

/// Endpoints with their distinct-source estimates (`dest\tport` → estimate).
pub(super) fn with_distinct_sources<'a>(
    endpoints: BTreeSet<Endpoint<'a>>,
    estimates: Option<&HashMap<String, u64>>,
) -> Vec<Endpoint<'a>> {
    endpoints
        .into_iter()
        .map(|mut e| {
            e.distinct_sources = estimates
                .and_then(|m| m.get(&crate::store::keys::endpoint(&e.dest, e.dest_port)))
                .copied();
            e
        })
        .collect()
}

/// One page of rows over every account/region: rows in [`page_order`], `offset..offset +
/// limit` of them, grouped by account/region again; whether rows follow; and the page's last
/// row (what the next page's cursor names).
pub(super) fn page(
    by_pair: BTreeMap<String, Vec<Connection>>,
    offset: usize,
    limit: usize,
) -> Page {
    let mut all: Vec<(String, Connection)> = by_pair
        .into_iter()
        .flat_map(|(pair, rows)| rows.into_iter().map(move |c| (pair.clone(), c)))
        .collect();
    let end = offset.saturating_add(limit);
    let more = all.len() > end;
    let order =
        |a: &(String, Connection), b: &(String, Connection)| page_order(&a.0, &a.1, &b.0, &b.1);
    if all.len() > end && end > 0 {
        all.select_nth_unstable_by(end - 1, order);
        all.truncate(end);
    }
    all.sort_by(order);
    let last = all.last().filter(|_| all.len() > offset).cloned();
    let mut rows: BTreeMap<String, Vec<Connection>> = BTreeMap::new();
    for (pair, c) in all.into_iter().skip(offset) {
        rows.entry(pair).or_default().push(c);
    }
    Page { rows, more, last }
}

/// What [`page`] cut.
pub(super) struct Page {
    pub rows: BTreeMap<String, Vec<Connection>>,
    pub more: bool,
    pub last: Option<(String, Connection)>,
}

/// Sources named in `include` are kept whole; the others of our own accounts
/// (`account/region/name`) collapse to `account/region`; the rest are left out.
pub(super) fn account_connections<'a>(
    days: &'a [BTreeMap<String, Vec<Connection>>],
    known: &'a [String],
    include: &BTreeSet<String>,
) -> BTreeMap<&'a str, Vec<SourceScore<'a>>> {
    let scores = days.iter().flatten().flat_map(|(pair, rows)| {
        rows.iter().filter_map(move |c| {
            let source = c.source.as_str();
            // As the original: a source named in `include` stays whole, even one of our own
            // `account/region/name` addresses; the others collapse to `account/region`.
            let key = if include.contains(source) {
                source
            } else {
                &source[..nth_slash(source, 2)?]
            };
            Some((pair.as_str(), key, c.score))
        })
    });
    let pairs = days.iter().flat_map(|d| d.keys()).map(String::as_str);
    sum_account_sources(scores, known.iter().map(String::as_str).chain(pairs))
}

/// `/account-connections` without `include`, from the per-day sums ingest keeps
/// (`account/region` → score per account/region and day): the same answer as
/// [`account_connections`] of every row, without reading the rows.
pub(super) fn account_connections_of_sums<'a>(
    sums: &'a [BTreeMap<String, HashMap<String, u64>>],
    known: &'a [String],
) -> BTreeMap<&'a str, Vec<SourceScore<'a>>> {
    let scores = sums.iter().flatten().flat_map(|(pair, sums)| {
        sums.iter()
            .map(move |(source, score)| (pair.as_str(), source.as_str(), *score))
    });
    let pairs = sums.iter().flat_map(|d| d.keys()).map(String::as_str);
    sum_account_sources(scores, known.iter().map(String::as_str).chain(pairs))
}

/// Sums (pair, source, score) per pair and source, best first; every pair in `pairs` is
/// listed, with nothing if it has nothing.
fn sum_account_sources<'a>(
    scores: impl Iterator<Item = (&'a str, &'a str, u64)>,
    pairs: impl Iterator<Item = &'a str>,
) -> BTreeMap<&'a str, Vec<SourceScore<'a>>> {
    let mut sums: BTreeMap<&str, FastMap<&str, u64>> =
        pairs.map(|p| (p, FastMap::default())).collect();
    for (pair, source, score) in scores {
        *sums.entry(pair).or_default().entry(source).or_default() += score;
    }
    sums.into_iter()
        .map(|(pair, sums)| {
            let mut list: Vec<SourceScore> = sums
                .into_iter()
                .map(|(source, score)| SourceScore {
                    source: Cow::Borrowed(source),
                    score,
                })
                .collect();
            list.sort_by(|a, b| b.score.cmp(&a.score).then(a.source.cmp(&b.source)));
            (pair, list)
        })
        .collect()
}

/// Byte index of the `n`th `/` (1-based).
fn nth_slash(s: &str, n: usize) -> Option<usize> {
    s.match_indices('/').nth(n - 1).map(|(i, _)| i)
}

/// `/accounts`: the accounts the refresh monitors, each with its latest counted batch.
pub(super) fn accounts(read: &ReadResult) -> BTreeMap<&str, AccountInfo> {
    read.accounts
        .iter()
        .map(|a| {
            let prefix = format!("{}:", a.id);
            let region_of = |pair: &String| pair.strip_prefix(&prefix).map(String::from);
            let mut regions: BTreeMap<String, RegionHealth> = BTreeMap::new();
            for (pair, t) in &read.last_updates {
                if let Some(r) = region_of(pair) {
                    regions.entry(r).or_default().last_update = Some(t.clone());
                }
            }
            for (pair, t) in &read.refreshed {
                if let Some(r) = region_of(pair) {
                    regions.entry(r).or_default().last_refresh = Some(t.clone());
                }
            }
            for (pair, f) in &read.refresh_failures {
                if let Some(r) = region_of(pair) {
                    regions.entry(r).or_default().refresh_failure = Some(f.clone());
                }
            }
            let last_update = regions
                .values()
                .filter_map(|r| r.last_update.as_ref())
                .max()
                .cloned();
            (
                a.id.as_str(),
                AccountInfo {
                    name: a.name.clone(),
                    last_update,
                    source: a.origin,
                    regions,
                },
            )
        })
        .collect()
}

/// Every public interface the refresh found, grouped by the name its traffic is counted under,
/// with that traffic. Endpoints without traffic are listed too: that is the point.
pub(super) fn public_endpoints(
    interfaces: &[InterfaceFacts],
    connections: &BTreeMap<String, Vec<Connection>>,
) -> BTreeMap<String, Vec<PublicEndpoint>> {
    let mut by_name: BTreeMap<(String, String), PublicEndpoint> = BTreeMap::new();
    for facts in interfaces {
        let pair = facts.pair();
        for (&private, &public) in &facts.public_ips {
            let destination = classify::destination(facts, Some(private));
            let counted = destination.is_counted();
            let name = destination.name_or(private);
            let endpoint = by_name
                .entry((pair.clone(), name.clone()))
                .or_insert_with(|| PublicEndpoint {
                    name,
                    kind: classify::endpoint_kind(facts),
                    account_id: facts.account_id.clone(),
                    region: facts.region.clone(),
                    interface_ids: Vec::new(),
                    public_ips: Vec::new(),
                    counted,
                    score: 0,
                    connections: Vec::new(),
                });
            if !endpoint.interface_ids.contains(&facts.interface_id) {
                endpoint.interface_ids.push(facts.interface_id.clone());
            }
            let public = public.to_string();
            if !endpoint.public_ips.contains(&public) {
                endpoint.public_ips.push(public);
            }
        }
    }
    // Each row is looked at once: rows grouped by (pair, dest), in their API order.
    let mut by_dest: FastMap<(&str, &str), Vec<&Connection>> = FastMap::default();
    for (pair, rows) in connections {
        for c in rows {
            by_dest
                .entry((pair.as_str(), c.dest.as_str()))
                .or_default()
                .push(c);
        }
    }
    let mut out: BTreeMap<String, Vec<PublicEndpoint>> = BTreeMap::new();
    for ((pair, _), mut endpoint) in by_name {
        endpoint.interface_ids.sort();
        endpoint.public_ips.sort();
        if let Some(rows) = by_dest.get(&(pair.as_str(), endpoint.name.as_str())) {
            endpoint.connections = rows
                .iter()
                .map(|c| EndpointConnection {
                    source: c.source.clone(),
                    dest_port: c.dest_port,
                    score: c.score,
                })
                .collect();
            endpoint.score = endpoint.connections.iter().map(|c| c.score).sum();
        }
        out.entry(pair).or_default().push(endpoint);
    }
    out
}

/// `/changes`: per account/region, the endpoints (destination and port) of `day` that got no
/// connection in `baseline`, and the connections whose source is new to its endpoint.
pub(super) fn changes(
    day: &BTreeMap<String, Vec<Connection>>,
    baseline: &[BTreeMap<String, Vec<Connection>>],
) -> BTreeMap<String, crate::model::PairChanges> {
    use crate::model::{NewEndpoint, PairChanges};
    use std::collections::HashSet;
    let mut out = BTreeMap::new();
    for (pair, rows) in day {
        let before = baseline.iter().filter_map(|d| d.get(pair)).flatten();
        let mut dests: HashSet<&str> = HashSet::new();
        let mut endpoints: HashSet<(&str, DestPort)> = HashSet::new();
        let mut connections: HashSet<(&str, &str, DestPort)> = HashSet::new();
        for c in before {
            dests.insert(&c.dest);
            endpoints.insert((&c.dest, c.dest_port));
            connections.insert((&c.source, &c.dest, c.dest_port));
        }
        let mut new_endpoints: BTreeSet<NewEndpoint> = BTreeSet::new();
        let mut new_connections: Vec<Connection> = Vec::new();
        for c in rows {
            if !endpoints.contains(&(c.dest.as_str(), c.dest_port)) {
                new_endpoints.insert(NewEndpoint {
                    dest: c.dest.clone(),
                    dest_port: c.dest_port,
                    new_dest: !dests.contains(c.dest.as_str()),
                });
            }
            if !connections.contains(&(c.source.as_str(), c.dest.as_str(), c.dest_port)) {
                new_connections.push(c.clone());
            }
        }
        if new_endpoints.is_empty() && new_connections.is_empty() {
            continue;
        }
        crate::model::sort_connections(&mut new_connections);
        out.insert(
            pair.clone(),
            PairChanges {
                new_endpoints: new_endpoints.into_iter().collect(),
                new_connections,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_sources_collapse_and_include_keeps_named_sources() {
        let mut connections = BTreeMap::new();
        connections.insert(
            "111111111111/eu-west-1".to_string(),
            vec![
                Connection::new("222222222222/eu-west-1/nat-a.example.org", "lb", 443, 5),
                Connection::new("222222222222/eu-west-1/nat-b.example.org", "lb", 443, 2),
                Connection::new("333333333333/us-east-1/web/1.2.3.4", "lb", 80, 1),
                Connection::new("my_office", "lb", 22, 4),
                Connection::new("8.8.8.8", "lb", 443, 9),
            ],
        );
        let days = [connections];
        let none = account_connections(&days, &[], &BTreeSet::new());
        let got: Vec<(&str, u64)> = none["111111111111/eu-west-1"]
            .iter()
            .map(|s| (s.source.as_ref(), s.score))
            .collect();
        assert_eq!(
            got,
            [("222222222222/eu-west-1", 7), ("333333333333/us-east-1", 1)]
        );
        let include = BTreeSet::from([
            "my_office".to_string(),
            "222222222222/eu-west-1/nat-b.example.org".to_string(),
        ]);
        let with = account_connections(&days, &[], &include);
        let got: Vec<(&str, u64)> = with["111111111111/eu-west-1"]
            .iter()
            .map(|s| (s.source.as_ref(), s.score))
            .collect();
        assert_eq!(
            got,
            [
                ("222222222222/eu-west-1", 5),
                ("my_office", 4),
                ("222222222222/eu-west-1/nat-b.example.org", 2),
                ("333333333333/us-east-1", 1)
            ]
        );
    }

    #[test]
    fn pages_walk_every_row_once_in_score_order() {
        let mut by_pair = BTreeMap::new();
        let mut x = 7u64;
        let mut rng = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        for p in 0..5 {
            let rows: Vec<Connection> = (0..37)
                .map(|i| Connection::new(&format!("10.0.{p}.{i}"), "lb", 443, rng() % 9))
                .collect();
            by_pair.insert(format!("11111111111{p}/eu-west-1"), rows);
        }
        let total: usize = by_pair.values().map(Vec::len).sum();
        let order = |a: &(u64, String, String), b: &(u64, String, String)| {
            b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2)))
        };
        // Each page, put in score order, is the next slice of every row in score order.
        let mut walked = Vec::new();
        let mut offset = 0;
        loop {
            let Page {
                rows: got, more, ..
            } = page(by_pair.clone(), offset, 10);
            let mut rows: Vec<(u64, String, String)> = got
                .into_iter()
                .flat_map(|(pair, rows)| {
                    rows.into_iter()
                        .map(move |c| (c.score, pair.clone(), c.source))
                })
                .collect();
            assert!(rows.len() == 10 || !more);
            rows.sort_by(order);
            walked.extend(rows);
            offset += 10;
            if !more {
                break;
            }
        }
        let mut all: Vec<(u64, String, String)> = by_pair
            .iter()
            .flat_map(|(pair, rows)| {
                rows.iter()
                    .map(|c| (c.score, pair.clone(), c.source.clone()))
            })
            .collect();
        all.sort_by(order);
        assert_eq!(walked.len(), total);
        assert_eq!(walked, all, "pages in score order, none twice, none missed");
        let past = page(by_pair.clone(), total, 10);
        assert!(past.rows.is_empty() && !past.more && past.last.is_none());
        assert!(page(by_pair, 0, total - 1).more);
    }

    #[test]
    fn public_endpoints_take_their_rows_once() {
        let private = "10.0.0.5".parse().unwrap();
        let facts = InterfaceFacts::new(
            "eni-web",
            "111111111111",
            "eu-west-1",
            "web",
            (private, "54.1.1.5".parse().unwrap()),
        );
        let name = classify::destination(&facts, Some(private)).name_or(private);
        let connections = BTreeMap::from([(
            facts.pair(),
            vec![
                Connection::new("8.8.8.8", &name, 443, 5),
                Connection::new("1.1.1.1", "elsewhere", 443, 7),
                Connection::new("9.9.9.9", &name, 22, 1),
            ],
        )]);
        let listed = public_endpoints(std::slice::from_ref(&facts), &connections);
        let endpoint = &listed.values().next().unwrap()[0];
        assert_eq!(endpoint.score, 6);
        assert_eq!(endpoint.connections.len(), 2);
    }

    #[test]
    fn days_sum_and_known_pairs_are_listed_empty() {
        let day =
            |rows: Vec<Connection>| BTreeMap::from([("111111111111/eu-west-1".to_string(), rows)]);
        let read = ReadResult {
            days: vec![
                day(vec![
                    Connection::new("a", "x", 443, 2),
                    Connection::new("b", "x", 443, 1),
                ]),
                day(vec![
                    Connection::new("b", "x", 443, 5),
                    Connection::new("a", "x", 80, 1),
                ]),
            ],
            refreshed: HashMap::from([(
                "222222222222:us-east-1".to_string(),
                "2026-11-27T00:00:00.000000Z".to_string(),
            )]),
            ..ReadResult::default()
        };
        let got = connections_by_pair(read);
        assert_eq!(
            got["111111111111/eu-west-1"],
            [
                Connection::new("b", "x", 443, 6),
                Connection::new("a", "x", 443, 2),
                Connection::new("a", "x", 80, 1)
            ]
        );
        assert_eq!(got["222222222222/us-east-1"], []);
    }
}

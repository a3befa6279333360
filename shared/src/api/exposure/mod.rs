//! The exposure review (`docs/rules.md`, "Exposure"), pure: each public endpoint's rules that
//! open it to the internet, held against the connections counted on it in the range.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnetwork::IpNetwork;

pub(super) mod usage;

use usage::{Use, UsedBy};

use super::views::{public_endpoints, sum_days};
use crate::model::{
    pair_key, AccountRegion, Connection, DestPort, EndpointConnection, ExposedEndpoint,
    IngressRule, InterfaceFacts, PublicEndpoint, RuleReview, RuleSource, Verdict, TOP_SOURCES,
};
use crate::rules::classify::Networks;
use crate::rules::exposure::{opens_to_internet, DayCounters, Estate};

/// The answer's filters: `verdict=` (empty keeps all) and `port=`.
pub(super) struct Wanted {
    pub verdicts: BTreeSet<Verdict>,
    pub port: Option<DestPort>,
}

/// The review narrowed to the rules with a wanted verdict that open the wanted port, and the
/// unexplained traffic on that port; an endpoint left with neither is dropped when a filter
/// was given.
pub(super) fn keep(
    mut reviewed: BTreeMap<String, Vec<ExposedEndpoint>>,
    wanted: &Wanted,
) -> BTreeMap<String, Vec<ExposedEndpoint>> {
    if wanted.verdicts.is_empty() && wanted.port.is_none() {
        return reviewed;
    }
    for endpoints in reviewed.values_mut() {
        for endpoint in endpoints.iter_mut() {
            endpoint.rules.retain(|r| {
                (wanted.verdicts.is_empty() || wanted.verdicts.contains(&r.verdict))
                    && wanted.port.is_none_or(|p| opens(&r.rule, p))
            });
            endpoint.unexplained.retain(|c| {
                wanted.verdicts.is_empty() && wanted.port.is_none_or(|p| c.dest_port == p)
            });
        }
        endpoints.retain(|e| !e.rules.is_empty() || !e.unexplained.is_empty());
    }
    reviewed
}
/// A day (`YYYY-MM-DD`) and its items by `account/region`.
pub(super) type Day<T> = (String, BTreeMap<String, Vec<T>>);

/// What the review reads.
pub(super) struct Inputs<'a> {
    pub interfaces: &'a [InterfaceFacts],
    /// Security group id → its rules that open to the internet.
    pub ingress: &'a BTreeMap<String, Vec<IngressRule>>,
    /// The range's days, in order, and each one's sums ([`usage`]): what the verdicts, days
    /// and scores are judged from.
    pub usage: Vec<Day<Use>>,
    /// The days whose rows were read, in order: to judge rules with a narrower source than a
    /// whole address family.
    pub days: Vec<Day<Connection>>,
    /// Those of them whose rows show (named): top sources and unexplained traffic.
    pub shown: BTreeSet<String>,
    pub networks: &'a Networks,
    /// `ACCOUNT:REGION` → time of its last counted batch (RFC 3339).
    pub last_updates: &'a HashMap<String, String>,
    /// `account/region` → `dest⇥port` → distinct sources on the busiest day whose rows were
    /// read (empty: not read).
    pub distinct: &'a HashMap<String, HashMap<String, u64>>,
}

/// A counted source as the review sees it: ours (a named network, an own address) or the
/// internet's, with its block where the name tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Source {
    ours: bool,
    block: Option<IpNetwork>,
}

fn source_of(name: &str, networks: &Networks) -> Source {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Source {
            ours: false,
            block: Some(IpNetwork::from(ip)),
        };
    }
    if let Ok(block) = name.parse::<IpNetwork>() {
        return Source {
            ours: false,
            block: Some(block),
        };
    }
    if let Some((_, block)) = networks.entries().find(|(n, _)| *n == name) {
        return Source {
            ours: true,
            block: Some(*block),
        };
    }
    if AccountRegion::parse_prefix(name).is_some() {
        return Source {
            ours: true,
            block: None,
        };
    }
    // A resolved name is shown `host/ip`.
    let ip = name
        .rsplit_once('/')
        .and_then(|(_, ip)| ip.parse::<IpAddr>().ok());
    Source {
        ours: false,
        block: ip.map(IpNetwork::from),
    }
}

/// Whether a source may lie inside a rule's range: its block overlaps one of the rule's, or
/// its address is not known (a reverse-DNS name, `other`, an own address): better `used` than
/// a wrong `unused`.
fn inside(rule: &IngressRule, source: Source) -> bool {
    let Some(block) = source.block else {
        return true;
    };
    let overlaps = |cidr: &String| {
        cidr.parse::<IpNetwork>().map_or(true, |r| {
            r.contains(block.network()) || block.contains(r.network())
        })
    };
    match &rule.source {
        RuleSource::Cidr(cidr) => overlaps(cidr),
        RuleSource::PrefixList { cidrs, .. } => cidrs.iter().any(overlaps),
        RuleSource::Group(_) => false,
    }
}

/// Whether a rule lets in a row's port (`other`, folded ports: only a rule of every port).
fn opens(rule: &IngressRule, port: DestPort) -> bool {
    match port {
        DestPort::Port(p) => rule.opens_port(p),
        DestPort::Other => rule.opens_port(0) && rule.opens_port(u16::MAX),
    }
}

/// Whether a rule lets in a row: its port, from its source (the one test of "used" and of
/// "unexplained").
fn lets_in(rule: &IngressRule, port: DestPort, source: &str, networks: &Networks) -> bool {
    opens(rule, port) && inside(rule, source_of(source, networks))
}

/// Whether a rule's range holds a kind of source: surely, maybe (a narrower block than its
/// whole family: only the rows can tell), or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    No,
    Maybe,
    Yes,
}

fn reach(rule: &IngressRule, by: &UsedBy, networks: &Networks) -> Reach {
    let family = match by {
        UsedBy::Named(name) if inside(rule, source_of(name, networks)) => return Reach::Yes,
        UsedBy::Named(_) => return Reach::No,
        UsedBy::Internet(family) => *family,
    };
    let blocks: Vec<&String> = match &rule.source {
        RuleSource::Cidr(cidr) => vec![cidr],
        RuleSource::PrefixList { cidrs, .. } => cidrs.iter().collect(),
        RuleSource::Group(_) => Vec::new(),
    };
    blocks
        .into_iter()
        .map(|b| match b.parse::<IpNetwork>() {
            Err(_) => Reach::Yes,
            Ok(block) if !family.may_be_in(&block) => Reach::No,
            Ok(block) if block.prefix() == 0 => Reach::Yes,
            Ok(_) => Reach::Maybe,
        })
        .max()
        .unwrap_or(Reach::No)
}

/// The review of every public endpoint, by `account/region`.
pub(super) fn review(inputs: &Inputs<'_>) -> BTreeMap<String, Vec<ExposedEndpoint>> {
    let shown = inputs
        .days
        .iter()
        .filter(|(day, _)| inputs.shown.contains(day));
    let merged = sum_days(shown.map(|(_, d)| d.clone()).collect(), []);
    let groups_of: HashMap<&str, &[String]> = inputs
        .interfaces
        .iter()
        .map(|f| (f.interface_id.as_str(), f.security_groups.as_slice()))
        .collect();
    let first_day = inputs.usage.first().map_or("", |(d, _)| d.as_str());
    let rows = by_dest(&inputs.days, |c| &c.dest);
    let sums = by_dest(&inputs.usage, |u| &u.dest);
    let estimates = estimates_by_dest(inputs.distinct);
    let reporting: BTreeSet<&str> = inputs
        .usage
        .iter()
        .flat_map(|(_, sums)| sums.iter())
        .filter(|(_, sums)| !sums.is_empty())
        .map(|(pair, _)| pair.as_str())
        .chain(merged.keys().map(String::as_str))
        .collect();
    let mut out = BTreeMap::new();
    for (pair, endpoints) in public_endpoints(inputs.interfaces, &merged) {
        let reviewed = endpoints
            .into_iter()
            .map(|endpoint| {
                let groups: BTreeSet<String> = endpoint
                    .interface_ids
                    .iter()
                    .flat_map(|id| groups_of.get(id.as_str()).copied().unwrap_or_default())
                    .cloned()
                    .collect();
                // Records in the range, or a batch counted since it began.
                let flow_logs = reporting.contains(pair.as_str())
                    || inputs
                        .last_updates
                        .get(&pair_key(&endpoint.account_id, &endpoint.region))
                        .is_some_and(|at| at.as_str() >= first_day);
                let seen = Seen {
                    sums: days_of(&sums, &inputs.usage, &pair, &endpoint.name),
                    rows: days_of(&rows, &inputs.days, &pair, &endpoint.name),
                    distinct: estimates_of(&estimates, &pair, &endpoint.name),
                };
                review_endpoint(endpoint, groups, inputs, flow_logs, &seen)
            })
            .collect();
        out.insert(pair, reviewed);
    }
    out
}

/// One account/region's review of one day, as `GET /exposure/{account_id}/{region}?date=DAY`
/// answers it from the same counters, sources as counted (no reverse-DNS names): judged from
/// the day's sums (made from the rows for a day written before ingest kept them), its rows
/// showing top sources and settling narrower rules. Without rows (more than a reader holds),
/// narrower rules are judged as on days whose rows are not read. `estate.interfaces` are the
/// pair's (the caller groups them once); another pair's would be reviewed and left out.
pub fn review_day(
    estate: &Estate<'_>,
    day: &str,
    pair: &AccountRegion,
    counters: DayCounters,
) -> Vec<ExposedEndpoint> {
    let key = pair.to_string();
    let DayCounters {
        sums,
        rows,
        distinct,
    } = counters;
    let mut uses = usage::parse(sums);
    if uses.is_empty() {
        uses = usage::of_rows(rows.as_deref().unwrap_or_default());
    }
    let shown: BTreeSet<String> = rows.iter().map(|_| day.to_string()).collect();
    let distinct = HashMap::from([(key.clone(), distinct)]);
    let inputs = Inputs {
        interfaces: estate.interfaces,
        ingress: estate.ingress,
        usage: vec![(day.to_string(), BTreeMap::from([(key.clone(), uses)]))],
        // An account/region listed with no rows would count as reporting.
        days: rows
            .filter(|rows| !rows.is_empty())
            .map(|rows| (day.to_string(), BTreeMap::from([(key.clone(), rows)])))
            .into_iter()
            .collect(),
        shown,
        networks: estate.networks,
        last_updates: estate.last_updates,
        distinct: &distinct,
    };
    review(&inputs).remove(&key).unwrap_or_default()
}

/// The days' items by `(account/region, destination)`, each list by day: every item looked at
/// once, whatever the number of endpoints.
type ByDest<'a, T> = HashMap<(&'a str, &'a str), Vec<Vec<&'a T>>>;

fn by_dest<T>(days: &[Day<T>], dest: impl Fn(&T) -> &String) -> ByDest<'_, T> {
    let mut index: ByDest<'_, T> = HashMap::new();
    for (at, (_, items)) in days.iter().enumerate() {
        for (pair, list) in items {
            for item in list {
                index
                    .entry((pair.as_str(), dest(item).as_str()))
                    .or_insert_with(|| vec![Vec::new(); days.len()])[at]
                    .push(item);
            }
        }
    }
    index
}

/// The distinct-source estimates by `(account/region, destination)`: each port's.
fn estimates_by_dest(
    distinct: &HashMap<String, HashMap<String, u64>>,
) -> HashMap<(&str, &str), Vec<(DestPort, u64)>> {
    let mut index: HashMap<(&str, &str), Vec<(DestPort, u64)>> = HashMap::new();
    for (pair, endpoints) in distinct {
        for (endpoint, n) in endpoints {
            let Some((dest, port)) = endpoint.rsplit_once('\t') else {
                continue;
            };
            if let Ok(port) = port.parse::<DestPort>() {
                index
                    .entry((pair.as_str(), dest))
                    .or_default()
                    .push((port, *n));
            }
        }
    }
    index
}

/// One endpoint's ports' estimates.
fn estimates_of(
    index: &HashMap<(&str, &str), Vec<(DestPort, u64)>>,
    pair: &str,
    dest: &str,
) -> Vec<(DestPort, u64)> {
    index.get(&(pair, dest)).cloned().unwrap_or_default()
}

/// An endpoint's items per day.
fn days_of<'a, T>(
    index: &ByDest<'a, T>,
    days: &'a [Day<T>],
    pair: &str,
    dest: &str,
) -> Vec<(&'a str, Vec<&'a T>)> {
    let items = index.get(&(pair, dest));
    days.iter()
        .enumerate()
        .map(|(at, (day, _))| {
            let on_day = items.and_then(|r| r.get(at)).cloned().unwrap_or_default();
            (day.as_str(), on_day)
        })
        .collect()
}

/// What was counted on one endpoint: its sums per day of the range, its rows per day read.
struct Seen<'a> {
    sums: Vec<(&'a str, Vec<&'a Use>)>,
    rows: Vec<(&'a str, Vec<&'a Connection>)>,
    /// Its ports' distinct-source estimates.
    distinct: Vec<(DestPort, u64)>,
}

/// What a rule's sums and rows say: the days it was used, its score, the named sources of ours
/// that used it, whether internet sources did, and whether that is only because rows that
/// could tell were not read.
#[derive(Default)]
struct Tally<'a> {
    days: BTreeSet<&'a str>,
    score: u64,
    ours: BTreeSet<String>,
    internet: bool,
    unsure: bool,
}

fn tally<'a>(rule: &IngressRule, seen: &Seen<'a>, networks: &Networks) -> Tally<'a> {
    let mut t = Tally::default();
    let mut maybe = BTreeSet::new();
    for (day, sums) in &seen.sums {
        for u in sums.iter().filter(|u| opens(rule, u.port)) {
            match reach(rule, &u.by, networks) {
                Reach::Yes => {
                    t.days.insert(*day);
                    t.score += u.score;
                    match &u.by {
                        UsedBy::Named(n) if source_of(n, networks).ours => {
                            t.ours.insert(n.clone());
                        }
                        _ => t.internet = true,
                    }
                }
                Reach::Maybe => {
                    maybe.insert(*day);
                }
                Reach::No => {}
            }
        }
    }
    // A narrower rule's unnamed sources: inside its blocks or not, as the day's rows tell; a
    // day whose rows were not read counts as used (better `used` than a wrong `unused`).
    for day in maybe {
        let Some((_, rows)) = seen.rows.iter().find(|(d, _)| *d == day) else {
            t.days.insert(day);
            t.internet = true;
            t.unsure = true;
            continue;
        };
        let hits = rows.iter().filter(|c| {
            !source_of(&c.source, networks).ours && lets_in(rule, c.dest_port, &c.source, networks)
        });
        for c in hits {
            t.days.insert(day);
            t.internet = true;
            t.score += c.score;
        }
    }
    t
}

fn review_endpoint(
    endpoint: PublicEndpoint,
    groups: BTreeSet<String>,
    inputs: &Inputs<'_>,
    flow_logs: bool,
    seen: &Seen<'_>,
) -> ExposedEndpoint {
    let rules: Vec<&IngressRule> = groups
        .iter()
        .flat_map(|g| inputs.ingress.get(g).into_iter().flatten())
        .filter(|r| opens_to_internet(r))
        .collect();
    let mut unexplained: Vec<EndpointConnection> = endpoint
        .connections
        .iter()
        .filter(|c| {
            !rules
                .iter()
                .any(|r| lets_in(r, c.dest_port, &c.source, inputs.networks))
        })
        .cloned()
        .collect();
    unexplained.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.source.cmp(&b.source)));
    let context = RuleContext {
        endpoint: &endpoint,
        flow_logs,
        networks: inputs.networks,
        distinct: &seen.distinct,
    };
    let reviews = rules
        .iter()
        .map(|rule| judge(rule, &tally(rule, seen, inputs.networks), &context))
        .collect();
    ExposedEndpoint {
        name: endpoint.name,
        kind: endpoint.kind,
        account_id: endpoint.account_id,
        region: endpoint.region,
        interface_ids: endpoint.interface_ids,
        security_groups: groups.into_iter().collect(),
        rules: reviews,
        unexplained,
    }
}

/// What a rule's verdict depends on besides its own use.
struct RuleContext<'a> {
    endpoint: &'a PublicEndpoint,
    flow_logs: bool,
    networks: &'a Networks,
    distinct: &'a [(DestPort, u64)],
}

/// One rule's verdict and suggestion, from its tally; its top sources from the rows read.
fn judge(rule: &IngressRule, t: &Tally<'_>, cx: &RuleContext<'_>) -> RuleReview {
    let mut sources: Vec<EndpointConnection> = cx
        .endpoint
        .connections
        .iter()
        .filter(|c| lets_in(rule, c.dest_port, &c.source, cx.networks))
        .cloned()
        .collect();
    sources.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.source.cmp(&b.source)));
    sources.truncate(TOP_SOURCES);
    let verdict = if !cx.endpoint.counted {
        Verdict::NotCounted
    } else if t.internet {
        Verdict::Used
    } else if !t.ours.is_empty() {
        Verdict::Narrow
    } else if !cx.flow_logs {
        Verdict::NoFlowLog
    } else {
        Verdict::Unused
    };
    let suggestion = match verdict {
        Verdict::Unused => format!(
            "aws ec2 revoke-security-group-ingress --region {} --group-id {} --security-group-rule-ids {}",
            cx.endpoint.region, rule.group_id, rule.rule_id
        ),
        Verdict::Narrow => format!(
            "allow only {} instead",
            t.ours.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        Verdict::Used if t.unsure => "keep: internet sources used its ports; whether from inside its blocks, only the rows of those days tell (ask for them with from/to)".to_string(),
        Verdict::Used => "keep: sources from the internet use it".to_string(),
        Verdict::NoFlowLog => format!(
            "turn flow logs on for {}/{} to judge it",
            cx.endpoint.account_id, cx.endpoint.region
        ),
        Verdict::NotCounted => "its traffic is not counted: judge it by hand".to_string(),
    };
    RuleReview {
        rule: rule.clone(),
        verdict,
        score: t.score,
        first_day: t.days.first().map(|d| d.to_string()),
        last_day: t.days.last().map(|d| d.to_string()),
        top_sources: sources,
        distinct_sources: (verdict == Verdict::Used)
            .then(|| cx.distinct.iter().filter(|(p, _)| opens(rule, *p)))
            .map(|ports| ports.map(|(_, n)| n).sum::<u64>())
            .filter(|n| *n > 0),
        narrow_to: if verdict == Verdict::Narrow {
            t.ours.iter().cloned().collect()
        } else {
            Vec::new()
        },
        suggestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::interface;

    const A: &str = "111111111111";
    const B: &str = "222222222222";

    fn rule(id: &str, from_port: i32, to_port: i32, source: RuleSource) -> IngressRule {
        IngressRule {
            rule_id: id.into(),
            group_id: "sg-web".into(),
            group_name: "web".into(),
            description: String::new(),
            protocol: "tcp".into(),
            from_port,
            to_port,
            source,
        }
    }

    fn cidr(block: &str) -> RuleSource {
        RuleSource::Cidr(block.into())
    }

    fn row(source: &str, port: u16, score: u64) -> Connection {
        Connection::new(source, "web/52.0.0.5", port, score)
    }

    /// The sums ingest keeps of these days.
    fn sums_of(days: &[Day<Connection>]) -> Vec<Day<Use>> {
        days.iter()
            .map(|(day, pairs)| {
                let sums = pairs
                    .iter()
                    .map(|(pair, rows)| (pair.clone(), usage::of_rows(rows)))
                    .collect();
                (day.clone(), sums)
            })
            .collect()
    }

    fn pair_rows(rows: Vec<Connection>) -> BTreeMap<String, Vec<Connection>> {
        BTreeMap::from([(format!("{A}/eu-west-1"), rows)])
    }

    /// One instance with six rules in A/eu-west-1, traffic on two days; one quiet instance in
    /// B/us-east-1 that sent no records; a NAT gateway, whose traffic is not counted.
    fn reviewed(networks: &Networks) -> BTreeMap<String, Vec<ExposedEndpoint>> {
        reviewed_with(networks, 2)
    }

    /// The same, judged from both days' sums with the rows of the last `rows_read` days.
    fn reviewed_with(
        networks: &Networks,
        rows_read: usize,
    ) -> BTreeMap<String, Vec<ExposedEndpoint>> {
        let web = InterfaceFacts {
            instance_name: Some("web".into()),
            security_groups: vec!["sg-web".into()],
            ..interface("eni-web", A, "eu-west-1", "", "10.0.1.5", "52.0.0.5")
        };
        let nat = InterfaceFacts {
            interface_type: "nat_gateway".into(),
            security_groups: vec!["sg-web".into()],
            ..interface("eni-nat", A, "eu-west-1", "NAT", "10.0.0.9", "52.0.0.9")
        };
        let quiet = InterfaceFacts {
            security_groups: vec!["sg-b".into()],
            ..interface("eni-b", B, "us-east-1", "", "10.1.0.5", "54.0.0.5")
        };
        let list = |id: &str, cidrs: &[&str]| RuleSource::PrefixList {
            id: id.into(),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
        };
        let ingress = BTreeMap::from([
            (
                "sg-web".to_string(),
                vec![
                    rule("sgr-ssh", 22, 22, cidr("0.0.0.0/0")),
                    rule("sgr-https", 8443, 8443, cidr("0.0.0.0/0")),
                    rule("sgr-v6", 443, 443, cidr("::/0")),
                    rule("sgr-pg", 5433, 5433, cidr("0.0.0.0/0")),
                    rule("sgr-pl", 9000, 9000, list("pl-1", &["85.1.0.0/16"])),
                    rule("sgr-inside", 3000, 3000, RuleSource::Group("sg-x".into())),
                ],
            ),
            (
                "sg-b".to_string(),
                vec![IngressRule {
                    group_id: "sg-b".into(),
                    ..rule("sgr-b", 22, 22, cidr("0.0.0.0/0"))
                }],
            ),
        ]);
        let mut days = vec![
            (
                "2026-11-26".to_string(),
                pair_rows(vec![
                    row("8.8.8.8", 80, 5),
                    row("85.1.2.3", 9000, 4),
                    row("8.8.8.8", 8443, 3),
                    row("office", 5433, 2),
                    row("2001:db8::1", 443, 1),
                    row("8.8.4.4", 9000, 1),
                    row("8.8.8.8", 443, 7),
                ]),
            ),
            (
                "2026-11-27".to_string(),
                pair_rows(vec![row("8.8.8.8", 8443, 1)]),
            ),
        ];
        let interfaces = [web, nat, quiet];
        review(&Inputs {
            interfaces: &interfaces,
            ingress: &ingress,
            usage: sums_of(&days),
            shown: days[days.len() - rows_read..]
                .iter()
                .map(|(day, _)| day.clone())
                .collect(),
            days: days.split_off(days.len() - rows_read),
            networks,
            last_updates: &HashMap::new(),
            distinct: &HashMap::new(),
        })
    }

    #[test]
    fn each_rule_gets_the_verdict_its_traffic_earns() {
        let networks = Networks::new(vec![("office".into(), "85.2.0.0/16".parse().unwrap())]);
        let all = reviewed(&networks);
        let web = &all[&format!("{A}/eu-west-1")]
            .iter()
            .find(|e| e.name == "web/52.0.0.5")
            .unwrap();
        let got = summary(&web.rules);
        // A rule from another group is no part of the review; an IPv4 source does not use an
        // IPv6 rule; 8.8.4.4 is outside the prefix list.
        assert_eq!(
            got,
            [
                "sgr-ssh unused 0 -..-",
                "sgr-https used 4 26..27",
                "sgr-v6 used 1 26..26",
                "sgr-pg narrow 2 26..26",
                "sgr-pl used 4 26..26",
            ]
        );
        let by_id = |id: &str| web.rules.iter().find(|r| r.rule.rule_id == id).unwrap();
        assert_eq!(
            by_id("sgr-ssh").suggestion,
            "aws ec2 revoke-security-group-ingress --region eu-west-1 --group-id sg-web \
             --security-group-rule-ids sgr-ssh"
        );
        assert_eq!(by_id("sgr-pg").narrow_to, ["office"]);
        assert_eq!(
            by_id("sgr-https").top_sources,
            [EndpointConnection {
                source: "8.8.8.8".into(),
                dest_port: DestPort::Port(8443),
                score: 4
            }]
        );
        // Port 80 has no rule, 443 only an IPv6 one, 9000 one for another block: traffic no
        // rule explains, busiest first.
        let unexplained: Vec<(&str, u16, u64)> = web
            .unexplained
            .iter()
            .map(|c| (c.source.as_str(), c.dest_port.number().unwrap(), c.score))
            .collect();
        assert_eq!(
            unexplained,
            [
                ("8.8.8.8", 443, 7),
                ("8.8.8.8", 80, 5),
                ("8.8.4.4", 9000, 1)
            ]
        );
        let nat = &all[&format!("{A}/eu-west-1")]
            .iter()
            .find(|e| e.interface_ids == ["eni-nat"])
            .unwrap();
        assert!(nat.rules.iter().all(|r| r.verdict == Verdict::NotCounted));
        let quiet = &all[&format!("{B}/us-east-1")][0];
        assert_eq!(quiet.rules[0].verdict, Verdict::NoFlowLog);
        assert!(quiet.rules[0].suggestion.contains("flow logs"));
    }

    /// Each rule as `id verdict score first..last` (days of the month).
    fn summary(rules: &[RuleReview]) -> Vec<String> {
        let day = |d: &Option<String>| d.as_deref().map_or("-", |d| &d[8..]).to_string();
        rules
            .iter()
            .map(|r| {
                let (first, last) = (day(&r.first_day), day(&r.last_day));
                format!(
                    "{} {} {} {first}..{last}",
                    r.rule.rule_id,
                    r.verdict.name(),
                    r.score
                )
            })
            .collect()
    }

    /// The default review: every day's sums, the last day's rows. A rule of a whole family is
    /// judged from the sums alone; the prefix-list rule's sources of day 26 could be inside its
    /// block or not, and that day's rows were not read: `used`, and it says why.
    #[test]
    fn the_sums_judge_the_days_whose_rows_are_not_read() {
        let networks = Networks::new(vec![("office".into(), "85.2.0.0/16".parse().unwrap())]);
        let all = reviewed_with(&networks, 1);
        let web = all[&format!("{A}/eu-west-1")]
            .iter()
            .find(|e| e.name == "web/52.0.0.5")
            .unwrap();
        assert_eq!(
            summary(&web.rules),
            [
                "sgr-ssh unused 0 -..-",
                "sgr-https used 4 26..27",
                "sgr-v6 used 1 26..26",
                "sgr-pg narrow 2 26..26",
                "sgr-pl used 0 26..26",
            ]
        );
        let by_id = |id: &str| web.rules.iter().find(|r| r.rule.rule_id == id).unwrap();
        assert_eq!(by_id("sgr-pg").narrow_to, ["office"]);
        assert!(by_id("sgr-pl")
            .suggestion
            .contains("only the rows of those days tell"));
        assert!(!by_id("sgr-https").suggestion.contains("rows"));
        // Top sources and unexplained traffic are the rows read: the 27th's.
        let top: Vec<(&str, u64)> = by_id("sgr-https")
            .top_sources
            .iter()
            .map(|c| (c.source.as_str(), c.score))
            .collect();
        assert_eq!(top, [("8.8.8.8", 1)]);
        assert!(by_id("sgr-v6").top_sources.is_empty());
        assert!(web.unexplained.is_empty());
    }

    /// A narrower rule whose family's sources all came from outside its block, on a day whose
    /// rows were read: `unused`, not `used`.
    #[test]
    fn rows_read_settle_a_narrower_rule() {
        let networks = Networks::new(Vec::new());
        let web = InterfaceFacts {
            security_groups: vec!["sg-web".into()],
            ..interface("eni-web", A, "eu-west-1", "", "10.0.1.5", "52.0.0.5")
        };
        let ingress = BTreeMap::from([(
            "sg-web".to_string(),
            vec![rule(
                "sgr-pl",
                9000,
                9000,
                RuleSource::PrefixList {
                    id: "pl-1".into(),
                    cidrs: vec!["85.1.0.0/16".into()],
                },
            )],
        )]);
        let days = vec![(
            "2026-11-26".to_string(),
            pair_rows(vec![row("8.8.4.4", 9000, 3), row("85.1.0.7", 80, 1)]),
        )];
        let all = review(&Inputs {
            interfaces: &[web],
            ingress: &ingress,
            usage: sums_of(&days),
            shown: BTreeSet::from(["2026-11-26".to_string()]),
            days,
            networks: &networks,
            last_updates: &HashMap::new(),
            distinct: &HashMap::new(),
        });
        let web = &all[&format!("{A}/eu-west-1")][0];
        assert_eq!(summary(&web.rules), ["sgr-pl unused 0 -..-"]);
    }

    #[test]
    fn filters_keep_the_wanted_verdicts_and_ports() {
        let networks = Networks::new(vec![("office".into(), "85.2.0.0/16".parse().unwrap())]);
        let ids = |wanted: Wanted| -> Vec<String> {
            keep(reviewed(&networks), &wanted)
                .values()
                .flatten()
                .flat_map(|e| e.rules.iter().map(|r| r.rule.rule_id.clone()))
                .collect()
        };
        let unused = Wanted {
            verdicts: BTreeSet::from([Verdict::Unused, Verdict::NoFlowLog]),
            port: None,
        };
        assert_eq!(ids(unused), ["sgr-ssh", "sgr-b"]);
        let ssh = Wanted {
            verdicts: BTreeSet::new(),
            port: Some(DestPort::Port(22)),
        };
        // The NAT gateway's copy of the rule is listed too (not counted).
        assert_eq!(ids(ssh), ["sgr-ssh", "sgr-ssh", "sgr-b"]);
    }

    #[test]
    fn a_source_is_ours_or_the_internets() {
        let networks = Networks::new(vec![("office".into(), "85.2.0.0/16".parse().unwrap())]);
        let cases = [
            ("8.8.8.8", false, Some("8.8.8.8/32")),
            ("8.8.0.0/16", false, Some("8.8.0.0/16")),
            ("office", true, Some("85.2.0.0/16")),
            ("111111111111/eu-west-1/nat-a", true, None),
            (
                "crawl.example.org/66.249.66.1",
                false,
                Some("66.249.66.1/32"),
            ),
            ("other", false, None),
        ];
        for (name, ours, block) in cases {
            let got = source_of(name, &networks);
            assert_eq!(got.ours, ours, "{name}");
            assert_eq!(got.block.map(|b| b.to_string()).as_deref(), block, "{name}");
        }
    }
}

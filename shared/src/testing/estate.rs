//! The benchmark estate, one home for every benchmark that reads it (`api`, `load`): N accounts
//! × 2 regions × M connections a day for the given days, written through the store's own write
//! path, and each account/region's five load balancers as the refresh would store them.

use std::time::Instant;

use super::{interface, Rng};
use crate::model::{IngressRule, InterfaceFacts, RegionInventory, RuleSource};
use crate::store::{keys, CounterStore, Increment, RedisStore, RefreshStore, WriteBatch};

pub const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

/// What was written.
pub struct Estate {
    /// Account ids, 12 digits.
    pub ids: Vec<String>,
    pub days: Vec<String>,
    pub fill_seconds: f64,
}

/// A load balancer group's five rules open to the internet: 443, 80 and 22 from anywhere,
/// 5432 from a prefix list, 8443 from any IPv6 address.
fn rules(group: &str) -> Vec<IngressRule> {
    let rule = |n: usize, port: i32, source: RuleSource| IngressRule {
        rule_id: format!("sgr-{}{n}", group.trim_start_matches("sg-")),
        group_id: group.to_string(),
        group_name: group.to_string(),
        description: String::new(),
        protocol: "tcp".into(),
        from_port: port,
        to_port: port,
        source,
    };
    let world = || RuleSource::Cidr("0.0.0.0/0".into());
    vec![
        rule(0, 443, world()),
        rule(1, 80, world()),
        rule(2, 22, world()),
        rule(
            3,
            5432,
            RuleSource::PrefixList {
                id: "pl-0a1b".into(),
                cidrs: vec!["85.1.0.0/16".into(), "85.2.0.0/16".into()],
            },
        ),
        rule(4, 8443, RuleSource::Cidr("::/0".into())),
    ]
}

/// The account id of the estate's `n`th account.
pub fn account_id(n: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + n as u64)
}

/// Fills `store`: per day, account and region `per_pair` connections (70 % internet addresses,
/// 20 % our own NAT gateways in other accounts, 10 % named office networks; ports 443, 80, 22,
/// 5432 to five load balancers), the same data on every run.
pub async fn fill(store: &RedisStore, accounts: usize, per_pair: usize, days: &[String]) -> Estate {
    let ids: Vec<String> = (0..accounts).map(account_id).collect();
    let t = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for day in days {
        for id in &ids {
            for region in REGIONS {
                let increments = (0..per_pair)
                    .map(|i| {
                        let r = rng.next_u64();
                        let source = match r % 10 {
                            0..=6 => format!(
                                "{}.{}.{}.{}",
                                1 + (r >> 8) % 223,
                                (r >> 16) % 256,
                                (r >> 24) % 256,
                                (r >> 32) % 256
                            ),
                            7 | 8 => format!(
                                "{}/{}/nat-{}a.team-{}.example.org",
                                ids[(r >> 8) as usize % ids.len()],
                                REGIONS[(r >> 20) as usize % 2],
                                REGIONS[(r >> 20) as usize % 2],
                                (r >> 8) as usize % ids.len()
                            ),
                            _ => format!("office-{}", (r >> 8) % 20),
                        };
                        let dest = format!("app-{}-{id}.{region}.elb.amazonaws.com", i % 5);
                        let port = [443u16, 443, 443, 80, 22, 5432][(r >> 40) as usize % 6];
                        // Addresses as ingest writes them: bare (bounds, the review's sums).
                        let bare_ip = source.parse().ok();
                        Increment {
                            account: id,
                            region,
                            member: keys::connection_member(source, dest, port),
                            count: 1 + (r >> 48) % 50,
                            bare_ip,
                        }
                    })
                    .collect();
                let unit = format!("{day}-{id}-{region}");
                let batch = WriteBatch {
                    touched: vec![(id, region)],
                    now_rfc3339: "2026-11-27T10:00:00.000000Z".into(),
                    ..super::one_payload(day, &unit, increments)
                };
                store.write(&batch).await.expect("the estate is written");
            }
        }
    }
    let fill_seconds = t.elapsed().as_secs_f64();
    // The refresh's view: each account/region's five load balancers, for /public-endpoints,
    // each in its own group with five rules open to the internet, for /exposure.
    for (n, id) in ids.iter().enumerate() {
        for (r, region) in REGIONS.iter().enumerate() {
            let group = |i: usize| format!("sg-{n}{r}{i}");
            let interfaces: Vec<InterfaceFacts> = (0..5)
                .map(|i| InterfaceFacts {
                    lb_dns_name: Some(format!("app-{i}-{id}.{region}.elb.amazonaws.com")),
                    interface_type: "interface".into(),
                    security_groups: vec![group(i)],
                    ..interface(
                        &format!("eni-{n}-{r}-{i}"),
                        id,
                        region,
                        &format!("ELB app/app-{i}/50dc6c495c0c9188"),
                        &format!("10.{r}.{i}.{}", n % 250),
                        &format!("52.{r}.{i}.{}", n % 250),
                    )
                })
                .collect();
            store
                .replace_region(
                    id,
                    region,
                    &RegionInventory {
                        interfaces,
                        ingress: (0..5).map(|i| (group(i), rules(&group(i)))).collect(),
                        ..Default::default()
                    },
                    "2026-11-27T09:00:00.000000Z",
                )
                .await
                .expect("the estate's inventory is written");
        }
    }
    Estate {
        ids,
        days: days.to_vec(),
        fill_seconds,
    }
}

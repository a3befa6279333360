//! The exposure estate (`docs/rules.md`, "Exposure"), one home for the tests that read it
//! (the API's, ctrack's, the dashboard's): written through the store's own paths.

use std::collections::BTreeMap;

use super::{increments, interface, one_payload, TestRow};
use crate::model::{IngressRule, InterfaceFacts, RegionInventory, RuleSource};
use crate::store::{CounterStore, RedisStore, RefreshStore, WriteBatch};

pub const A: &str = "111111111111";
pub const B: &str = "222222222222";

/// The named networks the estate's API knows: `office` is 85.2.0.0/16 (outside the prefix
/// list's 85.1.0.0/16).
pub fn networks() -> crate::rules::classify::Networks {
    crate::rules::classify::Networks::new(vec![(
        "office".into(),
        "85.2.0.0/16".parse().expect("a block"),
    )])
}

pub const DB: &str = "111111111111/eu-west-1/db.abc.eu-west-1.rds.amazonaws.com";

fn rule(group: &str, id: &str, port: i32, source: RuleSource) -> IngressRule {
    IngressRule {
        rule_id: id.into(),
        group_id: group.into(),
        group_name: group.trim_start_matches("sg-").into(),
        description: String::new(),
        protocol: "tcp".into(),
        from_port: port,
        to_port: port,
        source,
    }
}

fn world() -> RuleSource {
    RuleSource::Cidr("0.0.0.0/0".into())
}

/// A/eu-west-1: the instance, the database and the NLB, with their groups' rules.
fn inventory() -> RegionInventory {
    let web = InterfaceFacts {
        instance_name: Some("web".into()),
        security_groups: vec!["sg-web".into()],
        ..interface("eni-web", A, "eu-west-1", "", "10.0.1.5", "52.0.0.5")
    };
    let db = InterfaceFacts {
        rds_endpoint: Some("db.abc.eu-west-1.rds.amazonaws.com".into()),
        security_groups: vec!["sg-db".into()],
        ..interface(
            "eni-db",
            A,
            "eu-west-1",
            "RDSNetworkInterface",
            "10.0.2.7",
            "52.0.0.7",
        )
    };
    let nlb = InterfaceFacts {
        interface_type: "network_load_balancer".into(),
        lb_dns_name: Some("nlb-1.elb.eu-west-1.amazonaws.com".into()),
        ..interface(
            "eni-nlb",
            A,
            "eu-west-1",
            "ELB net/nlb-1/abc",
            "10.0.3.8",
            "52.0.0.8",
        )
    };
    RegionInventory {
        interfaces: vec![web, db, nlb],
        ingress: BTreeMap::from([
            (
                "sg-web".to_string(),
                vec![
                    rule("sg-web", "sgr-ssh", 22, world()),
                    rule("sg-web", "sgr-https", 8443, world()),
                    rule("sg-web", "sgr-v6", 443, RuleSource::Cidr("::/0".into())),
                    rule(
                        "sg-web",
                        "sgr-pl",
                        9000,
                        RuleSource::PrefixList {
                            id: "pl-1".into(),
                            cidrs: vec!["85.1.0.0/16".into()],
                        },
                    ),
                ],
            ),
            (
                "sg-db".to_string(),
                vec![rule("sg-db", "sgr-pg", 5433, world())],
            ),
        ]),
        ..RegionInventory::default()
    }
}

/// An instance whose group opens 22, 8443 and 443 (IPv6) to the world and 9000 to a prefix
/// list, a database whose group opens 5433 to the world, an NLB without groups, and a quiet
/// account/region that sent no records.
pub async fn fill(store: &RedisStore) {
    store
        .replace_region(A, "eu-west-1", &inventory(), "2026-11-27T09:00:00.000000Z")
        .await
        .unwrap();
    let quiet = RegionInventory {
        interfaces: vec![InterfaceFacts {
            security_groups: vec!["sg-b".into()],
            ..interface("eni-b", B, "us-east-1", "", "10.1.0.5", "54.0.0.5")
        }],
        ingress: BTreeMap::from([("sg-b".to_string(), vec![rule("sg-b", "sgr-b", 22, world())])]),
        ..RegionInventory::default()
    };
    store
        .replace_region(B, "us-east-1", &quiet, "2026-11-27T09:00:01.000000Z")
        .await
        .unwrap();
    let day = |day: &'static str, rows: &[TestRow<'_>]| {
        let mut increments = increments(A, "eu-west-1", rows);
        // Addresses as ingest writes them: bare, for the bounds and the review's sums.
        for inc in &mut increments {
            inc.bare_ip = crate::store::keys::split_source(&inc.member).0.parse().ok();
        }
        one_payload(day, day, increments).days
    };
    let (web, nlb) = ("web/52.0.0.5", "nlb-1.elb.eu-west-1.amazonaws.com");
    let mut days = day(
        "2026-11-25",
        &[
            ("8.8.8.8", web, 8443, 3),
            ("office", DB, 5433, 2),
            ("85.1.2.3", web, 9000, 4),
            ("2001:db8::1", web, 443, 1),
        ],
    );
    days.extend(day(
        "2026-11-27",
        &[("8.8.8.8", web, 8443, 1), ("8.8.4.4", nlb, 80, 6)],
    ));
    let batch = WriteBatch {
        days,
        touched: vec![(A, "eu-west-1")],
        now_rfc3339: "2026-11-27T10:01:02.123456Z".into(),
        limits: Default::default(),
    };
    store.write(&batch).await.unwrap();
}

//! The refresh against moto's AWS server (STS, EC2, ELB, ELBv2, RDS, DynamoDB) and a real
//! redis-server: accounts reached through assumed roles, every interface kind, failures kept to
//! their account/region, then ingest naming sources and destinations from what was found.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use aws_config::SdkConfig;
use connection_tracker::config::{IngestConfig, RedisConfig, RefreshConfig};
use connection_tracker::ingest::payload::FlowEvent;
use connection_tracker::ingest::Ingestor;
use connection_tracker::model::InterfaceFacts;
use connection_tracker::model::{Account, IngressRule, RuleSource};
use connection_tracker::refresh::aws::{AwsDiscovery, DynamoAccounts, SystemResolver};
use connection_tracker::refresh::discovery::{AccountList, Discovery, DiscoveryError, RegionFacts};
use connection_tracker::refresh::{refresh, RefreshError};
use connection_tracker::rules::classify::Networks;
use connection_tracker::store::{keys, CounterStore, RedisStore, RefreshStore};
use connection_tracker::testing::{
    logs_event, logs_message, MotoServer, RedisCluster, RedisServer,
};
use serde_json::Value;

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";
const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];

async fn sdk(moto: &MotoServer) -> SdkConfig {
    moto.sdk_config().await
}

fn refresh_config(redis_url: String) -> RefreshConfig {
    RefreshConfig {
        redis: RedisConfig {
            url: redis_url,
            cluster: None,
            timeout: Duration::from_secs(5),
        },
        accounts_table: "accounts".into(),
        regions: vec!["eu-west-1".into()],
        role_name: "connection-tracker-reader".into(),
        external_id: None,
        domain: None,
        concurrency: 8,
        region_timeout: Duration::from_secs(30),
        page_size: Some(5),
        dns_max_lookups: 50,
        dns_budget: Duration::from_secs(5),
        dns_ttl: Duration::from_secs(86_400),
        dns_negative_ttl: Duration::from_secs(3_600),
        organization: None,
    }
}

fn facts_by_id(
    snapshot: &std::collections::HashMap<String, String>,
) -> BTreeMap<String, InterfaceFacts> {
    snapshot
        .iter()
        .map(|(id, json)| (id.clone(), serde_json::from_str(json).unwrap()))
        .collect()
}

/// Ingest as the function runs it, reading the refresh's maps at once; `shared_vpc_owners`
/// as `SHARED_VPC_OWNERS` lists them.
fn ingest_config(redis: &RedisConfig, shared_vpc_owners: &[&str]) -> IngestConfig {
    IngestConfig {
        redis: redis.clone(),
        retention_days: 3650,
        dedup_window: Duration::from_secs(72 * 3600),
        shared_vpc_owners: shared_vpc_owners.iter().map(|a| a.to_string()).collect(),
        limits: Default::default(),
        cache: Default::default(),
        parking: Default::default(),
        dead_letter: None,
        max_batch_decompressed_bytes: 1 << 30,
        flow_log_format: None,
        networks: Networks::default(),
        max_decompressed_bytes: 1 << 20,
        max_object_decompressed_bytes: 1 << 30,
        inventory_ttl: Duration::ZERO,
        default_region: "eu-west-1".into(),
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

fn ip(v: &Value) -> IpAddr {
    v.as_str().unwrap().parse().unwrap()
}

/// Fails chosen account/regions the way AWS would, around the real adapter.
struct Faulty<D> {
    inner: D,
    deny: Vec<(String, String)>,
    hang: Vec<(String, String)>,
}

impl<D: Discovery> Discovery for Faulty<D> {
    async fn describe(
        &self,
        account: &Account,
        region: &str,
    ) -> Result<RegionFacts, DiscoveryError> {
        let key = (account.id.clone(), region.to_string());
        if self.deny.contains(&key) {
            return Err(DiscoveryError::AssumeRole {
                role_arn: account.role_arn("connection-tracker-reader"),
                message: "AccessDenied: not authorized to perform sts:AssumeRole".into(),
            });
        }
        if self.hang.contains(&key) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        self.inner.describe(account, region).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_discovers_every_kind_then_ingest_names_from_it() {
    let redis = RedisServer::start();
    discovers_every_kind_then_ingest_names(redis.url()).await;
}

/// The same on a real three-master Redis Cluster: the inventory's `{inv}` maps live on one
/// node, the counters spread over all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_and_ingest_on_a_three_master_cluster() {
    let cluster = RedisCluster::start_three_masters();
    discovers_every_kind_then_ingest_names(cluster.url()).await;
    let per_node = cluster.keys_per_node();
    assert!(
        per_node.iter().filter(|&&n| n > 0).count() >= 2,
        "{per_node:?}"
    );
}

async fn discovers_every_kind_then_ingest_names(redis_url: String) {
    let moto = MotoServer::start();
    let estate = moto.seed_estate("accounts", &[A, B, C], &REGIONS, &["444444444444"], 6);
    let sdk = sdk(&moto).await;
    let config = refresh_config(redis_url);
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let accounts = DynamoAccounts::new(&sdk, "accounts");
    let discovery = AwsDiscovery::new(
        sdk.clone(),
        "connection-tracker-reader",
        config.page_size,
        SystemResolver,
    );

    let report = refresh(&accounts, &discovery, &SystemResolver, &store, &config)
        .await
        .unwrap();
    assert_eq!((report.accounts, report.disabled_accounts), (4, 1));
    assert_eq!(report.refreshed.len(), 6, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    // Per account/region: 3 load balancers, 2 instances, RDS, NAT, other, 6 extra public.
    assert_eq!(report.public_interfaces, 6 * 14);
    assert!(
        discovery.calls() >= 6 * 9,
        "STS + 8 describes per account/region: {}",
        discovery.calls()
    );
    let stored: Vec<String> = store
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(stored, [A, B, C], "the disabled account is not listed");
    assert_eq!(store.refreshed().await.unwrap().len(), 6);
    // Each region's public group with the rules that open it to the internet, sources
    // resolved; the rule from a private block and the one from another group are not kept, nor
    // the database's group (no rule from outside).
    let mut conn = store.connection();
    let ingress: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(keys::INGRESS)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(ingress.len(), 6, "{ingress:?}");
    // The interfaces without a public address are listed as such, each under its region.
    let private: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(keys::PRIVATE_INTERFACES)
        .query_async(&mut conn)
        .await
        .unwrap();
    for region in estate.as_array().unwrap() {
        let id = s(&region["interfaces"]["private"]["id"]);
        let pair = format!("{}:{}", s(&region["account"]), s(&region["region"]));
        assert_eq!(private.get(&id), Some(&pair), "{id}");
    }
    for region in estate.as_array().unwrap() {
        for (group, want) in region["ingress"].as_object().unwrap() {
            let rules: Vec<IngressRule> = serde_json::from_str(&ingress[group]).unwrap();
            let got: Vec<Value> = rules
                .iter()
                .map(|r| {
                    assert!(
                        r.rule_id.starts_with("sgr-") && r.group_name == "public",
                        "{r:?}"
                    );
                    let source = match &r.source {
                        RuleSource::Cidr(c) => c.clone(),
                        RuleSource::PrefixList { id, cidrs } => format!("{id}={}", cidrs.join(",")),
                        RuleSource::Group(g) => g.clone(),
                    };
                    serde_json::json!([r.protocol, r.from_port, r.to_port, source])
                })
                .collect();
            let mut want = want.as_array().unwrap().clone();
            want.sort_by_key(|v| v[1].as_i64());
            let mut got = got;
            got.sort_by_key(|v| v[1].as_i64());
            assert_eq!(got, want, "{group}");
        }
    }

    let snapshot = store.load_inventory().await.unwrap();
    let facts = facts_by_id(&snapshot.interfaces);
    for region in estate.as_array().unwrap() {
        let (account, reg) = (s(&region["account"]), s(&region["region"]));
        let i = &region["interfaces"];
        let get = |kind: &str| {
            facts
                .get(&s(&i[kind]["id"]))
                .unwrap_or_else(|| panic!("{account}/{reg} {kind} missing"))
        };
        for kind in ["classic_elb", "alb", "nlb"] {
            assert_eq!(
                get(kind).lb_dns_name.as_deref(),
                Some(s(&i[kind]["dns"]).as_str()),
                "{kind}"
            );
        }
        for kind in ["ec2_eip", "ec2_auto"] {
            let f = get(kind);
            assert_eq!(
                f.instance_name.as_deref(),
                Some(s(&i[kind]["name"]).as_str()),
                "{kind}"
            );
            assert_eq!(
                f.public_ips,
                BTreeMap::from([(ip(&i[kind]["private"]), ip(&i[kind]["public"]))])
            );
            assert_eq!(
                (f.account_id.as_str(), f.region.as_str()),
                (account.as_str(), reg.as_str())
            );
            // The VPC and its owner, from DescribeNetworkInterfaces and DescribeVpcs.
            assert!(f.vpc_id.as_deref().is_some_and(|v| v.starts_with("vpc-")));
            assert_eq!(f.vpc_owner_id.as_deref(), Some(account.as_str()));
        }
        // DNS does not reach moto's endpoint names: tied by VPC, subnet and security groups.
        assert_eq!(
            get("rds").rds_endpoint.as_deref(),
            Some(s(&i["rds"]["endpoint"]).as_str())
        );
        assert!(get("nat")
            .description
            .starts_with("Interface for NAT Gateway"));
        assert_eq!(get("other").description, "bastion appliance");
        assert!(get("extra5")
            .public_ips
            .values()
            .any(|p| *p == ip(&i["extra5"]["public"])));
        assert!(
            !facts.contains_key(&s(&i["private"]["id"])),
            "private-only interfaces are not kept"
        );
        for (addr, name) in region["own"].as_object().unwrap() {
            assert_eq!(snapshot.addresses.get(addr), Some(&s(name)), "{addr}");
        }
        for (group, format) in region["formats"].as_object().unwrap() {
            assert_eq!(snapshot.formats.get(group), Some(&s(format)));
        }
    }

    // Account C is disabled in the table: the next run drops its entries from the maps.
    moto.boto3(
        C,
        "eu-west-1",
        "boto3.client('dynamodb',**b).update_item(TableName='accounts',Key={'account_id':{'S':'333333333333'}},\
         UpdateExpression='SET enabled = :f',ExpressionAttributeValues={':f':{'BOOL':False}})",
    );
    let report = refresh(&accounts, &discovery, &SystemResolver, &store, &config)
        .await
        .unwrap();
    assert_eq!(
        report.dropped,
        [format!("{C}/eu-west-1"), format!("{C}/us-east-1")]
    );
    assert_eq!(report.refreshed.len(), 4);
    let snapshot = store.load_inventory().await.unwrap();
    let facts = facts_by_id(&snapshot.interfaces);
    assert!(
        facts.values().all(|f| f.account_id != C),
        "C's interfaces are gone"
    );
    assert_eq!(facts.len(), 4 * 14);
    assert!(snapshot.addresses.values().all(|n| !n.starts_with(C)));
    assert!(!store
        .refreshed()
        .await
        .unwrap()
        .contains_key(&format!("{C}:eu-west-1")));

    // Ingest, reading what the refresh wrote: account B's flow log (custom format) sees traffic
    // from the internet and from account A's NAT gateway.
    let b_eu = &estate[2];
    assert_eq!(s(&b_eu["account"]), B);
    let a_nat = estate[0]["own"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, name)| s(name).ends_with("nat-eu-west-1a"))
        .map(|(addr, _)| addr.clone())
        .unwrap();
    let start = 1_795_780_800u64; // 2026-11-27T12:00:00Z
    let line = |kind: &str, src: &str, port: u16| {
        let i = &b_eu["interfaces"][kind];
        format!(
            "5 {B} {} {src} {} 50000 {port} 6 3 180 {start} {} ACCEPT OK vpc-1 ingress",
            s(&i["id"]),
            s(&i["private"]),
            start + 60
        )
    };
    let lines = [
        line("alb", "8.8.8.8", 443),
        line("ec2_eip", "8.8.8.8", 22),
        line("rds", &a_nat, 5432),
        line("classic_elb", "198.199.70.1", 80),
        line("nat", "8.8.8.8", 443),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let message = logs_message(B, "/connection-tracker/flow-logs", &refs, start * 1000);
    let ingest = Ingestor::new(
        RedisStore::connect(&config.redis).await.unwrap(),
        ingest_config(&config.redis, &[]),
    );
    let outcome = ingest
        .handle(
            FlowEvent::from_value(&logs_event(&message)).unwrap(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(
        (outcome.summary.counted, outcome.summary.rejected_total()),
        (4, 0),
        "{:?}",
        outcome.summary
    );
    let got = store.day_connections("2026-11-27").await.unwrap();
    let rows: Vec<(String, String, u16)> = got[&format!("{B}/eu-west-1")]
        .iter()
        .map(|c| {
            (
                c.source.clone(),
                c.dest.clone(),
                c.dest_port.number().unwrap(),
            )
        })
        .collect();
    let i = &b_eu["interfaces"];
    let mut want = vec![
        ("8.8.8.8".to_string(), s(&i["alb"]["dns"]), 443),
        (
            "8.8.8.8".to_string(),
            format!(
                "{}/{}",
                s(&i["ec2_eip"]["name"]),
                s(&i["ec2_eip"]["public"])
            ),
            22,
        ),
        (
            format!("{A}/eu-west-1/nat-eu-west-1a"),
            format!("{B}/eu-west-1/{}", s(&i["rds"]["endpoint"])),
            5432,
        ),
        ("198.199.70.1".to_string(), s(&i["classic_elb"]["dns"]), 80),
    ];
    want.sort();
    let mut rows = rows;
    rows.sort();
    assert_eq!(rows, want);
    exposure_of_b(&config.redis, b_eu).await;
}

/// The exposure review over what the refresh found in moto and ingest counted: the public
/// group opens 22 (0.0.0.0/0), 443 (::/0) and 8443 (a prefix list) on the load balancers;
/// nothing from the internet reached those ports from inside those ranges, so each is unused,
/// and the traffic that came in is what no rule opening them to the internet explains.
async fn exposure_of_b(redis: &RedisConfig, b_eu: &Value) {
    let store = RedisStore::connect(redis).await.unwrap();
    let config = connection_tracker::config::ApiConfig {
        redis: redis.clone(),
        max_range_days: 31,
        retention_days: 90,
        max_rows: connection_tracker::config::defaults::DEFAULT_API_MAX_ROWS,
        networks: Networks::default(),
    };
    let api = connection_tracker::api::Api::new(store, &config);
    let response = api
        .handle(
            connection_tracker::api::Request {
                method: "GET",
                path: &format!("/exposure/{B}/eu-west-1"),
                query: "date=2026-11-27",
                accepts_gzip: false,
                request_id: "moto",
            },
            time::macros::date!(2026 - 11 - 27),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let endpoints: Vec<connection_tracker::model::ExposedEndpoint> =
        serde_json::from_str(&response.text()).unwrap();
    let i = &b_eu["interfaces"];
    let of = |kind: &str| {
        let id = s(&i[kind]["id"]);
        endpoints
            .iter()
            .find(|e| e.interface_ids.contains(&id))
            .unwrap_or_else(|| panic!("{kind} not reviewed: {endpoints:?}"))
    };
    let verdicts = |kind: &str| -> Vec<String> {
        let mut v: Vec<String> = of(kind)
            .rules
            .iter()
            .map(|r| format!("{} {:?}", r.rule.from_port, r.verdict))
            .collect();
        v.sort();
        v
    };
    let unexplained = |kind: &str| -> Vec<String> {
        of(kind)
            .unexplained
            .iter()
            .map(|c| format!("{} {} {}", c.source, c.dest_port, c.score))
            .collect()
    };
    for kind in ["alb", "classic_elb"] {
        assert_eq!(
            verdicts(kind),
            ["22 Unused", "443 Unused", "8443 Unused"],
            "{kind}"
        );
        assert!(of(kind).rules[0].suggestion.starts_with(
            "aws ec2 revoke-security-group-ingress --region eu-west-1 --group-id sg-"
        ));
    }
    // An IPv4 source on 443 is outside ::/0; port 80 has no rule.
    assert_eq!(unexplained("alb"), ["8.8.8.8 443 1"]);
    assert_eq!(unexplained("classic_elb"), ["198.199.70.1 80 1"]);
    // The database's group lets in no one from the internet; the instance has the VPC's
    // default group: what reached them is unexplained.
    assert!(of("rds").rules.is_empty());
    assert_eq!(
        unexplained("rds"),
        [format!("{A}/eu-west-1/nat-eu-west-1a 5432 1")]
    );
    assert!(of("ec2_eip").rules.is_empty());
    assert_eq!(unexplained("ec2_eip"), ["8.8.8.8 22 1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_account_keeps_its_maps_while_the_others_are_replaced() {
    let moto = MotoServer::start();
    let redis = RedisServer::start();
    let estate = moto.seed_estate("accounts", &[A, B, C], &REGIONS, &[], 0);
    let sdk = sdk(&moto).await;
    let mut config = refresh_config(redis.url());
    config.region_timeout = Duration::from_secs(3);
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let accounts = DynamoAccounts::new(&sdk, "accounts");
    let real = AwsDiscovery::new(
        sdk.clone(),
        "connection-tracker-reader",
        None,
        SystemResolver,
    );
    refresh(&accounts, &real, &SystemResolver, &store, &config)
        .await
        .unwrap();
    let first = store.refreshed().await.unwrap();
    let before = facts_by_id(&store.load_inventory().await.unwrap().interfaces);

    // Between runs: account A (eu-west-1) loses its bastion, account B (eu-west-1) loses its too.
    let other = |n: usize| s(&estate[n]["interfaces"]["other"]["id"]);
    for (n, account) in [(0, A), (2, B)] {
        moto.boto3(
            account,
            "eu-west-1",
            &format!(
                "a=ec2.describe_addresses(Filters=[{{'Name':'network-interface-id','Values':['{id}']}}])['Addresses'][0]\n\
                 ec2.disassociate_address(AssociationId=a['AssociationId'])\nec2.delete_network_interface(NetworkInterfaceId='{id}')",
                id = other(n)
            ),
        );
    }
    // B's role can't be assumed in eu-west-1 this time; C's us-east-1 hangs past the timeout.
    let faulty = Faulty {
        inner: real,
        deny: vec![(B.into(), "eu-west-1".into())],
        hang: vec![(C.into(), "us-east-1".into())],
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = refresh(&accounts, &faulty, &SystemResolver, &store, &config)
        .await
        .unwrap();
    assert_eq!(report.refreshed.len(), 4, "{report:?}");
    let failed: Vec<(&str, &str, &str)> = report
        .failed
        .iter()
        .map(|f| (f.account_id.as_str(), f.region.as_str(), f.kind))
        .collect();
    assert_eq!(
        failed,
        [(B, "eu-west-1", "assume_role"), (C, "us-east-1", "timeout")]
    );
    assert!(
        report.failed[0].error.contains("AccessDenied"),
        "{:?}",
        report.failed[0]
    );
    // A timed-out region is tried once more at the end of the run: twice its timeout at most.
    assert_eq!(report.retried, 1, "{report:?}");
    assert!(
        report.wall_ms < 2 * 3_000 + 2_000,
        "the hung region did not hold up the run beyond its timeouts"
    );

    let after = facts_by_id(&store.load_inventory().await.unwrap().interfaces);
    assert!(
        before.contains_key(&other(0)) && !after.contains_key(&other(0)),
        "A's map was replaced"
    );
    assert!(
        after.contains_key(&other(2)),
        "B's failed region kept its previous map"
    );
    let second = store.refreshed().await.unwrap();
    assert_eq!(
        second[&format!("{B}:eu-west-1")],
        first[&format!("{B}:eu-west-1")]
    );
    assert_ne!(
        second[&format!("{A}:eu-west-1")],
        first[&format!("{A}:eu-west-1")]
    );

    // Nothing refreshable: the run fails as a whole, naming the first failure.
    let all_denied = Faulty {
        inner: AwsDiscovery::new(sdk, "connection-tracker-reader", None, SystemResolver),
        deny: [A, B, C]
            .iter()
            .flat_map(|a| REGIONS.iter().map(move |r| (a.to_string(), r.to_string())))
            .collect(),
        hang: vec![],
    };
    let err = refresh(&accounts, &all_denied, &SystemResolver, &store, &config)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RefreshError::NothingRefreshed { failed: 6, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "cannot assume role arn:aws:iam::111111111111:role/connection-tracker-reader"
        ),
        "{err}"
    );
}

/// `EXTERNAL_ID` goes with every `AssumeRole` (member reader roles may require it), as moto
/// recorded the calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_external_id_goes_with_every_assume_role() {
    let moto = MotoServer::start();
    let redis = RedisServer::start();
    moto.seed_estate("accounts", &[A, B], &["eu-west-1"], &[], 0);
    let sdk = sdk(&moto).await;
    let mut config = refresh_config(redis.url());
    config.external_id = Some("ct-7f3a:security@example.org".into());
    moto.record_requests();
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let accounts = DynamoAccounts::new(&sdk, "accounts");
    let discovery = AwsDiscovery::new(sdk, "connection-tracker-reader", None, SystemResolver)
        .with_external_id(config.external_id.clone());
    let report = refresh(&accounts, &discovery, &SystemResolver, &store, &config)
        .await
        .unwrap();
    assert_eq!(report.refreshed.len(), 2, "{report:?}");
    // moto recorded every STS call, form bodies included.
    let recorded = moto.recorded_bodies();
    let assume_roles: Vec<&String> = recorded
        .iter()
        .filter(|body| body.starts_with("Action=AssumeRole&"))
        .collect();
    assert!(
        assume_roles.len() >= 2,
        "one AssumeRole per account: {recorded:?}"
    );
    for call in assume_roles {
        assert!(
            call.contains("ExternalId=ct-7f3a%3Asecurity%40example.org"),
            "{call}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_dns_of_unnamed_sources_is_bounded_and_cached() {
    let moto = MotoServer::start();
    let redis = RedisServer::start();
    moto.seed_estate("accounts", &[A], &["eu-west-1"], &[], 0);
    let sdk = sdk(&moto).await;
    let mut config = refresh_config(redis.url());
    config.dns_max_lookups = 2;
    let store = RedisStore::connect(&config.redis).await.unwrap();
    // What ingest leaves for the refresh: sources counted without a name, today.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    redis.cli(&["SADD", &keys::day_index(&today), &format!("{A}:eu-west-1")]);
    redis.cli(&[
        "SADD",
        &keys::unnamed(&today, A, "eu-west-1"),
        "127.0.0.1",
        "192.0.2.1",
        "192.0.2.2",
    ]);
    let accounts = DynamoAccounts::new(&sdk, "accounts");
    let discovery = AwsDiscovery::new(sdk, "connection-tracker-reader", None, SystemResolver);
    let report = refresh(&accounts, &discovery, &SystemResolver, &store, &config)
        .await
        .unwrap();
    // At most two lookups per run; the third waits for the next run.
    assert_eq!(
        report.dns_resolved + report.dns_without_name,
        2,
        "{report:?}"
    );
    assert_eq!(report.dns_pending, 1);
    let names = store
        .cached_names(&["127.0.0.1".into(), "192.0.2.1".into(), "192.0.2.2".into()])
        .await
        .unwrap();
    assert_eq!(
        names[0].as_deref(),
        Some("localhost"),
        "/etc/hosts answers for 127.0.0.1"
    );
    assert_eq!(names[1].as_deref(), Some(""), "no name is cached too");
    assert_eq!(names[2], None);
    let ttl: i64 = redis
        .cli(&["TTL", "ct:{dns}:ptr:192.0.2.1"])
        .trim()
        .parse()
        .unwrap();
    assert!(
        (3_000..=3_600).contains(&ttl),
        "negative answers expire sooner: {ttl}"
    );
    // The next run resolves the rest; cached ones are not asked again.
    let report = refresh(&accounts, &discovery, &SystemResolver, &store, &config)
        .await
        .unwrap();
    assert_eq!(
        (
            report.dns_resolved + report.dns_without_name,
            report.dns_pending
        ),
        (1, 0)
    );
}

/// Forward lookups from a table (the hosts the test arranges), no reverse names.
struct HostTable(Vec<(String, IpAddr)>);

impl connection_tracker::refresh::discovery::Resolver for HostTable {
    async fn lookup(&self, host: &str) -> Vec<IpAddr> {
        self.0
            .iter()
            .filter(|(h, _)| h == host)
            .map(|(_, ip)| *ip)
            .collect()
    }
    async fn reverse(&self, _ip: IpAddr) -> Option<String> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_hosts_cover_every_zone_the_region_has() {
    let moto = MotoServer::start();
    let redis = RedisServer::start();
    moto.seed_estate("accounts", &[A], &["us-east-1"], &[], 0);
    let sdk = sdk(&moto).await;
    let mut config = refresh_config(redis.url());
    config.regions = vec!["us-east-1".into()];
    config.domain = Some("{account_id}.example.org".into());
    let store = RedisStore::connect(&config.redis).await.unwrap();
    // moto's us-east-1 has zones a to f; the original asked DescribeAvailabilityZones, so a NAT
    // host in zone f is ours too (hard-coded a, b, c never saw it).
    let hosts = HostTable(vec![
        (
            format!("nat-us-east-1f.{A}.example.org"),
            "198.51.100.6".parse().unwrap(),
        ),
        (
            format!("nat-us-east-1a.{A}.example.org"),
            "198.51.100.1".parse().unwrap(),
        ),
        (
            format!("odd-us-east-1.{A}.example.org"),
            "198.51.100.9".parse().unwrap(),
        ),
    ]);
    let accounts = DynamoAccounts::new(&sdk, "accounts");
    let discovery = AwsDiscovery::new(sdk, "connection-tracker-reader", None, SystemResolver);
    let report = refresh(&accounts, &discovery, &hosts, &store, &config)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let addresses: std::collections::HashMap<String, String> =
        store.load_inventory().await.unwrap().addresses;
    for (ip, host) in [
        ("198.51.100.6", "nat-us-east-1f"),
        ("198.51.100.1", "nat-us-east-1a"),
        ("198.51.100.9", "odd-us-east-1"),
    ] {
        assert_eq!(
            addresses.get(ip).map(String::as_str),
            Some(format!("{A}/us-east-1/{host}.{A}.example.org").as_str()),
            "{addresses:?}"
        );
    }
}

/// `REDIS_URL_PARAMETER`: the Redis URL (with its password) comes from an SSM SecureString,
/// decrypted, and is never part of an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_url_comes_from_a_secure_string_parameter() {
    use connection_tracker::config::{secret, Env};
    let moto = MotoServer::start();
    let ssm = aws_sdk_ssm::Client::new(&moto.sdk_config().await);
    let url = "rediss://ingest:s3cr3t@cache.example.org:6379";
    ssm.put_parameter()
        .name("/connection-tracker/redis-url")
        .value(url)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let vars = |pairs: Vec<(&'static str, &'static str)>| {
        Env(move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let env = secret::resolve(
        vars(vec![(
            "REDIS_URL_PARAMETER",
            "/connection-tracker/redis-url",
        )]),
        Some(ssm.clone()),
    )
    .await
    .ok()
    .unwrap();
    assert_eq!(env.api().unwrap().redis.url, url, "decrypted, as stored");
    // Without a parameter: the environment as it is.
    let env = secret::resolve(vars(vec![("REDIS_URL", "redis://h")]), Some(ssm.clone()))
        .await
        .ok()
        .unwrap();
    assert_eq!(env.api().unwrap().redis.url, "redis://h");
    // Both, or a parameter that is not there: an error that names the setting, no value.
    let both = secret::resolve(
        vars(vec![
            ("REDIS_URL", "redis://h"),
            ("REDIS_URL_PARAMETER", "/connection-tracker/redis-url"),
        ]),
        Some(ssm.clone()),
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(both.contains("both set"), "{both}");
    let missing = secret::resolve(
        vars(vec![("REDIS_URL_PARAMETER", "/connection-tracker/nope")]),
        Some(ssm),
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        missing.contains("/connection-tracker/nope") && !missing.contains("s3cr3t"),
        "{missing}"
    );
}

/// AWS Organizations as a source: active accounts (by `State`) under the given OUs,
/// recursively, with their Organizations names; the accounts table overrides (a name,
/// `enabled: false`) and adds its own; each account says where it came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organization_lists_accounts_and_the_table_overrides_them() {
    use connection_tracker::model::{Account, Origin};
    use connection_tracker::refresh::aws::{MonitoredAccounts, OrganizationAccounts};
    use connection_tracker::refresh::discovery::AccountList;

    let moto = MotoServer::start();
    // root ─ top (ou) ─ nested (ou); an account in each, one closed (suspended) in nested.
    let ids = moto.client(
        "organizations",
        "o = organizations\n\
         o.create_organization(FeatureSet='ALL')\n\
         root = o.list_roots()['Roots'][0]['Id']\n\
         top = o.create_organizational_unit(ParentId=root, Name='top')['OrganizationalUnit']['Id']\n\
         nested = o.create_organizational_unit(ParentId=top, Name='nested')['OrganizationalUnit']['Id']\n\
         def account(name, parent):\n\
         \x20   status = o.create_account(Email=name + '@example.org', AccountName=name)['CreateAccountStatus']\n\
         \x20   o.move_account(AccountId=status['AccountId'], SourceParentId=root, DestinationParentId=parent)\n\
         \x20   return status['AccountId']\n\
         in_root = o.create_account(Email='r@example.org', AccountName='in-root')['CreateAccountStatus']['AccountId']\n\
         out = {'root': root, 'top': top, 'in_root': in_root,\n\
         \x20      'in_top': account('in-top', top), 'in_nested': account('in-nested', nested), 'closed': account('closed', nested)}\n\
         o.close_account(AccountId=out['closed'])\n\
         print(json.dumps(out))",
    );
    let ids: serde_json::Value = serde_json::from_str(ids.trim()).unwrap();
    let id = |k: &str| ids[k].as_str().unwrap().to_string();
    let sdk = moto.sdk_config().await;
    let role = "arn:aws:iam::123456789012:role/connection-tracker-organization";

    // Under `top`, recursively: the two active accounts, not the closed one, not root's.
    let under_top = OrganizationAccounts::new(sdk.clone(), role, None, vec![id("top")]);
    let listed = under_top.list().await.unwrap();
    let mut want = vec![
        (id("in_top"), "in-top".to_string()),
        (id("in_nested"), "in-nested".to_string()),
    ];
    want.sort();
    let got: Vec<(String, String)> = listed
        .iter()
        .map(|a| (a.id.clone(), a.name.clone()))
        .collect();
    assert_eq!(got, want);
    // The whole organization: root's account and the management account too.
    let all = OrganizationAccounts::new(sdk.clone(), role, None, vec![])
        .list()
        .await
        .unwrap();
    let all_ids: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
    assert!(all_ids.contains(&id("in_root").as_str()), "{all_ids:?}");
    assert!(
        !all_ids.contains(&id("closed").as_str()),
        "suspended: {all_ids:?}"
    );

    // The table: a new name for one organization account, another left out, one of its own.
    moto.client(
        "dynamodb",
        &format!(
            "dynamodb.create_table(TableName='accounts', KeySchema=[{{'AttributeName': 'account_id', 'KeyType': 'HASH'}}],\n\
             \x20   AttributeDefinitions=[{{'AttributeName': 'account_id', 'AttributeType': 'S'}}], BillingMode='PAY_PER_REQUEST')\n\
             dynamodb.put_item(TableName='accounts', Item={{'account_id': {{'S': '{top}'}}, 'name': {{'S': 'renamed'}}, 'regions': {{'L': [{{'S': 'eu-central-1'}}]}}}})\n\
             dynamodb.put_item(TableName='accounts', Item={{'account_id': {{'S': '{nested}'}}, 'name': {{'S': 'n'}}, 'enabled': {{'BOOL': False}}}})\n\
             dynamodb.put_item(TableName='accounts', Item={{'account_id': {{'S': '999999999999'}}, 'name': {{'S': 'outside'}}}})",
            top = id("in_top"),
            nested = id("in_nested"),
        ),
    );
    let monitored = MonitoredAccounts {
        table: DynamoAccounts::new(&sdk, "accounts"),
        organization: Some(under_top),
    };
    let accounts: Vec<Account> = monitored.accounts().await.unwrap();
    let find = |id: &str| accounts.iter().find(|a| a.id == id).cloned().unwrap();
    let top = find(&id("in_top"));
    assert_eq!(
        (top.name.as_str(), top.regions.clone(), top.origin),
        (
            "renamed",
            vec!["eu-central-1".to_string()],
            Origin::OrganizationAndTable
        )
    );
    let nested = find(&id("in_nested"));
    assert!(!nested.enabled, "the table leaves it out");
    assert_eq!(find("999999999999").origin, Origin::Table);
    assert_eq!(accounts.len(), 3, "{accounts:?}");
    // Without an organization: the table alone, as before.
    let table_only = MonitoredAccounts {
        table: DynamoAccounts::new(&sdk, "accounts"),
        organization: None,
    };
    assert!(table_only
        .accounts()
        .await
        .unwrap()
        .iter()
        .all(|a| a.origin == Origin::Table));
}

/// A fixed account list, in the order the test wants the refresh to describe them.
struct Fixed(Vec<Account>);

impl AccountList for Fixed {
    async fn accounts(&self) -> Result<Vec<Account>, DiscoveryError> {
        Ok(self.0.clone())
    }
}

/// moto has no shared subnets: around the real adapter, this answers as AWS does when A owns
/// a VPC and shares it with B — B's DescribeVpcs names A as its VPCs' owner, and A's
/// DescribeNetworkInterfaces lists B's interfaces there too (their `OwnerId` B, as moto set it).
struct SharedVpc<D> {
    inner: D,
    participant: Account,
}

impl<D: Discovery> Discovery for SharedVpc<D> {
    async fn describe(
        &self,
        account: &Account,
        region: &str,
    ) -> Result<RegionFacts, DiscoveryError> {
        let mut facts = self.inner.describe(account, region).await?;
        if account.id == B {
            facts.vpc_owners.values_mut().for_each(|o| *o = A.into());
        } else if account.id == A {
            let theirs = self.inner.describe(&self.participant, region).await?;
            for vpc in theirs.vpc_owners.into_keys() {
                facts.vpc_owners.insert(vpc, A.into());
            }
            facts.interfaces.extend(theirs.interfaces);
        }
        Ok(facts)
    }
}

/// An interface of a shared VPC is described by its owner's refresh and the VPC owner's: it
/// is filed under the account that owns it (`OwnerId`), whichever refresh runs last, and it
/// stays there; the VPC owner's log group speaks for it (a listed `SHARED_VPC_OWNERS`
/// account), never for interfaces outside its VPCs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_vpcs_interface_belongs_to_its_owner_whoever_describes_it() {
    let moto = MotoServer::start();
    let estate = moto.seed_estate("accounts", &[A, B, C], &["eu-west-1"], &[], 0);
    let region = |id: &str| {
        estate
            .as_array()
            .unwrap()
            .iter()
            .find(|r| s(&r["account"]) == id)
            .unwrap()
            .clone()
    };
    let eni = |id: &str| s(&region(id)["interfaces"]["ec2_eip"]["id"]);
    let sdk = sdk(&moto).await;
    let redis = RedisServer::start();
    let mut config = refresh_config(redis.url());
    config.concurrency = 1; // the accounts in the list's order
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let listed = DynamoAccounts::new(&sdk, "accounts")
        .accounts()
        .await
        .unwrap();
    let account = |id: &str| listed.iter().find(|a| a.id == id).unwrap().clone();
    let discovery = SharedVpc {
        inner: AwsDiscovery::new(
            sdk.clone(),
            "connection-tracker-reader",
            config.page_size,
            SystemResolver,
        ),
        participant: account(B),
    };
    let filed = || async { facts_by_id(&store.load_inventory().await.unwrap().interfaces) };
    let run = |order: &[&str]| {
        let accounts = Fixed(order.iter().map(|id| account(id)).collect());
        let (discovery, store, config) = (&discovery, &store, &config);
        async move {
            let report = refresh(&accounts, discovery, &SystemResolver, store, config)
                .await
                .unwrap();
            assert!(report.failed.is_empty(), "{report:?}");
        }
    };

    // B not monitored yet: its interfaces in A's VPC are A's to file.
    run(&[A, C]).await;
    assert_eq!(filed().await[&eni(B)].account_id, A);
    // B monitored: its refresh files them; A's, after it, leaves them (and does not remove
    // what B filed though A had filed it before).
    run(&[B, A, C]).await;
    let first = filed().await;
    let b = &first[&eni(B)];
    assert_eq!(b.account_id, B);
    assert_eq!(b.vpc_owner_id.as_deref(), Some(A));
    assert_eq!(first[&eni(C)].vpc_owner_id.as_deref(), Some(C));
    for order in [[A, B, C], [C, A, B], [B, C, A]] {
        run(&order).await;
        assert_eq!(
            filed().await,
            first,
            "after a refresh in the order {order:?}"
        );
    }

    // A's flow log (its VPC's, so B's interface in it too) and a forged line for C's.
    let start = 1_795_780_800u64;
    let line = |id: &str, owner: &str| {
        let i = &region(id)["interfaces"]["ec2_eip"];
        format!(
            "5 {owner} {} 8.8.8.8 {} 50000 22 6 3 180 {start} {} ACCEPT OK vpc-1 ingress",
            s(&i["id"]),
            s(&i["private"]),
            start + 60
        )
    };
    let lines = [line(A, A), line(B, B), line(C, C)];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let message = logs_message(A, "/connection-tracker/flow-logs", &refs, start * 1000);
    let event = || FlowEvent::from_value(&logs_event(&message)).unwrap();
    let now = time::OffsetDateTime::now_utc();
    // Not listed as a shared-VPC owner: A speaks for its own interface only.
    let unlisted = Ingestor::new(
        RedisStore::connect(&config.redis).await.unwrap(),
        ingest_config(&config.redis, &[]),
    );
    let o = unlisted.handle(event(), now).await.unwrap().summary;
    assert_eq!(
        (o.counted, o.skipped.get("foreign_interface")),
        (1, Some(&2))
    );
    redis.cli(&["FLUSHDB"]);
    run(&[A, B, C]).await;
    let listed_owner = Ingestor::new(
        RedisStore::connect(&config.redis).await.unwrap(),
        ingest_config(&config.redis, &[A]),
    );
    let o = listed_owner.handle(event(), now).await.unwrap().summary;
    assert_eq!(
        (o.counted, o.skipped.get("foreign_interface")),
        (2, Some(&1))
    );
    let got = store.day_connections("2026-11-27").await.unwrap();
    let pairs: Vec<&String> = got.keys().collect();
    assert_eq!(
        pairs,
        [&format!("{A}/eu-west-1"), &format!("{B}/eu-west-1")],
        "B's interface counts under B, C's under nobody"
    );
}

//! The API against a real `redis-server` filled through the store: every route and its JSON
//! shape (README, section "API"), ranges, bad input, round trips, Redis going away, cluster mode.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use connection_tracker::api::{route_paths, Api, Request, Response};
use connection_tracker::config::{ApiConfig, RedisConfig};
use connection_tracker::model::{
    pair_key, Account, InterfaceFacts, RefreshFailure, RegionInventory,
};
use connection_tracker::rules::s3_rule::S3Ranges;
use connection_tracker::store::keys;
use connection_tracker::store::RefreshStore;
use connection_tracker::store::{
    CounterStore, DayWrite, Increment, LazyRedisStore, PayloadWrite, ReadRequest, ReadStore,
    RedisStore, WriteBatch,
};
use connection_tracker::testing::{increments, interface, one_payload, RedisCluster, RedisServer};
use serde_json::json;
use time::macros::date;
use time::Date;

const A: &str = "111111111111";
const B: &str = "222222222222";
const TODAY: Date = date!(2026 - 11 - 27);
const LB: &str = "web-1234.eu-west-1.elb.amazonaws.com";
const NAT_B: &str = "222222222222/us-east-1/nat-us-east-1a.team-b.example.org";

/// A timeout that a loaded machine does not reach with a 25,000-row script (700 ms did, in
/// CI's company); the outage test sets its own short one.
fn api_config(url: String) -> ApiConfig {
    ApiConfig {
        redis: RedisConfig {
            url,
            cluster: None,
            timeout: Duration::from_secs(5),
        },
        max_range_days: 31,
        retention_days: 90,
        max_rows: connection_tracker::config::defaults::DEFAULT_API_MAX_ROWS,
        networks: Default::default(),
    }
}

fn facts(id: &str, description: &str, private: &str, public: &str) -> InterfaceFacts {
    interface(id, A, "eu-west-1", description, private, public)
}

/// Two accounts; A/eu-west-1 has an ALB (two interfaces), a named instance, an idle instance
/// and a NAT gateway; B/us-east-1 was refreshed but saw no traffic. Counters on 25th and 27th.
async fn fill(store: &RedisStore) {
    store
        .put_accounts(&[
            Account {
                id: A.into(),
                name: "team-a".into(),
                regions: vec!["eu-west-1".into()],
                role_arn: None,
                enabled: true,
                origin: Default::default(),
            },
            Account {
                id: B.into(),
                name: "team-b".into(),
                regions: vec![],
                role_arn: None,
                enabled: true,
                origin: Default::default(),
            },
        ])
        .await
        .unwrap();
    let lb = |id: &str, private: &str, public: &str| InterfaceFacts {
        lb_dns_name: Some(LB.into()),
        interface_type: "interface".into(),
        ..facts(id, "ELB app/web/50dc6c495c0c9188", private, public)
    };
    let web = InterfaceFacts {
        instance_name: Some("web".into()),
        ..facts(
            "eni-web",
            "Primary network interface",
            "10.0.1.5",
            "52.0.0.5",
        )
    };
    let idle = facts("eni-idle", "", "10.0.1.6", "52.0.0.6");
    let nat = InterfaceFacts {
        interface_type: "nat_gateway".into(),
        ..facts(
            "eni-nat",
            "Interface for NAT Gateway nat-0a",
            "10.0.0.9",
            "52.0.0.9",
        )
    };
    let inventory = RegionInventory {
        interfaces: vec![
            lb("eni-lb1", "10.0.0.11", "52.0.0.11"),
            lb("eni-lb2", "10.0.0.12", "52.0.0.12"),
            web,
            idle,
            nat,
        ],
        addresses: BTreeMap::from([
            ("52.0.0.5".into(), format!("{A}/eu-west-1/web/52.0.0.5")),
            ("52.0.0.9".into(), format!("{A}/eu-west-1/nat-eu-west-1a")),
        ]),
        formats: BTreeMap::new(),
        ingress: BTreeMap::new(),
        private_interfaces: Default::default(),
    };
    store
        .replace_region(A, "eu-west-1", &inventory, "2026-11-27T09:00:00.000000Z")
        .await
        .unwrap();
    store
        .replace_region(
            B,
            "us-east-1",
            &RegionInventory::default(),
            "2026-11-27T09:00:01.000000Z",
        )
        .await
        .unwrap();
    let day = |day: &str, rows: &[(&str, &str, u16, u64)]| DayWrite {
        day: day.into(),
        expire_at: 4_000_000_000,
        seen_ttl_secs: 86_400,
        unnamed_ttl_secs: 86_400,
        payloads: vec![PayloadWrite {
            id: "unit",
            increments: increments(A, "eu-west-1", rows),
        }],
    };
    let batch = WriteBatch {
        days: vec![
            day(
                "2026-11-25",
                &[
                    ("8.8.8.8", LB, 443, 3),
                    (NAT_B, LB, 443, 2),
                    ("office", LB, 8443, 1),
                ],
            ),
            day(
                "2026-11-27",
                &[
                    ("8.8.8.8", LB, 443, 4),
                    (NAT_B, LB, 443, 5),
                    ("office", "web/52.0.0.5", 22, 1),
                ],
            ),
        ],
        touched: vec![(A, "eu-west-1")],
        now_rfc3339: "2026-11-27T10:01:02.123456Z".into(),
        limits: Default::default(),
    };
    store.write(&batch).await.unwrap();
}

async fn started() -> (RedisServer, Api<RedisStore>) {
    let server = RedisServer::start();
    let config = api_config(server.url());
    let store = RedisStore::connect(&config.redis).await.unwrap();
    fill(&store).await;
    (server, Api::new(store, &config))
}

async fn get<S: ReadStore>(api: &Api<S>, path_and_query: &str) -> Response {
    request(api, "GET", path_and_query, false).await
}

async fn request<S: ReadStore>(
    api: &Api<S>,
    method: &str,
    path_and_query: &str,
    accepts_gzip: bool,
) -> Response {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    api.handle(
        Request {
            method,
            path,
            query,
            accepts_gzip,
            request_id: "test-request",
        },
        TODAY,
    )
    .await
}

fn ok_json(response: &Response) -> serde_json::Value {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json()
}

#[tokio::test]
async fn every_route_answers_with_the_original_shapes() {
    let (_server, api) = started().await;

    let health = get(&api, "/health").await;
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));

    // Each region's health: its last batch, its last refresh, its last refresh failure
    // (kept until it refreshes again).
    let failure = RefreshFailure {
        at: "2026-11-27T09:05:00.000000Z".into(),
        kind: "assume_role".into(),
        error: "AccessDenied: not authorized to perform sts:AssumeRole".into(),
    };
    api.store()
        .put_refresh_failures(&[
            (format!("{B}:us-east-1"), failure.clone()),
            (format!("{B}:eu-central-1"), failure.clone()),
        ])
        .await
        .unwrap();
    let failed = json!({"at": "2026-11-27T09:05:00.000000Z", "kind": "assume_role",
        "error": "AccessDenied: not authorized to perform sts:AssumeRole"});
    assert_eq!(
        ok_json(&get(&api, "/accounts").await),
        json!({
            A: {"name": "team-a", "last_update": "2026-11-27T10:01:02.123456Z", "source": "table",
                "regions": {"eu-west-1": {"last_update": "2026-11-27T10:01:02.123456Z",
                    "last_refresh": "2026-11-27T09:00:00.000000Z", "refresh_failure": null}}},
            B: {"name": "team-b", "last_update": null, "source": "table",
                "regions": {
                    "eu-central-1": {"last_update": null, "last_refresh": null, "refresh_failure": failed},
                    "us-east-1": {"last_update": null, "last_refresh": "2026-11-27T09:00:01.000000Z",
                        "refresh_failure": failed}}},
        })
    );
    // A successful refresh of the region clears its failure.
    api.store()
        .replace_region(
            B,
            "us-east-1",
            &RegionInventory::default(),
            "2026-11-27T09:10:00.000000Z",
        )
        .await
        .unwrap();
    let accounts = ok_json(&get(&api, "/accounts").await);
    assert_eq!(
        accounts[B]["regions"]["us-east-1"]["refresh_failure"],
        json!(null)
    );
    assert_eq!(
        accounts[B]["regions"]["eu-central-1"]["refresh_failure"],
        failed
    );

    // Each day at a glance: rows counted and account/regions reporting.
    assert_eq!(
        ok_json(&get(&api, "/days?from=2026-11-24&to=2026-11-27").await),
        json!([
            {"date": "2026-11-24", "connections": 0, "account_regions": 0},
            {"date": "2026-11-25", "connections": 3, "account_regions": 1},
            {"date": "2026-11-26", "connections": 0, "account_regions": 0},
            {"date": "2026-11-27", "connections": 3, "account_regions": 1},
        ])
    );

    // Today by default; score descending; the refreshed but quiet account/region listed empty.
    let today = json!({
        "111111111111/eu-west-1": [
            {"source": NAT_B, "dest": LB, "dest_port": 443, "score": 5},
            {"source": "8.8.8.8", "dest": LB, "dest_port": 443, "score": 4},
            {"source": "office", "dest": "web/52.0.0.5", "dest_port": 22, "score": 1},
        ],
        "222222222222/us-east-1": [],
    });
    assert_eq!(ok_json(&get(&api, "/connections").await), today);
    assert_eq!(
        ok_json(&get(&api, "/connections?date=2026-11-27").await),
        today
    );
    // One account: its account/regions only, counted or quiet; pages keep to it.
    assert_eq!(
        ok_json(&get(&api, &format!("/connections?account={A}")).await),
        json!({"111111111111/eu-west-1": today["111111111111/eu-west-1"]})
    );
    assert_eq!(
        ok_json(&get(&api, &format!("/connections?account={B}")).await),
        json!({"222222222222/us-east-1": []})
    );
    let first = get(&api, &format!("/connections?account={A}&limit=2&port=443")).await;
    assert_eq!(
        ok_json(&first),
        json!({"111111111111/eu-west-1": [
            {"source": NAT_B, "dest": LB, "dest_port": 443, "score": 5},
            {"source": "8.8.8.8", "dest": LB, "dest_port": 443, "score": 4}]})
    );
    assert_eq!(first.header("x-next-cursor"), None);
    let bad = get(&api, "/connections?account=12345").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["parameter"], "account");
    assert_eq!(
        get(&api, &format!("/connections/{A}/eu-west-1?account={A}"))
            .await
            .status,
        400,
        "one account/region's route takes no account"
    );
    // Field order as the original wrote it.
    let one = get(&api, "/connections/111111111111/eu-west-1").await;
    assert!(
        one.text().starts_with(&format!(
            r#"[{{"source":"{NAT_B}","dest":"{LB}","dest_port":443,"score":5}}"#
        )),
        "{}",
        one.text()
    );
    assert_eq!(ok_json(&one), today["111111111111/eu-west-1"]);
    assert_eq!(
        ok_json(&get(&api, "/connections/222222222222/us-east-1").await),
        json!([])
    );
    assert_eq!(
        ok_json(&get(&api, "/connections?date=2026-11-26").await),
        json!({"111111111111/eu-west-1": [], "222222222222/us-east-1": []})
    );

    assert_eq!(
        ok_json(&get(&api, "/endpoints?date=2026-11-25").await),
        json!({
            "111111111111/eu-west-1": [
                {"dest": LB, "dest_port": 443, "distinct_sources": 2},
                {"dest": LB, "dest_port": 8443, "distinct_sources": 1},
            ],
            "222222222222/us-east-1": [],
        })
    );
    assert_eq!(
        ok_json(&get(&api, "/endpoints/111111111111/eu-west-1").await),
        json!([
            {"dest": LB, "dest_port": 443, "distinct_sources": 2},
            {"dest": "web/52.0.0.5", "dest_port": 22, "distinct_sources": 1}
        ])
    );

    assert_eq!(
        ok_json(&get(&api, "/account-connections").await),
        json!({
            "111111111111/eu-west-1": [{"source": "222222222222/us-east-1", "score": 5}],
            "222222222222/us-east-1": [],
        })
    );
    assert_eq!(
        ok_json(&get(&api, "/account-connections?include=office,8.8.8.8").await)
            ["111111111111/eu-west-1"],
        json!([
            {"source": "222222222222/us-east-1", "score": 5},
            {"source": "8.8.8.8", "score": 4},
            {"source": "office", "score": 1},
        ])
    );

    assert_eq!(
        ok_json(&get(&api, "/addresses").await),
        json!({
            "52.0.0.5": "111111111111/eu-west-1/web/52.0.0.5",
            "52.0.0.9": "111111111111/eu-west-1/nat-eu-west-1a",
        })
    );
    assert_eq!(
        ok_json(&get(&api, "/addresses?q=nat").await),
        json!({"52.0.0.9": "111111111111/eu-west-1/nat-eu-west-1a"})
    );
}

#[tokio::test]
async fn ranges_sum_the_days() {
    let (_server, api) = started().await;
    let week = ok_json(&get(&api, "/connections?from=2026-11-21&to=2026-11-27").await);
    assert_eq!(
        week,
        json!({
            "111111111111/eu-west-1": [
                {"source": NAT_B, "dest": LB, "dest_port": 443, "score": 7},
                {"source": "8.8.8.8", "dest": LB, "dest_port": 443, "score": 7},
                {"source": "office", "dest": LB, "dest_port": 8443, "score": 1},
                {"source": "office", "dest": "web/52.0.0.5", "dest_port": 22, "score": 1},
            ],
            "222222222222/us-east-1": [],
        })
    );
    // `from` alone runs to today; the per-account route sums the same way.
    assert_eq!(
        ok_json(&get(&api, "/connections/111111111111/eu-west-1?from=2026-11-25").await),
        week["111111111111/eu-west-1"]
    );
    assert_eq!(
        ok_json(&get(&api, "/account-connections?from=2026-11-25").await)["111111111111/eu-west-1"],
        json!([{"source": "222222222222/us-east-1", "score": 7}])
    );
    // The sums ingest keeps give what every row gives (an `include` naming no source makes
    // the API read the rows).
    assert_eq!(
        ok_json(&get(&api, "/account-connections?from=2026-11-21").await),
        ok_json(&get(&api, "/account-connections?from=2026-11-21&include=nobody").await)
    );
    assert_eq!(
        ok_json(
            &get(
                &api,
                "/endpoints/111111111111/eu-west-1?from=2026-11-25&to=2026-11-26"
            )
            .await
        ),
        // The busiest day's distinct sources, not a sum over the days.
        json!([
            {"dest": LB, "dest_port": 443, "distinct_sources": 2},
            {"dest": LB, "dest_port": 8443, "distinct_sources": 1}
        ])
    );
}

#[tokio::test]
async fn public_endpoints_list_every_public_interface_with_its_traffic() {
    let (_server, api) = started().await;
    let all = ok_json(&get(&api, "/public-endpoints?from=2026-11-25").await);
    let expected = json!([
        {"name": "52.0.0.6", "kind": "instance", "account_id": A, "region": "eu-west-1",
         "interface_ids": ["eni-idle"], "public_ips": ["52.0.0.6"], "counted": true,
         "score": 0, "connections": []},
        {"name": "Interface for NAT Gateway nat-0a/52.0.0.9", "kind": "nat_gateway", "account_id": A,
         "region": "eu-west-1", "interface_ids": ["eni-nat"], "public_ips": ["52.0.0.9"],
         "counted": false, "score": 0, "connections": []},
        {"name": LB, "kind": "load_balancer", "account_id": A, "region": "eu-west-1",
         "interface_ids": ["eni-lb1", "eni-lb2"], "public_ips": ["52.0.0.11", "52.0.0.12"],
         "counted": true, "score": 15, "connections": [
            {"source": NAT_B, "dest_port": 443, "score": 7},
            {"source": "8.8.8.8", "dest_port": 443, "score": 7},
            {"source": "office", "dest_port": 8443, "score": 1},
         ]},
        {"name": "web/52.0.0.5", "kind": "instance", "account_id": A, "region": "eu-west-1",
         "interface_ids": ["eni-web"], "public_ips": ["52.0.0.5"], "counted": true,
         "score": 1, "connections": [{"source": "office", "dest_port": 22, "score": 1}]},
    ]);
    assert_eq!(all, json!({"111111111111/eu-west-1": expected}));
    assert_eq!(
        ok_json(
            &get(
                &api,
                "/public-endpoints/111111111111/eu-west-1?from=2026-11-25"
            )
            .await
        ),
        expected
    );
    assert_eq!(
        ok_json(&get(&api, "/public-endpoints/222222222222/us-east-1").await),
        json!([])
    );
}

#[tokio::test]
async fn bad_requests_name_the_parameter() {
    let (_server, api) = started().await;
    let cases: &[(&str, &str, u16, Option<&str>)] = &[
        (
            "GET",
            "/connections/12345/eu-west-1",
            400,
            Some("account_id"),
        ),
        (
            "GET",
            "/connections/11111111111a/eu-west-1",
            400,
            Some("account_id"),
        ),
        (
            "GET",
            "/endpoints/111111111111/EU-WEST-1",
            400,
            Some("region"),
        ),
        (
            "GET",
            "/public-endpoints/111111111111/eu-west",
            400,
            Some("region"),
        ),
        ("GET", "/connections?date=2026-02-30", 400, Some("date")),
        ("GET", "/connections?date=yesterday", 400, Some("date")),
        (
            "GET",
            "/endpoints?from=2026-11-27&to=2026-11-20",
            400,
            Some("to"),
        ),
        (
            "GET",
            "/connections?from=2026-01-01&to=2026-11-27",
            400,
            Some("from"),
        ),
        (
            "GET",
            "/connections?date=2026-11-27&to=2026-11-27",
            400,
            Some("date"),
        ),
        ("GET", "/account-connections?from=x", 400, Some("from")),
        ("GET", "/connections?form=2026-11-20", 400, Some("query")),
        ("GET", "/accounts?date=2026-11-27", 400, Some("query")),
        ("GET", "/nope", 404, None),
        ("GET", "/connections/111111111111", 404, None),
        (
            "GET",
            "/connections/111111111111/eu-west-1/extra",
            404,
            None,
        ),
        ("POST", "/connections", 405, None),
        ("DELETE", "/accounts", 405, None),
    ];
    for &(method, target, status, parameter) in cases {
        let response = request(&api, method, target, false).await;
        let body = response.json();
        assert_eq!(response.status, status, "{method} {target}: {body}");
        assert_eq!(body["status"], status, "{target}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.len() > 10),
            "{target}: {body}"
        );
        assert_eq!(body["parameter"].as_str(), parameter, "{target}: {body}");
        if status == 405 {
            assert_eq!(response.header("allow"), Some("GET"));
        }
    }
    // The message says what is wrong, in words a person can act on.
    let body = get(&api, "/connections/12345/eu-west-1").await.json();
    assert_eq!(
        body["message"],
        "account_id \"12345\" is not an AWS account id (12 digits)"
    );
}

#[tokio::test]
async fn each_request_costs_the_round_trips_its_reads_need() {
    let (_server, api) = started().await;
    // One account/region, one day: one trip. Every account/region: the days' indexes, their
    // counters' sizes (ZCARD: the API_MAX_ROWS bound, before any row is fetched), then their
    // rows; one account/region over several days: the sizes, then the rows. Bare addresses
    // among the rows: one more for their resolved names. /endpoints: one more for the
    // distinct-source estimates. A page of one day: the indexes, each counter's best rows,
    // then (when a counter was cut off at the page's threshold) the rows that could still be
    // in the page.
    for (target, trips) in [
        ("/connections", 4),
        ("/connections?from=2026-11-21&to=2026-11-27", 4),
        ("/connections/111111111111/eu-west-1?from=2026-11-21", 3),
        ("/connections/111111111111/eu-west-1?port=22", 1),
        ("/account-connections?from=2026-11-21", 2),
        ("/endpoints", 4),
        ("/public-endpoints?from=2026-11-21", 4),
        ("/accounts", 1),
        ("/days?from=2026-11-21", 2),
        ("/addresses", 1),
        ("/connections?limit=2", 3),
        ("/connections?limit=2&from=2026-11-26", 4),
        ("/connections?date=2026-01-01", 1),
    ] {
        let before = api.store().round_trips();
        let response = get(&api, target).await;
        assert_eq!(response.status, 200, "{target}");
        assert_eq!(api.store().round_trips() - before, trips, "{target}");
    }
    let before = api.store().round_trips();
    assert_eq!(get(&api, "/health").await.status, 200);
    assert_eq!(get(&api, "/openapi.json").await.status, 200);
    assert_eq!(
        api.store().round_trips(),
        before,
        "no Redis for health/openapi"
    );
}

/// Every row of a complete `/connections` answer, in the paging order.
fn rows_in_page_order(answer: &serde_json::Value) -> Vec<(u64, String, String, String, u64)> {
    let mut rows: Vec<(u64, String, String, String, u64)> = answer
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(pair, rows)| {
            rows.as_array().unwrap().iter().map(move |r| {
                (
                    r["score"].as_u64().unwrap(),
                    pair.clone(),
                    r["source"].as_str().unwrap().to_string(),
                    r["dest"].as_str().unwrap().to_string(),
                    r["dest_port"].as_u64().unwrap(),
                )
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| (&a.1, &a.2, &a.3, a.4).cmp(&(&b.1, &b.2, &b.3, b.4)))
    });
    rows
}

#[tokio::test]
async fn pages_and_filters_give_exactly_the_complete_answer_in_slices() {
    let (_server, api) = started().await;
    for query in [
        "date=2026-11-27",
        "from=2026-11-21&to=2026-11-27",
        "date=2026-11-27&min_score=2",
        "from=2026-11-21&to=2026-11-27&port=443",
        "date=2026-11-27&source=8.8.8.0/24",
    ] {
        let complete = ok_json(&get(&api, &format!("/connections?{query}")).await);
        let want = rows_in_page_order(&complete);
        for limit in [1, 2, 3, 100] {
            let mut walked = Vec::new();
            let mut target = format!("/connections?{query}&limit={limit}");
            for _ in 0..100 {
                let response = get(&api, &target).await;
                let mut rows = rows_in_page_order(&ok_json(&response));
                assert!(rows.len() <= limit, "{target}");
                walked.append(&mut rows);
                match response.header("x-next-cursor") {
                    Some(cursor) => {
                        target = format!("/connections?{query}&limit={limit}&cursor={cursor}")
                    }
                    None => break,
                }
            }
            assert_eq!(walked, want, "{query}, limit {limit}");
        }
    }
    // Filters on the complete answer: only matching rows, known account/regions kept.
    let port = ok_json(&get(&api, "/connections?date=2026-11-27&port=22").await);
    assert!(rows_in_page_order(&port).iter().all(|r| r.4 == 22));
    let all = rows_in_page_order(&ok_json(&get(&api, "/connections?date=2026-11-27").await));
    assert_eq!(
        rows_in_page_order(&port).len(),
        all.iter().filter(|r| r.4 == 22).count()
    );
    let scoped = ok_json(
        &get(
            &api,
            "/connections/111111111111/eu-west-1?date=2026-11-27&limit=1",
        )
        .await,
    );
    assert_eq!(scoped.as_array().unwrap().len(), 1);
    // A cursor from another query is refused, naming the parameter.
    let first = get(&api, "/connections?date=2026-11-27&limit=1").await;
    let cursor = first.header("x-next-cursor").unwrap();
    let reused = get(
        &api,
        &format!("/connections?date=2026-11-26&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json()["parameter"], "cursor");
}

#[tokio::test]
async fn endpoints_carry_their_distinct_source_estimate() {
    let (_server, api) = started().await;
    let answer = ok_json(&get(&api, "/endpoints/111111111111/eu-west-1?date=2026-11-27").await);
    let connections =
        ok_json(&get(&api, "/connections/111111111111/eu-west-1?date=2026-11-27").await);
    for endpoint in answer.as_array().unwrap() {
        let sources: std::collections::BTreeSet<&str> = connections
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["dest"] == endpoint["dest"] && c["dest_port"] == endpoint["dest_port"])
            .map(|c| c["source"].as_str().unwrap())
            .collect();
        // The fixtures go through the write script, which adds every source to the endpoint's
        // HyperLogLog; at this size the estimate is exact.
        assert_eq!(
            endpoint["distinct_sources"].as_u64(),
            Some(sources.len() as u64),
            "{endpoint}"
        );
    }
    let port = ok_json(&get(&api, "/endpoints?date=2026-11-27&port=443").await);
    for (_, list) in port.as_object().unwrap() {
        assert!(list
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["dest_port"] == 443));
    }
}

/// Every route answers the same from a one-node cluster and from a real three-master cluster
/// (counters spread over the nodes, `MOVED` followed) as from a single server.
#[tokio::test]
async fn clusters_give_the_same_answers() {
    let (_single, api) = started().await;
    let one_node = RedisServer::start_cluster();
    let three = RedisCluster::start_three_masters();
    for url in [one_node.url(), three.url()] {
        let config = api_config(url.clone());
        let store = RedisStore::connect(&config.redis).await.unwrap();
        assert!(store.is_cluster());
        fill(&store).await;
        let on_cluster = Api::new(store, &config);
        let health = get(&on_cluster, "/health").await;
        assert_eq!((health.status, health.text().as_str()), (200, "OK"));
        for target in [
            "/accounts",
            "/connections?from=2026-11-21",
            "/connections?date=2026-11-27&limit=3",
            "/connections?date=2026-11-27&port=443&source=8.8.0.0/16",
            "/connections/111111111111/eu-west-1?from=2026-11-21",
            "/public-endpoints?from=2026-11-25",
            "/endpoints?date=2026-11-27",
            "/endpoints/111111111111/eu-west-1?date=2026-11-27",
            "/public-endpoints/111111111111/eu-west-1?date=2026-11-27",
            "/account-connections",
            "/addresses",
            "/openapi.json",
        ] {
            let expected = ok_json(&get(&api, target).await);
            assert_eq!(
                ok_json(&get(&on_cluster, target).await),
                expected,
                "{target} on {url}"
            );
        }
    }
    // The fill's few account/regions and days already sit on more than one node.
    let per_node = three.keys_per_node();
    assert!(
        per_node.iter().filter(|&&n| n > 0).count() >= 2,
        "{per_node:?}"
    );
}

#[tokio::test]
async fn redis_unavailable_is_a_503_never_a_hang() {
    let mut server = RedisServer::start();
    let mut config = api_config(server.url());
    config.redis.timeout = Duration::from_millis(700);
    server.stop();
    // Down at start: the function still answers, and connects once Redis is back.
    let api = Api::new(LazyRedisStore::new(config.redis.clone()), &config);
    let started = Instant::now();
    let response = get(&api, "/connections").await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.json()["error"], "Service Unavailable");
    assert_eq!(response.json()["request_id"], "test-request");
    // What went wrong inside (the store's address, its own words) is logged, not answered.
    let text = response.text();
    for secret in [
        "127.0.0.1",
        &server.port().to_string(),
        "redis://",
        "Connection refused",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("try again"), "{text}");
    assert_eq!(response.header("retry-after"), Some("5"));
    assert_eq!(get(&api, "/health").await.status, 200);
    assert!(started.elapsed() < Duration::from_secs(5));

    server.restart();
    fill(api.store().get().await.unwrap()).await;
    assert_eq!(get(&api, "/connections").await.status, 200);

    // Paused past the timeout: 503 within the deadline, not a hung request.
    server.cli(&["CLIENT", "PAUSE", "4000", "ALL"]);
    let started = Instant::now();
    let response = get(&api, "/accounts").await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert!(started.elapsed() < Duration::from_millis(2_500));

    // Killed after serving: 503, then answers again after a restart.
    server.stop();
    assert_eq!(get(&api, "/accounts").await.status, 503);
    server.restart();
    fill(api.store().get().await.unwrap()).await;
    let mut status = 0;
    for _ in 0..20 {
        status = get(&api, "/accounts").await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn gzip_when_asked() {
    let (_server, api) = started().await;
    let plain = request(&api, "GET", "/openapi.json", false).await;
    let zipped = request(&api, "GET", "/openapi.json", true).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(zipped.body.len() * 3 < plain.body.len());
    assert_eq!(zipped.text(), plain.text());
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routes() {
    let (_server, api) = started().await;
    let doc = ok_json(&get(&api, "/openapi.json").await);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let routed: BTreeSet<&str> = route_paths().into_iter().collect();
    assert_eq!(documented, routed);
    // Every documented path answers (not 404), and every parameter it names exists.
    for path in &routed {
        let concrete = path
            .replace("{account_id}", A)
            .replace("{region}", "eu-west-1");
        assert_ne!(get(&api, &concrete).await.status, 404, "{path}");
        for p in doc["paths"][path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = p["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
            assert!(
                doc["components"]["parameters"][name].is_object(),
                "{path}: {name}"
            );
            // Each documented query parameter is accepted by the route.
            if doc["components"]["parameters"][name]["in"] == "query" {
                let response = get(&api, &format!("{concrete}?{name}=2026-11-27")).await;
                assert_ne!(
                    response.json()["parameter"],
                    "query",
                    "{path} refuses documented {name}"
                );
            }
        }
        // Path parameters in the template are documented.
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(['{', '}']);
            let params = doc["paths"][path]["get"]["parameters"].to_string();
            assert!(params.contains(name), "{path} documents {name}");
        }
    }
}

/// The schema the document gives a route's answer (`status`): the document itself is the root,
/// so its `#/components/schemas/…` references resolve, with a `$ref` to that answer's schema.
fn answer_schema(doc: &serde_json::Value, path: &str, status: &str) -> jsonschema::Validator {
    let pointer = format!(
        "#/paths/{}/get/responses/{status}",
        path.replace('~', "~0").replace('/', "~1")
    );
    let mut root = doc.clone();
    let response = doc
        .pointer(&pointer[1..])
        .unwrap_or_else(|| panic!("{path}: no {status} answer"));
    let response = match response["$ref"].as_str() {
        Some(r) => doc.pointer(&r[1..]).unwrap(),
        None => response,
    };
    let content = response["content"].as_object().unwrap();
    let (_, media) = content.iter().next().unwrap();
    root["$ref"] = json!("#/schema-under-test");
    root["schema-under-test"] = media["schema"].clone();
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{path}: schema: {e}"))
}

/// Every route's real answer on the test estate is what its OpenAPI schema (derived from the
/// wire types) says: each 200 with data in it, and the error answers.
#[tokio::test]
async fn every_answer_conforms_to_its_openapi_schema() {
    let (_server, api) = started().await;
    let doc = ok_json(&get(&api, "/openapi.json").await);
    let mut checked = 0;
    for path in route_paths() {
        if path == "/openapi.json" || path == "/health" {
            continue;
        }
        let concrete = path
            .replace("{account_id}", A)
            .replace("{region}", "eu-west-1");
        let validator = answer_schema(&doc, path, "200");
        for query in ["", "?date=2026-11-25", "?from=2026-11-25&to=2026-11-27"] {
            let response = get(&api, &format!("{concrete}{query}")).await;
            if response.status == 400 {
                // A route without a range refuses one; its error is checked below.
                continue;
            }
            let answer = ok_json(&response);
            let empty = answer.as_object().is_some_and(|o| o.is_empty())
                || answer.as_array().is_some_and(|a| a.is_empty());
            assert!(
                !empty || query == "?date=2026-11-25" || path.contains("account-connections"),
                "{path}{query}: the estate should have data here: {answer}"
            );
            let errors: Vec<String> = validator
                .iter_errors(&answer)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{path}{query} does not conform:\n{}\n{answer}",
                errors.join("\n")
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} answers checked");
    // The error body, as the 400 of every data route says it.
    let bad = get(&api, "/connections/12345/eu-west-1").await;
    assert_eq!(bad.status, 400);
    let validator = answer_schema(&doc, "/connections/{account_id}/{region}", "400");
    let errors: Vec<String> = validator
        .iter_errors(&bad.json())
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The schemas are the wire types': every field required that always appears, no others.
    let connection = &doc["components"]["schemas"]["Connection"];
    assert_eq!(
        connection["required"],
        json!(["source", "dest", "dest_port", "score"])
    );
    assert_eq!(connection["additionalProperties"], json!(false));
    for name in [
        "Changes",
        "Account",
        "Day",
        "Endpoint",
        "AccountSource",
        "PublicEndpoint",
        "Error",
    ] {
        assert!(
            doc["components"]["schemas"][name]["properties"].is_object(),
            "{name}"
        );
    }
    // And a wrong answer is caught: the check can fail.
    let validator = answer_schema(&doc, "/connections", "200");
    assert!(!validator.is_valid(&json!({"111111111111/eu-west-1": [{"source": "x", "dest": "y", "dest_port": "22", "score": 1}]})));
    assert!(!validator.is_valid(&json!({"111111111111/eu-west-1": [{"source": "x", "dest": "y", "dest_port": 22, "score": 1, "extra": true}]})));
}

#[tokio::test]
async fn pages_of_a_busy_day_read_only_what_they_need_and_miss_nothing() {
    let server = RedisServer::start();
    let config = api_config(server.url());
    let store = RedisStore::connect(&config.redis).await.unwrap();
    // 24 account/regions of 60 rows each, scores with many ties (1..=6).
    let accounts: Vec<String> = (0..24).map(|i| format!("3000000000{i:02}")).collect();
    let mut rng = connection_tracker::testing::Rng(11);
    let mut rows: Vec<(usize, String, u64)> = Vec::new();
    for a in 0..accounts.len() {
        for i in 0..60 {
            rows.push((a, format!("198.51.{a}.{i}"), 1 + rng.below(6)));
        }
    }
    let members: Vec<String> = rows
        .iter()
        .map(|(_, source, _)| keys::connection_member(source, "lb", 443))
        .collect();
    let increments = rows
        .iter()
        .zip(&members)
        .map(|((a, _, count), member)| Increment {
            account: &accounts[*a],
            region: "eu-west-1",
            member: member.clone(),
            count: *count,
            bare_ip: None,
        })
        .collect();
    let batch = WriteBatch {
        touched: accounts.iter().map(|a| (a.as_str(), "eu-west-1")).collect(),
        now_rfc3339: "2026-11-27T10:01:02.123456Z".into(),
        ..one_payload("2026-11-27", "busy", increments)
    };
    store.write(&batch).await.unwrap();
    let api = Api::new(store, &config);
    let complete = ok_json(&get(&api, "/connections?date=2026-11-27").await);
    for query in ["", "&min_score=4"] {
        let want: Vec<_> = rows_in_page_order(&complete)
            .into_iter()
            .filter(|r| query.is_empty() || r.0 >= 4)
            .collect();
        for limit in [13, 97, 500] {
            let mut walked = Vec::new();
            let mut target = format!("/connections?date=2026-11-27{query}&limit={limit}");
            let mut trips = Vec::new();
            loop {
                let before = api.store().round_trips();
                let response = get(&api, &target).await;
                trips.push(api.store().round_trips() - before);
                walked.append(&mut rows_in_page_order(&ok_json(&response)));
                match response.header("x-next-cursor") {
                    Some(c) => {
                        target =
                            format!("/connections?date=2026-11-27{query}&limit={limit}&cursor={c}")
                    }
                    None => break,
                }
            }
            assert_eq!(walked, want, "limit {limit}{query}");
            assert!(trips.iter().all(|t| *t <= 4), "{trips:?}");
            if limit == 13 {
                // 8 best rows of each of 60 read first: pages need the threshold read.
                assert!(trips.contains(&4), "a threshold read happened: {trips:?}");
            }
        }
    }
}

#[tokio::test]
async fn an_answer_too_large_for_lambda_is_a_400_that_says_how_to_narrow_it() {
    let server = RedisServer::start();
    let config = api_config(server.url());
    let store = RedisStore::connect(&config.redis).await.unwrap();
    // 40,000 rows with long names: ~8 MB of JSON, more than Lambda's 6 MiB.
    let mut conn = store.connection();
    let key = keys::connections("2026-11-27", A, "eu-west-1");
    let mut pipe = redis::pipe();
    for chunk in 0..40 {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(&key);
        for i in 0..1000 {
            let dest = format!("{}-{chunk}.example.org", "d".repeat(150));
            cmd.arg(i % 7 + 1).arg(keys::connection_member(
                format!("10.{chunk}.{}.{}", i / 250, i % 250),
                dest,
                443,
            ));
        }
        pipe.add_command(cmd).ignore();
    }
    pipe.cmd("SADD")
        .arg(keys::day_index("2026-11-27"))
        .arg(pair_key(A, "eu-west-1"))
        .ignore();
    pipe.query_async::<()>(&mut conn).await.unwrap();
    let api = Api::new(store, &config);

    let plain = get(&api, "/connections?date=2026-11-27").await;
    assert_eq!(plain.status, 400, "{:.200}", plain.text());
    let body = plain.json();
    assert_eq!(body["parameter"], "limit");
    let message = body["message"].as_str().unwrap();
    for hint in [
        "limit=",
        "cursor=",
        "port=",
        "source=",
        "does not accept gzip",
    ] {
        assert!(message.contains(hint), "{hint} missing from: {message}");
    }
    // Gzip fits (the names repeat); a page fits without it.
    let zipped = request(&api, "GET", "/connections?date=2026-11-27", true).await;
    assert_eq!(zipped.status, 200);
    assert_eq!(
        zipped.json()[format!("{A}/eu-west-1")]
            .as_array()
            .unwrap()
            .len(),
        40_000
    );
    let page = get(&api, "/connections?date=2026-11-27&limit=1000").await;
    assert_eq!(page.status, 200);
    assert!(page.header("x-next-cursor").is_some());
}

#[tokio::test]
async fn resolved_names_show_as_host_slash_ip_on_every_day() {
    let (_server, api) = started().await;
    let before = ok_json(&get(&api, "/connections?from=2026-11-25&to=2026-11-27").await);
    assert!(before.to_string().contains("\"8.8.8.8\""));
    // The refresh resolved 8.8.8.8; a PTR record that is no host name is never shown.
    api.store()
        .put_names(&[
            ("8.8.8.8".into(), "dns.google".into(), 3600),
            ("9.9.9.9".into(), "evil\tname/with slash".into(), 3600),
        ])
        .await
        .unwrap();
    for target in [
        "/connections?date=2026-11-25",
        "/connections?from=2026-11-25&to=2026-11-27",
        "/connections/111111111111/eu-west-1",
        "/connections?date=2026-11-27&limit=2",
    ] {
        let answer = ok_json(&get(&api, target).await).to_string();
        assert!(
            answer.contains("\"dns.google/8.8.8.8\""),
            "{target}: {answer}"
        );
        assert!(!answer.contains("\"8.8.8.8\""), "{target}: {answer}");
    }
    // Scores are unchanged by the name.
    let week = ok_json(&get(&api, "/connections?from=2026-11-25&to=2026-11-27").await);
    let score = |v: &serde_json::Value, source: &str| {
        v[format!("{A}/eu-west-1")]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["source"] == source && c["dest_port"] == 443)
            .map(|c| c["score"].clone())
    };
    assert_eq!(
        score(&week, "dns.google/8.8.8.8"),
        score(&before, "8.8.8.8")
    );
    // Filters see the address: a CIDR block still finds it.
    let found = ok_json(&get(&api, "/connections?date=2026-11-27&source=8.8.8.0/24").await);
    assert!(found.to_string().contains("dns.google/8.8.8.8"));
    let listed = ok_json(&get(&api, "/public-endpoints/111111111111/eu-west-1").await);
    assert!(
        listed.to_string().contains("dns.google/8.8.8.8"),
        "{listed}"
    );
}

#[tokio::test]
async fn addresses_list_our_addresses_and_the_named_networks() {
    let server = RedisServer::start();
    let mut config = api_config(server.url());
    config.networks = connection_tracker::rules::classify::Networks::new(vec![
        ("my_office".into(), "185.46.212.0/24".parse().unwrap()),
        ("vpn".into(), "2a00:1450::/32".parse().unwrap()),
    ]);
    let store = RedisStore::connect(&config.redis).await.unwrap();
    fill(&store).await;
    let api = Api::new(store, &config);
    let all = ok_json(&get(&api, "/addresses").await);
    assert_eq!(all["185.46.212.0/24"], "my_office");
    assert_eq!(all["2a00:1450::/32"], "vpn");
    assert!(
        all.as_object().unwrap().len() > 2,
        "our own addresses too: {all}"
    );
    assert_eq!(
        ok_json(&get(&api, "/addresses?q=office").await),
        json!({"185.46.212.0/24": "my_office"})
    );
    // The names the refresh resolved, as the original listed them; a name that is no host name
    // never, an address without a name never, and an entry leaves the list when its cache does.
    api.store()
        .put_names(&[
            ("8.8.8.8".into(), "dns.google".into(), 3600),
            ("1.1.1.1".into(), "one.one.one.one".into(), 1),
            ("9.9.9.9".into(), "evil\tname".into(), 3600),
            ("4.4.4.4".into(), String::new(), 3600),
        ])
        .await
        .unwrap();
    let listed = ok_json(&get(&api, "/addresses").await);
    assert_eq!(listed["8.8.8.8"], "dns.google");
    assert_eq!(listed["1.1.1.1"], "one.one.one.one");
    assert!(listed.get("9.9.9.9").is_none() && listed.get("4.4.4.4").is_none());
    assert_eq!(
        ok_json(&get(&api, "/addresses?q=google").await),
        json!({"8.8.8.8": "dns.google"})
    );
    // 8.8.8.8 later had no name: it leaves the list; 1.1.1.1's second passed: pruned.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    api.store()
        .put_names(&[("8.8.8.8".into(), String::new(), 3600)])
        .await
        .unwrap();
    let listed = ok_json(&get(&api, "/addresses").await);
    assert!(listed.get("8.8.8.8").is_none(), "{listed}");
    assert!(listed.get("1.1.1.1").is_none(), "{listed}");
    assert_eq!(listed["185.46.212.0/24"], "my_office");
}

#[tokio::test]
async fn s3_answering_an_instance_is_no_connection_but_a_name_alone_decides_nothing() {
    let (_server, api) = started().await;
    let store = api.store();
    let row = |source: &'static str, dest: &'static str| Increment {
        account: A,
        region: "eu-west-1",
        member: keys::connection_member(source, dest, 49152),
        count: 2,
        bare_ip: source.parse().ok(),
    };
    store
        .write(&WriteBatch {
            touched: vec![(A, "eu-west-1")],
            now_rfc3339: "2026-11-27T10:01:02.123456Z".into(),
            ..one_payload(
                "2026-11-27",
                "s3",
                vec![
                    row("52.92.16.5", "web/52.0.0.5"),
                    row("203.0.113.9", "web/52.0.0.5"),
                    row("52.92.16.6", LB),
                    row("52.92.16.7", "web/52.0.0.5"),
                    row("52.92.16.8", "10.0.1.99"),
                    row("52.92.16.9", "web/52.0.0.5"),
                    row("52.92.16.10", "web/52.0.0.5"),
                    row("52.92.16.11", "web/52.0.0.5"),
                    row("54.239.0.5", "web/52.0.0.5"),
                    row("3.5.64.9", "web/52.0.0.5"),
                ],
            )
        })
        .await
        .unwrap();
    // What the refresh stores from AWS's file: the S3 service's prefixes, not AMAZON's.
    let (ranges, _) =
        S3Ranges::from_ip_ranges_json(include_bytes!("../../events/ip-ranges.json")).unwrap();
    store
        .put_s3_ranges(&ranges.to_lines(), "2026-11-27T00:00:00Z")
        .await
        .unwrap();
    let name = |ip: &str, host: &str| (ip.to_string(), host.to_string(), 3600);
    store
        .put_names(&[
            name("52.92.16.5", "s3-website.eu-west-1.amazonaws.com"),
            // Anyone can publish an S3-looking PTR name for their own address.
            name("203.0.113.9", "s3.fake.amazonaws.com"),
            name("52.92.16.6", "s3.eu-west-1.amazonaws.com"),
            name("52.92.16.7", "ec2-52-92-16-7.compute.amazonaws.com"),
            name("52.92.16.8", "s3-1.amazonaws.com"),
            // Look-alike names, even on S3's addresses: counted.
            name("52.92.16.9", "s3.evilamazonaws.com"),
            name("52.92.16.10", "s3.amazonaws.com.evil.net"),
            name("52.92.16.11", "s3xamazonawsxcom"),
            // A real-looking name on AWS's other prefixes (AMAZON, not S3): counted.
            name("54.239.0.5", "s3-1-w.amazonaws.com"),
            name("3.5.64.9", "s3-eu-west-1-r-w.amazonaws.com"),
        ])
        .await
        .unwrap();
    let answer = ok_json(&get(&api, "/connections/111111111111/eu-west-1").await);
    let sources: BTreeSet<&str> = answer
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["dest_port"] == 49152)
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        BTreeSet::from([
            // Not in S3's prefixes: kept, whatever its name.
            "s3.fake.amazonaws.com/203.0.113.9",
            "s3-1-w.amazonaws.com/54.239.0.5",
            // To a load balancer, not an instance: kept.
            "s3.eu-west-1.amazonaws.com/52.92.16.6",
            // In S3's prefixes, not S3's name: kept.
            "ec2-52-92-16-7.compute.amazonaws.com/52.92.16.7",
            "s3.evilamazonaws.com/52.92.16.9",
            "s3.amazonaws.com.evil.net/52.92.16.10",
            "s3xamazonawsxcom/52.92.16.11",
        ]),
        "{answer}"
    );
    // The same on the whole-estate route and the public endpoints' traffic.
    let all = ok_json(&get(&api, "/connections").await).to_string();
    for dropped in ["52.92.16.5", "52.92.16.8", "3.5.64.9"] {
        assert!(!all.contains(dropped), "{dropped}: {all}");
    }
    let listed = ok_json(&get(&api, "/public-endpoints/111111111111/eu-west-1").await).to_string();
    assert!(
        !listed.contains("52.92.16.5") && listed.contains("52.92.16.7"),
        "{listed}"
    );
}

#[tokio::test]
async fn changes_show_what_a_day_brought_that_the_days_before_did_not() {
    let (_server, api) = started().await;
    // 2026-11-27 against 25 and 26: the SSH connection to the instance is new, and the
    // instance itself had no connection before; the load balancer's sources came on the 25th.
    assert_eq!(
        ok_json(&get(&api, "/changes?date=2026-11-27&baseline_days=2").await),
        json!({
            "date": "2026-11-27",
            "baseline": {"from": "2026-11-25", "to": "2026-11-26"},
            "changes": {"111111111111/eu-west-1": {
                "new_endpoints": [{"dest": "web/52.0.0.5", "dest_port": 22, "new_dest": true}],
                "new_connections": [{"source": "office", "dest": "web/52.0.0.5", "dest_port": 22, "score": 1}],
            }},
        })
    );
    // Against the 26th alone (a quiet day) everything of the 27th is new.
    let all = ok_json(&get(&api, "/changes?date=2026-11-27&baseline_days=1").await);
    let pair = &all["changes"]["111111111111/eu-west-1"];
    assert_eq!(
        pair["new_connections"].as_array().unwrap().len(),
        3,
        "{all}"
    );
    assert_eq!(pair["new_endpoints"].as_array().unwrap().len(), 2, "{all}");
    // A day with nothing new answers an empty map, not an error.
    let quiet = ok_json(&get(&api, "/changes?date=2026-11-26").await);
    assert_eq!(quiet["changes"], json!({}));
    assert_eq!(
        quiet["baseline"],
        json!({"from": "2026-11-19", "to": "2026-11-25"})
    );
    for (query, parameter) in [
        ("/changes?baseline_days=0", "baseline_days"),
        ("/changes?baseline_days=32", "baseline_days"),
        ("/changes?baseline_days=x", "baseline_days"),
        ("/changes?date=2026-13-01", "date"),
        ("/changes?from=2026-11-01", "query"),
    ] {
        let answer = get(&api, query).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text());
        assert_eq!(answer.json()["parameter"], parameter, "{query}");
    }
}

/// An evidence sink in memory: the S3 adapter is tested against moto (ctrack's tests); here the
/// day's object is what matters.
#[derive(Default)]
struct Objects(std::sync::Mutex<BTreeMap<String, Vec<u8>>>);

impl connection_tracker::store::EvidenceSink for Objects {
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<(String, bool), String> {
        let mut objects = self.0.lock().unwrap();
        let fresh = !objects.contains_key(key);
        objects.entry(key.to_string()).or_insert(body);
        Ok((format!("mem://{key}"), fresh))
    }
}

/// The archive of the tests: days closed 48 h after they end, ten days kept.
fn archive_config(
    networks: connection_tracker::rules::classify::Networks,
) -> connection_tracker::config::ArchiveConfig {
    connection_tracker::config::ArchiveConfig {
        bucket: "evidence".into(),
        prefix: "connections/".into(),
        after_hours: 48,
        max_days_per_run: 7,
        retention_days: 10,
        networks,
    }
}

/// A closed day larger than a page (`archive::PAGE_ROWS`) is archived whole, every row once with
/// its count, from a single server and from a three-master cluster alike: the object holds
/// exactly the rows a whole read of the day gives.
#[tokio::test]
async fn a_day_larger_than_a_page_is_archived_whole_page_by_page() {
    use connection_tracker::api::review_day;
    use connection_tracker::refresh::archive::{archive_closed_days, decode_day, PAGE_ROWS};

    let single = RedisServer::start();
    let three = RedisCluster::start_three_masters();
    for url in [single.url(), three.url()] {
        let config = api_config(url.clone());
        let store = RedisStore::connect(&config.redis).await.unwrap();
        fill(&store).await;
        // 2.5 pages in one account/region: 50 ports × 500 sources, counts 1..=25,000.
        let members: Vec<String> = (0..PAGE_ROWS * 5 / 2)
            .map(|i| {
                let source = format!("85.{}.{}.{}", i / 62_500, (i / 250) % 250, i % 250);
                keys::connection_member(&source, "web/52.16.0.20", 1000 + (i / 500) as u16)
            })
            .collect();
        let increments = members
            .iter()
            .enumerate()
            .map(|(i, member)| Increment {
                account: A,
                region: "eu-west-1",
                member: member.clone(),
                count: i as u64 + 1,
                bare_ip: None,
            })
            .collect();
        store
            .write(&one_payload("2026-11-20", "big", increments))
            .await
            .unwrap();
        let sink = Objects::default();
        let archive = archive_config(Default::default());
        let now = time::macros::datetime!(2026-11-30 00:00 UTC);
        let report = archive_closed_days(&store, &sink, (&archive, review_day), now, None)
            .await
            .unwrap();
        assert!(
            report.stopped.is_none() && report.pending == 0,
            "{report:?}"
        );
        for day in ["2026-11-20", "2026-11-27"] {
            let whole = store
                .read(&ReadRequest {
                    days: vec![day.into()],
                    ..ReadRequest::default()
                })
                .await
                .unwrap();
            let mut expected: Vec<(String, String, String, String, u64)> = whole.days[0]
                .iter()
                .flat_map(|(pair, rows)| {
                    rows.iter().map(move |c| {
                        let (account, region) = pair.split_once('/').unwrap();
                        let (s, d) = (c.source.clone(), c.dest.clone());
                        (
                            format!("{account}/{region}"),
                            s,
                            d,
                            c.dest_port.to_string(),
                            c.score,
                        )
                    })
                })
                .collect();
            let object = sink.0.lock().unwrap()
                [&format!("connections/day={day}/connections.jsonl.gz")]
                .clone();
            let back = decode_day(&object, 1 << 30).unwrap();
            let mut got: Vec<(String, String, String, String, u64)> = back
                .iter()
                .map(|r| {
                    let pair = format!("{}/{}", r.account_id, r.region);
                    (
                        pair,
                        r.source.clone(),
                        r.dest.clone(),
                        r.dest_port.to_string(),
                        r.score,
                    )
                })
                .collect();
            // Each account/region's rows come score descending.
            for w in back.windows(2) {
                if (&w[0].account_id, &w[0].region) == (&w[1].account_id, &w[1].region) {
                    assert!(w[0].score >= w[1].score, "{day} on {url}");
                }
            }
            assert!(back.iter().all(|r| r.date.as_deref() == Some(day)));
            expected.sort();
            got.sort();
            assert_eq!(got.len(), expected.len(), "{day} on {url}");
            assert_eq!(got, expected, "{day} on {url}");
        }
        let lines: usize = sink
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(key, _)| key.ends_with("/connections.jsonl.gz"))
            .map(|(_, o)| decode_day(o, 1 << 30).unwrap().len())
            .sum();
        assert_eq!(report.rows, lines, "{report:?}");
        assert!(lines > PAGE_ROWS * 5 / 2);
    }
}

/// A request that would read more rows than `API_MAX_ROWS` is refused with the 400 that names
/// `limit` — whole reads by their counters' sizes before a row is fetched, filtered reads as
/// Redis sends the matches, one account/region's day by its cut `ZRANGE` — while the same
/// questions asked narrowly (a page, one day's top rows) are answered.
#[tokio::test]
async fn a_read_larger_than_api_max_rows_is_a_400_naming_limit() {
    let (server, api) = started().await;
    let whole = ok_json(&get(&api, "/connections?from=2026-11-21").await);
    let bounded = |max_rows| {
        let config = ApiConfig {
            max_rows,
            ..api_config(server.url())
        };
        async move { Api::new(RedisStore::connect(&config.redis).await.unwrap(), &config) }
    };
    let small = bounded(1).await;
    for target in [
        "/connections?from=2026-11-21",
        "/connections",
        "/connections/111111111111/eu-west-1",
        "/connections/111111111111/eu-west-1?from=2026-11-21",
        "/connections?from=2026-11-21&port=443",
        "/connections?limit=2&from=2026-11-26",
        "/endpoints",
    ] {
        let response = get(&small, target).await;
        assert_eq!(response.status, 400, "{target}: {}", response.text());
        let body = response.json();
        assert_eq!(body["parameter"], "limit", "{target}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("API_MAX_ROWS") && message.contains("fewer days"),
            "{message}"
        );
    }
    // A page of one day reads what the page needs: answered.
    let page = get(&small, "/connections?limit=2").await;
    assert_eq!(page.status, 200, "{}", page.text());
    // The bound is exact: the rows the week's counters hold are answered, one fewer is not;
    // at the bound, the same answer as without one.
    let read: usize = api
        .store()
        .read(&ReadRequest {
            days: (21..=27).map(|d| format!("2026-11-{d}")).collect(),
            ..ReadRequest::default()
        })
        .await
        .unwrap()
        .days
        .iter()
        .flat_map(|d| d.values())
        .map(Vec::len)
        .sum();
    assert!(read > 4, "more rows read than answered: {read}");
    let short = get(&bounded(read - 1).await, "/connections?from=2026-11-21").await;
    assert_eq!(short.status, 400, "{}", short.text());
    let exact = bounded(read).await;
    assert_eq!(
        ok_json(&get(&exact, "/connections?from=2026-11-21").await),
        whole
    );
}

/// A redis-server holding the exposure estate (`testing::exposure`), and the API's settings
/// with its named networks.
async fn exposure_estate() -> (RedisServer, ApiConfig, RedisStore) {
    let server = RedisServer::start();
    let mut config = api_config(server.url());
    config.networks = connection_tracker::testing::exposure::networks();
    let store = RedisStore::connect(&config.redis).await.unwrap();
    connection_tracker::testing::exposure::fill(&store).await;
    (server, config, store)
}

#[tokio::test]
async fn exposure_reviews_each_rule_against_the_traffic_it_let_in() {
    let (server, config, store) = exposure_estate().await;
    let api = Api::new(store, &config);
    // Without a range: the whole retention, so the 25th counts.
    let all = ok_json(&get(&api, "/exposure").await);
    let verdicts: Vec<(String, String, String, u64)> = all
        .as_object()
        .unwrap()
        .values()
        .flat_map(|endpoints| endpoints.as_array().unwrap())
        .flat_map(|e| {
            e["rules"].as_array().unwrap().iter().map(|r| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    r["rule"]["rule_id"].as_str().unwrap().to_string(),
                    r["verdict"].as_str().unwrap().to_string(),
                    r["score"].as_u64().unwrap(),
                )
            })
        })
        .collect();
    let expected = [
        (
            connection_tracker::testing::exposure::DB,
            "sgr-pg",
            "narrow",
            2,
        ),
        ("web/52.0.0.5", "sgr-ssh", "unused", 0),
        ("web/52.0.0.5", "sgr-https", "used", 4),
        ("web/52.0.0.5", "sgr-v6", "used", 1),
        // Its sources on the 25th may be inside its list or not: only that day's rows tell,
        // and they are not read without a range.
        ("web/52.0.0.5", "sgr-pl", "used", 0),
        ("54.0.0.5", "sgr-b", "no_flow_log", 0),
    ];
    let expected: Vec<(String, String, String, u64)> = expected
        .iter()
        .map(|&(e, r, v, s)| (e.into(), r.into(), v.into(), s))
        .collect();
    assert_eq!(verdicts, expected);
    let pairs = all.as_object().unwrap();
    let web = pairs[&format!("{A}/eu-west-1")]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "web/52.0.0.5")
        .unwrap();
    assert_eq!(web["security_groups"], json!(["sg-web"]));
    assert_eq!(
        web["rules"][1],
        json!({"rule": {"rule_id": "sgr-https", "group_id": "sg-web", "group_name": "web",
            "protocol": "tcp", "from_port": 8443, "to_port": 8443,
            "source": {"cidr": "0.0.0.0/0"}},
            "verdict": "used", "score": 4, "first_day": "2026-11-25", "last_day": "2026-11-27",
            // One source on 8443 on the last day, the day whose rows are read.
            "distinct_sources": 1,
            "top_sources": [{"source": "8.8.8.8", "dest_port": 8443, "score": 1}],
            "suggestion": "keep: sources from the internet use it"})
    );
    // Its verdict, days and score are the sums' over the retention; its top sources the last
    // day's rows. Asked with a range, the range's rows: the same verdicts, all the sources.
    let ranged = ok_json(&get(&api, "/exposure?from=2026-11-25").await);
    let https = &ranged[format!("{A}/eu-west-1")]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "web/52.0.0.5")
        .unwrap()["rules"][1];
    assert_eq!(
        (&https["score"], &https["top_sources"]),
        (
            &json!(4),
            &json!([{"source": "8.8.8.8", "dest_port": 8443, "score": 4}])
        )
    );
    let pl = |review: &serde_json::Value| {
        review[format!("{A}/eu-west-1")]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "web/52.0.0.5")
            .unwrap()["rules"][3]
            .clone()
    };
    assert_eq!(pl(&ranged)["score"], 4);
    assert!(pl(&all)["suggestion"]
        .as_str()
        .unwrap()
        .contains("only the rows of those days tell"));
    // Days written before ingest kept the sums (here: their sums deleted) are judged from
    // their rows, which are then read: the same answers, and the prefix-list rule settled.
    for key in server
        .cli(&["KEYS", "ct:*:used"])
        .lines()
        .filter(|k| !k.is_empty())
    {
        server.cli(&["DEL", key]);
    }
    let mut before = all.clone();
    for endpoint in before[format!("{A}/eu-west-1")].as_array_mut().unwrap() {
        if endpoint["name"] == "web/52.0.0.5" {
            // (Its top sources are still the last day's rows: none.)
            endpoint["rules"][3] = pl(&ranged);
            endpoint["rules"][3]["top_sources"] = json!([]);
            // The 25th's rows are read now, so its IPv6 source is estimated.
            endpoint["rules"][2]["distinct_sources"] = json!(1);
        }
    }
    assert_eq!(ok_json(&get(&api, "/exposure").await), before);
    assert_eq!(
        ok_json(&get(&api, "/exposure?from=2026-11-25").await),
        ranged
    );
    assert_eq!(
        web["rules"][0]["suggestion"],
        "aws ec2 revoke-security-group-ingress --region eu-west-1 --group-id sg-web \
         --security-group-rule-ids sgr-ssh"
    );
    // The NLB has no groups: its traffic is what no rule explains.
    let one = ok_json(&get(&api, &format!("/exposure/{A}/eu-west-1")).await);
    let nlb = one
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "load_balancer")
        .unwrap();
    assert_eq!(
        (&nlb["security_groups"], &nlb["rules"], &nlb["unexplained"]),
        (
            &json!([]),
            &json!([]),
            &json!([{"source": "8.8.4.4", "dest_port": 80, "score": 6}])
        )
    );
    // A range without the 25th: 8443 used on the 27th only; 9000 and 5433 now unused.
    let late = ok_json(
        &get(
            &api,
            &format!("/exposure/{A}/eu-west-1?date=2026-11-27&verdict=unused"),
        )
        .await,
    );
    let unused: Vec<&str> = late
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["rules"].as_array().unwrap())
        .map(|r| r["rule"]["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(unused, ["sgr-pg", "sgr-ssh", "sgr-v6", "sgr-pl"]);
    let ssh = ok_json(&get(&api, "/exposure?port=22").await);
    assert_eq!(ssh.as_object().unwrap().len(), 2);
    let bad = get(&api, "/exposure?verdict=closed").await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["parameter"], "verdict");
}

/// The evidence archive keeps each closed day's exposure review beside its rows: for every
/// account/region the day counted or the inventory lists, exactly what
/// `/exposure?date=DAY` answers from the same counters.
#[tokio::test]
async fn the_archive_keeps_each_days_exposure_review_as_the_api_answers_it() {
    use connection_tracker::api::review_day;
    use connection_tracker::refresh::archive::{archive_closed_days, decode_review};

    let (_server, config, store) = exposure_estate().await;
    let sink = Objects::default();
    let archive = archive_config(config.networks.clone());
    let now = time::macros::datetime!(2026-11-30 00:00 UTC);
    let report = archive_closed_days(&store, &sink, (&archive, review_day), now, None)
        .await
        .unwrap();
    assert_eq!(report.archived, ["2026-11-25", "2026-11-27"], "{report:?}");
    let api = Api::new(RedisStore::connect(&config.redis).await.unwrap(), &config);
    let mut reviewed = 0;
    for day in ["2026-11-25", "2026-11-27"] {
        let object =
            sink.0.lock().unwrap()[&format!("connections/day={day}/exposure.jsonl.gz")].clone();
        let lines = decode_review(&object, 1 << 20).unwrap();
        let mut archived: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for line in &lines {
            assert_eq!(line.date, day);
            let pair = format!("{}/{}", line.endpoint.account_id, line.endpoint.region);
            archived
                .entry(pair)
                .or_default()
                .push(serde_json::to_value(&line.endpoint).unwrap());
        }
        reviewed += lines.len();
        let answer = ok_json(&get(&api, &format!("/exposure?date={day}")).await);
        assert_eq!(serde_json::to_value(&archived).unwrap(), answer, "{day}");
        // Both account/regions: B counted nothing (`no_flow_log`), its endpoint still reviewed.
        assert_eq!(archived.len(), 2, "{day}");
    }
    assert_eq!(report.reviewed, reviewed);
}

//! The cache's users, as template.yaml creates them: the product works with exactly their access
//! strings — ingest and refresh as `ct-writer`, the API as the read-only `ct-reader` — on a
//! real redis-server and a real three-master cluster, each function reading its password once
//! at start from Secrets Manager through SSM (moto), as the template wires it. And the reader
//! cannot write, run a script or flush; neither user reaches a key outside `ct:`.

use std::time::Duration;

use connection_tracker::api::{Api, Request};
use connection_tracker::config::{secret, ApiConfig, Env, RedisConfig};
use connection_tracker::model::{Account, RegionInventory};
use connection_tracker::store::{keys, CounterStore, Increment, RedisStore, RefreshStore};
use connection_tracker::testing::{interface, one_payload, MotoServer, RedisCluster, RedisServer};
use time::OffsetDateTime;

const A: &str = "111111111111";
/// Characters a URL would misread, so the password must be encoded on its way into the URL.
const WRITER_PASSWORD: &str = "w/r@it:er%20#pw?1";
const READER_PASSWORD: &str = "re@d/er:pw%#2";

/// The `AccessString` of one `AWS::ElastiCache::User` of template.yaml, by logical id.
fn access_string(user: &str) -> String {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
            .expect("template.yaml");
    let block = template
        .split(&format!("\n  {user}:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("{user} in template.yaml"));
    let line = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("AccessString: "))
        .unwrap_or_else(|| panic!("{user}'s AccessString"));
    line.trim_matches('"').to_string()
}

/// Creates the template's users on one redis-server, as ElastiCache would.
fn create_users(node: &RedisServer) {
    for (name, logical, password) in [
        ("ct-writer", "CacheWriterUser", WRITER_PASSWORD),
        ("ct-reader", "CacheReaderUser", READER_PASSWORD),
    ] {
        let rules = access_string(logical);
        let mut args = vec!["ACL", "SETUSER", name, "reset"];
        args.extend(rules.split_whitespace());
        let password = format!(">{password}");
        args.push(&password);
        let answer = node.cli(&args);
        assert_eq!(answer.trim(), "OK", "ACL SETUSER {name} {rules}: {answer}");
    }
}

/// The environment a function of the template gets (user in the URL, password by reference),
/// resolved as `main` does.
async fn redis_config(
    moto: &MotoServer,
    port: u16,
    user: &str,
    secret_name: &str,
    cluster: bool,
) -> RedisConfig {
    let ssm = aws_sdk_ssm::Client::new(&moto.sdk_config().await);
    let url = format!("redis://{user}@127.0.0.1:{port}");
    let parameter = format!("/aws/reference/secretsmanager/{secret_name}");
    let cluster = if cluster { "true" } else { "false" };
    let vars = move |name: &str| match name {
        "REDIS_URL" => Some(url.clone()),
        "REDIS_PASSWORD_PARAMETER" => Some(parameter.clone()),
        "REDIS_CLUSTER" => Some(cluster.to_string()),
        _ => None,
    };
    let env = secret::resolve(Env(vars), Some(ssm))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let config = env.api().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !config.redis.url.contains(user_password(user)),
        "the password is encoded in the URL"
    );
    config.redis
}

fn user_password(user: &str) -> &'static str {
    if user == "ct-writer" {
        WRITER_PASSWORD
    } else {
        READER_PASSWORD
    }
}

fn secrets(moto: &MotoServer) {
    moto.client(
        "secretsmanager",
        &format!(
            "secretsmanager.create_secret(Name='stack-cache-writer', SecretString={WRITER_PASSWORD:?})\n\
             secretsmanager.create_secret(Name='stack-cache-reader', SecretString={READER_PASSWORD:?})"
        ),
    );
}

async fn get(api: &Api<RedisStore>, path_and_query: &str, today: time::Date) -> (u16, String) {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let answer = api
        .handle(
            Request {
                method: "GET",
                path,
                query,
                accepts_gzip: false,
                request_id: "test",
            },
            today,
        )
        .await;
    (
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

/// Writes through every write path the writer has (the refresh's scripts, ingest's scripts),
/// reads through every route as the reader, and tries what neither may do.
async fn the_product_runs_as_the_template_users(port: u16, cluster: bool) {
    let moto = MotoServer::start();
    secrets(&moto);
    let writer_config = redis_config(&moto, port, "ct-writer", "stack-cache-writer", cluster).await;
    let reader_config = redis_config(&moto, port, "ct-reader", "stack-cache-reader", cluster).await;
    let writer = RedisStore::connect(&writer_config)
        .await
        .expect("ct-writer connects");
    let today = OffsetDateTime::now_utc().date();
    let day = connection_tracker::day::day_string(today);

    // The refresh, as ct-writer: accounts, a region's maps (script), resolved names (script).
    writer
        .put_accounts(&[Account {
            id: A.into(),
            name: "team-a".into(),
            regions: vec!["eu-west-1".into()],
            role_arn: None,
            enabled: true,
            origin: Default::default(),
        }])
        .await
        .expect("the writer stores accounts");
    let web = interface(
        "eni-web",
        A,
        "eu-west-1",
        "Primary network interface",
        "10.0.1.5",
        "52.0.0.5",
    );
    writer
        .replace_region(
            A,
            "eu-west-1",
            &RegionInventory {
                interfaces: vec![web],
                ..Default::default()
            },
            "2026-11-27T09:00:00.000000Z",
        )
        .await
        .expect("the writer replaces a region's maps");
    writer
        .put_names(&[("8.8.8.8".into(), "dns.google".into(), 3600)])
        .await
        .expect("the writer caches names");
    // Ingest, as ct-writer: a batch through the day's scripts (counters, bounds, HyperLogLog,
    // seen, own sums, the day's index, last update).
    let row = |source: &str, port: u16, count: u64| Increment {
        account: A,
        region: "eu-west-1",
        member: keys::connection_member(source, "52.0.0.5", port),
        count,
        bare_ip: source.parse().ok(),
    };
    let batch = connection_tracker::store::WriteBatch {
        touched: vec![(A, "eu-west-1")],
        now_rfc3339: "2026-11-27T10:00:00.000000Z".into(),
        ..one_payload(
            &day,
            "payload-1",
            vec![row("8.8.8.8", 443, 3), row("9.9.9.9", 22, 1)],
        )
    };
    let outcome = writer
        .write(&batch)
        .await
        .expect("the writer counts a batch");
    assert_eq!(outcome.applied, 1, "{outcome:?}");

    // The API, as ct-reader: every route answers, with what the writer wrote.
    let reader = RedisStore::connect(&reader_config)
        .await
        .expect("ct-reader connects");
    let api = Api::new(
        reader.clone(),
        &ApiConfig {
            redis: reader_config.clone(),
            max_range_days: 31,
            retention_days: 90,
            max_rows: connection_tracker::config::defaults::DEFAULT_API_MAX_ROWS,
            networks: Default::default(),
        },
    );
    for route in [
        format!("/connections?date={day}"),
        format!("/connections/{A}/eu-west-1?date={day}&limit=1"),
        format!("/endpoints?date={day}"),
        format!("/account-connections?date={day}"),
        format!("/public-endpoints?date={day}"),
        "/accounts".to_string(),
        "/addresses".to_string(),
        "/health".to_string(),
    ] {
        let (status, body) = get(&api, &route, today).await;
        assert_eq!(status, 200, "{route} as ct-reader: {body}");
    }
    let (_, connections) = get(&api, &format!("/connections?date={day}"), today).await;
    assert!(connections.contains("dns.google/8.8.8.8"), "{connections}");
    assert!(connections.contains("\"score\":3"), "{connections}");
    let (_, endpoints) = get(&api, &format!("/endpoints?date={day}"), today).await;
    assert!(endpoints.contains("\"distinct_sources\":1"), "{endpoints}");

    // The reader cannot write: not through the store's scripts, not by hand, not a flush.
    let refused = reader
        .write(&one_payload(
            &day,
            "payload-2",
            vec![row("1.2.3.4", 443, 1)],
        ))
        .await
        .expect_err("ct-reader may not count");
    assert!(
        refused.to_string().to_uppercase().contains("NOPERM"),
        "{refused}"
    );
    let refused = reader
        .put_names(&[("1.2.3.4".into(), "x.example".into(), 60)])
        .await
        .expect_err("ct-reader may not cache names");
    assert!(
        refused.to_string().to_uppercase().contains("NOPERM"),
        "{refused}"
    );
    let by_hand = |url: String, args: &[&str]| {
        let mut cmd = std::process::Command::new("redis-cli");
        cmd.arg("-u").arg(url).arg("--no-auth-warning");
        if cluster {
            cmd.arg("-c");
        }
        let out = cmd.args(args).output().expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let as_reader = reader_config.url.clone();
    let as_writer = writer_config.url.clone();
    for (url, args) in [
        (&as_reader, vec!["SET", "ct:x", "1"]),
        (
            &as_reader,
            vec!["DEL", &keys::connections(&day, A, "eu-west-1")],
        ),
        (&as_reader, vec!["EVAL", "return 1", "0"]),
        (&as_reader, vec!["FLUSHALL"]),
        (&as_reader, vec!["GET", "elsewhere"]),
        (&as_writer, vec!["FLUSHALL"]),
        (&as_writer, vec!["CONFIG", "SET", "maxmemory", "1"]),
        (&as_writer, vec!["SET", "elsewhere", "1"]),
        (&as_writer, vec!["KEYS", "*"]),
    ] {
        let answer = by_hand(url.to_string(), &args);
        assert!(answer.contains("NOPERM"), "{args:?} as {url}: {answer}");
    }
    // ... and what they did not do is still there.
    let (_, after) = get(&api, &format!("/connections?date={day}"), today).await;
    assert_eq!(after, connections);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_users_on_a_single_node() {
    let server = RedisServer::start();
    create_users(&server);
    the_product_runs_as_the_template_users(server.port(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_users_on_a_three_master_cluster() {
    let cluster = RedisCluster::start_three_masters();
    for node in cluster.nodes() {
        create_users(node);
    }
    the_product_runs_as_the_template_users(cluster.nodes()[0].port(), true).await;
}

/// A wrong password is refused at connect, and the error names neither the password nor the
/// URL's user part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_without_showing_it() {
    let server = RedisServer::start();
    create_users(&server);
    let config = RedisConfig {
        url: secret::with_password(
            &format!("redis://ct-reader@127.0.0.1:{}", server.port()),
            "not-the-password",
        )
        .unwrap(),
        cluster: Some(false),
        timeout: Duration::from_millis(700),
    };
    let error = RedisStore::connect(&config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(!error.contains("not-the-password"), "{error}");
}

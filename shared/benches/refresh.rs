//! Refresh benchmark: 50 accounts × 2 regions in moto's AWS server, refreshed into a local
//! redis-server. Prints the wall time, the AWS calls, and the sum of the per-account/region
//! times, at several concurrency settings, to show that the run is concurrent.
//!
//! Run: `cargo bench -p connection-tracker --bench refresh` (needs .venv with moto: scripts/test.sh
//! installs it). ACCOUNTS=n changes the number of accounts.

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use connection_tracker::config::{RedisConfig, RefreshConfig};
use connection_tracker::refresh::aws::{AwsDiscovery, DynamoAccounts, SystemResolver};
use connection_tracker::refresh::refresh;
use connection_tracker::store::RedisStore;
use connection_tracker::testing::{MotoServer, RedisServer};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let accounts: usize = std::env::var("ACCOUNTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let regions = ["eu-west-1", "us-east-1"];
    let moto = MotoServer::start();
    let redis = RedisServer::start();
    let ids: Vec<String> = (0..accounts)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
        .collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let t = Instant::now();
    moto.seed_estate("accounts", &id_refs, &regions, &[], 0);
    println!(
        "seeded {accounts} accounts x {} regions in moto in {:.1} s",
        regions.len(),
        t.elapsed().as_secs_f64()
    );
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto.url())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .load()
        .await;
    let store = RedisStore::connect(&RedisConfig {
        url: redis.url(),
        cluster: None,
        timeout: Duration::from_secs(10),
    })
    .await
    .unwrap();
    let table = DynamoAccounts::new(&sdk, "accounts");
    println!(
        "{:>11} {:>9} {:>10} {:>14} {:>13} {:>9}",
        "concurrency", "wall s", "AWS calls", "sum region s", "sum / wall", "failed"
    );
    for concurrency in [1usize, 8, 16] {
        let config = RefreshConfig {
            redis: RedisConfig {
                url: redis.url(),
                cluster: None,
                timeout: Duration::from_secs(10),
            },
            accounts_table: "accounts".into(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            role_name: "connection-tracker-reader".into(),
            external_id: None,
            domain: None,
            concurrency,
            region_timeout: Duration::from_secs(300),
            page_size: None,
            dns_max_lookups: 0,
            dns_budget: Duration::from_secs(1),
            dns_ttl: Duration::from_secs(60),
            dns_negative_ttl: Duration::from_secs(60),
            organization: None,
        };
        let discovery = AwsDiscovery::new(
            sdk.clone(),
            "connection-tracker-reader",
            None,
            SystemResolver,
        );
        let report = refresh(&table, &discovery, &SystemResolver, &store, &config)
            .await
            .unwrap();
        assert_eq!(report.refreshed.len(), accounts * regions.len());
        println!(
            "{concurrency:>11} {:>9.2} {:>10} {:>14.2} {:>12.1}x {:>9}",
            report.wall_ms as f64 / 1000.0,
            discovery.calls(),
            report.sum_region_ms as f64 / 1000.0,
            report.sum_region_ms as f64 / report.wall_ms.max(1) as f64,
            report.failed.len()
        );
    }
}

//! The `refresh` Lambda function (EventBridge schedule): discovers public interfaces, names and
//! flow-log formats in every account and region and writes the maps ingest and the API read.
//! All logic lives in `connection_tracker::refresh`.

use connection_tracker::config::Env;
use connection_tracker::metrics;
use connection_tracker::refresh::aws::{AwsDiscovery, DynamoAccounts, SystemResolver};
use connection_tracker::refresh::{refresh, RefreshReport};
use connection_tracker::store::RedisStore;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Env::process().refresh()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = RedisStore::connect(&config.redis).await?;
    let accounts = DynamoAccounts::new(&aws, &config.accounts_table);
    let discovery = AwsDiscovery::new(aws, &config.role_name, config.page_size, SystemResolver);
    let (config, store, accounts, discovery) = (&config, &store, &accounts, &discovery);
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let calls_before = discovery.calls();
        let report = refresh(accounts, discovery, &SystemResolver, store, config).await?;
        // Embedded Metric Format: failures per run as a metric to alarm on.
        let calls = discovery.calls() - calls_before;
        println!("{}", report.to_emf(calls, metrics::now_ms()));
        Ok::<RefreshReport, Error>(report)
    }))
    .await
}

//! The `refresh` Lambda function (EventBridge schedule): discovers public interfaces, names and
//! flow-log formats in every account and region and writes the maps ingest and the API read;
//! keeps AWS's address ranges current and writes closed days to the evidence archive.
//! All logic lives in `connection_tracker::refresh`.

use connection_tracker::config::{secret, Env};
use connection_tracker::metrics;
use connection_tracker::refresh::archive::archive_closed_days;
use connection_tracker::refresh::aws::{
    AwsDiscovery, DynamoAccounts, MonitoredAccounts, OrganizationAccounts, SystemResolver,
};
use connection_tracker::refresh::ip_ranges::{refresh_aws_ranges, UrlSource};
use connection_tracker::refresh::{refresh, RefreshReport};
use connection_tracker::store::s3::S3Bucket;
use connection_tracker::store::RedisStore;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = secret::resolve(Env::process(), None).await?.refresh()?;
    let ranges_config = Env::process().ip_ranges()?;
    let ranges = UrlSource::new(&ranges_config.url);
    let archive_config = Env::process().archive()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let archive = archive_config
        .as_ref()
        .map(|c| (c, S3Bucket::new(&aws, &c.bucket)));
    let store = RedisStore::connect(&config.redis).await?;
    // The accounts table, merged with AWS Organizations' accounts when ORGANIZATION_ROLE_ARN is set.
    let accounts = MonitoredAccounts {
        table: DynamoAccounts::new(&aws, &config.accounts_table),
        organization: config.organization.as_ref().map(|o| {
            OrganizationAccounts::new(
                aws.clone(),
                &o.role_arn,
                config.external_id.clone(),
                o.units.clone(),
            )
        }),
    };
    let discovery = AwsDiscovery::new(aws, &config.role_name, config.page_size, SystemResolver)
        .with_external_id(config.external_id.clone());
    let (config, store, accounts, discovery) = (&config, &store, &accounts, &discovery);
    let (ranges_config, ranges, archive) = (&ranges_config, &ranges, &archive);
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let calls_before = discovery.calls();
        let mut report = refresh(accounts, discovery, &SystemResolver, store, config).await?;
        // AWS's address blocks for the S3 rule, at most once per AWS_IP_RANGES_MAX_AGE_MINUTES.
        let now = time::OffsetDateTime::now_utc();
        report.aws_ranges = refresh_aws_ranges(ranges, store, ranges_config, now).await?;
        // Closed days to the evidence archive (ARCHIVE_BUCKET), at most a few per run.
        if let Some((archive_config, bucket)) = archive {
            report.archive = Some(archive_closed_days(store, bucket, archive_config, now).await?);
        }
        // Embedded Metric Format: failures per run as a metric to alarm on.
        let calls = discovery.calls() - calls_before;
        println!("{}", report.to_emf(calls, metrics::now_ms()));
        Ok::<RefreshReport, Error>(report)
    }))
    .await
}

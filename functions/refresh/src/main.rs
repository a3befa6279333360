//! The `refresh` Lambda function (EventBridge schedules): discovers public interfaces, names and
//! flow-log formats in every account and region and writes the maps ingest and the API read;
//! keeps AWS's address ranges current; on its own schedule (`{"archive": …}`), writes closed
//! days to the evidence archive. All logic lives in `connection_tracker::refresh`.
// A function fits on a screen (clippy.toml): denied outside the tests, in the one clippy run.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

use connection_tracker::config::{secret, Env};
use connection_tracker::metrics;
use connection_tracker::refresh::aws::{
    AwsDiscovery, DynamoAccounts, MonitoredAccounts, OrganizationAccounts, SystemResolver,
};
use connection_tracker::refresh::ip_ranges::UrlSource;
use std::time::Duration;

use connection_tracker::refresh::run::{ArchiveTo, AFTER_ARCHIVE, AFTER_REGIONS};
use connection_tracker::refresh::Refresh;
use connection_tracker::store::s3::S3Bucket;
use connection_tracker::store::RedisStore;
use lambda_runtime::{service_fn, tracing, Error, LambdaEvent};
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
    let run = Refresh {
        accounts: &accounts,
        discovery: &discovery,
        resolver: &SystemResolver,
        store: &store,
        config: &config,
        ranges: &ranges,
        ranges_config: &ranges_config,
        archive: archive.as_ref().map(|(config, sink)| ArchiveTo {
            config,
            sink,
            review: connection_tracker::api::review_day,
        }),
    };
    let (run, discovery) = (&run, &discovery);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let calls_before = discovery.calls();
        let left = Duration::from_millis(
            event
                .context
                .deadline
                .saturating_sub(u64::try_from(metrics::now_ms()).unwrap_or(0)),
        );
        let now = time::OffsetDateTime::now_utc();
        // Embedded Metric Format: failures per run as metrics to alarm on.
        if event.payload.get("archive").is_some() {
            let deadline = tokio::time::Instant::now() + left.saturating_sub(AFTER_ARCHIVE);
            let report = run.archive(now, Some(deadline)).await?;
            if let Some(report) = &report {
                println!("{}", report.to_emf(metrics::now_ms()));
            }
            return Ok::<Value, Error>(serde_json::to_value(report)?);
        }
        let deadline = tokio::time::Instant::now() + left.saturating_sub(AFTER_REGIONS);
        let report = run.run(now, Some(deadline)).await?;
        let calls = discovery.calls() - calls_before;
        println!("{}", report.to_emf(calls, metrics::now_ms()));
        Ok(serde_json::to_value(report)?)
    }))
    .await
}

//! The `ingest` Lambda function: CloudWatch Logs subscription and Kinesis events carrying VPC
//! flow logs, and S3 notifications (through SQS) of flow logs delivered to S3, become per-day
//! connection counters in Redis; on a schedule (`{"redrive": …}`), Lambda's failure records are
//! counted again, and the parked lines of interfaces the refresh has found since. All logic
//! lives in `connection_tracker::ingest`.
// A function fits on a screen (clippy.toml): denied outside the tests, in the one clippy run.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

use connection_tracker::config::{secret, Env};
use connection_tracker::ingest::scheduled_redrive;
use connection_tracker::ingest::{failure_emf, s3 as objects, Ingestor};
use connection_tracker::metrics;
use connection_tracker::store::s3::{S3Bucket, S3DeadLetters, S3Objects};
use connection_tracker::store::RedisStore;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON logs when the function's log format is JSON (AWS_LAMBDA_LOG_FORMAT).
    tracing::init_default_subscriber();
    let config = secret::resolve(Env::process(), None).await?.ingest()?;
    let store = RedisStore::connect(&config.redis).await?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Payloads that can never be counted are kept whole in S3 (DEAD_LETTER_BUCKET).
    let dead_letters = config.dead_letter.as_ref().map(|dl| S3DeadLetters {
        bucket: S3Bucket::new(&sdk, &dl.bucket),
        prefix: dl.prefix.clone(),
    });
    // Flow logs delivered to S3 arrive as S3 notifications through SQS; their objects are read
    // with the function's own role.
    let objects_source = S3Objects::new(&sdk);
    // Lambda's failure records in the same bucket, redriven on a schedule.
    let failure_records = config
        .dead_letter
        .as_ref()
        .map(|dl| S3Bucket::new(&sdk, &dl.bucket));
    let ingestor = Ingestor::with_dead_letters(store, dead_letters, config);
    let (ingestor, objects_source, failure_records) =
        (&ingestor, &objects_source, &failure_records);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        if event.payload.get("redrive").is_some() {
            let deadline = objects::deadline(event.context.deadline);
            let now = time::OffsetDateTime::now_utc();
            let records = failure_records.as_ref();
            let report = scheduled_redrive::scheduled(ingestor, records, now, Some(deadline)).await;
            println!("{}", report.to_emf(metrics::now_ms()));
            return Ok(serde_json::to_value(&report)?);
        }
        let outcome = match objects::sqs_notices(&event.payload) {
            Some(messages) => {
                let deadline = objects::deadline(event.context.deadline);
                objects::handle_sqs(
                    ingestor,
                    objects_source,
                    messages,
                    time::OffsetDateTime::now_utc(),
                    Some(deadline),
                )
                .await
            }
            None => match ingestor.handle_value(event.payload).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    if let Some(doc) = failure_emf(&error, metrics::now_ms()) {
                        println!("{doc}");
                    }
                    return Err(error.into());
                }
            },
        };
        // Embedded Metric Format: a JSON line on stdout that CloudWatch turns into metrics.
        println!("{}", outcome.summary.to_emf(metrics::now_ms()));
        Ok::<Value, Error>(serde_json::to_value(&outcome.response)?)
    }))
    .await
}

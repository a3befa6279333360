//! What a replay reads: files, directories (at any depth) and `s3://` prefixes, as items.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use connection_tracker::ingest::s3 as objects;
use connection_tracker::store::s3::S3Bucket;

/// The largest object or file read: a Lambda event is at most a few MiB.
pub(super) const MAX_ITEM_BYTES: u64 = 64 * 1024 * 1024;

/// Where an event to replay is.
pub(super) enum Item {
    File(PathBuf),
    Object { bucket: S3Bucket, key: String },
}

impl Item {
    pub(super) fn name(&self) -> String {
        match self {
            Item::File(path) => path.display().to_string(),
            Item::Object { bucket, key } => format!("s3://{}/{key}", bucket.name()),
        }
    }

    pub(super) async fn read(&self) -> Result<Vec<u8>> {
        match self {
            Item::File(path) => {
                let size = std::fs::metadata(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .len();
                if size > MAX_ITEM_BYTES {
                    bail!(
                        "{} is {size} bytes, more than {MAX_ITEM_BYTES}",
                        path.display()
                    );
                }
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
            }
            Item::Object { bucket, key } => Ok(bucket.get(key, MAX_ITEM_BYTES).await?),
        }
    }
}

/// Flow logs as AWS delivers them to S3 (`.log.gz`, `.log.parquet`), not a saved event.
pub(super) fn is_flow_log_file(name: &str) -> bool {
    objects::ObjectKind::of(name).is_some()
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn s3_location(source: &str) -> Option<(&str, &str)> {
    let rest = source.strip_prefix("s3://")?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// The events under `sources`, in a stable order: files, the *.json and flow-log files of
/// directories (at any depth), and every object under an `s3://bucket/prefix`.
pub(super) async fn items(sources: &[String]) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut sdk = None;
    for source in sources {
        if let Some((bucket, prefix)) = s3_location(source) {
            if !connection_tracker::model::is_bucket_name(bucket) {
                bail!("{source}: `{bucket}` is not an S3 bucket name");
            }
            if sdk.is_none() {
                sdk = Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await);
            }
            let bucket = S3Bucket::new(sdk.as_ref().expect("loaded above"), bucket);
            for object in bucket.list(prefix).await? {
                if !object.key.ends_with('/') {
                    items.push(Item::Object {
                        bucket: bucket.clone(),
                        key: object.key,
                    });
                }
            }
            continue;
        }
        let path = Path::new(source);
        if path.is_dir() {
            // Walked like a prefix: saved events (*.json) and flow-log files at any depth.
            let mut found: Vec<PathBuf> = Vec::new();
            let mut dirs = vec![path.to_path_buf()];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir)
                    .with_context(|| format!("cannot read directory {}", dir.display()))?
                {
                    let p = entry?.path();
                    if p.is_dir() {
                        dirs.push(p);
                    } else if p.extension().is_some_and(|e| e == "json")
                        || is_flow_log_file(&p.to_string_lossy())
                    {
                        found.push(p);
                    }
                }
            }
            found.sort();
            items.extend(found.into_iter().map(Item::File));
        } else if path.is_file() {
            items.push(Item::File(path.to_path_buf()));
        } else {
            bail!("{source} is neither a file, a directory, nor s3://bucket/prefix");
        }
    }
    Ok(items)
}

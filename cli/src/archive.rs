//! Past days from the evidence archive (`s3://bucket/prefix`, what the refresh writes with
//! `ARCHIVE_BUCKET`) instead of the API: the same rows, for days Redis no longer holds.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use connection_tracker::model::{pair_text, AccountInfo, Connection};
use connection_tracker::refresh::archive::{decode_day, key};
use connection_tracker::store::s3::S3Bucket;
use time::Date;

/// Decompressed JSON lines read per day at most (a day of a large estate is a few hundred MB).
pub const MAX_DAY_BYTES: u64 = 4 << 30;

/// What the archive holds for a range of days.
#[derive(Debug, Default)]
pub struct ArchivedDays {
    /// Account id → its name as archived (the newest day's), no `last_update`.
    pub accounts: BTreeMap<String, AccountInfo>,
    /// Per requested day, in order: `account/region` → connections (empty for a missing day).
    pub days: Vec<BTreeMap<String, Vec<Connection>>>,
    /// Requested days with no object in the archive.
    pub missing: Vec<Date>,
    /// Days whose object was written again after its first version (which is what was read),
    /// with how many versions came after it: evidence someone tried to rewrite.
    pub rewritten: Vec<(Date, usize)>,
    /// Days read without knowing their versions (no `s3:ListBucketVersions`): the current one.
    pub unversioned: Vec<Date>,
}

/// Reads `days` from the archive at `location` (`s3://bucket/prefix`), one object per day.
pub async fn fetch_days(
    location: &str,
    days: &[Date],
    mut tick: impl FnMut(),
) -> Result<ArchivedDays> {
    let Some((bucket, prefix)) = crate::replay::s3_location(location) else {
        bail!("{location} is not s3://bucket/prefix");
    };
    if !connection_tracker::model::is_bucket_name(bucket) {
        bail!("{location}: `{bucket}` is not an S3 bucket name");
    }
    let mut prefix = prefix.to_string();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let bucket = S3Bucket::new(&sdk, bucket);
    let mut archived = ArchivedDays::default();
    for day in days {
        let object = bucket
            .first_version(&key(&prefix, &day.to_string()), MAX_DAY_BYTES)
            .await?;
        match object.as_ref().map(|o| o.newer) {
            Some(Some(0)) | None => {}
            Some(Some(newer)) => archived.rewritten.push((*day, newer)),
            Some(None) => archived.unversioned.push(*day),
        }
        let object = object.map(|o| o.bytes);
        let mut rows: BTreeMap<String, Vec<Connection>> = BTreeMap::new();
        match object {
            None => archived.missing.push(*day),
            Some(object) => {
                for line in decode_day(&object, MAX_DAY_BYTES)? {
                    archived.accounts.insert(
                        line.account_id.clone(),
                        AccountInfo {
                            name: line.account_name,
                            last_update: None,
                            source: Default::default(),
                            regions: Default::default(),
                        },
                    );
                    rows.entry(pair_text(&line.account_id, &line.region))
                        .or_default()
                        .push(Connection {
                            source: line.source,
                            dest: line.dest,
                            dest_port: line.dest_port,
                            score: line.score,
                        });
                }
            }
        }
        archived.days.push(rows);
        tick();
    }
    Ok(archived)
}

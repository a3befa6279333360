//! The S3 adapter (feature `s3`): one bucket client behind the ports that live in S3 — the
//! dead letters ([`DeadLetters`], `store::dead_letter`), the flow-log objects ingest reads
//! ([`crate::store::ObjectSource`]) and the evidence archive ([`crate::store::EvidenceSink`]) —
//! and the listing and reading `ctrack` does of those buckets.

use super::dead_letter::{DeadLetter, DeadLetterError, DeadLetters};
use aws_sdk_s3::primitives::ByteStream;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("cannot list s3://{bucket}/{prefix}: {message}")]
    List {
        bucket: String,
        prefix: String,
        message: String,
    },
    #[error("cannot read s3://{bucket}/{key}: {message}")]
    Get {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("cannot write s3://{bucket}/{key}: {message}")]
    Put {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("cannot delete s3://{bucket}/{key}: {message}")]
    Delete {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("s3://{bucket}/{key} is {size} bytes, more than the {limit} this reads")]
    TooLarge {
        bucket: String,
        key: String,
        size: u64,
        limit: u64,
    },
}

/// An object's first version: its bytes, and how many versions were written after it
/// (`None`: the versions could not be listed, the current one was read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstVersion {
    pub bytes: Vec<u8>,
    pub newer: Option<usize>,
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Object {
    pub key: String,
    pub size: u64,
}

/// A bucket, through the AWS SDK. With `AWS_ENDPOINT_URL` set (moto, LocalStack) it uses
/// path-style addresses, which every S3 look-alike serves.
#[derive(Clone, Debug)]
pub struct S3Bucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Bucket {
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> S3Bucket {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        S3Bucket {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.bucket
    }

    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        metadata: &[(&str, String)],
    ) -> Result<(), DeadLetterError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        for (name, value) in metadata {
            request = request.metadata(*name, value);
        }
        request.send().await.map_err(|e| DeadLetterError::Put {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
        })?;
        Ok(())
    }

    /// Writes `body` at `key` unless an object is there already (`If-None-Match: *`, so
    /// two writers never overwrite each other): `true` written now, `false` already there.
    pub async fn put_once(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<bool, S3Error> {
        let answer = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(false),
            Err(e) => Err(S3Error::Put {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            }),
        }
    }

    /// One object's bytes, or `None` when there is no such object; objects over `limit`
    /// bytes are refused.
    pub async fn get_if_exists(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, S3Error> {
        self.get_version(key, None, limit).await
    }

    /// The **first** version of an object (the evidence archive's: an overwrite, forbidden by
    /// the bucket policy, cannot replace what was written first), and how many versions came
    /// after it. Without `s3:ListBucketVersions` the current version is read, with no count.
    pub async fn first_version(
        &self,
        key: &str,
        limit: u64,
    ) -> Result<Option<FirstVersion>, S3Error> {
        let listed = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(key)
            .send()
            .await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(e)
                if e.as_service_error().and_then(|e| e.meta().code()) == Some("AccessDenied") =>
            {
                let bytes = self.get_if_exists(key, limit).await?;
                return Ok(bytes.map(|bytes| FirstVersion { bytes, newer: None }));
            }
            Err(e) => {
                return Err(S3Error::List {
                    bucket: self.bucket.clone(),
                    prefix: key.to_string(),
                    message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                })
            }
        };
        // S3 lists a key's versions newest first: the first written is the last.
        let versions: Vec<_> = listed
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key))
            .collect();
        let Some(first) = versions.last() else {
            return Ok(None);
        };
        let bytes = self.get_version(key, first.version_id(), limit).await?;
        Ok(bytes.map(|bytes| FirstVersion {
            bytes,
            newer: Some(versions.len() - 1),
        }))
    }

    async fn get_version(
        &self,
        key: &str,
        version: Option<&str>,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        let get_error = |message: String| S3Error::Get {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message,
        };
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.filter(|v| *v != "null").map(String::from))
            .send()
            .await;
        let object = match answer {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(get_error(
                    aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                ))
            }
        };
        let size = object.content_length().unwrap_or(0).max(0) as u64;
        if size > limit {
            return Err(S3Error::TooLarge {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                size,
                limit,
            });
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| get_error(e.to_string()))?;
        Ok(Some(bytes.to_vec()))
    }

    /// Every object under `prefix`, in key order, page by page.
    pub async fn list(&self, prefix: &str) -> Result<Vec<S3Object>, S3Error> {
        self.list_up_to(prefix, usize::MAX).await
    }

    /// The first `max` objects under `prefix`, in key order (pages stop once there are).
    pub async fn list_up_to(&self, prefix: &str, max: usize) -> Result<Vec<S3Object>, S3Error> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| S3Error::List {
                bucket: self.bucket.clone(),
                prefix: prefix.to_string(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    objects.push(S3Object {
                        key: key.to_string(),
                        size: object.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            if objects.len() >= max {
                objects.truncate(max);
                break;
            }
        }
        Ok(objects)
    }

    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| S3Error::Delete {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
        Ok(())
    }

    /// One object's bytes, refusing objects over `limit` bytes.
    pub async fn get(&self, key: &str, limit: u64) -> Result<Vec<u8>, S3Error> {
        self.get_if_exists(key, limit)
            .await?
            .ok_or_else(|| S3Error::Get {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: "no such object".into(),
            })
    }
}

/// Objects of any bucket the function may read, streamed (flow logs delivered to S3).
#[derive(Clone, Debug)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
}

impl S3Objects {
    pub fn new(sdk: &aws_config::SdkConfig) -> S3Objects {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        S3Objects {
            client: aws_sdk_s3::Client::from_conf(config),
        }
    }
}

impl crate::store::ObjectSource for S3Objects {
    type Reader = tokio::io::BufReader<Box<dyn tokio::io::AsyncRead + Unpin + Send + 'static>>;

    async fn open(&self, bucket: &str, key: &str) -> Result<Self::Reader, String> {
        let object = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read s3://{bucket}/{key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> =
            Box::new(object.body.into_async_read());
        Ok(tokio::io::BufReader::with_capacity(256 * 1024, reader))
    }
}

/// Closed days as gzip JSON-lines objects of a bucket.
impl crate::store::EvidenceSink for S3Bucket {
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<(String, bool), String> {
        let written = S3Bucket::put_once(self, key, body, "application/gzip")
            .await
            .map_err(|e| e.to_string())?;
        Ok((format!("s3://{}/{key}", self.bucket), written))
    }
}

/// Dead letters as objects of a bucket, under a prefix.
#[derive(Clone, Debug)]
pub struct S3DeadLetters {
    pub bucket: S3Bucket,
    pub prefix: String,
}

impl DeadLetters for S3DeadLetters {
    async fn keep(&self, letter: &DeadLetter) -> Result<String, DeadLetterError> {
        let key = letter.key(&self.prefix, time::OffsetDateTime::now_utc());
        self.bucket
            .put(
                &key,
                letter.event.clone(),
                &[
                    ("reason", letter.reason.to_string()),
                    ("error", letter.error_metadata()),
                ],
            )
            .await?;
        Ok(format!("s3://{}/{key}", self.bucket.name()))
    }
}

/// The failure bucket as the scheduled redrive reads it.
impl crate::store::FailureRecords for S3Bucket {
    async fn list(&self, prefix: &str, max: usize) -> Result<Vec<String>, String> {
        let objects = self
            .list_up_to(prefix, max)
            .await
            .map_err(|e| e.to_string())?;
        Ok(objects.into_iter().map(|o| o.key).collect())
    }

    async fn get(&self, key: &str, limit: u64) -> Result<Vec<u8>, String> {
        S3Bucket::get(self, key, limit)
            .await
            .map_err(|e| e.to_string())
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        S3Bucket::delete(self, key).await.map_err(|e| e.to_string())
    }
}

//! The dead-letter store: where a payload that can never be counted (bad base64, bad gzip, bad
//! JSON, over the size cap, not a flow-log event) is kept whole, so that nothing is retried
//! forever and nothing is dropped silently. Each letter is a Lambda event of its own
//! (`{"awslogs":…}` or a one-record `{"Records":[…]}`) that `ctrack replay` reads back as it is.
//!
//! Object names are built from the time, a fixed reason name and a hash of the payload —
//! never from a field of the payload: `PREFIX/YYYY/MM/DD/REASON/ID.json`.

use std::future::Future;

use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("no dead-letter store is configured (DEAD_LETTER_BUCKET)")]
    NotConfigured,
    #[error("cannot keep the dead letter s3://{bucket}/{key}: {message}")]
    Put {
        bucket: String,
        key: String,
        message: String,
    },
}

/// One payload that cannot be counted, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// A short stable reason: the decode error's kind (`gzip`, `base64`, `unknown_event`, …).
    pub reason: &'static str,
    /// Hex hash of the encoded payload: the same payload twice is one object.
    pub id: String,
    /// What went wrong, for a person (kept as object metadata, printable ASCII, ≤ 512 bytes).
    pub error: String,
    /// The Lambda event to keep, as JSON.
    pub event: Vec<u8>,
}

impl DeadLetter {
    /// The object name under `prefix` for a letter kept at `now`.
    pub fn key(&self, prefix: &str, now: OffsetDateTime) -> String {
        let date = now.date();
        format!(
            "{prefix}{:04}/{:02}/{:02}/{}/{}.json",
            date.year(),
            u8::from(date.month()),
            date.day(),
            self.reason,
            self.id
        )
    }

    /// The error text as S3 user metadata may carry it: printable ASCII, bounded.
    pub fn error_metadata(&self) -> String {
        self.error
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(512)
            .collect()
    }
}

/// The ingest path's view of the dead-letter store.
pub trait DeadLetters: Send + Sync {
    /// Keeps the letter; answers where it is (`s3://bucket/key`).
    fn keep(
        &self,
        letter: &DeadLetter,
    ) -> impl Future<Output = Result<String, DeadLetterError>> + Send;
}

/// No store: every letter is refused, so the payload fails as before (the Lambda retries, then
/// its on-failure destination keeps it). `ctrack replay` uses it: its files are the letters.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDeadLetters;

impl DeadLetters for NoDeadLetters {
    async fn keep(&self, _letter: &DeadLetter) -> Result<String, DeadLetterError> {
        Err(DeadLetterError::NotConfigured)
    }
}

/// A store that may not be configured: `None` refuses like [`NoDeadLetters`].
impl<D: DeadLetters> DeadLetters for Option<D> {
    async fn keep(&self, letter: &DeadLetter) -> Result<String, DeadLetterError> {
        match self {
            Some(store) => store.keep(letter).await,
            None => Err(DeadLetterError::NotConfigured),
        }
    }
}

#[cfg(feature = "s3")]
pub use s3::{S3Bucket, S3DeadLetters, S3Error, S3Object, S3Objects};

#[cfg(feature = "s3")]
mod s3 {
    use super::{DeadLetter, DeadLetterError, DeadLetters};
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
        pub async fn get_if_exists(
            &self,
            key: &str,
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
                .send()
                .await;
            let object = match answer {
                Ok(object) => object,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                    return Ok(None)
                }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_time_the_reason_and_the_hash_only() {
        let letter = DeadLetter {
            reason: "gzip",
            id: "00ff".into(),
            error: "payload is not valid gzip: \u{1b}[31m\nbad".into(),
            event: b"{}".to_vec(),
        };
        let now = time::macros::datetime!(2026-11-27 23:59:59 UTC);
        assert_eq!(
            letter.key("dead-letter/", now),
            "dead-letter/2026/11/27/gzip/00ff.json"
        );
        assert_eq!(
            letter.error_metadata(),
            "payload is not valid gzip: ?[31m?bad"
        );
        let long = DeadLetter {
            error: "é".repeat(1000),
            ..letter
        };
        assert_eq!(long.error_metadata().len(), 512);
    }
}

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

//! The S3 path's progress marks on Redis: one string per object, `CHUNKS` while it is being
//! counted, `CHUNKS done` once all of it was, expiring with the chunks' payload ids.

use std::time::Duration;

use super::RedisStore;
use crate::store::{keys, ObjectMark, ObjectProgress, StoreError};

/// The stored form of a mark; anything else reads as no mark (count from the start).
fn parse_mark(text: &str) -> ObjectMark {
    let (chunks, complete) = match text.split_once(' ') {
        Some((n, "done")) => (n, true),
        Some(_) => return ObjectMark::default(),
        None => (text, false),
    };
    match chunks.parse() {
        Ok(chunks) => ObjectMark { chunks, complete },
        Err(_) => ObjectMark::default(),
    }
}

fn mark_text(mark: ObjectMark) -> String {
    if mark.complete {
        format!("{} done", mark.chunks)
    } else {
        mark.chunks.to_string()
    }
}

impl ObjectProgress for RedisStore {
    async fn object_mark(&self, identity: &str) -> Result<ObjectMark, StoreError> {
        let mut conn = self.conn.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(keys::object_progress(identity))
            .query_async(&mut conn)
            .await?;
        Ok(text.as_deref().map(parse_mark).unwrap_or_default())
    }

    async fn mark_object(
        &self,
        identity: &str,
        mark: ObjectMark,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(keys::object_progress(identity))
            .arg(mark_text(mark))
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_read_back_and_anything_else_is_no_mark() {
        let cases = [
            (
                "3",
                ObjectMark {
                    chunks: 3,
                    complete: false,
                },
            ),
            (
                "12 done",
                ObjectMark {
                    chunks: 12,
                    complete: true,
                },
            ),
            (
                "0 done",
                ObjectMark {
                    chunks: 0,
                    complete: true,
                },
            ),
            ("", ObjectMark::default()),
            ("x", ObjectMark::default()),
            ("3 later", ObjectMark::default()),
            ("-1", ObjectMark::default()),
        ];
        for (text, want) in cases {
            assert_eq!(parse_mark(text), want, "{text:?}");
        }
        for mark in [cases[0].1, cases[1].1] {
            assert_eq!(parse_mark(&mark_text(mark)), mark);
        }
    }
}

//! Reading an object's records: a text object's header line (its format), lines of bounded
//! length, Parquet rows as the text lines of the same records.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::{ObjectError, ObjectSkip, MAX_LINE_BYTES};
use crate::rules::flowlog::FlowLogFormat;

/// The format a text object's first line names (`version account-id interface-id …`).
pub fn header_format(line: &str) -> Result<FlowLogFormat, ObjectSkip> {
    let format = FlowLogFormat::parse(line.trim()).map_err(|_| ObjectSkip::BadHeader)?;
    // A header names fields; a record line in its place would parse as odd field names.
    if !format
        .field_names()
        .any(|n| n == "srcaddr" || n == "interface-id")
    {
        return Err(ObjectSkip::BadHeader);
    }
    Ok(format)
}

/// Where an object's records come from: text lines, or Parquet rows.
pub(super) enum Lines<R> {
    Text(BoundedLines<R>),
    Rows(Box<parquet::record::reader::RowIter<'static>>),
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    /// The next record as a text line; `Err(())` for a line too long to be one. A Parquet file
    /// that turns out broken half-way is an error (counted as far as it could be read).
    pub(super) async fn next(&mut self) -> Result<Option<Result<String, ()>>, ObjectError> {
        match self {
            Lines::Text(lines) => lines
                .next()
                .await
                .map_err(|e| ObjectError::Read(e.to_string())),
            Lines::Rows(rows) => match rows.next() {
                None => Ok(None),
                Some(Ok(row)) => Ok(Some(Ok(row_line(&row)))),
                Some(Err(_)) => Err(ObjectError::Skipped(ObjectSkip::BadParquet)),
            },
        }
    }
}

/// A Parquet row as the text line of the same record: values in column order, `-` for null.
fn row_line(row: &parquet::record::Row) -> String {
    use parquet::record::Field;
    let mut line = String::with_capacity(128);
    for (i, (_, field)) in row.get_column_iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        match field {
            Field::Null => line.push('-'),
            Field::Str(text) => line.push_str(text),
            other => line.push_str(&other.to_string()),
        }
    }
    line
}

/// Lines of at most [`MAX_LINE_BYTES`]: a longer one is skipped to its end and answered as
/// `Err(())`, so no input can make a line buffer grow without bound.
pub(super) struct BoundedLines<R> {
    reader: R,
    buffer: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> BoundedLines<R> {
    pub(super) fn new(reader: R) -> Self {
        BoundedLines {
            reader,
            buffer: Vec::with_capacity(256),
        }
    }

    pub(super) async fn next(&mut self) -> std::io::Result<Option<Result<String, ()>>> {
        self.buffer.clear();
        let mut overlong = false;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.buffer.is_empty() && !overlong {
                    return Ok(None);
                }
                break;
            }
            let (part, found) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            if !overlong {
                if self.buffer.len() + part.len() > MAX_LINE_BYTES {
                    overlong = true;
                    self.buffer.clear();
                } else {
                    self.buffer.extend_from_slice(part);
                }
            }
            let used = found.unwrap_or(available.len());
            self.reader.consume(used);
            if found.is_some() {
                break;
            }
        }
        if overlong {
            return Ok(Some(Err(())));
        }
        // Lines that are not UTF-8 are rejected by the parser like any other bad line.
        let text = String::from_utf8_lossy(&self.buffer).into_owned();
        Ok(Some(Ok(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_names_the_fields_and_a_record_is_no_header() {
        let v2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
        assert_eq!(header_format(v2).unwrap().len(), 14);
        assert!(
            header_format("2 123456789012 eni-1 1.2.3.4 10.0.0.1 1 2 6 1 1 1 1 ACCEPT OK").is_err()
        );
        assert!(header_format("").is_err());
    }

    #[tokio::test]
    async fn lines_are_bounded() {
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let text = format!("a\n{long}\nb\r\nc");
        let mut lines = BoundedLines::new(text.as_bytes());
        let mut got = Vec::new();
        while let Some(line) = lines.next().await.unwrap() {
            got.push(line.map(|l| l.trim_end().to_string()));
        }
        assert_eq!(
            got,
            [Ok("a".to_string()), Err(()), Ok("b".into()), Ok("c".into())]
        );
    }
}

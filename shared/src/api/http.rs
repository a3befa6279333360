//! HTTP as the router sees it, without Lambda: the request, the response, JSON bodies, and the
//! finishing step (gzip when it pays, refusal of what Lambda could not return).

use std::io::Write;

use serde::Serialize;

/// Lambda returns at most 6 MiB synchronously, measured on the response envelope: the body as a
/// JSON string (escaped) or base64 (binary, i.e. gzip), plus status and headers (a 16 KiB
/// allowance).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 - 16 * 1024;
/// Bodies smaller than this are not worth compressing.
const GZIP_MIN_BYTES: usize = 1024;

/// An HTTP request as the router sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Without the stage or `/lambda-url/<fn>` prefix.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The client accepts `Content-Encoding: gzip` ([`accepts_gzip`] of its `Accept-Encoding`).
    pub accepts_gzip: bool,
    /// The platform's id of the request (Lambda's), logged with every error and named in error
    /// bodies, so a caller's report finds the log line.
    pub request_id: &'a str,
}

/// Whether an `Accept-Encoding` header value accepts gzip: `gzip` or `*` with a q-value above 0
/// (`gzip;q=0` refuses it, even next to `*`).
pub fn accepts_gzip(header: &str) -> bool {
    let mut star = false;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = q > 0.0,
            _ => {}
        }
    }
    star
}

/// The bytes the body takes in Lambda's response envelope: base64 for a binary body, the JSON
/// string (quotes, backslashes and control characters escaped) for text.
pub fn envelope_bytes(body: &[u8], binary: bool) -> usize {
    if binary {
        body.len().div_ceil(3) * 4
    } else {
        body.len()
            + body
                .iter()
                .map(|&b| match b {
                    b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
                    0..=0x1f => 5,
                    _ => 0,
                })
                .sum::<usize>()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (gzip-decoded if needed), for tests and tools.
    pub fn text(&self) -> String {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&self.body[..]),
                &mut out,
            );
            out
        } else {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text()).unwrap_or(serde_json::Value::Null)
    }
}

/// An answer larger than Lambda can return ([`MAX_RESPONSE_BYTES`] in its envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    pub bytes: usize,
    /// Whether it was gzipped already.
    pub gzip: bool,
}

/// Compresses when the client accepts it and it pays; refuses what Lambda could not return.
pub(super) fn finish(mut response: Response, accepts_gzip: bool) -> Result<Response, TooLarge> {
    if accepts_gzip && response.body.len() >= GZIP_MIN_BYTES {
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(response.body.len() / 8),
            flate2::Compression::fast(),
        );
        if gz.write_all(&response.body).is_ok() {
            if let Ok(compressed) = gz.finish() {
                response.body = compressed;
                response.headers.push(("content-encoding", "gzip".into()));
            }
        }
    }
    response.headers.push(("vary", "accept-encoding".into()));
    let binary = response.header("content-encoding").is_some();
    let bytes = envelope_bytes(&response.body, binary);
    if bytes > MAX_RESPONSE_BYTES {
        return Err(TooLarge {
            bytes,
            gzip: binary,
        });
    }
    Ok(response)
}

pub(super) fn json_response(status: u16, value: &impl Serialize) -> Response {
    Response {
        status,
        headers: vec![("content-type", "application/json".into())],
        // Serializing our own maps and strings cannot fail.
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_honours_q_values() {
        let cases = [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("deflate, gzip;q=0.5", true),
            ("GZIP", true),
            ("gzip;q=0", false),
            ("gzip; q=0.0", false),
            ("*", true),
            ("*;q=0", false),
            ("gzip;q=0, *", false),
            ("identity", false),
            ("br", false),
            ("", false),
            ("gzip;q=nonsense", false),
        ];
        for (header, want) in cases {
            assert_eq!(accepts_gzip(header), want, "{header:?}");
        }
    }

    #[test]
    fn the_envelope_counts_escapes_and_base64() {
        assert_eq!(envelope_bytes(b"abc", false), 3);
        assert_eq!(envelope_bytes(br#"{"a":"b\c"}"#, false), 11 + 5);
        assert_eq!(envelope_bytes(b"\x01", false), 6);
        assert_eq!(envelope_bytes(&[0u8; 3], true), 4);
        assert_eq!(envelope_bytes(&[0u8; 4], true), 8);
        // A body of 5 MiB of quotes is 10 MiB in the envelope: refused.
        let quotes = vec![b'"'; 5 << 20];
        let response = Response {
            status: 200,
            headers: vec![],
            body: quotes,
        };
        assert!(matches!(
            finish(response, false),
            Err(TooLarge { gzip: false, .. })
        ));
    }
}

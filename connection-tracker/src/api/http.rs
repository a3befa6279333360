//! HTTP as the router sees it, without Lambda: the request, the response, JSON bodies, and the
//! finishing step (gzip when it pays, refusal of what Lambda could not return).

use std::io::Write;

use serde::Serialize;

use super::error::ApiError;

/// Lambda answers at most 6 MB synchronously; the JSON envelope and base64 take their share.
pub const MAX_RESPONSE_BYTES: usize = 5_500_000;
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
    /// The client accepts `Content-Encoding: gzip`.
    pub accepts_gzip: bool,
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

/// Compresses when the client accepts it and it pays; refuses what Lambda could not return.
pub(super) fn finish(mut response: Response, accepts_gzip: bool) -> Result<Response, ApiError> {
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
    if response.body.len() > MAX_RESPONSE_BYTES {
        return Err(ApiError::TooLarge {
            bytes: response.body.len(),
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

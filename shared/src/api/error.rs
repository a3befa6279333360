//! What can go wrong with a request, and the JSON error body each answer carries.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use super::http::{json_response, Response, TooLarge, MAX_RESPONSE_BYTES};
use crate::store::StoreError;

/// Every error answer's JSON body.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Error")]
pub(super) struct ErrorBody<'a> {
    /// The HTTP status.
    status: u16,
    /// The status's name.
    error: &'a str,
    /// What went wrong and how to ask instead.
    message: String,
    /// The parameter at fault (400 only; `limit` when the answer is too large).
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
    /// Names the log line with the detail.
    #[serde(skip_serializing_if = "str::is_empty")]
    request_id: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        parameter: &'static str,
        message: String,
    },
    #[error("no such route: {0}; GET /openapi.json lists the routes")]
    NotFound(String),
    #[error("{method} is not allowed on {path}; only GET is")]
    MethodNotAllowed { method: String, path: String },
    /// The detail (addresses, URLs, the store's own words) is logged, never answered.
    #[error("the connection store is unavailable; try again shortly")]
    Unavailable(#[from] StoreError),
    #[error("the connection store did not answer in time; try again shortly")]
    Timeout(Duration),
    #[error(
        "the answer would be {bytes} bytes{}, more than the API can return ({MAX_RESPONSE_BYTES}); \
         narrow it: limit=N (top N by score, then cursor= for the next page), the filters dest=, \
         port=, source= (exact, prefix*, or CIDR) and min_score=, fewer days, or one \
         account/region (/connections/{{account_id}}/{{region}})",
        if *gzip { " gzipped" } else { ", and the client does not accept gzip" }
    )]
    TooLarge { bytes: usize, gzip: bool },
    #[error(
        "the answer needs at least {rows} rows read, more than the API reads for one request \
         ({limit}, API_MAX_ROWS); narrow it: fewer days, the filters dest=, port=, source= \
         (exact, prefix*, or CIDR), one account/region (/connections/{{account_id}}/{{region}}), \
         or for one day limit=N (top N by score, then cursor= for the next page)"
    )]
    TooManyRows { rows: u64, limit: usize },
}

impl From<TooLarge> for ApiError {
    fn from(TooLarge { bytes, gzip }: TooLarge) -> Self {
        ApiError::TooLarge { bytes, gzip }
    }
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Unavailable(_) | ApiError::Timeout(_) => 503,
            // The request asks for more than one answer can carry: the caller narrows it.
            ApiError::TooLarge { .. } | ApiError::TooManyRows { .. } => 400,
        }
    }

    pub(super) fn bad(parameter: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            parameter,
            message: message.into(),
        }
    }

    /// The error answer; `request_id` names the log line that holds the detail.
    pub(super) fn response(&self, request_id: &str) -> Response {
        match self {
            ApiError::Unavailable(e) => {
                tracing::error!(request_id, error = %e, "store unavailable")
            }
            ApiError::Timeout(after) => {
                tracing::error!(request_id, ?after, "store did not answer in time")
            }
            _ => {}
        }
        let status = self.status();
        let error = match status {
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        let parameter = match self {
            ApiError::BadRequest { parameter, .. } => Some(*parameter),
            ApiError::TooLarge { .. } | ApiError::TooManyRows { .. } => Some("limit"),
            _ => None,
        };
        let body = ErrorBody {
            status,
            error,
            message: self.to_string(),
            parameter,
            request_id,
        };
        let mut response = json_response(status, &body);
        match self {
            ApiError::MethodNotAllowed { .. } => response.headers.push(("allow", "GET".into())),
            ApiError::Unavailable(_) | ApiError::Timeout(_) => {
                response.headers.push(("retry-after", "5".into()))
            }
            _ => {}
        }
        response
    }
}

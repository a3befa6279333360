//! What can go wrong with a request, and the JSON error body each answer carries.

use std::time::Duration;

use serde::Serialize;

use super::http::{json_response, Response, MAX_RESPONSE_BYTES};
use crate::store::StoreError;

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
    #[error("the connection store (Redis) is unavailable: {0}")]
    Unavailable(#[from] StoreError),
    #[error("the connection store (Redis) did not answer within {0:?}")]
    Timeout(Duration),
    #[error(
        "the answer is {bytes} bytes, more than Lambda can return ({MAX_RESPONSE_BYTES}); ask \
         for gzip (Accept-Encoding: gzip), one account/region, or fewer days"
    )]
    TooLarge { bytes: usize },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Unavailable(_) | ApiError::Timeout(_) => 503,
            ApiError::TooLarge { .. } => 500,
        }
    }

    pub(super) fn bad(parameter: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            parameter,
            message: message.into(),
        }
    }

    pub(super) fn response(&self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            status: u16,
            error: &'a str,
            message: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            parameter: Option<&'a str>,
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
            _ => None,
        };
        let body = Body {
            status,
            error,
            message: self.to_string(),
            parameter,
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

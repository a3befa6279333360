//! `GET /health`: liveness, open without an authorizer (template.yaml).

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::Response;
use crate::api::Api;
use crate::store::ReadStore;

pub(in crate::api) const SPEC: RouteSpec = RouteSpec {
    path: "/health",
    query: &[],
    summary: "Liveness",
    description: "OK",
    answer: Answer::Ok,
};

pub(super) async fn answer<S: ReadStore>(_: &Api<S>, _: Cx<'_>) -> Result<Response, ApiError> {
    Ok(Response {
        status: 200,
        headers: vec![("content-type", "text/plain; charset=utf-8".into())],
        body: b"OK".to_vec(),
    })
}

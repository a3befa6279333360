//! `GET /openapi.json`: the API's own description ([`crate::api::openapi`]).

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::{openapi, Api};
use crate::store::ReadStore;

pub(in crate::api) const SPEC: RouteSpec = RouteSpec {
    path: "/openapi.json",
    query: &[],
    summary: "This document",
    description: "OpenAPI 3.1",
    answer: Answer::Document,
};

pub(super) async fn answer<S: ReadStore>(_: &Api<S>, _: Cx<'_>) -> Result<Response, ApiError> {
    Ok(json_response(200, &openapi()))
}

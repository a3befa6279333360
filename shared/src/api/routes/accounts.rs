//! `GET /accounts`: the monitored accounts, their names and how each region is doing.

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::views::accounts;
use crate::api::Api;
use crate::model::AccountInfo;
use crate::store::{ReadRequest, ReadStore};

pub(in crate::api) const SPEC: RouteSpec = RouteSpec {
    path: "/accounts",
    query: &[],
    summary: "Monitored accounts, their name and last counted batch",
    description: "account id → account",
    answer: Answer::Map(super::schema_of::<AccountInfo>),
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, _: Cx<'_>) -> Result<Response, ApiError> {
    let read = api
        .read(ReadRequest {
            accounts: true,
            ..ReadRequest::default()
        })
        .await?;
    Ok(json_response(200, &accounts(&read)))
}

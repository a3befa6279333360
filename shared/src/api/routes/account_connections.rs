//! `GET /account-connections?include=`: connections between our accounts, sources collapsed to
//! their `account/region` (names in `include` kept whole).

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::views::{account_connections, account_connections_of_sums, known_pairs};
use crate::api::Api;
use crate::model::SourceScore;
use crate::store::{ReadRequest, ReadStore, Rows};

pub(in crate::api) const SPEC: RouteSpec = RouteSpec {
    path: "/account-connections",
    query: &["date", "from", "to", "include"],
    summary: "Connections between our accounts: sources collapsed to account/region",
    description: "account_id/region → sources",
    answer: Answer::ByPair(super::schema_of::<SourceScore<'static>>),
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, cx: Cx<'_>) -> Result<Response, ApiError> {
    let include = cx.query.list("include");
    // Without `include`, the sums ingest keeps per account/region and day: the answer without
    // reading a single row.
    let read = api
        .read(ReadRequest {
            days: cx.days(api.max_range_days)?,
            refreshed: true,
            rows: if include.is_empty() {
                Rows::OwnSources
            } else {
                Rows::All
            },
            ..ReadRequest::default()
        })
        .await?;
    let known = known_pairs(&read);
    let answer = if include.is_empty() {
        account_connections_of_sums(&read.own_sources, &known)
    } else {
        account_connections(&read.days, &known, &include)
    };
    Ok(json_response(200, &answer))
}

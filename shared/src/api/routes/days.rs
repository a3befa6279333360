//! `GET /days`: each day of a range at a glance (rows counted, account/regions reporting).

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::Api;
use crate::model::DayCount;
use crate::store::{ReadRequest, ReadStore, Rows};

pub(in crate::api) const SPEC: RouteSpec = RouteSpec {
    path: "/days",
    query: &["date", "from", "to"],
    summary: "Each day of a range at a glance: connections counted and account/regions reporting",
    description: "one entry per day, oldest first",
    answer: Answer::List(super::schema_of::<DayCount>),
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, cx: Cx<'_>) -> Result<Response, ApiError> {
    let days = cx.days(api.max_range_days)?;
    let read = api
        .read(ReadRequest {
            days: days.clone(),
            rows: Rows::RowCounts,
            ..ReadRequest::default()
        })
        .await?;
    let answer: Vec<DayCount> = days
        .into_iter()
        .zip(read.row_counts)
        .map(|(date, pairs)| DayCount {
            date,
            connections: pairs.values().sum(),
            account_regions: pairs.len() as u64,
        })
        .collect();
    Ok(json_response(200, &answer))
}

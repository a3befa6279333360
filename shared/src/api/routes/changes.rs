//! `GET /changes?date=&baseline_days=`: what a day brought that its baseline did not — new
//! endpoints, new ports, sources new to an endpoint.

use std::collections::BTreeMap;

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::views;
use crate::api::Api;
use crate::model::{Changes, Connection, DayRange};
use crate::store::{ReadRequest, ReadStore};

pub(in crate::api) const SPEC: RouteSpec = RouteSpec {
    path: "/changes",
    query: &["date", "baseline_days"],
    summary: "What is new on a day: endpoints, ports and sources not seen in the days before",
    description: "the day, its baseline, and per account/region the new endpoints (destination and port) and the new connections (a source new to its endpoint)",
    answer: Answer::One(super::schema_of::<Changes>),
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, cx: Cx<'_>) -> Result<Response, ApiError> {
    let (date, baseline) = cx.query.day_and_baseline(cx.today, api.max_range_days)?;
    let mut days = baseline.clone();
    days.push(date.clone());
    let read = api
        .read(ReadRequest {
            days,
            ..ReadRequest::default()
        })
        .await?;
    // The day is the last one read (days were asked for: never empty).
    let mut changes = match read.days.split_last() {
        Some((day, before)) => views::changes(day, before),
        None => BTreeMap::new(),
    };
    // The new connections are shown as every answer shows connections: resolved names as
    // host/ip, S3 answering an instance dropped.
    let mut rows: BTreeMap<String, Vec<Connection>> = changes
        .iter_mut()
        .map(|(pair, c)| (pair.clone(), std::mem::take(&mut c.new_connections)))
        .collect();
    api.name_sources(&mut rows).await?;
    for (pair, named) in rows {
        if let Some(c) = changes.get_mut(&pair) {
            c.new_connections = named;
        }
    }
    let answer = Changes {
        date,
        baseline: DayRange {
            from: baseline.first().cloned().unwrap_or_default(),
            to: baseline.last().cloned().unwrap_or_default(),
        },
        changes,
    };
    Ok(json_response(200, &answer))
}

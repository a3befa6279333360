//! `GET /endpoints[/{account_id}/{region}]`: distinct destinations and ports that got
//! connections, with each one's distinct-source estimate.

use std::collections::{BTreeMap, BTreeSet};

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::views::{endpoints, known_pairs, with_distinct_sources};
use crate::api::Api;
use crate::model::Endpoint;
use crate::store::{ReadRequest, ReadStore, Rows};

pub(in crate::api) const ALL: RouteSpec = RouteSpec {
    path: "/endpoints",
    query: super::ENDPOINTS,
    summary: "Destinations and ports that got connections, per account/region",
    description: "account_id/region → endpoints",
    answer: Answer::ByPair(super::schema_of::<Endpoint<'static>>),
};

pub(in crate::api) const OF: RouteSpec = RouteSpec {
    path: "/endpoints/{account_id}/{region}",
    query: super::ENDPOINTS,
    summary: "Destinations and ports that got connections in one account/region",
    description: "endpoints",
    answer: Answer::List(super::schema_of::<Endpoint<'static>>),
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, cx: Cx<'_>) -> Result<Response, ApiError> {
    let filter = cx.query.filter()?;
    let mut read = api
        .read(ReadRequest {
            days: cx.days(api.max_range_days)?,
            scope: cx.scope.clone(),
            refreshed: cx.scope.is_none(),
            distinct_sources: true,
            rows: filter.member_pattern().map_or(Rows::All, Rows::Matching),
            ..ReadRequest::default()
        })
        .await?;
    let known = known_pairs(&read);
    let distinct = std::mem::take(&mut read.distinct_sources);
    let mut by_pair: BTreeMap<&str, BTreeSet<Endpoint>> = known
        .iter()
        .map(|p| (p.as_str(), BTreeSet::new()))
        .collect();
    for (pair, rows) in read.days.iter().flatten() {
        by_pair
            .entry(pair)
            .or_default()
            .extend(endpoints(rows).into_iter().filter(|e| {
                filter.dest.as_deref().is_none_or(|d| e.dest == d)
                    && filter.port.is_none_or(|p| e.dest_port == p)
            }));
    }
    let mut listed: BTreeMap<&str, Vec<Endpoint>> = by_pair
        .into_iter()
        .map(|(pair, set)| (pair, with_distinct_sources(set, distinct.get(pair))))
        .collect();
    Ok(match &cx.scope {
        Some(_) => json_response(200, &listed.pop_first().map(|(_, v)| v).unwrap_or_default()),
        None => json_response(200, &listed),
    })
}

//! `GET /exposure[/{account_id}/{region}]`: each public endpoint's security group rules that
//! open it to the internet, and whether the connections counted in the range used them
//! (`docs/rules.md`, "Exposure"). Without `date` or `from`/`to`, the range is the last
//! `API_MAX_RANGE_DAYS` days.

use std::collections::BTreeMap;

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::exposure::{keep, review, Inputs, Wanted};
use crate::api::http::{json_response, Response};
use crate::api::Api;
use crate::model::{Connection, ExposedEndpoint};
use crate::store::{ReadRequest, ReadStore};

pub(in crate::api) const ALL: RouteSpec = RouteSpec {
    path: "/exposure",
    query: super::EXPOSURE,
    summary: "Every public endpoint's rules that open it to the internet, reviewed against the range's connections",
    description: "account_id/region → endpoints with their reviewed rules",
    answer: Answer::ByPair(super::schema_of::<ExposedEndpoint>),
};

pub(in crate::api) const OF: RouteSpec = RouteSpec {
    path: "/exposure/{account_id}/{region}",
    query: super::EXPOSURE,
    summary: "The exposure review of one account/region",
    description: "endpoints with their reviewed rules",
    answer: Answer::List(super::schema_of::<ExposedEndpoint>),
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, cx: Cx<'_>) -> Result<Response, ApiError> {
    let days = cx.days_or_recent(api.max_range_days)?;
    let wanted = Wanted {
        verdicts: cx.query.verdicts()?,
        port: cx.query.port()?,
    };
    let mut read = api
        .read(ReadRequest {
            days: days.clone(),
            scope: cx.scope.clone(),
            interfaces: true,
            ingress: true,
            ..ReadRequest::default()
        })
        .await?;
    if let Some(pair) = &cx.scope {
        read.interfaces
            .retain(|f| f.account_id == pair.account() && f.region == pair.region());
    }
    let per_day = named_days(api, std::mem::take(&mut read.days), days.len()).await?;
    let inputs = Inputs {
        interfaces: &read.interfaces,
        ingress: &read.ingress,
        days: days.into_iter().zip(per_day).collect(),
        networks: &api.networks,
        last_updates: &read.last_updates,
    };
    let mut reviewed = keep(review(&inputs), &wanted);
    Ok(match &cx.scope {
        Some(pair) => json_response(200, &reviewed.remove(&pair.to_string()).unwrap_or_default()),
        None => json_response(200, &reviewed),
    })
}

/// Every day's rows named in one go (names as elsewhere, the S3 rule applied): keyed by their
/// day's place for the naming, then put back by day.
async fn named_days<S: ReadStore>(
    api: &Api<S>,
    days: Vec<BTreeMap<String, Vec<Connection>>>,
    count: usize,
) -> Result<Vec<BTreeMap<String, Vec<Connection>>>, ApiError> {
    let mut all: BTreeMap<String, Vec<Connection>> = BTreeMap::new();
    for (at, day) in days.into_iter().enumerate() {
        all.extend(
            day.into_iter()
                .map(|(pair, rows)| (format!("{at}\t{pair}"), rows)),
        );
    }
    api.name_sources(&mut all).await?;
    let mut per_day = vec![BTreeMap::new(); count];
    for (key, rows) in all {
        let Some((at, pair)) = key.split_once('\t') else {
            continue;
        };
        if let Some(day) = at.parse::<usize>().ok().and_then(|at| per_day.get_mut(at)) {
            day.insert(pair.to_string(), rows);
        }
    }
    Ok(per_day)
}

//! `GET /exposure[/{account_id}/{region}]`: each public endpoint's security group rules that
//! open it to the internet, and whether the connections counted in the range used them
//! (`docs/rules.md`, "Exposure"). Without `date` or `from`/`to`, the range is the whole
//! retention (`RETENTION_DAYS`), judged from the sums ingest keeps, and the rows (top sources,
//! unexplained traffic) are the last day's; with them, the range's rows are read too.

use std::collections::{BTreeMap, HashMap};

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::exposure::usage::{self, Use};
use crate::api::exposure::{keep, review, Day, Inputs, Wanted};
use crate::api::http::{json_response, Response};
use crate::api::Api;
use crate::model::{AccountRegion, Connection, ExposedEndpoint};
use crate::store::{ReadRequest, ReadStore, Rows};

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
    let asked = cx.query.names_days();
    let range = match asked {
        true => cx.days(api.max_range_days)?,
        false => cx.days_or_recent(api.retention_days)?,
    };
    let wanted = Wanted {
        verdicts: cx.query.verdicts()?,
        port: cx.query.port()?,
    };
    let mut read = api
        .read(ReadRequest {
            days: range.clone(),
            scope: cx.scope.clone(),
            interfaces: true,
            ingress: true,
            rows: Rows::Usage,
            ..ReadRequest::default()
        })
        .await?;
    if let Some(pair) = &cx.scope {
        read.interfaces
            .retain(|f| f.account_id == pair.account() && f.region == pair.region());
    }
    let mut sums: Vec<Day<Use>> = range
        .iter()
        .cloned()
        .zip(std::mem::take(&mut read.usage))
        .map(|(day, pairs)| {
            let parsed = pairs
                .into_iter()
                .map(|(pair, sums)| (pair, usage::parse(sums)))
                .collect();
            (day, parsed)
        })
        .collect();
    let shown: Vec<String> = match asked {
        true => range.clone(),
        false => range.last().cloned().into_iter().collect(),
    };
    let (days, distinct) = rows_of(api, &cx.scope, &mut sums, &shown).await?;
    let inputs = Inputs {
        interfaces: &read.interfaces,
        ingress: &read.ingress,
        usage: sums,
        days,
        shown: shown.into_iter().collect(),
        networks: &api.networks,
        last_updates: &read.last_updates,
        distinct: &distinct,
    };
    let mut reviewed = keep(review(&inputs), &wanted);
    Ok(match &cx.scope {
        Some(pair) => json_response(200, &reviewed.remove(&pair.to_string()).unwrap_or_default()),
        None => json_response(200, &reviewed),
    })
}

/// The days' rows and the endpoints' distinct-source estimates on the busiest of them.
type RowsRead = (Vec<Day<Connection>>, HashMap<String, HashMap<String, u64>>);

/// The rows of the `shown` days, named, with their endpoints' distinct-source estimates; and,
/// for a day written before ingest kept the sums (an account/region listed without any), its
/// sums made from its rows, read in the same request (and kept to judge narrower rules).
async fn rows_of<S: ReadStore>(
    api: &Api<S>,
    scope: &Option<AccountRegion>,
    sums: &mut [Day<Use>],
    shown: &[String],
) -> Result<RowsRead, ApiError> {
    let mut days: Vec<String> = sums
        .iter()
        .filter(|(_, pairs)| pairs.values().any(Vec::is_empty))
        .map(|(day, _)| day.clone())
        .chain(shown.iter().cloned())
        .collect();
    days.sort();
    days.dedup();
    let read = api
        .read(ReadRequest {
            days: days.clone(),
            scope: scope.clone(),
            distinct_sources: true,
            ..ReadRequest::default()
        })
        .await?;
    let distinct = read.distinct_sources;
    for (day, rows) in days.iter().zip(&read.days) {
        if let Some((_, pairs)) = sums.iter_mut().find(|(d, _)| d == day) {
            for (pair, uses) in pairs.iter_mut().filter(|(_, u)| u.is_empty()) {
                *uses = usage::of_rows(rows.get(pair).map_or(&[][..], Vec::as_slice));
            }
        }
    }
    let named = named_days(api, read.days).await?;
    Ok((days.into_iter().zip(named).collect(), distinct))
}

/// Every day's rows named in one go (names as elsewhere, the S3 rule applied): keyed by their
/// day's place for the naming, then put back by day.
async fn named_days<S: ReadStore>(
    api: &Api<S>,
    days: Vec<BTreeMap<String, Vec<Connection>>>,
) -> Result<Vec<BTreeMap<String, Vec<Connection>>>, ApiError> {
    let count = days.len();
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

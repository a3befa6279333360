//! `GET /public-endpoints[/{account_id}/{region}]`: every public interface the refresh found,
//! grouped by the name its traffic is counted under, with that traffic — endpoints without
//! traffic too.

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::views::{connections_by_pair, public_endpoints};
use crate::api::Api;
use crate::model::PublicEndpoint;
use crate::store::{ReadRequest, ReadStore};

pub(in crate::api) const ALL: RouteSpec = RouteSpec {
    path: "/public-endpoints",
    query: super::RANGE,
    summary: "Every public interface the refresh found, with its connections in the range",
    description: "account_id/region → public endpoints",
    answer: Answer::ByPair(super::schema_of::<PublicEndpoint>),
};

pub(in crate::api) const OF: RouteSpec = RouteSpec {
    path: "/public-endpoints/{account_id}/{region}",
    query: super::RANGE,
    summary: "Public endpoints of one account/region",
    description: "public endpoints",
    answer: Answer::List(super::schema_of::<PublicEndpoint>),
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, cx: Cx<'_>) -> Result<Response, ApiError> {
    let mut read = api
        .read(ReadRequest {
            days: cx.days(api.max_range_days)?,
            scope: cx.scope.clone(),
            interfaces: true,
            ..ReadRequest::default()
        })
        .await?;
    let mut interfaces = std::mem::take(&mut read.interfaces);
    if let Some(pair) = &cx.scope {
        interfaces.retain(|f| f.account_id == pair.account() && f.region == pair.region());
    }
    let mut connections = connections_by_pair(read);
    api.name_sources(&mut connections).await?;
    let mut listed = public_endpoints(&interfaces, &connections);
    Ok(match &cx.scope {
        Some(pair) => {
            let list = listed.remove(&pair.to_string());
            json_response(200, &list.unwrap_or_default())
        }
        None => json_response(200, &listed),
    })
}

//! `GET /addresses?q=`: our own addresses (NAT gateways, Elastic IPs, `DOMAIN` hosts, RDS),
//! the named networks as blocks (no per-address expansion), and the names the refresh resolved
//! (`docs/rules.md`, rule 4).

use std::collections::BTreeMap;

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::Api;
use crate::store::{ReadRequest, ReadStore};

pub(in crate::api) const SPEC: RouteSpec = RouteSpec {
    path: "/addresses",
    query: &["q"],
    summary: "Our public addresses, the named networks and the resolved names",
    description: "address or CIDR block → name: our own addresses, the named networks, the reverse-DNS names the refresh resolved",
    answer: Answer::Names,
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, cx: Cx<'_>) -> Result<Response, ApiError> {
    let read = api
        .read(ReadRequest {
            addresses: true,
            resolved_names: true,
            ..ReadRequest::default()
        })
        .await?;
    let q = cx.query.get("q").unwrap_or("");
    let networks: Vec<(String, &str)> = api
        .networks
        .entries()
        .map(|(name, block)| (block.to_string(), name))
        .collect();
    // Later entries win: a resolved name never hides our own name for an address.
    let mut found: BTreeMap<&str, &str> = read
        .resolved_names
        .iter()
        .chain(&read.addresses)
        .map(|(ip, name)| (ip.as_str(), name.as_str()))
        .chain(networks.iter().map(|(block, name)| (block.as_str(), *name)))
        .collect();
    found.retain(|_, name| name.contains(q));
    Ok(json_response(200, &found))
}

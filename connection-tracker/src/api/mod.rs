//! The HTTP API: routes → JSON over the store. Knows nothing of Lambda; `functions/api` adapts
//! lambda_http requests to [`Request`] and [`Response`] back.
//!
//! Every data route reads what it needs from Redis in one round trip ([`ReadRequest`]), then
//! works in memory: days are summed, lists sorted, JSON written once.
//!
//! - [`routes`]: the one route table (paths, parameters, answers);
//! - [`http`]: request, response, gzip and the size limit; [`error`]: the error answers;
//! - [`query`]: parameter checks; [`views`]: each answer, pure; [`openapi`]: the document.

mod error;
mod http;
mod openapi;
mod query;
mod routes;
mod views;

pub use error::ApiError;
pub use http::{Request, Response, MAX_RESPONSE_BYTES};
pub use openapi::openapi;
pub use routes::route_paths;
pub use views::sum_days;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use time::Date;

use crate::config::ApiConfig;
use crate::model::Endpoint;
use crate::store::{ReadRequest, ReadResult, ReadStore};
use http::{finish, json_response};
use query::{scope, Query};
use routes::{Route, RouteSpec, ROUTES};
use views::{
    account_connections, accounts, connections_by_pair, endpoints, known_pairs, public_endpoints,
};

pub struct Api<S> {
    store: S,
    router: matchit::Router<&'static RouteSpec>,
    max_range_days: u32,
    /// Upper bound on the store's work for one request: never a hung request.
    deadline: Duration,
}

impl<S: ReadStore> Api<S> {
    pub fn new(store: S, config: &ApiConfig) -> Self {
        let mut router = matchit::Router::new();
        for spec in ROUTES {
            router
                .insert(spec.path, spec)
                .expect("the route table has no conflicts");
        }
        Api {
            store,
            router,
            max_range_days: config.max_range_days,
            // Connect and answer, each bounded by the Redis timeout, plus one retry's worth.
            deadline: config.redis.timeout * 3,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answers one request; `today` is the UTC date `date` defaults to.
    pub async fn handle(&self, request: Request<'_>, today: Date) -> Response {
        let started = Instant::now();
        let response = self
            .route(request, today)
            .await
            .and_then(|response| finish(response, request.accepts_gzip))
            .unwrap_or_else(|e| e.response());
        tracing::info!(
            method = request.method,
            path = request.path,
            query = request.query,
            status = response.status,
            bytes = response.body.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "request"
        );
        response
    }

    async fn route(&self, request: Request<'_>, today: Date) -> Result<Response, ApiError> {
        let path = match request.path.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        let matched = self
            .router
            .at(path)
            .map_err(|_| ApiError::NotFound(path.to_string()))?;
        if request.method != "GET" {
            return Err(ApiError::MethodNotAllowed {
                method: request.method.to_string(),
                path: path.to_string(),
            });
        }
        let spec: &RouteSpec = matched.value;
        let route = spec.route;
        let scope = match (
            matched.params.get("account_id"),
            matched.params.get("region"),
        ) {
            (Some(account), Some(region)) => Some(scope(account, region)?),
            _ => None,
        };
        let query = Query::parse(request.query, spec.query)?;
        let days = || query.days(today, self.max_range_days);
        match route {
            Route::Health => Ok(Response {
                status: 200,
                headers: vec![("content-type", "text/plain; charset=utf-8".into())],
                body: b"OK".to_vec(),
            }),
            Route::OpenApi => Ok(json_response(200, &openapi())),
            Route::Accounts => {
                let read = self
                    .read(ReadRequest {
                        accounts: true,
                        ..ReadRequest::default()
                    })
                    .await?;
                Ok(json_response(200, &accounts(&read)))
            }
            Route::Addresses => {
                let read = self
                    .read(ReadRequest {
                        addresses: true,
                        ..ReadRequest::default()
                    })
                    .await?;
                let q = query.get("q").unwrap_or("");
                let found: BTreeMap<&str, &str> = read
                    .addresses
                    .iter()
                    .filter(|(_, name)| name.contains(q))
                    .map(|(ip, name)| (ip.as_str(), name.as_str()))
                    .collect();
                Ok(json_response(200, &found))
            }
            Route::Connections | Route::Endpoints | Route::AccountConnections => {
                let read = self
                    .read(ReadRequest {
                        days: days()?,
                        refreshed: true,
                        ..ReadRequest::default()
                    })
                    .await?;
                // Only /connections needs every row summed and sorted; the other two fold
                // the days straight into their (much smaller) answers.
                let known = known_pairs(&read);
                Ok(match route {
                    Route::Connections => json_response(200, &sum_days(read.days, known)),
                    Route::Endpoints => {
                        let mut by_pair: BTreeMap<&str, BTreeSet<Endpoint>> = known
                            .iter()
                            .map(|p| (p.as_str(), BTreeSet::new()))
                            .collect();
                        for (pair, rows) in read.days.iter().flatten() {
                            by_pair.entry(pair).or_default().extend(endpoints(rows));
                        }
                        json_response(200, &by_pair)
                    }
                    _ => {
                        let include = query.list("include");
                        json_response(200, &account_connections(&read.days, &known, &include))
                    }
                })
            }
            Route::ConnectionsOf | Route::EndpointsOf => {
                let read = self
                    .read(ReadRequest {
                        days: days()?,
                        scope: scope.clone(),
                        ..ReadRequest::default()
                    })
                    .await?;
                let rows = connections_by_pair(read).into_values().next();
                let rows = rows.unwrap_or_default();
                Ok(if route == Route::ConnectionsOf {
                    json_response(200, &rows)
                } else {
                    json_response(200, &endpoints(&rows))
                })
            }
            Route::PublicEndpoints | Route::PublicEndpointsOf => {
                let mut read = self
                    .read(ReadRequest {
                        days: days()?,
                        scope: scope.clone(),
                        interfaces: true,
                        ..ReadRequest::default()
                    })
                    .await?;
                let mut interfaces = std::mem::take(&mut read.interfaces);
                if let Some((account, region)) = &scope {
                    interfaces.retain(|f| &f.account_id == account && &f.region == region);
                }
                let connections = connections_by_pair(read);
                let mut listed = public_endpoints(&interfaces, &connections);
                Ok(match &scope {
                    Some((account, region)) => {
                        let list = listed.remove(&format!("{account}/{region}"));
                        json_response(200, &list.unwrap_or_default())
                    }
                    None => json_response(200, &listed),
                })
            }
        }
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResult, ApiError> {
        match tokio::time::timeout(self.deadline, self.store.read(&request)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ApiError::Timeout(self.deadline)),
        }
    }
}

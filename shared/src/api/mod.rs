//! The HTTP API: routes → JSON over the store. Knows nothing of Lambda; `functions/api` adapts
//! lambda_http requests to [`Request`] and [`Response`] back.
//!
//! Every data route reads what it needs from Redis in one or two round trips ([`ReadRequest`]), then
//! works in memory: days are summed, lists sorted, JSON written once.
//!
//! - [`routes`]: the one route table, each route in its own file (parameters, read, answer);
//! - [`http`]: request, response, gzip and the size limit; [`error`]: the error answers;
//! - [`query`]: parameter checks; [`views`]: each answer, pure; [`openapi`]: the document.

mod error;
mod exposure;
mod http;
mod openapi;
mod query;
mod routes;
mod views;

pub use error::ApiError;
pub use exposure::review_day;
pub use http::{accepts_gzip, Request, Response, MAX_RESPONSE_BYTES};
pub use openapi::openapi;
pub use routes::route_paths;
pub use views::sum_days;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use time::Date;

use crate::config::ApiConfig;
use crate::rules::s3_rule;
use crate::store::{ReadRequest, ReadResult, ReadStore, StoreError};
use http::finish;
use query::{scope, Query};
use routes::{Cx, ROUTES};
use views::{addresses, apply_names};

pub struct Api<S> {
    store: S,
    /// Path template → index of its route in [`ROUTES`].
    router: matchit::Router<usize>,
    max_range_days: u32,
    retention_days: u32,
    /// Rows one request may read ([`ApiConfig::max_rows`]).
    max_rows: usize,
    networks: crate::rules::classify::Networks,
    /// Upper bound on the store's work for one request: never a hung request.
    deadline: Duration,
}

impl<S: ReadStore> Api<S> {
    pub fn new(store: S, config: &ApiConfig) -> Self {
        let mut router = matchit::Router::new();
        for (index, spec) in ROUTES.iter().enumerate() {
            router
                .insert(spec.path, index)
                .expect("the route table has no conflicts");
        }
        Api {
            store,
            router,
            max_range_days: config.max_range_days,
            retention_days: config.retention_days,
            max_rows: config.max_rows,
            networks: config.networks.clone(),
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
            .and_then(|response| Ok(finish(response, request.accepts_gzip)?))
            .unwrap_or_else(|e| e.response(request.request_id));
        tracing::info!(
            request_id = request.request_id,
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
        let index = *matched.value;
        let spec = ROUTES
            .get(index)
            .ok_or_else(|| ApiError::NotFound(path.to_string()))?;
        let scope = match (
            matched.params.get("account_id"),
            matched.params.get("region"),
        ) {
            (Some(account), Some(region)) => Some(scope(account, region)?),
            _ => None,
        };
        let cx = Cx {
            path,
            scope,
            query: Query::parse(request.query, spec.query)?,
            today,
        };
        routes::call(index, self, cx).await
    }

    /// Shows the sources the refresh resolved as `host/ip` (one more read, for the addresses
    /// among the rows only), and applies the S3 rule, which needs those names: a row to an
    /// instance from an address in AWS's ranges whose name is S3's is dropped (one more read,
    /// only when such a name is among them).
    async fn name_sources(
        &self,
        by_pair: &mut BTreeMap<String, Vec<crate::model::Connection>>,
    ) -> Result<(), ApiError> {
        let names = addresses(by_pair.values().flatten());
        if names.is_empty() {
            return Ok(());
        }
        let read = self
            .read(ReadRequest {
                names,
                ..ReadRequest::default()
            })
            .await?;
        if read.names.values().any(|host| s3_rule::is_s3_host(host)) {
            let facts = self
                .read(ReadRequest {
                    s3_ranges: true,
                    interfaces: true,
                    ..ReadRequest::default()
                })
                .await?;
            let (ranges, _) =
                s3_rule::S3Ranges::from_lines(facts.s3_ranges.iter().map(String::as_str));
            let instances = s3_rule::instance_destinations(&facts.interfaces);
            for rows in by_pair.values_mut() {
                rows.retain(|c| {
                    let echo = read.names.get(&c.source).is_some_and(|host| {
                        c.source.parse().is_ok_and(|ip| {
                            s3_rule::is_s3_echo(&c.dest, ip, host, &instances, &ranges)
                        })
                    });
                    !echo
                });
            }
        }
        apply_names(by_pair.values_mut().flatten(), &read.names);
        Ok(())
    }

    /// Every read of a request: bounded in rows and in time.
    async fn read(&self, mut request: ReadRequest) -> Result<ReadResult, ApiError> {
        request.max_rows = Some(self.max_rows);
        match tokio::time::timeout(self.deadline, self.store.read(&request)).await {
            Ok(Err(StoreError::TooManyRows { rows, limit })) => {
                Err(ApiError::TooManyRows { rows, limit })
            }
            Ok(result) => Ok(result?),
            Err(_) => Err(ApiError::Timeout(self.deadline)),
        }
    }
}

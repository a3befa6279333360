//! The HTTP API: routes → JSON over the store. Knows nothing of Lambda; `functions/api` adapts
//! lambda_http requests to [`Request`] and [`Response`] back.
//!
//! Every data route reads what it needs from Redis in one or two round trips ([`ReadRequest`]), then
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
pub use http::{accepts_gzip, Request, Response, MAX_RESPONSE_BYTES};
pub use openapi::openapi;
pub use routes::route_paths;
pub use views::sum_days;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use time::Date;

use crate::config::ApiConfig;
use crate::model::Endpoint;
use crate::rules::aws_ranges;
use crate::store::{ReadRequest, ReadResult, ReadStore, Top};
use http::{finish, json_response};
use query::{scope, Query};
use routes::{Route, RouteSpec, ROUTES};
use views::{
    account_connections, account_connections_of_sums, accounts, addresses, apply_names,
    connections_by_pair, endpoints, known_pairs, page, public_endpoints, with_distinct_sources,
};

pub struct Api<S> {
    store: S,
    router: matchit::Router<&'static RouteSpec>,
    max_range_days: u32,
    networks: crate::rules::classify::Networks,
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
            .and_then(|response| finish(response, request.accepts_gzip))
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
                        resolved_names: true,
                        ..ReadRequest::default()
                    })
                    .await?;
                // As the original: our own addresses (NAT gateways, Elastic IPs, DOMAIN hosts,
                // RDS), the named networks, as blocks (no per-address expansion), and the
                // names the refresh resolved.
                let q = query.get("q").unwrap_or("");
                let networks: Vec<(String, &str)> = self
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
            Route::Connections | Route::ConnectionsOf => {
                let filter = query.filter()?;
                let account = query.account()?;
                let paging = query.page(path)?;
                let days = days()?;
                // One day, paged, filtered by score at most: Redis sends only what the page
                // can need — the rows after the cursor's row, limit + 1 of them (the +1 tells
                // whether a next page exists).
                let keyset = filter.is_score_only() && days.len() == 1;
                let top = paging.as_ref().filter(|_| keyset).map(|p| Top {
                    k: p.limit + 1,
                    min_score: filter.min_score,
                    after: p.after.clone(),
                });
                let mut read = self
                    .read(ReadRequest {
                        days,
                        scope: scope.clone(),
                        account: account.clone(),
                        refreshed: scope.is_none(),
                        top,
                        matching: filter.member_pattern(),
                        ..ReadRequest::default()
                    })
                    .await?;
                if let Some(account) = &account {
                    let prefix = format!("{account}:");
                    read.refreshed.retain(|pair, _| pair.starts_with(&prefix));
                }
                // Filters see the source as counted (an address matches its CIDR block); the
                // answer shows resolved names.
                if !filter.is_score_only() {
                    for rows in read.days.iter_mut().flat_map(|d| d.values_mut()) {
                        rows.retain(|c| filter.keeps(c));
                    }
                }
                let mut by_pair = connections_by_pair(read);
                if filter.min_score > 0 {
                    for rows in by_pair.values_mut() {
                        rows.retain(|c| c.score >= filter.min_score);
                    }
                }
                let mut next = None;
                if let Some(p) = paging {
                    // Read by keyset, the rows start after the cursor's row; else at offset.
                    let offset = if keyset { 0 } else { p.offset };
                    let cut = page(by_pair, offset, p.limit);
                    by_pair = cut.rows;
                    next = cut.more.then(|| p.next_cursor(cut.last));
                }
                self.name_sources(&mut by_pair).await?;
                let mut response = match &scope {
                    Some(_) => {
                        let rows = by_pair.into_values().next().unwrap_or_default();
                        json_response(200, &rows)
                    }
                    None => json_response(200, &by_pair),
                };
                if let Some(cursor) = next {
                    response.headers.push(("x-next-cursor", cursor));
                }
                Ok(response)
            }
            Route::Days => {
                let days = days()?;
                let read = self
                    .read(ReadRequest {
                        days: days.clone(),
                        row_counts: true,
                        ..ReadRequest::default()
                    })
                    .await?;
                let answer: Vec<crate::model::DayCount> = days
                    .into_iter()
                    .zip(read.row_counts)
                    .map(|(date, pairs)| crate::model::DayCount {
                        date,
                        connections: pairs.values().sum(),
                        account_regions: pairs.len() as u64,
                    })
                    .collect();
                Ok(json_response(200, &answer))
            }
            Route::Changes => {
                let (date, baseline) = query.day_and_baseline(today, self.max_range_days)?;
                let mut days = baseline.clone();
                days.push(date.clone());
                let read = self
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
                // The new connections are shown as every answer shows connections: resolved
                // names as host/ip, S3 answering an instance dropped.
                let mut rows: BTreeMap<String, Vec<crate::model::Connection>> = changes
                    .iter_mut()
                    .map(|(pair, c)| (pair.clone(), std::mem::take(&mut c.new_connections)))
                    .collect();
                self.name_sources(&mut rows).await?;
                for (pair, named) in rows {
                    if let Some(c) = changes.get_mut(&pair) {
                        c.new_connections = named;
                    }
                }
                let answer = crate::model::Changes {
                    date,
                    baseline: crate::model::DayRange {
                        from: baseline.first().cloned().unwrap_or_default(),
                        to: baseline.last().cloned().unwrap_or_default(),
                    },
                    changes,
                };
                Ok(json_response(200, &answer))
            }
            Route::Endpoints | Route::EndpointsOf => {
                let filter = query.filter()?;
                let mut read = self
                    .read(ReadRequest {
                        days: days()?,
                        scope: scope.clone(),
                        refreshed: scope.is_none(),
                        distinct_sources: true,
                        matching: filter.member_pattern(),
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
                Ok(match &scope {
                    Some(_) => {
                        json_response(200, &listed.pop_first().map(|(_, v)| v).unwrap_or_default())
                    }
                    None => json_response(200, &listed),
                })
            }
            Route::AccountConnections => {
                let include = query.list("include");
                // Without `include`, the sums ingest keeps per account/region and day: the
                // answer without reading a single row.
                let read = self
                    .read(ReadRequest {
                        days: days()?,
                        refreshed: true,
                        own_sources: include.is_empty(),
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
                let mut connections = connections_by_pair(read);
                self.name_sources(&mut connections).await?;
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
        if read.names.values().any(|host| aws_ranges::is_s3_host(host)) {
            let facts = self
                .read(ReadRequest {
                    aws_ranges: true,
                    interfaces: true,
                    ..ReadRequest::default()
                })
                .await?;
            let (ranges, _) =
                aws_ranges::AwsRanges::from_lines(facts.aws_ranges.iter().map(String::as_str));
            let instances = aws_ranges::instance_destinations(&facts.interfaces);
            for rows in by_pair.values_mut() {
                rows.retain(|c| {
                    let echo = read.names.get(&c.source).is_some_and(|host| {
                        c.source.parse().is_ok_and(|ip| {
                            aws_ranges::is_s3_echo(&c.dest, ip, host, &instances, &ranges)
                        })
                    });
                    !echo
                });
            }
        }
        apply_names(by_pair.values_mut().flatten(), &read.names);
        Ok(())
    }

    async fn read(&self, request: ReadRequest) -> Result<ReadResult, ApiError> {
        match tokio::time::timeout(self.deadline, self.store.read(&request)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ApiError::Timeout(self.deadline)),
        }
    }
}

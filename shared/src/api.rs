//! The HTTP API (DESIGN.md section 4): routes → JSON over the store. Knows nothing of Lambda;
//! `functions/api` adapts lambda_http requests to [`Request`] and [`Response`] back.
//!
//! Every data route reads what it needs from Redis in one round trip ([`ReadRequest`]), then
//! works in memory: days are summed, lists sorted, JSON written once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

use foldhash::HashMap as FastMap;
use serde::Serialize;
use time::Date;

use crate::classify::{self, DestName, InterfaceKind};
use crate::config::{is_account_id, is_region, ApiConfig};
use crate::inventory::InterfaceFacts;
use crate::store::{sort_connections, Connection, ReadRequest, ReadResult, ReadStore, StoreError};

/// Lambda answers at most 6 MB synchronously; the JSON envelope and base64 take their share.
pub const MAX_RESPONSE_BYTES: usize = 5_500_000;
/// Bodies smaller than this are not worth compressing.
const GZIP_MIN_BYTES: usize = 1024;

/// An HTTP request as the router sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Without the stage or `/lambda-url/<fn>` prefix.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The client accepts `Content-Encoding: gzip`.
    pub accepts_gzip: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (gzip-decoded if needed), for tests and tools.
    pub fn text(&self) -> String {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&self.body[..]),
                &mut out,
            );
            out
        } else {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text()).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        parameter: &'static str,
        message: String,
    },
    #[error("no such route: {0}; GET /openapi.json lists the routes")]
    NotFound(String),
    #[error("{method} is not allowed on {path}; only GET is")]
    MethodNotAllowed { method: String, path: String },
    #[error("the connection store (Redis) is unavailable: {0}")]
    Unavailable(#[from] StoreError),
    #[error("the connection store (Redis) did not answer within {0:?}")]
    Timeout(Duration),
    #[error(
        "the answer is {bytes} bytes, more than Lambda can return ({MAX_RESPONSE_BYTES}); ask \
         for gzip (Accept-Encoding: gzip), one account/region, or fewer days"
    )]
    TooLarge { bytes: usize },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Unavailable(_) | ApiError::Timeout(_) => 503,
            ApiError::TooLarge { .. } => 500,
        }
    }

    fn bad(parameter: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            parameter,
            message: message.into(),
        }
    }

    fn response(&self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            status: u16,
            error: &'a str,
            message: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            parameter: Option<&'a str>,
        }
        let status = self.status();
        let error = match status {
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        let parameter = match self {
            ApiError::BadRequest { parameter, .. } => Some(*parameter),
            _ => None,
        };
        let body = Body {
            status,
            error,
            message: self.to_string(),
            parameter,
        };
        let mut response = json_response(status, &body);
        match self {
            ApiError::MethodNotAllowed { .. } => response.headers.push(("allow", "GET".into())),
            ApiError::Unavailable(_) | ApiError::Timeout(_) => {
                response.headers.push(("retry-after", "5".into()))
            }
            _ => {}
        }
        response
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Health,
    OpenApi,
    Accounts,
    Addresses,
    Connections,
    ConnectionsOf,
    Endpoints,
    EndpointsOf,
    AccountConnections,
    PublicEndpoints,
    PublicEndpointsOf,
}

/// The router's table: path template → route. [`openapi`] documents the same set.
const ROUTES: &[(&str, Route)] = &[
    ("/health", Route::Health),
    ("/openapi.json", Route::OpenApi),
    ("/accounts", Route::Accounts),
    ("/addresses", Route::Addresses),
    ("/connections", Route::Connections),
    ("/connections/{account_id}/{region}", Route::ConnectionsOf),
    ("/endpoints", Route::Endpoints),
    ("/endpoints/{account_id}/{region}", Route::EndpointsOf),
    ("/account-connections", Route::AccountConnections),
    ("/public-endpoints", Route::PublicEndpoints),
    (
        "/public-endpoints/{account_id}/{region}",
        Route::PublicEndpointsOf,
    ),
];

/// The path templates the router serves.
pub fn route_paths() -> Vec<&'static str> {
    ROUTES.iter().map(|(p, _)| *p).collect()
}

pub struct Api<S> {
    store: S,
    router: matchit::Router<Route>,
    max_range_days: u32,
    /// Upper bound on the store's work for one request: never a hung request.
    deadline: Duration,
}

impl<S: ReadStore> Api<S> {
    pub fn new(store: S, config: &ApiConfig) -> Self {
        let mut router = matchit::Router::new();
        for (path, route) in ROUTES {
            router
                .insert(*path, *route)
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
        let route = *matched.value;
        let scope = match (
            matched.params.get("account_id"),
            matched.params.get("region"),
        ) {
            (Some(account), Some(region)) => Some(scope(account, region)?),
            _ => None,
        };
        let query = Query::parse(request.query, allowed_parameters(route))?;
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

/// Compresses when the client accepts it and it pays; refuses what Lambda could not return.
fn finish(mut response: Response, accepts_gzip: bool) -> Result<Response, ApiError> {
    if accepts_gzip && response.body.len() >= GZIP_MIN_BYTES {
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(response.body.len() / 8),
            flate2::Compression::fast(),
        );
        if gz.write_all(&response.body).is_ok() {
            if let Ok(compressed) = gz.finish() {
                response.body = compressed;
                response.headers.push(("content-encoding", "gzip".into()));
            }
        }
    }
    response.headers.push(("vary", "accept-encoding".into()));
    if response.body.len() > MAX_RESPONSE_BYTES {
        return Err(ApiError::TooLarge {
            bytes: response.body.len(),
        });
    }
    Ok(response)
}

fn json_response(status: u16, value: &impl Serialize) -> Response {
    Response {
        status,
        headers: vec![("content-type", "application/json".into())],
        // Serializing our own maps and strings cannot fail.
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

fn scope(account: &str, region: &str) -> Result<(String, String), ApiError> {
    if !is_account_id(account) {
        return Err(ApiError::bad(
            "account_id",
            format!("account_id {account:?} is not an AWS account id (12 digits)"),
        ));
    }
    if !is_region(region) {
        return Err(ApiError::bad(
            "region",
            format!("region {region:?} is not an AWS region (e.g. eu-west-1)"),
        ));
    }
    Ok((account.to_string(), region.to_string()))
}

fn allowed_parameters(route: Route) -> &'static [&'static str] {
    match route {
        Route::Health | Route::OpenApi | Route::Accounts => &[],
        Route::Addresses => &["q"],
        Route::AccountConnections => &["date", "from", "to", "include"],
        _ => &["date", "from", "to"],
    }
}

/// Query parameters, checked against what the route takes.
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: &str, allowed: &[&'static str]) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (i, (name, _)) in pairs.iter().enumerate() {
            let Some(&known) = allowed.iter().find(|a| **a == name) else {
                let takes = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(ApiError::bad(
                    "query",
                    format!("unknown query parameter {name:?}; this route takes: {takes}"),
                ));
            };
            if known != "include" && pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad(known, format!("{known} is given twice")));
            }
        }
        Ok(Query { pairs })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A list given as `a,b` or repeated, blanks dropped.
    fn list(&self, name: &str) -> BTreeSet<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// `date`, or `from`..=`to` (`to` defaults to today, `from` to `to`), or today.
    fn days(&self, today: Date, max_days: u32) -> Result<Vec<String>, ApiError> {
        let date = |name: &'static str| -> Result<Option<Date>, ApiError> {
            self.get(name).map(|v| parse_date(name, v)).transpose()
        };
        let (from, to) = match (date("date")?, date("from")?, date("to")?) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ApiError::bad(
                    "date",
                    "give either date or a from/to range, not both",
                ))
            }
            (Some(d), None, None) => (d, d),
            (None, from, to) => {
                let to = to.unwrap_or(today);
                (from.unwrap_or(to), to)
            }
        };
        if to < from {
            return Err(ApiError::bad(
                "to",
                format!("to ({to}) is before from ({from})"),
            ));
        }
        let n = (to - from).whole_days() + 1;
        if n > i64::from(max_days) {
            return Err(ApiError::bad(
                "from",
                format!(
                    "the range {from}..{to} is {n} days; at most {max_days} (API_MAX_RANGE_DAYS)"
                ),
            ));
        }
        let mut days = Vec::with_capacity(n as usize);
        let mut day = from;
        while day <= to {
            days.push(crate::keys::day_string(day));
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        Ok(days)
    }
}

fn parse_date(name: &'static str, value: &str) -> Result<Date, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(value, &format).map_err(|_| {
        ApiError::bad(
            name,
            format!("{name} {value:?} is not a date in the form YYYY-MM-DD"),
        )
    })
}

/// `account/region` → connections summed over the days read, in API order. Account/regions the
/// refresh knows appear with an empty list when nothing was counted, as the original listed
/// every configured account.
fn connections_by_pair(read: ReadResult) -> BTreeMap<String, Vec<Connection>> {
    let known = known_pairs(&read);
    sum_days(read.days, known)
}

/// `account/region` pairs the refresh knows.
fn known_pairs(read: &ReadResult) -> Vec<String> {
    read.refreshed
        .keys()
        .map(|pair| pair.replacen(':', "/", 1))
        .collect()
}

/// Days of connections (`account/region` → rows) summed into one, each list in API order;
/// `known` account/regions are listed even when empty.
pub fn sum_days(
    days: Vec<BTreeMap<String, Vec<Connection>>>,
    known: impl IntoIterator<Item = String>,
) -> BTreeMap<String, Vec<Connection>> {
    let mut out: BTreeMap<String, Vec<Connection>> =
        known.into_iter().map(|pair| (pair, Vec::new())).collect();
    let single_day = days.len() == 1;
    let mut summed: HashMap<String, FastMap<(String, String, u16), u64>> = HashMap::new();
    for day in days {
        for (pair, rows) in day {
            if single_day {
                out.insert(pair, rows);
                continue;
            }
            let sums = summed.entry(pair).or_default();
            for c in rows {
                *sums.entry((c.source, c.dest, c.dest_port)).or_default() += c.score;
            }
        }
    }
    for (pair, sums) in summed {
        out.insert(
            pair,
            sums.into_iter()
                .map(|((source, dest, dest_port), score)| Connection {
                    source,
                    dest,
                    dest_port,
                    score,
                })
                .collect(),
        );
    }
    for rows in out.values_mut() {
        sort_connections(rows);
    }
    out
}

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint<'a> {
    dest: &'a str,
    dest_port: u16,
}

/// Distinct destinations and ports, sorted.
fn endpoints(rows: &[Connection]) -> BTreeSet<Endpoint<'_>> {
    rows.iter()
        .map(|c| Endpoint {
            dest: &c.dest,
            dest_port: c.dest_port,
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct AccountSource<'a> {
    source: &'a str,
    score: u64,
}

/// Sources of our own accounts (`account/region/name`) collapse to `account/region`; other
/// sources are left out unless named in `include`, then kept whole.
fn account_connections<'a>(
    days: &'a [BTreeMap<String, Vec<Connection>>],
    known: &'a [String],
    include: &BTreeSet<String>,
) -> BTreeMap<&'a str, Vec<AccountSource<'a>>> {
    let mut sums: BTreeMap<&str, FastMap<&str, u64>> = known
        .iter()
        .map(|p| (p.as_str(), FastMap::default()))
        .collect();
    for (pair, rows) in days.iter().flatten() {
        let sums = sums.entry(pair).or_default();
        for c in rows {
            let source = c.source.as_str();
            let key = match nth_slash(source, 2) {
                Some(end) => &source[..end],
                None if include.contains(source) => source,
                None => continue,
            };
            *sums.entry(key).or_default() += c.score;
        }
    }
    sums.into_iter()
        .map(|(pair, sums)| {
            let mut list: Vec<AccountSource> = sums
                .into_iter()
                .map(|(source, score)| AccountSource { source, score })
                .collect();
            list.sort_by(|a, b| b.score.cmp(&a.score).then(a.source.cmp(b.source)));
            (pair, list)
        })
        .collect()
}

/// Byte index of the `n`th `/` (1-based).
fn nth_slash(s: &str, n: usize) -> Option<usize> {
    s.match_indices('/').nth(n - 1).map(|(i, _)| i)
}

#[derive(Debug, Serialize)]
struct AccountView {
    name: String,
    last_update: Option<String>,
}

/// `/accounts`: the accounts the refresh monitors, each with its latest counted batch.
fn accounts(read: &ReadResult) -> BTreeMap<&str, AccountView> {
    read.accounts
        .iter()
        .map(|a| {
            let prefix = format!("{}:", a.id);
            let last_update = read
                .last_updates
                .iter()
                .filter(|(pair, _)| pair.starts_with(&prefix))
                .map(|(_, t)| t)
                .max()
                .cloned();
            (
                a.id.as_str(),
                AccountView {
                    name: a.name.clone(),
                    last_update,
                },
            )
        })
        .collect()
}

/// One public endpoint: the interfaces that answer under one name in one account/region.
#[derive(Debug, Serialize)]
pub struct PublicEndpoint {
    pub name: String,
    /// `load_balancer`, `instance`, `rds`, `nat_gateway` or `other`.
    pub kind: &'static str,
    pub account_id: String,
    pub region: String,
    pub interface_ids: Vec<String>,
    pub public_ips: Vec<String>,
    /// False for NAT gateways and jump hosts, whose traffic is not counted.
    pub counted: bool,
    /// Records seen in the range over all connections below.
    pub score: u64,
    pub connections: Vec<EndpointConnection>,
}

#[derive(Debug, Serialize)]
pub struct EndpointConnection {
    pub source: String,
    pub dest_port: u16,
    pub score: u64,
}

/// Every public interface the refresh found, grouped by the name its traffic is counted under,
/// with that traffic. Endpoints without traffic are listed too: that is the point.
fn public_endpoints(
    interfaces: &[InterfaceFacts],
    connections: &BTreeMap<String, Vec<Connection>>,
) -> BTreeMap<String, Vec<PublicEndpoint>> {
    let mut by_name: BTreeMap<(String, String), PublicEndpoint> = BTreeMap::new();
    for facts in interfaces {
        let pair = format!("{}/{}", facts.account_id, facts.region);
        for (&private, &public) in &facts.public_ips {
            let name = match classify::destination_name(facts, Some(private)) {
                DestName::Named(n) => n,
                DestName::DstAddr => private.to_string(),
            };
            let counted = !classify::is_dropped_destination(&name);
            let endpoint = by_name
                .entry((pair.clone(), name.clone()))
                .or_insert_with(|| PublicEndpoint {
                    name,
                    kind: kind(facts),
                    account_id: facts.account_id.clone(),
                    region: facts.region.clone(),
                    interface_ids: Vec::new(),
                    public_ips: Vec::new(),
                    counted,
                    score: 0,
                    connections: Vec::new(),
                });
            if !endpoint.interface_ids.contains(&facts.interface_id) {
                endpoint.interface_ids.push(facts.interface_id.clone());
            }
            let public = public.to_string();
            if !endpoint.public_ips.contains(&public) {
                endpoint.public_ips.push(public);
            }
        }
    }
    let mut out: BTreeMap<String, Vec<PublicEndpoint>> = BTreeMap::new();
    for ((pair, _), mut endpoint) in by_name {
        endpoint.interface_ids.sort();
        endpoint.public_ips.sort();
        if let Some(rows) = connections.get(&pair) {
            endpoint.connections = rows
                .iter()
                .filter(|c| c.dest == endpoint.name)
                .map(|c| EndpointConnection {
                    source: c.source.clone(),
                    dest_port: c.dest_port,
                    score: c.score,
                })
                .collect();
            endpoint.score = endpoint.connections.iter().map(|c| c.score).sum();
        }
        out.entry(pair).or_default().push(endpoint);
    }
    out
}

fn kind(facts: &InterfaceFacts) -> &'static str {
    // AWS sets the type; the description is what some emulators and older interfaces carry.
    if facts.interface_type == "nat_gateway"
        || facts.description.starts_with("Interface for NAT Gateway")
    {
        return "nat_gateway";
    }
    match classify::interface_kind(facts) {
        InterfaceKind::LoadBalancer => "load_balancer",
        InterfaceKind::Instance => "instance",
        InterfaceKind::Rds => "rds",
        InterfaceKind::Other => "other",
    }
}

/// The OpenAPI 3.1 document of the routes above.
pub fn openapi() -> serde_json::Value {
    use serde_json::json;
    let p = |name: &str| json!({"$ref": format!("#/components/parameters/{name}")});
    let ranged = || vec![p("date"), p("from"), p("to")];
    let scoped = || vec![p("account_id"), p("region"), p("date"), p("from"), p("to")];
    let ok = |description: &str, schema: serde_json::Value| {
        json!({
            "200": {"description": description, "content": {"application/json": {"schema": schema}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "503": {"$ref": "#/components/responses/Unavailable"}
        })
    };
    let s = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let by_pair = |item: serde_json::Value| {
        json!({"type": "object", "description": "keyed by account_id/region",
               "additionalProperties": {"type": "array", "items": item}})
    };
    let get = |summary: &str, parameters: Vec<serde_json::Value>, responses: serde_json::Value| json!({"get": {"summary": summary, "parameters": parameters, "responses": responses}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "connection-tracker",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Who from outside our private networks connects to which public endpoint, on which port, how often. Days are UTC; `date` defaults to today; `from`/`to` sum the days in between (inclusive)."
        },
        "paths": {
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string", "const": "OK"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/accounts": get("Monitored accounts, their name and last counted batch", vec![],
                ok("account id → account", json!({"type": "object", "additionalProperties": s("Account")}))),
            "/addresses": get("Our public addresses and their names", vec![p("q")],
                ok("address → name", json!({"type": "object", "additionalProperties": {"type": "string"}}))),
            "/connections": get("Inbound public connections of every account/region", ranged(),
                ok("account_id/region → connections, score descending", by_pair(s("Connection")))),
            "/connections/{account_id}/{region}": get("Inbound public connections of one account/region", scoped(),
                ok("connections, score descending", json!({"type": "array", "items": s("Connection")}))),
            "/endpoints": get("Destinations and ports that got connections, per account/region", ranged(),
                ok("account_id/region → endpoints", by_pair(s("Endpoint")))),
            "/endpoints/{account_id}/{region}": get("Destinations and ports that got connections in one account/region", scoped(),
                ok("endpoints", json!({"type": "array", "items": s("Endpoint")}))),
            "/account-connections": get("Connections between our accounts: sources collapsed to account/region", {
                    let mut v = ranged(); v.push(p("include")); v
                },
                ok("account_id/region → sources", by_pair(s("AccountSource")))),
            "/public-endpoints": get("Every public interface the refresh found, with its connections in the range", ranged(),
                ok("account_id/region → public endpoints", by_pair(s("PublicEndpoint")))),
            "/public-endpoints/{account_id}/{region}": get("Public endpoints of one account/region", scoped(),
                ok("public endpoints", json!({"type": "array", "items": s("PublicEndpoint")}))),
        },
        "components": {
            "parameters": {
                "account_id": {"name": "account_id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]{12}$"}},
                "region": {"name": "region", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z]+(-[a-z]+)+-[0-9]+$"}, "example": "eu-west-1"},
                "date": {"name": "date", "in": "query", "description": "One UTC day; default today. Not with from/to.", "schema": {"type": "string", "format": "date"}},
                "from": {"name": "from", "in": "query", "description": "First day of a range (default: to)", "schema": {"type": "string", "format": "date"}},
                "to": {"name": "to", "in": "query", "description": "Last day of a range (default: today); at most API_MAX_RANGE_DAYS days", "schema": {"type": "string", "format": "date"}},
                "include": {"name": "include", "in": "query", "description": "Comma-separated sources (e.g. network names) to keep whole", "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}},
                "q": {"name": "q", "in": "query", "description": "Substring of the name", "schema": {"type": "string"}}
            },
            "schemas": {
                "Account": {"type": "object", "required": ["name", "last_update"], "properties": {
                    "name": {"type": "string"},
                    "last_update": {"type": ["string", "null"], "format": "date-time"}}},
                "Connection": {"type": "object", "required": ["source", "dest", "dest_port", "score"], "properties": {
                    "source": {"type": "string", "description": "account/region/name, network name, DNS name or address"},
                    "dest": {"type": "string"},
                    "dest_port": {"type": "integer"},
                    "score": {"type": "integer", "description": "flow-log records counted"}}},
                "Endpoint": {"type": "object", "required": ["dest", "dest_port"], "properties": {
                    "dest": {"type": "string"}, "dest_port": {"type": "integer"}}},
                "AccountSource": {"type": "object", "required": ["source", "score"], "properties": {
                    "source": {"type": "string"}, "score": {"type": "integer"}}},
                "PublicEndpoint": {"type": "object", "required": ["name", "kind", "account_id", "region", "interface_ids", "public_ips", "counted", "score", "connections"], "properties": {
                    "name": {"type": "string"},
                    "kind": {"type": "string", "enum": ["load_balancer", "instance", "rds", "nat_gateway", "other"]},
                    "account_id": {"type": "string"}, "region": {"type": "string"},
                    "interface_ids": {"type": "array", "items": {"type": "string"}},
                    "public_ips": {"type": "array", "items": {"type": "string"}},
                    "counted": {"type": "boolean"},
                    "score": {"type": "integer"},
                    "connections": {"type": "array", "items": {"type": "object", "properties": {
                        "source": {"type": "string"}, "dest_port": {"type": "integer"}, "score": {"type": "integer"}}}}}},
                "Error": {"type": "object", "required": ["status", "error", "message"], "properties": {
                    "status": {"type": "integer"}, "error": {"type": "string"}, "message": {"type": "string"},
                    "parameter": {"type": "string", "description": "the parameter at fault (400 only)"}}}
            },
            "responses": {
                "BadRequest": {"description": "A parameter is malformed; `parameter` names it", "content": {"application/json": {"schema": s("Error")}}},
                "Unavailable": {"description": "Redis is unavailable; retry later", "content": {"application/json": {"schema": s("Error")}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(source: &str, dest: &str, port: u16, score: u64) -> Connection {
        Connection {
            source: source.into(),
            dest: dest.into(),
            dest_port: port,
            score,
        }
    }

    #[test]
    fn ranges_resolve_to_days() {
        let today = time::macros::date!(2026 - 11 - 27);
        let days = |q: &str| {
            Query::parse(q, &["date", "from", "to"])
                .and_then(|q| q.days(today, 31))
                .map_err(|e| match e {
                    ApiError::BadRequest { parameter, .. } => parameter,
                    other => panic!("{other}"),
                })
        };
        let ok = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(days(""), ok(&["2026-11-27"]));
        assert_eq!(days("date=2026-02-28"), ok(&["2026-02-28"]));
        assert_eq!(
            days("from=2026-11-25"),
            ok(&["2026-11-25", "2026-11-26", "2026-11-27"])
        );
        assert_eq!(
            days("from=2024-02-28&to=2024-03-01"),
            ok(&["2024-02-28", "2024-02-29", "2024-03-01"])
        );
        assert_eq!(days("to=2026-01-01"), ok(&["2026-01-01"]));
        assert_eq!(days("date=2026-13-01"), Err("date"));
        assert_eq!(days("date=27.11.2026"), Err("date"));
        assert_eq!(days("from=2026-11-27&to=2026-11-26"), Err("to"));
        assert_eq!(days("from=2026-10-01&to=2026-11-27"), Err("from"));
        assert_eq!(days("date=2026-11-27&from=2026-11-20"), Err("date"));
        assert_eq!(days("date=2026-11-27&date=2026-11-26"), Err("date"));
        assert_eq!(days("form=2026-11-27"), Err("query"));
    }

    #[test]
    fn account_sources_collapse_and_include_keeps_named_sources() {
        let mut connections = BTreeMap::new();
        connections.insert(
            "111111111111/eu-west-1".to_string(),
            vec![
                conn("222222222222/eu-west-1/nat-a.example.org", "lb", 443, 5),
                conn("222222222222/eu-west-1/nat-b.example.org", "lb", 443, 2),
                conn("333333333333/us-east-1/web/1.2.3.4", "lb", 80, 1),
                conn("my_office", "lb", 22, 4),
                conn("8.8.8.8", "lb", 443, 9),
            ],
        );
        let days = [connections];
        let none = account_connections(&days, &[], &BTreeSet::new());
        let got: Vec<(&str, u64)> = none["111111111111/eu-west-1"]
            .iter()
            .map(|s| (s.source, s.score))
            .collect();
        assert_eq!(
            got,
            [("222222222222/eu-west-1", 7), ("333333333333/us-east-1", 1)]
        );
        let include = BTreeSet::from(["my_office".to_string()]);
        let with = account_connections(&days, &[], &include);
        let got: Vec<(&str, u64)> = with["111111111111/eu-west-1"]
            .iter()
            .map(|s| (s.source, s.score))
            .collect();
        assert_eq!(
            got,
            [
                ("222222222222/eu-west-1", 7),
                ("my_office", 4),
                ("333333333333/us-east-1", 1)
            ]
        );
    }

    #[test]
    fn days_sum_and_known_pairs_are_listed_empty() {
        let day =
            |rows: Vec<Connection>| BTreeMap::from([("111111111111/eu-west-1".to_string(), rows)]);
        let read = ReadResult {
            days: vec![
                day(vec![conn("a", "x", 443, 2), conn("b", "x", 443, 1)]),
                day(vec![conn("b", "x", 443, 5), conn("a", "x", 80, 1)]),
            ],
            refreshed: HashMap::from([(
                "222222222222:us-east-1".to_string(),
                "2026-11-27T00:00:00.000000Z".to_string(),
            )]),
            ..ReadResult::default()
        };
        let got = connections_by_pair(read);
        assert_eq!(
            got["111111111111/eu-west-1"],
            [
                conn("b", "x", 443, 6),
                conn("a", "x", 443, 2),
                conn("a", "x", 80, 1)
            ]
        );
        assert_eq!(got["222222222222/us-east-1"], []);
    }
}

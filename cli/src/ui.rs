//! `ctrack ui`: the dashboard, served on 127.0.0.1 by ctrack itself (its pages are in the
//! binary: `cli/ui/`), forwarding the page's data requests to the API with the user's own auth
//! (SigV4 or bearer), as every other ctrack command does.
//!
//! The server signs requests with the user's credentials, so any web page the user visits
//! could try to use it. Safe by construction:
//! - a random session token in the URL ctrack prints; the first visit trades it for an
//!   `HttpOnly`, `SameSite=Strict` cookie and a redirect that takes it out of the address bar;
//!   every other request needs the cookie;
//! - `Host` must be this server's own `127.0.0.1:PORT` or `localhost:PORT` (DNS rebinding), an
//!   `Origin` from anywhere else is refused, and `Sec-Fetch-Site` must be `same-origin` or `none`
//!   (another local port is `same-site`: refused); the cookie's name carries the port, so
//!   another `ctrack ui`'s cookie is no session here;
//! - only `GET`, only the API's own routes are forwarded (the route table), each path segment
//!   passing its parameter's own check (a 12-digit account, a region's grammar) before a URL is
//!   built, so no encoded dot segment, `\` or `;` reaches the API host; nothing is written;
//!   besides them it answers its pages, `settings.json` (`--expected-ports`) and `graph.json` (the
//!   account graph laid out here, from the API's answers);
//! - a strict Content-Security-Policy (scripts and styles from this server only, no inline
//!   code, no frames), `nosniff`, no referrer, no caching.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};

use crate::client::{ApiClient, ClientError};
use connection_tracker::config::DEFAULT_API_MAX_RANGE_DAYS;
use connection_tracker::model::{is_account_id, is_region, STALE_REFRESH_SECONDS};

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");

const COOKIE: &str = "ctrack_ui";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What every request is checked against.
pub struct Ui {
    client: ApiClient,
    token: String,
    port: u16,
    routes: matchit::Router<()>,
    expected_ports: Vec<u16>,
}

impl Ui {
    pub fn new(client: ApiClient, port: u16, expected_ports: Vec<u16>) -> anyhow::Result<Ui> {
        let mut routes = matchit::Router::new();
        for path in connection_tracker::api::route_paths() {
            routes
                .insert(path, ())
                .map_err(|e| anyhow::anyhow!("route {path}: {e}"))?;
        }
        Ok(Ui {
            client,
            token: new_token()?,
            port,
            routes,
            expected_ports,
        })
    }

    /// The URL to open: with the session token.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }

    /// Serves on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        let ui = Arc::new(self);
        loop {
            let (stream, _) = listener.accept().await?;
            let ui = ui.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let ui = ui.clone();
                    async move { Ok::<_, Infallible>(ui.answer(request).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    }

    /// Why a request from elsewhere is refused, whoever holds the cookie: another `Host` (DNS
    /// rebinding), another `Origin`, a fetch from another site (a local port included), not a
    /// `GET`. `None`: it may go on.
    fn foreign<B>(&self, request: &Request<B>) -> Option<Response<Full<Bytes>>> {
        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        let own = [
            format!("127.0.0.1:{}", self.port),
            format!("localhost:{}", self.port),
        ];
        if !header("host").is_some_and(|h| own.iter().any(|o| o == h)) {
            return Some(page(
                StatusCode::FORBIDDEN,
                "This server answers only at its own address (127.0.0.1).",
            ));
        }
        let origin_ok =
            header("origin").is_none_or(|o| own.iter().any(|h| o == format!("http://{h}")));
        let fetch_ok =
            header("sec-fetch-site").is_none_or(|site| site == "same-origin" || site == "none");
        if !origin_ok || !fetch_ok {
            return Some(page(
                StatusCode::FORBIDDEN,
                "Requests from other sites are refused.",
            ));
        }
        if request.method() != hyper::Method::GET {
            return Some(page(StatusCode::METHOD_NOT_ALLOWED, "Only GET."));
        }
        None
    }

    /// One request, checked, answered.
    pub async fn answer<B>(&self, request: Request<B>) -> Response<Full<Bytes>> {
        if let Some(refused) = self.foreign(&request) {
            return refused;
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let path = request.uri().path().to_string();
        // The query, decoded once: (name, value) pairs in order.
        let query: Vec<(String, String)> =
            form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        // The token of the printed URL, traded for the session cookie.
        if path == "/" {
            if let Some(token) = param("token") {
                if !same(token, &self.token) {
                    return page(
                        StatusCode::FORBIDDEN,
                        "This link's token is not this session's: use the URL ctrack ui printed.",
                    );
                }
                let mut response = with_headers(StatusCode::SEE_OTHER, "text/plain", Bytes::new());
                let headers = response.headers_mut();
                headers.insert("location", "/".parse().expect("a header value"));
                let cookie = format!(
                    "{}={}; HttpOnly; SameSite=Strict; Path=/",
                    self.cookie_name(),
                    self.token
                );
                headers.insert("set-cookie", cookie.parse().expect("a header value"));
                return response;
            }
        }
        let session = header("cookie").is_some_and(|cookies| {
            cookies.split(';').any(|c| {
                c.trim()
                    .strip_prefix(&self.cookie_name())
                    .and_then(|rest| rest.strip_prefix('='))
                    .is_some_and(|value| same(value, &self.token))
            })
        });
        if !session {
            return page(
                StatusCode::UNAUTHORIZED,
                "Open the URL that ctrack ui printed (it carries this session's token).",
            );
        }
        match path.as_str() {
            "/" => with_headers(
                StatusCode::OK,
                "text/html; charset=utf-8",
                INDEX_HTML.into(),
            ),
            "/app.js" => with_headers(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                APP_JS.into(),
            ),
            "/app.css" => with_headers(StatusCode::OK, "text/css; charset=utf-8", APP_CSS.into()),
            "/settings.json" => json(
                StatusCode::OK,
                &serde_json::json!({
                    "expected_ports": self.expected_ports,
                    "max_range_days": DEFAULT_API_MAX_RANGE_DAYS,
                    "stale_after_seconds": STALE_REFRESH_SECONDS,
                }),
            ),
            "/graph.json" => self.graph(param).await,
            _ => match path.strip_prefix("/api") {
                Some(api_path) if self.forwardable(api_path) => {
                    self.forward(api_path, &query).await
                }
                _ => page(StatusCode::NOT_FOUND, "No such page."),
            },
        }
    }

    /// The session cookie's name: this server's port in it, so a `ctrack ui` on another port
    /// (same site, for a browser) cannot lend its cookie.
    fn cookie_name(&self) -> String {
        format!("{COOKIE}_{}", self.port)
    }

    /// Whether `path` is one of the API's routes with every parameter passing its own check
    /// (`{account_id}` twelve digits, `{region}` a region's name): what is forwarded is built
    /// from segments that cannot be dot segments, separators or escapes.
    fn forwardable(&self, path: &str) -> bool {
        self.routes.at(path).is_ok_and(|found| {
            found.params.iter().all(|(name, value)| match name {
                "account_id" => is_account_id(value),
                "region" => is_region(value),
                _ => false,
            })
        })
    }

    /// An API route, with the user's auth; the answer passed on, errors as JSON the page shows.
    async fn forward(&self, path: &str, query: &[(String, String)]) -> Response<Full<Bytes>> {
        let pairs: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = self
            .client
            .get_page::<serde_json::Value>(path, &pairs)
            .await;
        match answer {
            Ok((body, next)) => {
                let mut response = json(StatusCode::OK, &body);
                if let Some(next) = next.and_then(|n| n.parse().ok()) {
                    response.headers_mut().insert("x-next-cursor", next);
                }
                response
            }
            Err(e) => failed(e),
        }
    }

    /// The account graph laid out as `ctrack graph -o svg` lays it out, as data the page draws
    /// (`from`, `to` or `date`, `per_region`, `include`: as `ctrack graph`; the API checks them).
    async fn graph<'q>(&self, param: impl Fn(&str) -> Option<&'q str>) -> Response<Full<Bytes>> {
        let date = param("date").unwrap_or_default();
        let from = param("from").unwrap_or(date);
        let to = param("to").unwrap_or(date);
        let include: Vec<String> = param("include")
            .map(|i| {
                i.split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let per_region = param("per_region").is_some_and(|v| v == "true" || v == "1");
        match crate::graph::fetch(&self.client, from, to, &include, per_region).await {
            // Laying out is CPU work: off the runtime's threads.
            Ok(graph) => {
                match tokio::task::spawn_blocking(move || crate::graph::layout(&graph)).await {
                    Ok(layout) => json(StatusCode::OK, &layout),
                    Err(e) => json(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &serde_json::json!({"status": 500, "message": format!("layout failed: {e}")}),
                    ),
                }
            }
            Err(e) => failed(e),
        }
    }
}

fn json(status: StatusCode, body: &impl serde::Serialize) -> Response<Full<Bytes>> {
    with_headers(
        status,
        "application/json",
        serde_json::to_vec(body).unwrap_or_default().into(),
    )
}

/// The API's refusal passed on (status, message, parameter), or why it could not be asked.
fn failed(error: ClientError) -> Response<Full<Bytes>> {
    match error {
        ClientError::Status {
            status,
            message,
            parameter,
            ..
        } => json(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            &serde_json::json!({"status": status, "message": message, "parameter": parameter}),
        ),
        e => {
            let message = match e {
                ClientError::Http { .. } => format!("The API cannot be reached: {e}"),
                ClientError::Sign { .. } => {
                    format!("{e} (check the AWS credentials ctrack ui was started with)")
                }
                _ => format!("The API's answer was not understood: {e}"),
            };
            json(
                StatusCode::BAD_GATEWAY,
                &serde_json::json!({"status": 502, "message": message}),
            )
        }
    }
}

/// 32 random bytes, hex.
fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn page(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>ctrack ui</title><p>{}</p>",
        message.replace('<', "&lt;")
    );
    with_headers(status, "text/html; charset=utf-8", html.into())
}

fn with_headers(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", content_type),
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, value.parse().expect("a header value"));
    }
    response
}

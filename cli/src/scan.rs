//! `ctrack scan-endpoints`: is each endpoint that got connections reachable, and does it ask for
//! credentials? A reachability probe: certificates are not verified, redirects not followed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::error_chain;
use futures::StreamExt;

/// `/endpoints` entry, as the API writes it.
pub type Endpoint = connection_tracker::model::Endpoint<'static>;

/// One URL to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `account/region`
    pub account: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer: status and the start of the body, on one line.
    Answered {
        status: u16,
        body: String,
    },
    TimedOut,
    Failed(String),
}

impl Outcome {
    /// 401/403: the endpoint asks for credentials.
    pub fn is_protected(&self) -> bool {
        matches!(
            self,
            Outcome::Answered {
                status: 401 | 403,
                ..
            }
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub target: Target,
    pub outcome: Outcome,
}

const TLS_PORTS: [u16; 2] = [443, 8443];
const BODY_START: usize = 60;
/// Enough of the body to show its start; the rest is not read.
const BODY_READ_LIMIT: usize = 16 * 1024;

/// One URL per destination and port: HTTPS on 443/8443, HTTP otherwise, host from the last
/// `/`-part of the name (`web/52.1.2.3` → `52.1.2.3`). Port 0 (no port: ICMP and the like)
/// cannot be probed and is left out. Sorted, without repeats.
pub fn targets(endpoints: &BTreeMap<String, Vec<Endpoint>>) -> Vec<Target> {
    let mut out: Vec<Target> = endpoints
        .iter()
        .flat_map(|(account, list)| {
            list.iter().filter(|e| e.dest_port != 0).map(move |e| {
                let host = e.dest.rsplit('/').next().unwrap_or(&e.dest);
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.to_string()
                };
                let scheme = if TLS_PORTS.contains(&e.dest_port) {
                    "https"
                } else {
                    "http"
                };
                Target {
                    account: account.clone(),
                    url: format!("{scheme}://{host}:{}/", e.dest_port),
                }
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.account, &a.url).cmp(&(&b.account, &b.url)));
    out.dedup();
    out
}

/// The probing client: no certificate checks, no redirects, no proxy, bounded time.
pub fn probe_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .tls_danger_accept_invalid_hostnames(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("ctrack-scan/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS client can be built")
}

pub async fn probe(client: &reqwest::Client, target: Target, timeout: Duration) -> Probe {
    let outcome = match tokio::time::timeout(timeout, fetch(client, &target.url)).await {
        Err(_) => Outcome::TimedOut,
        Ok(Ok((status, body))) => Outcome::Answered { status, body },
        Ok(Err(e)) if e.is_timeout() => Outcome::TimedOut,
        Ok(Err(e)) => Outcome::Failed(error_chain(&e)),
    };
    Probe { target, outcome }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<(u16, String), reqwest::Error> {
    let mut response = client.get(url).send().await?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while body.len() < BODY_READ_LIMIT {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((status, one_line.chars().take(BODY_START).collect()))
}

/// Probes every target, `concurrency` at a time; `done` sees each probe as it finishes.
/// Results come back in the targets' order.
pub async fn probe_all(
    targets: Vec<Target>,
    concurrency: usize,
    timeout: Duration,
    mut done: impl FnMut(&Probe),
) -> Vec<Probe> {
    let client = probe_client(timeout);
    let client = &client;
    let mut results: Vec<(usize, Probe)> = futures::stream::iter(targets.into_iter().enumerate())
        .map(|(i, t)| async move { (i, probe(client, t, timeout).await) })
        .buffer_unordered(concurrency.max(1))
        .inspect(|(_, p)| done(p))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pick_scheme_and_host() {
        let e = |dest: &str, port| Endpoint {
            dest: dest.to_string().into(),
            dest_port: port,
            distinct_sources: None,
        };
        let endpoints = BTreeMap::from([(
            "111111111111/eu-west-1".to_string(),
            vec![
                e("shop-1.eu-west-1.elb.amazonaws.com", 443),
                e("shop-1.eu-west-1.elb.amazonaws.com", 80),
                e("web/52.16.0.20", 8443),
                e(
                    "111111111111/eu-west-1/orders.c9.eu-west-1.rds.amazonaws.com",
                    5432,
                ),
                e("web/2a05:d018::20", 8080),
                e("52.16.0.21", 0),
            ],
        )]);
        let urls: Vec<String> = targets(&endpoints).into_iter().map(|t| t.url).collect();
        assert_eq!(
            urls,
            [
                "http://[2a05:d018::20]:8080/",
                "http://orders.c9.eu-west-1.rds.amazonaws.com:5432/",
                "http://shop-1.eu-west-1.elb.amazonaws.com:80/",
                "https://52.16.0.20:8443/",
                "https://shop-1.eu-west-1.elb.amazonaws.com:443/",
            ]
        );
    }
}

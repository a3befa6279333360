//! `ctrack scan-endpoints`: is each endpoint that got connections reachable, and does it ask for
//! credentials? A reachability probe, as the original's: certificates are not verified,
//! redirects are followed (at most 5, the final URL shown). Beyond the original it never
//! reaches what a redirect or a DNS answer could point it at inside a network — private,
//! loopback, link-local (the instance metadata service) addresses — unless `--allow-private`:
//! every address is checked where it is used (each hop's literal address, every name's
//! resolution), and what servers send back is stripped of control characters before printing.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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
    /// An HTTP answer: status, the start of the body on one line, and the URL that answered
    /// when redirects led elsewhere.
    Answered {
        status: u16,
        body: String,
        final_url: Option<String>,
    },
    TimedOut,
    Failed(String),
    /// Not probed: the address (or a redirect's, or a name's) is one the scan does not reach.
    Refused(String),
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

impl Probe {
    /// One probe as a JSON object (`-o json`): account, url, result (`answered`, `timed_out`,
    /// `failed`, `refused`), and status, body, final_url or error where there is one.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"account": self.target.account, "url": self.target.url});
        let fields = match &self.outcome {
            Outcome::Answered {
                status,
                body,
                final_url,
            } => serde_json::json!({"result": "answered", "status": status, "body": body,
                "protected": self.outcome.is_protected(), "final_url": final_url}),
            Outcome::TimedOut => serde_json::json!({"result": "timed_out"}),
            Outcome::Failed(e) => serde_json::json!({"result": "failed", "error": e}),
            Outcome::Refused(why) => serde_json::json!({"result": "refused", "error": why}),
        };
        if let (Some(map), serde_json::Value::Object(more)) = (v.as_object_mut(), fields) {
            map.extend(more);
        }
        v
    }
}

const TLS_PORTS: [u16; 2] = [443, 8443];
const BODY_START: usize = 60;
/// Enough of the body to show its start; the rest is not read.
const BODY_READ_LIMIT: usize = 16 * 1024;

/// One URL per destination and port: HTTPS on 443/8443, HTTP otherwise, host from the last
/// `/`-part of the name (`web/52.1.2.3` → `52.1.2.3`). Port 0 (no port: ICMP and the like)
/// cannot be probed and is left out, as are a destination's folded ports (`other`). Sorted,
/// without repeats.
pub fn targets(endpoints: &BTreeMap<String, Vec<Endpoint>>) -> Vec<Target> {
    let mut out: Vec<Target> = endpoints
        .iter()
        .flat_map(|(account, list)| {
            list.iter()
                .filter_map(|e| {
                    let port = e.dest_port.number().filter(|&p| p != 0)?;
                    Some((e, port))
                })
                .map(move |(e, port)| {
                    let host = e.dest.rsplit('/').next().unwrap_or(&e.dest);
                    let host = if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host.to_string()
                    };
                    let scheme = if TLS_PORTS.contains(&port) {
                        "https"
                    } else {
                        "http"
                    };
                    Target {
                        account: account.clone(),
                        url: format!("{scheme}://{host}:{port}/"),
                    }
                })
        })
        .collect();
    out.sort_by(|a, b| (&a.account, &a.url).cmp(&(&b.account, &b.url)));
    out.dedup();
    out
}

/// Which addresses a probe may reach.
pub type AddressPolicy = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Addresses on the internet: not private, loopback, link-local (169.254.169.254, the instance
/// metadata service, included), unspecified, multicast, broadcast or carrier-grade NAT.
pub fn is_public_address(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let special = match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_multicast() || v4.is_broadcast() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => v6.is_multicast(),
    };
    !(connection_tracker::rules::classify::is_private(ip)
        || ip.is_loopback()
        || ip.is_unspecified()
        || special)
}

/// Public addresses only, or everything with `--allow-private`.
pub fn address_policy(allow_private: bool) -> AddressPolicy {
    if allow_private {
        Arc::new(|_| true)
    } else {
        Arc::new(is_public_address)
    }
}

/// The system resolver, keeping only addresses the policy allows: a name that resolves (or is
/// rebound) to an inside address is refused at connection time, at every hop.
struct GuardedResolver(AddressPolicy);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.iter().copied().filter(|a| allowed(a.ip())).collect();
            if kept.is_empty() && !found.is_empty() {
                let list: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "refused: {host} resolves to {} (not a public address; --allow-private)",
                    list.join(", ")
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

const MAX_REDIRECTS: usize = 5;

/// A literal address in a URL the policy refuses, as the reason.
fn refused_literal(url: &reqwest::Url, allowed: &AddressPolicy) -> Option<String> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()?;
    (!allowed(ip)).then(|| format!("refused: {ip} is not a public address (--allow-private)"))
}

/// The probing client: no certificate checks, redirects followed (at most 5, each hop's
/// address checked), names resolved through the policy, no proxy, bounded time.
pub fn probe_client(timeout: Duration, allowed: AddressPolicy) -> reqwest::Client {
    let hop_policy = allowed.clone();
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .tls_danger_accept_invalid_hostnames(true)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if let Some(reason) = refused_literal(attempt.url(), &hop_policy) {
                attempt.error(reason)
            } else {
                attempt.follow()
            }
        }))
        .dns_resolver(Arc::new(GuardedResolver(allowed)))
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("ctrack-scan/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS client can be built")
}

pub async fn probe(
    client: &reqwest::Client,
    allowed: &AddressPolicy,
    target: Target,
    timeout: Duration,
) -> Probe {
    if let Some(reason) = reqwest::Url::parse(&target.url)
        .ok()
        .and_then(|u| refused_literal(&u, allowed))
    {
        return Probe {
            target,
            outcome: Outcome::Refused(reason),
        };
    }
    let outcome = match tokio::time::timeout(timeout, fetch(client, &target.url)).await {
        Err(_) => Outcome::TimedOut,
        Ok(Ok((status, body, final_url))) => Outcome::Answered {
            status,
            body,
            final_url: (final_url != target.url).then_some(final_url),
        },
        Ok(Err(e)) if e.is_timeout() => Outcome::TimedOut,
        Ok(Err(e)) => {
            let chain = clean(&error_chain(&e));
            match chain.find("refused: ") {
                Some(at) if !chain.contains("Connection refused") => {
                    Outcome::Refused(chain[at..].to_string())
                }
                _ => Outcome::Failed(chain),
            }
        }
    };
    Probe { target, outcome }
}

/// What a server sent, fit for a terminal: no control characters (escape sequences could
/// rewrite the screen), whitespace folded to single spaces.
pub fn clean(text: &str) -> String {
    let visible: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    visible.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> Result<(u16, String, String), reqwest::Error> {
    let mut response = client.get(url).send().await?;
    let status = response.status().as_u16();
    let final_url = response.url().to_string();
    let mut body = Vec::new();
    while body.len() < BODY_READ_LIMIT {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    let text = clean(&String::from_utf8_lossy(&body));
    Ok((
        status,
        text.chars().take(BODY_START).collect(),
        clean(&final_url),
    ))
}

/// Probes every target, `concurrency` at a time; `done` sees each probe as it finishes.
/// Results come back in the targets' order.
pub async fn probe_all(
    targets: Vec<Target>,
    concurrency: usize,
    timeout: Duration,
    allowed: AddressPolicy,
    mut done: impl FnMut(&Probe),
) -> Vec<Probe> {
    let client = probe_client(timeout, allowed.clone());
    let (client, allowed) = (&client, &allowed);
    let mut results: Vec<(usize, Probe)> = futures::stream::iter(targets.into_iter().enumerate())
        .map(|(i, t)| async move { (i, probe(client, allowed, t, timeout).await) })
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
    fn only_public_addresses_are_probed_by_default() {
        for (ip, public) in [
            ("52.16.0.20", true),
            ("2a05:d018::20", true),
            ("100.63.255.255", true),
            ("127.0.0.1", false),
            ("10.0.0.1", false),
            ("172.16.5.4", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("::1", false),
            ("fe80::1", false),
            ("fd00:ec2::254", false),
            ("::ffff:169.254.169.254", false),
            ("ff02::1", false),
        ] {
            assert_eq!(is_public_address(ip.parse().unwrap()), public, "{ip}");
        }
        assert_eq!(
            clean("\u{1b}[2J\u{1b}[31mred\r\n  text\u{7}"),
            "[2J [31mred text"
        );
    }

    #[test]
    fn targets_pick_scheme_and_host() {
        use connection_tracker::model::DestPort;
        let e = |dest: &str, port: DestPort| Endpoint {
            dest: dest.to_string().into(),
            dest_port: port,
            distinct_sources: None,
        };
        let endpoints = BTreeMap::from([(
            "111111111111/eu-west-1".to_string(),
            vec![
                e("shop-1.eu-west-1.elb.amazonaws.com", 443.into()),
                e("shop-1.eu-west-1.elb.amazonaws.com", 80.into()),
                e("web/52.16.0.20", 8443.into()),
                e(
                    "111111111111/eu-west-1/orders.c9.eu-west-1.rds.amazonaws.com",
                    5432.into(),
                ),
                e("web/2a05:d018::20", 8080.into()),
                e("52.16.0.21", 0.into()),
                // A destination's folded ports: no port to probe.
                e("web/52.16.0.20", DestPort::Other),
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

//! Reverse DNS of the sources ingest counted without a name, bounded per run, cached.

use std::net::IpAddr;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use time::OffsetDateTime;

use super::discovery::Resolver;
use super::RefreshReport;
use crate::config::RefreshConfig;
use crate::day::day_string;
use crate::store::{RefreshStore, StoreError};

/// Resolves sources that ingest counted without a name (today and yesterday), at most
/// `dns_max_lookups` per run within `dns_budget`; answers, "no name" too, are cached.
pub(super) async fn reverse_dns<R: Resolver, S: RefreshStore>(
    resolver: &R,
    store: &S,
    config: &RefreshConfig,
    report: &mut RefreshReport,
) -> Result<(), StoreError> {
    if config.dns_max_lookups == 0 {
        return Ok(());
    }
    let today = OffsetDateTime::now_utc().date();
    let mut pending: Vec<String> = Vec::new();
    for day in [today, today.previous_day().unwrap_or(today)] {
        pending.extend(store.day_unnamed(&day_string(day)).await?);
    }
    pending.sort();
    pending.dedup();
    let cached = store.cached_names(&pending).await?;
    let todo: Vec<IpAddr> = pending
        .iter()
        .zip(cached)
        .filter(|(_, c)| c.is_none())
        .filter_map(|(ip, _)| ip.parse().ok())
        .collect();
    let deadline = Instant::now() + config.dns_budget;
    let mut answers = Vec::new();
    let lookups = stream::iter(todo.iter().take(config.dns_max_lookups).copied())
        .map(|ip| async move { (ip, resolver.reverse(ip).await) })
        .buffer_unordered(config.concurrency.max(1) * 4);
    let mut lookups = std::pin::pin!(lookups);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, lookups.next()).await {
            Ok(Some((ip, Some(name)))) => {
                report.dns_resolved += 1;
                answers.push((ip.to_string(), name, config.dns_ttl.as_secs()));
            }
            Ok(Some((ip, None))) => {
                report.dns_without_name += 1;
                answers.push((
                    ip.to_string(),
                    String::new(),
                    config.dns_negative_ttl.as_secs(),
                ));
            }
            Ok(None) | Err(_) => break,
        }
    }
    report.dns_pending = todo.len() - answers.len();
    store.put_names(&answers).await
}

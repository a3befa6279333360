//! The refresh run: accounts → every account/region described concurrently (bounded) → each
//! one's maps replaced atomically → reverse DNS for sources ingest counted without a name.
//! A failing account/region keeps its previous maps; the run fails only when nothing could be
//! refreshed.

pub mod archive;
#[cfg(feature = "aws")]
pub mod aws;
pub mod discovery;
mod dns;
pub mod ip_ranges;
mod report;
pub mod run;

pub use report::{RefreshReport, RegionFailure};
pub use run::{Refresh, RunError};

use dns::reverse_dns;
use report::{RegionCounts, RegionError, RegionRun};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use time::OffsetDateTime;

use crate::config::RefreshConfig;
use crate::day::rfc3339_micros;
use crate::model::{pair_key, pair_text, Account, AccountRegion};
use crate::store::{RefreshStore, StoreError};
use discovery::{build_region_inventory, AccountList, Discovery, DiscoveryError, Resolver};

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("cannot read the accounts table: {0}")]
    Accounts(DiscoveryError),
    #[error("Redis: {0}")]
    Store(#[from] StoreError),
    #[error("no account/region could be refreshed ({failed} failed); first failure: {first}")]
    NothingRefreshed { failed: usize, first: String },
}

/// `nat-<zone>.<domain>` for every zone of the region (`DescribeAvailabilityZones`; `a`, `b`,
/// `c` when the region answered none) and `odd-<region>.<domain>` (`docs/rules.md`, "Names": hosts of `DOMAIN`).
fn domain_hosts(template: &str, account: &Account, region: &str, zones: &[String]) -> Vec<String> {
    let domain = template
        .replace("{account_name}", &account.name)
        .replace("{account_id}", &account.id);
    let fallback: Vec<String>;
    let zones = if zones.is_empty() {
        fallback = ["a", "b", "c"]
            .iter()
            .map(|l| format!("{region}{l}"))
            .collect();
        &fallback
    } else {
        zones
    };
    let mut hosts: Vec<String> = zones
        .iter()
        .map(|zone| format!("nat-{zone}.{domain}"))
        .collect();
    hosts.push(format!("odd-{region}.{domain}"));
    hosts
}

/// Refreshes every monitored account/region: the accounts list, each account/region's maps
/// (described concurrently, bounded, each within its timeout), the maps of account/regions no
/// longer monitored dropped, failures recorded, reverse DNS of unnamed sources.
pub async fn refresh<A, D, R, S>(
    accounts: &A,
    discovery: &D,
    resolver: &R,
    store: &S,
    config: &RefreshConfig,
) -> Result<RefreshReport, RefreshError>
where
    A: AccountList,
    D: Discovery,
    R: Resolver,
    S: RefreshStore,
{
    refresh_until(accounts, discovery, resolver, store, config, None).await
}

/// [`refresh`], starting no account/region that could not finish (its timeout) before
/// `deadline`: the stalest account/regions go first (never refreshed, then the oldest
/// refresh), so a run that stops early leaves the freshest for later and every one is
/// refreshed within a bounded number of runs, whatever the estate's size. A describe that
/// timed out is tried once more at the end of the run, time permitting.
pub async fn refresh_until<A, D, R, S>(
    accounts: &A,
    discovery: &D,
    resolver: &R,
    store: &S,
    config: &RefreshConfig,
    deadline: Option<tokio::time::Instant>,
) -> Result<RefreshReport, RefreshError>
where
    A: AccountList,
    D: Discovery,
    R: Resolver,
    S: RefreshStore,
{
    let started = Instant::now();
    let all = accounts.accounts().await.map_err(RefreshError::Accounts)?;
    let mut report = RefreshReport {
        accounts: all.len(),
        disabled_accounts: all.iter().filter(|a| !a.enabled).count(),
        ..RefreshReport::default()
    };
    let enabled: Vec<Account> = all.into_iter().filter(|a| a.enabled).collect();
    store.put_accounts(&enabled).await?;
    let mut jobs = jobs(&enabled, &config.regions);
    let refreshed = store.refreshed().await?;
    report.dropped = drop_stale(store, &jobs, &refreshed).await?;
    stalest_first(&mut jobs, &refreshed, &store.waiting().await?);
    let monitored: BTreeSet<String> = enabled.iter().map(|a| a.id.clone()).collect();
    let runs = run_jobs(
        &jobs,
        &monitored,
        (discovery, resolver, store),
        config,
        deadline,
    )
    .await;
    let mut timed_out = Vec::new();
    for run in runs {
        if let Some(Err(RegionError {
            kind: "timeout", ..
        })) = &run.result
        {
            timed_out.push((run.account.clone(), run.region.clone()));
        }
        report.add(run);
    }
    let time_left =
        deadline.is_none_or(|d| tokio::time::Instant::now() + config.region_timeout <= d);
    if !timed_out.is_empty() && time_left {
        // Once more, those that timed out: a slow answer is often a passing one.
        let again: Vec<(&Account, String)> = jobs
            .iter()
            .filter(|(a, r)| timed_out.contains(&(a.id.clone(), r.clone())))
            .map(|(a, r)| (*a, r.clone()))
            .collect();
        let retry = run_jobs(
            &again,
            &monitored,
            (discovery, resolver, store),
            config,
            deadline,
        )
        .await;
        report.retry(retry);
    }
    report.refreshed.sort();
    report.deferred.sort();
    report
        .failed
        .sort_by(|a, b| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)));
    store
        .put_refresh_failures(&report.failures_to_show())
        .await?;
    reverse_dns(resolver, store, config, &mut report).await?;
    report.wall_ms = started.elapsed().as_millis() as u64;
    if report.refreshed.is_empty() && !report.failed.is_empty() {
        let first = &report.failed[0];
        return Err(RefreshError::NothingRefreshed {
            failed: report.failed.len(),
            first: format!(
                "{}: {}",
                pair_text(&first.account_id, &first.region),
                first.error
            ),
        });
    }
    Ok(report)
}

/// Orders the jobs: those with lines waiting for interfaces not found yet first, then by their
/// last successful refresh, oldest first (never refreshed before all), ties by account and
/// region.
fn stalest_first(
    jobs: &mut [(&Account, String)],
    refreshed: &HashMap<String, String>,
    waiting: &HashSet<String>,
) {
    jobs.sort_by_cached_key(|(a, r)| {
        let pair = pair_key(&a.id, r);
        let last = refreshed.get(&pair).cloned().unwrap_or_default();
        (!waiting.contains(&pair), last, a.id.clone(), r.clone())
    });
}

/// Runs `jobs`, `config.concurrency` at a time, each within its timeout; a job that could not
/// finish before `deadline` is not started (`result: None`).
async fn run_jobs<D: Discovery, R: Resolver, S: RefreshStore>(
    jobs: &[(&Account, String)],
    monitored: &BTreeSet<String>,
    (discovery, resolver, store): (&D, &R, &S),
    config: &RefreshConfig,
    deadline: Option<tokio::time::Instant>,
) -> Vec<RegionRun> {
    stream::iter(jobs.iter().enumerate())
        .map(|(i, (account, region))| async move {
            let t = Instant::now();
            // The first `concurrency` always start: every run makes progress, whatever the
            // deadline says (a clock that disagrees, a timeout shorter than the margin).
            let too_late = i >= config.concurrency
                && deadline
                    .is_some_and(|d| tokio::time::Instant::now() + config.region_timeout > d);
            let result = if too_late {
                None
            } else {
                let job = Describe {
                    account,
                    region,
                    monitored,
                };
                Some(refresh_region(job, discovery, resolver, store, config).await)
            };
            RegionRun {
                account: account.id.clone(),
                region: region.clone(),
                elapsed: t.elapsed(),
                result,
            }
        })
        .buffer_unordered(config.concurrency)
        .collect()
        .await
}

/// Every enabled account's regions (its own, else the `REGIONS` default).
fn jobs<'a>(enabled: &'a [Account], default_regions: &[String]) -> Vec<(&'a Account, String)> {
    enabled
        .iter()
        .flat_map(|a| {
            let regions = if a.regions.is_empty() {
                default_regions
            } else {
                &a.regions
            };
            regions.iter().map(move |r| (a, r.clone()))
        })
        .collect()
}

/// Account/regions refreshed before but no longer listed leave the maps; their `ACCOUNT/REGION`.
async fn drop_stale<S: RefreshStore>(
    store: &S,
    jobs: &[(&Account, String)],
    refreshed: &HashMap<String, String>,
) -> Result<Vec<String>, StoreError> {
    let current: std::collections::HashSet<String> =
        jobs.iter().map(|(a, r)| pair_key(&a.id, r)).collect();
    let mut dropped = Vec::new();
    for stale in refreshed.keys() {
        if current.contains(stale) {
            continue;
        }
        if let Some(pair) = AccountRegion::from_key(stale) {
            store.drop_region(pair.account(), pair.region()).await?;
            dropped.push(pair.to_string());
        }
    }
    dropped.sort();
    Ok(dropped)
}

/// One account/region to describe, and the accounts whose interfaces it leaves to them.
#[derive(Clone, Copy)]
struct Describe<'a> {
    account: &'a Account,
    region: &'a str,
    monitored: &'a BTreeSet<String>,
}

async fn refresh_region<D: Discovery, R: Resolver, S: RefreshStore>(
    job: Describe<'_>,
    discovery: &D,
    resolver: &R,
    store: &S,
    config: &RefreshConfig,
) -> Result<RegionCounts, RegionError> {
    let Describe {
        account,
        region,
        monitored,
    } = job;
    let facts = tokio::time::timeout(config.region_timeout, discovery.describe(account, region))
        .await
        .map_err(|_| DiscoveryError::Timeout(config.region_timeout.as_secs()))??;
    let mut hosts: Vec<(IpAddr, String)> = Vec::new();
    if let Some(template) = &config.domain {
        for host in domain_hosts(template, account, region, &facts.availability_zones) {
            for ip in resolver.lookup(&host).await {
                hosts.push((ip, host.clone()));
            }
        }
    }
    let inventory = build_region_inventory(account, region, &facts, &hosts, monitored);
    let now = rfc3339_micros(OffsetDateTime::now_utc());
    store
        .replace_region(&account.id, region, &inventory, &now)
        .await
        .map_err(|e| RegionError {
            kind: "store",
            error: e.to_string(),
        })?;
    Ok(RegionCounts {
        interfaces: inventory.interfaces.len(),
        addresses: inventory.addresses.len(),
        formats: inventory.formats.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RefreshFailure;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;
    use std::time::Duration;

    use crate::config::RedisConfig;
    use crate::model::RegionInventory;
    use discovery::{RawInterface, RegionFacts};

    /// The refresh port in memory: maps per account/region, and one account whose writes fail.
    #[derive(Default)]
    struct MemoryStore {
        regions: Mutex<BTreeMap<(String, String), RegionInventory>>,
        refreshed: Mutex<HashMap<String, String>>,
        failures: Mutex<HashMap<String, RefreshFailure>>,
        accounts: Mutex<Vec<Account>>,
        failing_account: Option<&'static str>,
        s3_ranges: Mutex<Option<(Vec<String>, String)>>,
    }

    impl RefreshStore for MemoryStore {
        async fn put_accounts(&self, accounts: &[Account]) -> Result<(), StoreError> {
            *self.accounts.lock().unwrap() = accounts.to_vec();
            Ok(())
        }
        async fn refreshed(&self) -> Result<HashMap<String, String>, StoreError> {
            Ok(self.refreshed.lock().unwrap().clone())
        }
        async fn waiting(&self) -> Result<HashSet<String>, StoreError> {
            Ok(HashSet::new())
        }
        async fn replace_region(
            &self,
            account: &str,
            region: &str,
            inventory: &RegionInventory,
            now_rfc3339: &str,
        ) -> Result<(), StoreError> {
            if self.failing_account == Some(account) {
                return Err(StoreError::Reply("the write was refused".into()));
            }
            let field = pair_key(account, region);
            let key = (account.to_string(), region.to_string());
            self.regions.lock().unwrap().insert(key, inventory.clone());
            // As the script: a success ends the account/region's failure.
            self.failures.lock().unwrap().remove(&field);
            self.refreshed
                .lock()
                .unwrap()
                .insert(field, now_rfc3339.into());
            Ok(())
        }
        async fn put_refresh_failures(
            &self,
            failed: &[(String, RefreshFailure)],
        ) -> Result<(), StoreError> {
            self.failures.lock().unwrap().extend(failed.iter().cloned());
            Ok(())
        }
        async fn drop_region(&self, account: &str, region: &str) -> Result<(), StoreError> {
            self.failures
                .lock()
                .unwrap()
                .remove(&pair_key(account, region));
            let key = (account.to_string(), region.to_string());
            self.regions.lock().unwrap().remove(&key);
            self.refreshed
                .lock()
                .unwrap()
                .remove(&pair_key(account, region));
            Ok(())
        }
        async fn day_unnamed(&self, _day: &str) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }
        async fn cached_names(&self, ips: &[String]) -> Result<Vec<Option<String>>, StoreError> {
            Ok(vec![None; ips.len()])
        }
        async fn put_names(&self, _names: &[(String, String, u64)]) -> Result<(), StoreError> {
            Ok(())
        }
        async fn put_s3_ranges(&self, blocks: &[String], at: &str) -> Result<(), StoreError> {
            *self.s3_ranges.lock().unwrap() = Some((blocks.to_vec(), at.to_string()));
            Ok(())
        }
        async fn s3_ranges_fetched_at(&self) -> Result<Option<String>, StoreError> {
            Ok(self
                .s3_ranges
                .lock()
                .unwrap()
                .as_ref()
                .map(|(_, at)| at.clone()))
        }
    }

    /// `ip-ranges.json` from memory, or a failure.
    struct Ranges(Result<&'static str, &'static str>);

    impl ip_ranges::IpRangesSource for Ranges {
        async fn fetch(&self) -> Result<Vec<u8>, String> {
            self.0.map(|s| s.as_bytes().to_vec()).map_err(String::from)
        }
    }

    #[tokio::test]
    async fn s3_ranges_are_fetched_when_due_and_the_last_good_copy_stays() {
        let store = MemoryStore::default();
        let config = crate::config::IpRangesConfig {
            url: "file:///ip-ranges.json".into(),
            max_age: Duration::from_secs(3600),
        };
        let good = Ranges(Ok(
            r#"{"prefixes":[{"ip_prefix":"52.92.16.0/20","service":"S3"}],
            "ipv6_prefixes":[{"ipv6_prefix":"2600:1f18::/33","service":"AMAZON"},
            {"ipv6_prefix":"2a05:d07c::/40","service":"S3"}]}"#,
        ));
        let t0 = time::macros::datetime!(2026-11-27 10:00 UTC);
        let run = |source: &'static Ranges, at| {
            let (store, config) = (&store, &config);
            async move {
                ip_ranges::refresh_s3_ranges(source, store, config, at)
                    .await
                    .unwrap()
            }
        };
        let good: &'static Ranges = Box::leak(Box::new(good));
        let report = run(good, t0).await;
        assert_eq!((report.updated, report.blocks), (true, 2));
        // Fresh: not fetched again, even from a broken source.
        let broken: &'static Ranges = Box::leak(Box::new(Ranges(Err("connection refused"))));
        let later = t0 + time::Duration::minutes(30);
        assert_eq!(run(broken, later).await, ip_ranges::RangesReport::default());
        // Due, but the fetch fails or the file is not AWS's: the stored copy stays.
        let due = t0 + time::Duration::minutes(61);
        let report = run(broken, due).await;
        assert_eq!(report.error.as_deref(), Some("connection refused"));
        let html: &'static Ranges = Box::leak(Box::new(Ranges(Ok("<html>maintenance</html>"))));
        assert!(run(html, due)
            .await
            .error
            .unwrap()
            .contains("not AWS's ip-ranges.json"));
        let kept = store.s3_ranges.lock().unwrap().clone().unwrap();
        // S3's prefixes only: AMAZON's are every service's, anyone's Elastic IPs among them.
        assert_eq!(kept.0, ["52.92.16.0/20", "2a05:d07c::/40"]);
        assert!(kept.1.starts_with("2026-11-27T10:00:00"));
    }

    struct Accounts(Vec<Account>);

    impl AccountList for Accounts {
        async fn accounts(&self) -> Result<Vec<Account>, DiscoveryError> {
            Ok(self.0.clone())
        }
    }

    /// Every account/region has one public interface, except: `us-east-1` of A fails to
    /// describe and B's answer never comes.
    struct Estate;

    impl Discovery for Estate {
        async fn describe(
            &self,
            account: &Account,
            region: &str,
        ) -> Result<RegionFacts, DiscoveryError> {
            match (account.id.as_str(), region) {
                (A, "us-east-1") => Err(DiscoveryError::Call {
                    call: "ec2:DescribeNetworkInterfaces",
                    message: "UnauthorizedOperation".into(),
                }),
                (B, _) => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    unreachable!("the region timeout ends the wait")
                }
                _ => Ok(RegionFacts {
                    availability_zones: vec![],
                    interfaces: vec![RawInterface {
                        id: format!("eni-{}", account.id),
                        description: "Primary network interface".into(),
                        interface_type: "interface".into(),
                        public_ips: vec![(
                            "10.0.0.5".parse().unwrap(),
                            "52.0.0.5".parse().unwrap(),
                        )],
                        ..RawInterface::default()
                    }],
                    ..RegionFacts::default()
                }),
            }
        }
    }

    struct NoDns;

    impl Resolver for NoDns {
        async fn lookup(&self, _host: &str) -> Vec<IpAddr> {
            Vec::new()
        }
        async fn reverse(&self, _ip: IpAddr) -> Option<String> {
            None
        }
    }

    const A: &str = "111111111111";
    const B: &str = "222222222222";
    const C: &str = "333333333333";
    const GONE: &str = "444444444444";

    fn account(id: &str, regions: &[&str]) -> Account {
        Account {
            id: id.into(),
            name: format!("team-{id}"),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            role_arn: None,
            enabled: true,
            origin: Default::default(),
        }
    }

    fn config() -> RefreshConfig {
        RefreshConfig {
            redis: RedisConfig {
                url: "redis://unused".into(),
                cluster: None,
                timeout: Duration::from_secs(1),
            },
            accounts_table: "accounts".into(),
            regions: vec!["eu-west-1".into()],
            role_name: "connection-tracker-reader".into(),
            external_id: None,
            domain: None,
            concurrency: 4,
            region_timeout: Duration::from_millis(200),
            page_size: None,
            dns_max_lookups: 0,
            dns_budget: Duration::from_secs(1),
            dns_ttl: Duration::from_secs(60),
            dns_negative_ttl: Duration::from_secs(60),
            organization: None,
        }
    }

    fn old_maps() -> RegionInventory {
        RegionInventory {
            addresses: BTreeMap::from([("52.9.9.9".into(), "old".into())]),
            ..RegionInventory::default()
        }
    }

    #[tokio::test]
    async fn failures_stay_in_their_region_and_keep_its_previous_maps() {
        let store = MemoryStore {
            failing_account: Some(C),
            ..MemoryStore::default()
        };
        for (account, region) in [(A, "us-east-1"), (B, "eu-west-1"), (GONE, "eu-west-1")] {
            store
                .replace_region(account, region, &old_maps(), "2026-11-26T00:00:00.000000Z")
                .await
                .unwrap();
        }
        // Failures of an earlier run: one region now refreshes, one account is gone.
        let earlier = RefreshFailure {
            at: "2026-11-26T00:00:00.000000Z".into(),
            kind: "assume_role".into(),
            error: "AccessDenied".into(),
        };
        for pair in [format!("{A}:eu-west-1"), format!("{GONE}:eu-west-1")] {
            store.failures.lock().unwrap().insert(pair, earlier.clone());
        }
        let mut disabled = account("555555555555", &[]);
        disabled.enabled = false;
        let accounts = Accounts(vec![
            account(A, &["eu-west-1", "us-east-1"]),
            account(B, &[]),
            account(C, &[]),
            disabled,
        ]);
        let report = refresh(&accounts, &Estate, &NoDns, &store, &config())
            .await
            .unwrap();

        assert_eq!(report.refreshed, [format!("{A}/eu-west-1")]);
        let failed: Vec<(&str, &str, &str)> = report
            .failed
            .iter()
            .map(|f| (f.account_id.as_str(), f.region.as_str(), f.kind))
            .collect();
        assert_eq!(
            failed,
            [
                (A, "us-east-1", "describe"),
                (B, "eu-west-1", "timeout"),
                (C, "eu-west-1", "store")
            ]
        );
        assert_eq!(report.dropped, [format!("{GONE}/eu-west-1")]);
        assert_eq!((report.accounts, report.disabled_accounts), (4, 1));
        assert_eq!(report.public_interfaces, 1);

        let regions = store.regions.lock().unwrap();
        let region = |a: &str, r: &str| regions.get(&(a.to_string(), r.to_string())).cloned();
        // Failed regions keep what the last good run wrote; the stale account is gone.
        assert_eq!(region(A, "us-east-1"), Some(old_maps()));
        assert_eq!(region(B, "eu-west-1"), Some(old_maps()));
        assert_eq!(region(GONE, "eu-west-1"), None);
        assert_eq!(region(C, "eu-west-1"), None);
        let fresh = region(A, "eu-west-1").unwrap();
        assert_eq!(fresh.interfaces.len(), 1);
        assert_eq!(fresh.interfaces[0].interface_id, format!("eni-{A}"));
        // Only enabled accounts are listed for the API.
        assert_eq!(store.accounts.lock().unwrap().len(), 3);
        // `/accounts` will show each failing region's failure, and no longer the regions that
        // refreshed or left.
        let failures = store.failures.lock().unwrap();
        let mut kinds: Vec<(&str, &str)> = failures
            .iter()
            .map(|(pair, f)| (pair.as_str(), f.kind.as_str()))
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                (format!("{A}:us-east-1").as_str(), "describe"),
                (format!("{B}:eu-west-1").as_str(), "timeout"),
                (format!("{C}:eu-west-1").as_str(), "store")
            ]
        );
        let store_failure = &failures[&format!("{C}:eu-west-1")];
        assert!(store_failure.error.contains("refused"), "{store_failure:?}");
        assert!(
            store_failure.at.as_str() > "2026-11-27",
            "{store_failure:?}"
        );
    }

    #[tokio::test]
    async fn a_run_where_nothing_could_be_refreshed_fails() {
        let store = MemoryStore::default();
        let accounts = Accounts(vec![account(A, &["us-east-1"]), account(B, &[])]);
        let err = refresh(&accounts, &Estate, &NoDns, &store, &config())
            .await
            .unwrap_err();
        assert!(
            matches!(err, RefreshError::NothingRefreshed { failed: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("UnauthorizedOperation"), "{err}");
    }

    #[test]
    fn domain_template_hosts() {
        let account = Account {
            id: "111111111111".into(),
            name: "alpha".into(),
            regions: vec![],
            role_arn: None,
            enabled: true,
            origin: Default::default(),
        };
        assert_eq!(
            domain_hosts("{account_name}.example.org", &account, "eu-west-1", &[]),
            [
                "nat-eu-west-1a.alpha.example.org",
                "nat-eu-west-1b.alpha.example.org",
                "nat-eu-west-1c.alpha.example.org",
                "odd-eu-west-1.alpha.example.org"
            ]
        );
        // Every zone the region has, as DescribeAvailabilityZones lists them.
        let zones: Vec<String> = ["us-east-1a", "us-east-1d", "us-east-1f"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            domain_hosts("{account_id}.example.org", &account, "us-east-1", &zones),
            [
                "nat-us-east-1a.111111111111.example.org",
                "nat-us-east-1d.111111111111.example.org",
                "nat-us-east-1f.111111111111.example.org",
                "odd-us-east-1.111111111111.example.org"
            ]
        );
    }

    #[test]
    fn account_regions_with_waiting_lines_go_first_then_the_stalest() {
        let a = account("111111111111", &["eu-west-1", "us-east-1"]);
        let b = account("222222222222", &["eu-west-1"]);
        let mut jobs = vec![
            (&a, "eu-west-1".to_string()),
            (&a, "us-east-1".to_string()),
            (&b, "eu-west-1".to_string()),
        ];
        let refreshed: HashMap<String, String> = [
            ("111111111111:eu-west-1", "2026-11-27T10:00:00Z"),
            ("111111111111:us-east-1", "2026-11-27T09:00:00Z"),
            ("222222222222:eu-west-1", "2026-11-27T11:00:00Z"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let order = |jobs: &[(&Account, String)]| -> Vec<String> {
            jobs.iter().map(|(a, r)| pair_key(&a.id, r)).collect()
        };
        stalest_first(&mut jobs, &refreshed, &HashSet::new());
        let stalest = [
            "111111111111:us-east-1",
            "111111111111:eu-west-1",
            "222222222222:eu-west-1",
        ];
        assert_eq!(order(&jobs), stalest);
        let waiting = HashSet::from(["222222222222:eu-west-1".to_string()]);
        stalest_first(&mut jobs, &refreshed, &waiting);
        let first = [
            "222222222222:eu-west-1",
            "111111111111:us-east-1",
            "111111111111:eu-west-1",
        ];
        assert_eq!(order(&jobs), first);
    }

    /// A simulated estate on a virtual clock: 2,000 account/regions, every describe call 200 ms
    /// (three rounds of calls per account/region), 5 % of attempts never answering. Each
    /// scheduled run has 270 s (the function's 300 s less what the run does after the regions);
    /// every account/region is refreshed within two runs.
    struct SlowEstate {
        attempts: Mutex<HashMap<String, u64>>,
    }

    impl Discovery for SlowEstate {
        async fn describe(
            &self,
            account: &Account,
            region: &str,
        ) -> Result<RegionFacts, DiscoveryError> {
            let key = pair_key(&account.id, region);
            let attempt = {
                let mut attempts = self.attempts.lock().unwrap();
                let n = attempts.entry(key.clone()).or_default();
                *n += 1;
                *n
            };
            let roll = xxhash_rust::xxh3::xxh3_64(format!("{key}#{attempt}").as_bytes()) % 100;
            if roll < 5 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            tokio::time::sleep(Duration::from_millis(3 * 200)).await;
            Ok(RegionFacts::default())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_slow_estate_is_refreshed_whole_within_two_runs() {
        let regions = [
            "eu-west-1",
            "eu-central-1",
            "us-east-1",
            "us-west-2",
            "ap-southeast-2",
        ];
        let accounts = Accounts(
            (0..400)
                .map(|i| account(&format!("{:012}", 100_000_000_000u64 + i), &regions))
                .collect(),
        );
        let mut config = config();
        config.concurrency = crate::config::defaults::DEFAULT_REFRESH_CONCURRENCY;
        config.region_timeout =
            Duration::from_secs(crate::config::defaults::DEFAULT_REGION_TIMEOUT_SECONDS);
        let store = MemoryStore::default();
        let estate = SlowEstate {
            attempts: Mutex::default(),
        };
        let mut refreshed = std::collections::BTreeSet::new();
        for period in 1..=2 {
            let start = tokio::time::Instant::now();
            let deadline = start + Duration::from_secs(270);
            let report = refresh_until(&accounts, &estate, &NoDns, &store, &config, Some(deadline))
                .await
                .unwrap();
            let took = start.elapsed();
            println!(
                "run {period}: {} refreshed, {} failed, {} deferred, {} tried twice, {:.0} s of 270",
                report.refreshed.len(),
                report.failed.len(),
                report.deferred.len(),
                report.retried,
                took.as_secs_f64()
            );
            assert!(took <= Duration::from_secs(270), "{took:?}");
            refreshed.extend(report.refreshed);
            // The next scheduled run, 5 minutes after this one started.
            tokio::time::sleep_until(start + Duration::from_secs(300)).await;
        }
        assert_eq!(
            refreshed.len(),
            2_000,
            "every account/region within two runs"
        );

        // The old settings (8 at a time, 60 s timeouts) cannot start every one in a run: the
        // stalest-first order still reaches all of them, in a bounded number of runs.
        config.concurrency = 8;
        config.region_timeout = Duration::from_secs(60);
        let store = MemoryStore::default();
        let mut refreshed = std::collections::BTreeSet::new();
        let mut runs = 0;
        while refreshed.len() < 2_000 && runs < 6 {
            runs += 1;
            let start = tokio::time::Instant::now();
            let deadline = start + Duration::from_secs(270);
            let report = refresh_until(&accounts, &estate, &NoDns, &store, &config, Some(deadline))
                .await
                .unwrap();
            println!(
                "8 at a time, run {runs}: {} refreshed, {} failed, {} deferred, {:.0} s",
                report.refreshed.len(),
                report.failed.len(),
                report.deferred.len(),
                start.elapsed().as_secs_f64()
            );
            assert!(start.elapsed() <= Duration::from_secs(270));
            refreshed.extend(report.refreshed);
            tokio::time::sleep_until(start + Duration::from_secs(300)).await;
        }
        assert_eq!(
            refreshed.len(),
            2_000,
            "every one reached, after {runs} runs"
        );
    }
}

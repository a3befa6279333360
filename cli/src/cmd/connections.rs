//! `ctrack connections`: the days' connections from the API or the evidence archive, as a
//! table, JSON or CSV; `--suspicious` keeps ports outside the expected ones.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, Result};
use clap::Args;
use connection_tracker::model::AccountInfo;
use ctrack_cli::report::{self, Format};

use crate::{progress, range, ApiArgs, FINDINGS_EXIT};

/// The command's options, as given.
#[derive(Args)]
pub struct Options {
    /// First day: YYYY-MM-DD, or Nd / -Nd: N days ago (7d: a week ago through today, as
    /// the original's --date-from; 0d: today).
    #[arg(long, default_value = "0d", allow_hyphen_values = true)]
    pub from: String,
    /// Last day (YYYY-MM-DD); default today (UTC).
    #[arg(long)]
    pub to: Option<String>,
    /// Only connections to ports other than the expected ones (--expected-ports).
    #[arg(long)]
    pub suspicious: bool,
    /// Exit with status 4 when --suspicious finds a connection (scheduled reports).
    #[arg(long, requires = "suspicious")]
    pub fail_on_findings: bool,
    /// Ports that are not suspicious.
    #[arg(long, value_delimiter = ',', default_value = "443,0")]
    pub expected_ports: Vec<u16>,
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Days fetched at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// One row per day and connection, with a date column (the original's report);
    /// default: the range summed.
    #[arg(long)]
    pub per_day: bool,
}

pub async fn run(api: ApiArgs, options: Options) -> Result<()> {
    let Options {
        from,
        to,
        suspicious,
        expected_ports,
        output,
        concurrency,
        per_day,
        fail_on_findings,
    } = options;
    let (from, to) = range(&from, to.as_deref())?;
    let days = report::days(from, to).map_err(|e| anyhow!(e))?;
    let bar = progress(days.len(), "days");
    // s3://bucket/prefix: past days from the evidence archive, else the API.
    let (accounts, fetched) = if api.url.starts_with("s3://") {
        let archived = ctrack_cli::archive::fetch_days(&api.url, &days, || bar.inc(1)).await?;
        for day in &archived.missing {
            eprintln!(
                "ctrack: no object for {day} in {} (no connections that day, not closed yet, or before archiving began)",
                api.url
            );
        }
        for (day, newer) in &archived.rewritten {
            eprintln!(
                "ctrack: {day} was written again {newer} time(s) after it was archived; read its first version (the evidence), not the newer ones"
            );
        }
        for day in &archived.unversioned {
            eprintln!(
                "ctrack: {day}: its versions could not be listed (no s3:ListBucketVersions); read the current version, which may not be the first"
            );
        }
        (archived.accounts, archived.days)
    } else {
        let client = api.client().await?;
        let accounts: BTreeMap<String, AccountInfo> = client.get("/accounts", &[]).await?;
        let fetched = report::fetch_days(&client, &days, concurrency, || bar.inc(1)).await?;
        (accounts, fetched)
    };
    bar.finish_and_clear();
    let expected: BTreeSet<u16> = expected_ports.into_iter().collect();
    let allowed = suspicious.then_some(&expected);
    let rows = if per_day {
        let dated: Vec<_> = days.iter().copied().zip(fetched).collect();
        report::rows_per_day(&accounts, &dated, allowed)
    } else {
        let connections = connection_tracker::api::sum_days(fetched, []);
        report::rows(&accounts, &connections, allowed)
    };
    print!("{}", report::render(&rows, output));
    if fail_on_findings && !rows.is_empty() {
        std::process::exit(FINDINGS_EXIT);
    }
    Ok(())
}

//! `ctrack`: the connection-tracker command line. This file parses the arguments; each
//! subcommand's work is in `cmd/` (connections, graph, scan-endpoints, ui) or in the
//! `ctrack_cli` library (replay, accounts, the client, report, scan, graph), on top of the
//! `connection_tracker` library.
// A function fits on a screen (clippy.toml): denied outside the tests, in the one clippy run.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ctrack_cli::client::{ApiClient, Auth};
use ctrack_cli::report;
use indicatif::{ProgressBar, ProgressStyle};
use time::Date;

mod cmd;

#[derive(Parser)]
#[command(
    name = "ctrack",
    version,
    about = "connection-tracker: who connects to our public endpoints"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Feed saved Lambda events (CloudWatch Logs or Kinesis), dead letters and the records of
    /// the ingest function's failure destinations through the ingest code path against
    /// REDIS_URL; print the summary and the counters of the days they touched. Other JSON
    /// files (API, schedule events) are skipped.
    Replay {
        /// Files, directories of *.json files, or s3://bucket/prefix (every object under it:
        /// the failure bucket's dead letters and Lambda's failure records).
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<String>,
        /// Load this inventory first (interfaces, own addresses, formats), as the refresh would.
        #[arg(long, value_name = "FILE")]
        inventory: Option<PathBuf>,
        /// Print the summary as JSON instead of text, without the counters.
        #[arg(long)]
        json: bool,
        /// Replay events older than DEDUP_WINDOW_HOURS too (they could count twice).
        #[arg(long)]
        force: bool,
        /// Delete each S3 object once its event is counted whole (replaying it again within
        /// DEDUP_WINDOW_HOURS would only find duplicates).
        #[arg(long)]
        delete_replayed: bool,
        /// Batches in flight at once (decoding the next while a write waits on Redis).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// CloudWatch Logs events counted as one batch: each still its own payload, counted
        /// once, but their rows are summed before Redis sees them (memory per batch in flight:
        /// about GROUP × an event's size as saved, plus one decompressed payload: each is
        /// counted before the next is decompressed). 1: each event alone, as the function
        /// counts it.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        group: u16,
    },
    /// Every connection of a range, one row per account/region, destination, port and source,
    /// scores summed over the days; sorted by account, region, destination, port.
    Connections {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        options: cmd::connections::Options,
    },
    /// The exposure review: every rule that opens a public endpoint to the internet, whether
    /// the range's connections used it, and what to do (GET /exposure).
    Exposure {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        options: cmd::exposure::Options,
    },
    /// Probe every endpoint that got connections: HTTPS GET on 443/8443, HTTP otherwise,
    /// certificates not verified. 401/403 (protected) shows green.
    ScanEndpoints {
        #[command(flatten)]
        api: ApiArgs,
        /// Show only what answers without credentials: hide 401/403 and errors, as the
        /// original did.
        #[arg(long)]
        public_only: bool,
        /// Exit with status 4 when an endpoint answers without asking for credentials.
        #[arg(long)]
        fail_on_findings: bool,
        /// text: a line per probe as it finishes; json (one array) or csv: every probe at the end.
        #[arg(short, long, value_enum, default_value_t = ScanFormat::Text)]
        output: ScanFormat,
        /// Also probe private, loopback and link-local addresses (a name or redirect that
        /// leads there is refused otherwise: the metadata service is one).
        #[arg(long)]
        allow_private: bool,
        /// Probes in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Seconds before a probe counts as timed out.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
        /// The day whose endpoints to probe (YYYY-MM-DD); default today.
        #[arg(long)]
        date: Option<String>,
    },
    /// Draw which accounts connect to which (from /account-connections), edges weighted by
    /// score. FILE.svg is laid out here (no Graphviz needed); FILE.dot is Graphviz input.
    Graph {
        #[command(flatten)]
        api: ApiArgs,
        /// Sources to keep as their own nodes (network names, e.g. office).
        #[arg(long, value_delimiter = ',')]
        include: Vec<String>,
        /// First day (YYYY-MM-DD, Nd or -Nd: N days ago); default today.
        #[arg(long, default_value = "0d", allow_hyphen_values = true)]
        from: String,
        /// Last day (YYYY-MM-DD); default today.
        #[arg(long)]
        to: Option<String>,
        /// Output file: .svg or .dot
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// A node per account/region, as the original drew them (default: per account).
        #[arg(long)]
        per_region: bool,
    },
    /// A dashboard in the browser, served on 127.0.0.1 from this binary: overview, exposure,
    /// connections, endpoint, what's new, graph. Its data requests go to the API with this command's auth.
    Ui {
        #[command(flatten)]
        api: ApiArgs,
        /// Local port (0: any free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Ports that are not suspicious (as `ctrack connections --suspicious`): others are
        /// highlighted.
        #[arg(long, value_delimiter = ',', default_value = "443,0")]
        expected_ports: Vec<u16>,
        /// Open the dashboard in the default browser.
        #[arg(long)]
        open: bool,
    },
    /// The DynamoDB accounts table the refresh reads (AWS credentials and region from the
    /// usual chain; AWS_ENDPOINT_URL points it at a local emulator).
    Accounts {
        /// Table name.
        #[arg(long, env = "ACCOUNTS_TABLE")]
        table: String,
        #[command(subcommand)]
        action: ctrack_cli::accounts::AccountsAction,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum AuthMode {
    /// Bearer when a token is given, IAM for an execute-api URL, else none.
    Auto,
    /// SigV4-signed with the AWS credential chain (an AWS_IAM API).
    Iam,
    /// Authorization: Bearer TOKEN (a JWT API).
    Bearer,
    None,
}

#[derive(Args)]
struct ApiArgs {
    /// The API's URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com (`connections`
    /// also reads the evidence archive: s3://bucket/prefix)
    #[arg(env = "CTRACK_URL")]
    url: String,
    #[arg(long, value_enum, env = "CTRACK_AUTH", default_value_t = AuthMode::Auto)]
    auth: AuthMode,
    /// Bearer token for a JWT-protected API.
    #[arg(long, env = "CTRACK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Region to sign for; default the one in the URL, else the AWS region setting.
    #[arg(long)]
    region: Option<String>,
    /// Seconds to wait for each API request.
    #[arg(long, default_value_t = 60.0)]
    request_timeout: f64,
}

impl ApiArgs {
    async fn client(&self) -> Result<ApiClient> {
        let host = self
            .url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .unwrap_or("");
        let url_region = host
            .strip_suffix(".amazonaws.com")
            .and_then(|h| h.split(".execute-api.").nth(1))
            .map(String::from);
        let mode = match self.auth {
            AuthMode::Auto if self.token.is_some() => AuthMode::Bearer,
            AuthMode::Auto if url_region.is_some() => AuthMode::Iam,
            AuthMode::Auto => AuthMode::None,
            other => other,
        };
        let auth = match mode {
            AuthMode::Bearer => Auth::Bearer(
                self.token
                    .clone()
                    .ok_or_else(|| anyhow!("--auth bearer needs --token or CTRACK_TOKEN"))?,
            ),
            AuthMode::Iam => {
                let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                let credentials = sdk.credentials_provider().ok_or_else(|| {
                    anyhow!("--auth iam needs AWS credentials (environment, profile or SSO)")
                })?;
                let region = self
                    .region
                    .clone()
                    .or(url_region)
                    .or_else(|| sdk.region().map(|r| r.to_string()))
                    .ok_or_else(|| anyhow!("--auth iam needs --region or AWS_REGION"))?;
                Auth::SigV4 {
                    credentials,
                    region,
                }
            }
            _ => Auth::None,
        };
        Ok(ApiClient::new(
            &self.url,
            auth,
            Duration::from_secs_f64(self.request_timeout),
        )?)
    }
}

/// A progress bar on a terminal; hidden when stderr is piped or redirected.
fn progress(len: usize, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

fn range(from: &str, to: Option<&str>) -> Result<(Date, Date)> {
    let today = today();
    let to = match to {
        Some(t) => report::parse_date(t).map_err(|e| anyhow!("--to {e}"))?,
        None => today,
    };
    let from = report::parse_from(from, to).map_err(|e| anyhow!("--from {e}"))?;
    if to < from {
        bail!("--to {to} is before --from {from}");
    }
    Ok((from, to))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ScanFormat {
    Text,
    Json,
    Csv,
}

/// The exit status of `--fail-on-findings` when something was found (errors exit 1).
const FINDINGS_EXIT: i32 = 4;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay {
            sources,
            inventory,
            json,
            force,
            delete_replayed,
            concurrency,
            group,
        } => {
            let options = ctrack_cli::replay::ReplayOptions {
                json,
                force,
                delete_replayed,
                concurrency: concurrency.into(),
                group: group.into(),
            };
            ctrack_cli::replay::replay(&sources, inventory.as_deref(), options).await
        }
        Command::Connections { api, options } => cmd::connections::run(api, options).await,
        Command::Exposure { api, options } => cmd::exposure::run(api, options).await,
        Command::ScanEndpoints {
            api,
            public_only,
            fail_on_findings,
            output,
            allow_private,
            concurrency,
            timeout,
            date,
        } => {
            let options = (public_only, allow_private, output);
            let open = cmd::scan_endpoints::run(api, options, concurrency, timeout, date).await?;
            if fail_on_findings && open > 0 {
                std::process::exit(FINDINGS_EXIT);
            }
            Ok(())
        }
        Command::Ui {
            api,
            port,
            expected_ports,
            open,
        } => cmd::ui::run(api, port, expected_ports, open).await,
        Command::Graph {
            api,
            include,
            from,
            to,
            output,
            per_region,
        } => cmd::graph::run(api, &include, (&from, to.as_deref()), &output, per_region).await,
        Command::Accounts { table, action } => ctrack_cli::accounts::run(&table, action).await,
    }
}

//! `ctrack`: the connection-tracker command line. The work is in the `ctrack_cli` library
//! (client, report, scan, graph) and in `ctrack` (ingest, store, the accounts table).

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use connection_tracker::model::AccountInfo;
use ctrack_cli::client::{ApiClient, Auth};
use ctrack_cli::graph;
use ctrack_cli::report::{self, Format};
use ctrack_cli::scan::{self, Endpoint, Outcome};
use indicatif::{ProgressBar, ProgressStyle};
use time::Date;

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
        /// First day: YYYY-MM-DD, or Nd / -Nd: N days ago (7d: a week ago through today, as
        /// the original's --date-from; 0d: today).
        #[arg(long, default_value = "0d", allow_hyphen_values = true)]
        from: String,
        /// Last day (YYYY-MM-DD); default today (UTC).
        #[arg(long)]
        to: Option<String>,
        /// Only connections to ports other than the expected ones (--expected-ports).
        #[arg(long)]
        suspicious: bool,
        /// Exit with status 4 when --suspicious finds a connection (scheduled reports).
        #[arg(long, requires = "suspicious")]
        fail_on_findings: bool,
        /// Ports that are not suspicious.
        #[arg(long, value_delimiter = ',', default_value = "443,0")]
        expected_ports: Vec<u16>,
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
        /// Days fetched at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// One row per day and connection, with a date column (the original's report);
        /// default: the range summed.
        #[arg(long)]
        per_day: bool,
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
        Command::Connections {
            api,
            from,
            to,
            suspicious,
            expected_ports,
            output,
            concurrency,
            per_day,
            fail_on_findings,
        } => {
            let (from, to) = range(&from, to.as_deref())?;
            let days = report::days(from, to).map_err(|e| anyhow!(e))?;
            let bar = progress(days.len(), "days");
            // s3://bucket/prefix: past days from the evidence archive, else the API.
            let (accounts, fetched) = if api.url.starts_with("s3://") {
                let archived =
                    ctrack_cli::archive::fetch_days(&api.url, &days, || bar.inc(1)).await?;
                for day in &archived.missing {
                    eprintln!(
                        "ctrack: no object for {day} in {} (no connections that day, not closed yet, or before archiving began)",
                        api.url
                    );
                }
                (archived.accounts, archived.days)
            } else {
                let client = api.client().await?;
                let accounts: BTreeMap<String, AccountInfo> = client.get("/accounts", &[]).await?;
                let fetched =
                    report::fetch_days(&client, &days, concurrency, || bar.inc(1)).await?;
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
            let open = scan_endpoints(api, options, concurrency, timeout, date).await?;
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
        } => {
            let client = api.client().await?;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            let port = listener.local_addr()?.port();
            let ui = ctrack_cli::ui::Ui::new(client, port, expected_ports)?;
            let url = ui.url();
            println!("ctrack ui: {url}");
            println!("(this link carries the session's token; Ctrl-C stops the server)");
            if open {
                let _ = std::process::Command::new("xdg-open").arg(&url).spawn();
            }
            ui.serve(listener).await
        }
        Command::Graph {
            api,
            include,
            from,
            to,
            output,
            per_region,
        } => {
            let client = api.client().await?;
            let (from, to) = range(&from, to.as_deref())?;
            let graph = graph::fetch(
                &client,
                &from.to_string(),
                &to.to_string(),
                &include,
                per_region,
            )
            .await?;
            let text = match output.extension().and_then(|e| e.to_str()) {
                Some("dot" | "gv") => graph::to_dot(&graph),
                Some("svg") => graph::to_svg(&graph).map_err(|e| anyhow!("layout failed: {e}"))?,
                _ => bail!("{}: the output must end in .svg or .dot", output.display()),
            };
            std::fs::write(&output, text)
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!(
                "{}: {} {}, {} edges",
                output.display(),
                graph.nodes.len(),
                if per_region {
                    "account/regions"
                } else {
                    "accounts"
                },
                graph.edges.len()
            );
            Ok(())
        }
        Command::Accounts { table, action } => ctrack_cli::accounts::run(&table, action).await,
    }
}

/// `options`: (public only, allow private addresses, output format).
async fn scan_endpoints(
    api: ApiArgs,
    (public_only, allow_private, format): (bool, bool, ScanFormat),
    concurrency: usize,
    timeout: f64,
    date: Option<String>,
) -> Result<usize> {
    let client = api.client().await?;
    let mut query = Vec::new();
    if let Some(d) = &date {
        report::parse_date(d).map_err(|e| anyhow!("--date {e}"))?;
        query.push(("date", d.as_str()));
    }
    let endpoints: BTreeMap<String, Vec<Endpoint>> = client.get("/endpoints", &query).await?;
    let targets = scan::targets(&endpoints);
    let bar = progress(targets.len(), "probing");
    let color = std::io::stdout().is_terminal();
    let paint = |style: anstyle::Style, text: String| {
        if color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text
        }
    };
    let green = anstyle::AnsiColor::Green.on_default().bold();
    let yellow = anstyle::AnsiColor::Yellow.on_default().bold();
    let red = anstyle::AnsiColor::Red.on_default();
    let total = targets.len();
    let probes = scan::probe_all(
        targets,
        concurrency,
        Duration::from_secs_f64(timeout),
        scan::address_policy(allow_private),
        |p| {
            bar.inc(1);
            let line = match &p.outcome {
                Outcome::Answered {
                    status,
                    body,
                    final_url,
                } => {
                    let via = final_url
                        .as_ref()
                        .map(|u| format!(" -> {u}"))
                        .unwrap_or_default();
                    let style = if p.outcome.is_protected() {
                        green
                    } else {
                        yellow
                    };
                    (!(public_only && p.outcome.is_protected())).then(|| {
                        paint(
                            style,
                            format!("{} {}{via} {status} {body}", p.target.account, p.target.url),
                        )
                    })
                }
                _ if public_only => None,
                Outcome::TimedOut => Some(paint(
                    red,
                    format!("{} {} timed out", p.target.account, p.target.url),
                )),
                Outcome::Failed(e) => Some(paint(
                    red,
                    format!("{} {} error: {e}", p.target.account, p.target.url),
                )),
                Outcome::Refused(why) => Some(paint(
                    red,
                    format!("{} {} {why}", p.target.account, p.target.url),
                )),
            };
            if let Some(line) = line.filter(|_| format == ScanFormat::Text) {
                bar.suspend(|| println!("{line}"));
            }
        },
    )
    .await;
    bar.finish_and_clear();
    let shown: Vec<serde_json::Value> = probes
        .iter()
        .filter(|p| {
            !public_only
                || matches!(p.outcome, Outcome::Answered { .. }) && !p.outcome.is_protected()
        })
        .map(scan::Probe::to_json)
        .collect();
    match format {
        ScanFormat::Text => {}
        ScanFormat::Json => println!("{}", serde_json::to_string_pretty(&shown)?),
        ScanFormat::Csv => {
            let columns = [
                "account",
                "url",
                "final_url",
                "result",
                "status",
                "protected",
                "body",
                "error",
            ];
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(columns)?;
            for probe in &shown {
                out.write_record(columns.map(|c| match &probe[c] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }))?;
            }
            out.flush()?;
        }
    }
    let count = |f: &dyn Fn(&Outcome) -> bool| probes.iter().filter(|p| f(&p.outcome)).count();
    eprintln!(
        "{total} probed: {} answered ({} protected), {} timed out, {} failed, {} refused",
        count(&|o| matches!(o, Outcome::Answered { .. })),
        count(&|o| o.is_protected()),
        count(&|o| matches!(o, Outcome::TimedOut)),
        count(&|o| matches!(o, Outcome::Failed(_))),
        count(&|o| matches!(o, Outcome::Refused(_))),
    );
    // Findings: endpoints that answer without asking for credentials.
    Ok(count(&|o| {
        matches!(o, Outcome::Answered { .. }) && !o.is_protected()
    }))
}

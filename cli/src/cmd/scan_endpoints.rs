//! `ctrack scan-endpoints`: every endpoint that got connections probed over HTTP(S), private
//! addresses refused; findings are the ones that answer without asking for credentials.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{anyhow, Result};
use ctrack_cli::report;
use ctrack_cli::scan::{self, Endpoint, Outcome};

use crate::{progress, ApiArgs, ScanFormat};

/// `options`: (public only, allow private addresses, output format).
pub async fn run(
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
    let total = targets.len();
    let probes = scan::probe_all(
        targets,
        concurrency,
        Duration::from_secs_f64(timeout),
        scan::address_policy(allow_private),
        |p| {
            bar.inc(1);
            let line = probe_line(p, public_only, color);
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
        ScanFormat::Csv => print_csv(&shown)?,
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

/// A probe as its line of text (colored on a terminal); `None` when `--public-only` hides it.
fn probe_line(p: &scan::Probe, public_only: bool, color: bool) -> Option<String> {
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
    match &p.outcome {
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
    }
}

/// The shown probes as CSV on standard output.
fn print_csv(shown: &[serde_json::Value]) -> Result<()> {
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
    for probe in shown {
        out.write_record(columns.map(|c| match &probe[c] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }))?;
    }
    out.flush()?;
    Ok(())
}

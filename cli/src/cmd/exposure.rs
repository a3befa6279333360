//! `ctrack exposure`: the exposure review of the API, printed; `--commands` prints the
//! suggested revocations as a script to review, never runs them.

use anyhow::{bail, Result};
use clap::Args;
use connection_tracker::model::AccountRegion;
use ctrack_cli::exposure::{self, ExposureFormat, Review};

use crate::{range, ApiArgs, FINDINGS_EXIT};

#[derive(Args)]
pub struct Options {
    /// One account/region (ACCOUNT/REGION); default every one.
    #[arg(long, value_name = "ACCOUNT/REGION")]
    pub account_region: Option<String>,
    /// First day (YYYY-MM-DD, Nd or -Nd: N days ago); default the API's: the last
    /// API_MAX_RANGE_DAYS days.
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD); default today.
    #[arg(long)]
    pub to: Option<String>,
    /// Only rules with these verdicts: unused, narrow, used, no_flow_log, not_counted.
    #[arg(long, value_delimiter = ',')]
    pub verdict: Vec<String>,
    /// Only rules that open this port (and unexplained traffic on it).
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(short, long, value_enum, default_value_t = ExposureFormat::Text)]
    pub output: ExposureFormat,
    /// Print the unused rules' `aws ec2 revoke-security-group-ingress` commands as a script to
    /// review (never run here), instead of the review.
    #[arg(long)]
    pub commands: bool,
    /// Exit with status 4 when a rule is unused or narrow, or traffic is unexplained.
    #[arg(long)]
    pub fail_on_findings: bool,
}

pub async fn run(api: ApiArgs, options: Options) -> Result<()> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if options.from.is_some() || options.to.is_some() {
        let (from, to) = range(
            options.from.as_deref().unwrap_or("0d"),
            options.to.as_deref(),
        )?;
        query.push(("from", from.to_string()));
        query.push(("to", to.to_string()));
    }
    if !options.verdict.is_empty() {
        query.push(("verdict", options.verdict.join(",")));
    }
    if let Some(port) = options.port {
        query.push(("port", port.to_string()));
    }
    if let Some(pair) = &options.account_region {
        let valid = pair
            .split_once('/')
            .and_then(|(account, region)| AccountRegion::new(account, region));
        if valid.is_none() {
            bail!("--account-region {pair:?} is not ACCOUNT/REGION (123456789012/eu-west-1)");
        }
    }
    let client = api.client().await?;
    let path = match &options.account_region {
        Some(pair) => format!("/exposure/{pair}"),
        None => "/exposure".to_string(),
    };
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let review: Review = match &options.account_region {
        Some(pair) => Review::from([(pair.clone(), client.get(&path, &query).await?)]),
        None => client.get(&path, &query).await?,
    };
    if options.commands {
        print!("{}", exposure::commands(&review));
    } else {
        print!("{}", exposure::render(&review, options.output));
    }
    if options.fail_on_findings && exposure::findings(&exposure::lines(&review)) > 0 {
        std::process::exit(FINDINGS_EXIT);
    }
    Ok(())
}

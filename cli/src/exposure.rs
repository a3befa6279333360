//! `ctrack exposure`: the API's exposure review (`docs/rules.md`, "Exposure") as a table per
//! account/region, JSON or CSV, and the suggested AWS CLI changes as a script to review.

use std::collections::{BTreeMap, BTreeSet};

use connection_tracker::model::{is_region, ExposedEndpoint, RuleReview, RuleSource, Verdict};
use serde::Serialize;

use crate::report::{to_csv, to_table};

/// `/exposure`'s answer: `account_id/region` → its endpoints.
pub type Review = BTreeMap<String, Vec<ExposedEndpoint>>;

/// How the review is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExposureFormat {
    /// A table per account/region.
    Text,
    /// The API's answer, as it came.
    Json,
    /// One line per rule or unexplained row, with a header (spreadsheets).
    Csv,
}

/// One line: a rule of an endpoint and its verdict, or a row no rule explains
/// (`verdict` `unexplained`, no rule).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub account_id: String,
    pub region: String,
    pub endpoint: String,
    pub group_id: String,
    pub rule_id: String,
    pub ports: String,
    pub source: String,
    pub verdict: String,
    pub score: u64,
    /// Distinct sources (the API's estimate, `used` rules only); empty when not known.
    pub sources: String,
    pub last_day: String,
    pub suggestion: String,
}

const COLUMNS: [&str; 12] = [
    "account_id",
    "region",
    "endpoint",
    "group_id",
    "rule_id",
    "ports",
    "source",
    "verdict",
    "score",
    "sources",
    "last_day",
    "suggestion",
];

/// What `verdict` a line with no rule carries.
pub const UNEXPLAINED: &str = "unexplained";

fn ports(review: &RuleReview) -> String {
    let rule = &review.rule;
    match (rule.protocol.as_str(), rule.from_port, rule.to_port) {
        ("-1", _, _) => "all".into(),
        (p, -1, -1) => format!("{p}/all"),
        (p, from, to) if from == to => format!("{p}/{from}"),
        (p, from, to) => format!("{p}/{from}-{to}"),
    }
}

fn source(review: &RuleReview) -> String {
    match &review.rule.source {
        RuleSource::Cidr(block) => block.clone(),
        RuleSource::PrefixList { id, cidrs } => format!("{id} ({})", cidrs.join(" ")),
        RuleSource::Group(id) => id.clone(),
    }
}

/// Every rule and unexplained row of the review, in the API's order.
pub fn lines(review: &Review) -> Vec<Line> {
    let mut out = Vec::new();
    for endpoints in review.values() {
        for e in endpoints {
            let line = |group_id: String, rule_id: String, verdict: String| Line {
                account_id: e.account_id.clone(),
                region: e.region.clone(),
                endpoint: e.name.clone(),
                group_id,
                rule_id,
                verdict,
                ports: String::new(),
                source: String::new(),
                score: 0,
                sources: String::new(),
                last_day: String::new(),
                suggestion: String::new(),
            };
            for r in &e.rules {
                out.push(Line {
                    ports: ports(r),
                    source: source(r),
                    score: r.score,
                    sources: r
                        .distinct_sources
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    last_day: r.last_day.clone().unwrap_or_default(),
                    suggestion: r.suggestion.clone(),
                    ..line(
                        r.rule.group_id.clone(),
                        r.rule.rule_id.clone(),
                        r.verdict.name().to_string(),
                    )
                });
            }
            for c in &e.unexplained {
                out.push(Line {
                    ports: c.dest_port.to_string(),
                    source: c.source.clone(),
                    score: c.score,
                    suggestion:
                        "no rule that opens it to the internet lets this in: check the inventory"
                            .into(),
                    ..line(String::new(), String::new(), UNEXPLAINED.into())
                });
            }
        }
    }
    out
}

/// Lines worth acting on: a rule to close or narrow, or traffic no rule explains.
pub fn findings(lines: &[Line]) -> usize {
    lines
        .iter()
        .filter(|l| matches!(l.verdict.as_str(), "unused" | "narrow" | UNEXPLAINED))
        .count()
}

fn cells(l: &Line) -> Vec<String> {
    vec![
        l.account_id.clone(),
        l.region.clone(),
        l.endpoint.clone(),
        l.group_id.clone(),
        l.rule_id.clone(),
        l.ports.clone(),
        l.source.clone(),
        l.verdict.clone(),
        l.score.to_string(),
        l.sources.clone(),
        l.last_day.clone(),
        l.suggestion.clone(),
    ]
}

/// The review as text (a table per account/region, without the columns its heading names),
/// JSON (the API's answer) or CSV.
pub fn render(review: &Review, format: ExposureFormat) -> String {
    let all = lines(review);
    match format {
        ExposureFormat::Json => serde_json::to_string_pretty(review).unwrap_or_default() + "\n",
        ExposureFormat::Csv => to_csv(&COLUMNS, all.iter().map(cells)),
        ExposureFormat::Text => {
            let mut out = String::new();
            let mut by_pair: BTreeMap<(String, String), Vec<Vec<String>>> = BTreeMap::new();
            for l in &all {
                by_pair
                    .entry((l.account_id.clone(), l.region.clone()))
                    .or_default()
                    .push(cells(l).split_off(2));
            }
            for ((account, region), table) in by_pair {
                out.push_str(&format!("{account}/{region}\n"));
                out.push_str(&to_table(&COLUMNS[2..], &table, &["score", "sources"]));
                out.push('\n');
            }
            out
        }
    }
}

/// Whether `id` is `prefix` and letters or digits, as AWS names groups (`sg-…`) and rules
/// (`sgr-…`): nothing a shell would read as more than a word.
fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Text safe inside a shell comment: no line breaks or other control characters (a tag could
/// hold one and start a command).
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The `unused` rules' revocations as a shell script a person reads before running it: one
/// command per rule (a group shared by endpoints is revoked once), each with what it closes,
/// built here from checked ids (an id or region of another shape is a comment, not a command).
pub fn commands(review: &Review) -> String {
    let mut out = String::from(
        "#!/bin/sh\n# ctrack exposure --commands: rules no connection used in the range.\n\
         # Review each line before running it; nothing here has been run.\nset -eu\n",
    );
    let mut done = BTreeSet::new();
    for e in review.values().flatten() {
        for r in e.rules.iter().filter(|r| r.verdict == Verdict::Unused) {
            let (group, rule) = (&r.rule.group_id, &r.rule.rule_id);
            if !done.insert(rule.clone()) {
                continue;
            }
            let what = comment(&format!(
                "{group} {} from {} on {} ({}/{}): unused",
                ports(r),
                source(r),
                e.name,
                e.account_id,
                e.region
            ));
            out.push_str(&format!("\n# {what}\n"));
            if is_aws_id(group, "sg-") && is_aws_id(rule, "sgr-") && is_region(&e.region) {
                out.push_str(&format!(
                    "aws ec2 revoke-security-group-ingress --region {} --group-id {group} --security-group-rule-ids {rule}\n",
                    e.region
                ));
            } else {
                out.push_str("# skipped: its group, rule or region is not of AWS's form\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_of_aws_form_become_commands() {
        let cases = [
            ("sg-0a1b2c3d", "sg-", true),
            ("sgr-web", "sgr-", true),
            ("sg-", "sg-", false),
            ("sg-1;rm -rf ~", "sg-", false),
            ("sg-$(id)", "sg-", false),
            ("sgr-1", "sg-", false),
        ];
        for (id, prefix, want) in cases {
            assert_eq!(is_aws_id(id, prefix), want, "{id}");
        }
        assert_eq!(comment("web\naws s3 rb s3://x"), "web aws s3 rb s3://x");
    }
}

//! `ctrack connections`: every connection of a range, one row each, as the weekly report had it.

use std::collections::{BTreeMap, BTreeSet};

use connection_tracker::day;
use connection_tracker::model::{AccountInfo, AccountRegion, Connection};
use futures::{StreamExt, TryStreamExt};

use crate::client::{ApiClient, ClientError};
use time::{Date, Duration};

/// A report row: the model's flat connection row, the archive's line shape.
pub use connection_tracker::model::ConnectionRow as Row;

pub const COLUMNS: [&str; 7] = [
    "account_id",
    "account_name",
    "region",
    "dest",
    "dest_port",
    "source",
    "score",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table.
    Text,
    /// One JSON array of rows.
    Json,
    /// Tab-separated with a header line (the weekly report's input).
    Tsv,
    /// Comma-separated with a header line, quoted as RFC 4180 says (spreadsheets).
    Csv,
}

/// `--from`: a date, or `Nd` / `-Nd`: N days before `today`, as the original's
/// `--date-from $(date -d -Nd)` meant (`7d` runs from a week ago through today: 8 days; `0d` is
/// today).
pub fn parse_from(value: &str, today: Date) -> Result<Date, String> {
    if let Some(n) = value.strip_suffix('d') {
        let n = n.strip_prefix('-').unwrap_or(n);
        let n: i64 = n
            .parse()
            .ok()
            .filter(|n| (0..=3650).contains(n))
            .ok_or_else(|| {
                format!("{value:?}: expected Nd or -Nd with N from 0 to 3650, e.g. 7d")
            })?;
        return Ok(today - Duration::days(n));
    }
    parse_date(value)
}

pub fn parse_date(value: &str) -> Result<Date, String> {
    day::parse(value).ok_or_else(|| format!("{value:?} is not a date (YYYY-MM-DD)"))
}

/// Every day from `from` to `to`, inclusive.
pub fn days(from: Date, to: Date) -> Result<Vec<Date>, String> {
    if to < from {
        return Err(format!("--to {to} is before --from {from}"));
    }
    Ok(day::range(from, to).collect())
}

/// `/connections` of each day, `concurrency` days at a time, in the days' order. `tick` runs as
/// each day arrives (a progress bar).
pub async fn fetch_days(
    client: &ApiClient,
    days: &[Date],
    concurrency: usize,
    mut tick: impl FnMut(),
) -> Result<Vec<BTreeMap<String, Vec<Connection>>>, ClientError> {
    futures::stream::iter(days)
        .map(|day| fetch_day(client, day.to_string()))
        .buffered(concurrency.max(1))
        .inspect(|_| tick())
        .try_collect()
        .await
}

/// Rows per page when ctrack reads a day (about 0.5 MB gzipped): far below the API's response
/// limit (Lambda's 6 MB). Should a page still be refused as too large (long names), the day is
/// read again with half the page size.
pub const PAGE_ROWS: usize = 50_000;

/// One day's connections, page after page (`limit` and the `x-next-cursor` the API gives).
async fn fetch_day(
    client: &ApiClient,
    day: String,
) -> Result<BTreeMap<String, Vec<Connection>>, ClientError> {
    let mut rows = PAGE_ROWS;
    loop {
        match fetch_day_paged(client, &day, rows).await {
            Err(ClientError::Status {
                status: 400,
                parameter: Some(p),
                ..
            }) if p == "limit" && rows > 100 => rows /= 2,
            other => return other,
        }
    }
}

async fn fetch_day_paged(
    client: &ApiClient,
    day: &str,
    rows: usize,
) -> Result<BTreeMap<String, Vec<Connection>>, ClientError> {
    let limit = rows.to_string();
    let mut all: BTreeMap<String, Vec<Connection>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("date", day), ("limit", limit.as_str())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let (page, next): (BTreeMap<String, Vec<Connection>>, _) =
            client.get_page("/connections", &query).await?;
        for (pair, rows) in page {
            all.entry(pair).or_default().extend(rows);
        }
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// The days of [`fetch_days`] summed.
pub async fn fetch_connections(
    client: &ApiClient,
    days: &[Date],
    concurrency: usize,
    tick: impl FnMut(),
) -> Result<BTreeMap<String, Vec<Connection>>, ClientError> {
    let fetched = fetch_days(client, days, concurrency, tick).await?;
    Ok(connection_tracker::api::sum_days(fetched, []))
}

/// One row per day and connection (`--per-day`, the original's report): [`rows`] of each day,
/// dated, sorted by account, region, destination, port, then day.
pub fn rows_per_day(
    accounts: &BTreeMap<String, AccountInfo>,
    days: &[(Date, BTreeMap<String, Vec<Connection>>)],
    allowed_ports: Option<&BTreeSet<u16>>,
) -> Vec<Row> {
    let mut all: Vec<Row> = days
        .iter()
        .flat_map(|(day, connections)| {
            rows(accounts, connections, allowed_ports)
                .into_iter()
                .map(move |mut r| {
                    r.date = Some(day.to_string());
                    r
                })
        })
        .collect();
    all.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.dest, a.dest_port, &a.date)
            .cmp(&(&b.account_id, &b.region, &b.dest, b.dest_port, &b.date))
            .then(b.score.cmp(&a.score))
            .then(a.source.cmp(&b.source))
    });
    all
}

/// Rows sorted by account, region, destination, port (then score, highest first). With
/// `allowed_ports`, only connections to other ports are kept (`--suspicious`).
pub fn rows(
    accounts: &BTreeMap<String, AccountInfo>,
    connections: &BTreeMap<String, Vec<Connection>>,
    allowed_ports: Option<&BTreeSet<u16>>,
) -> Vec<Row> {
    let mut rows: Vec<Row> = connections
        .iter()
        .flat_map(|(pair, list)| {
            let parsed = AccountRegion::parse(pair);
            let (account_id, region) = match &parsed {
                Some(p) => (p.account().to_string(), p.region().to_string()),
                None => (pair.clone(), String::new()),
            };
            let account_name = accounts
                .get(&account_id)
                .map(|a| a.name.clone())
                .unwrap_or_default();
            list.iter()
                .filter(move |c| {
                    // A destination's folded ports (`other`) are never an expected port.
                    allowed_ports
                        .is_none_or(|ok| !c.dest_port.number().is_some_and(|p| ok.contains(&p)))
                })
                .map(move |c| Row {
                    date: None,
                    account_id: account_id.clone(),
                    account_name: account_name.clone(),
                    region: region.clone(),
                    dest: c.dest.clone(),
                    dest_port: c.dest_port,
                    source: c.source.clone(),
                    score: c.score,
                })
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.dest, a.dest_port)
            .cmp(&(&b.account_id, &b.region, &b.dest, b.dest_port))
            .then(b.score.cmp(&a.score))
            .then(a.source.cmp(&b.source))
    });
    rows
}

/// A header line, then one tab-separated line per row; a tab or line break inside a cell
/// becomes a space (it would shift the columns).
pub fn to_tsv<R: AsRef<[String]>>(header: &[&str], rows: impl Iterator<Item = R>) -> String {
    let mut out = header.join("\t") + "\n";
    for row in rows {
        let line: Vec<String> = row
            .as_ref()
            .iter()
            .map(|c| c.replace(['\t', '\n', '\r'], " "))
            .collect();
        out.push_str(&line.join("\t"));
        out.push('\n');
    }
    out
}

/// A header line, then one comma-separated line per row, quoted as RFC 4180 says.
pub fn to_csv<R: AsRef<[String]>>(header: &[&str], rows: impl Iterator<Item = R>) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = out.write_record(header);
    for row in rows {
        let _ = out.write_record(row.as_ref());
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

pub fn render(rows: &[Row], format: Format) -> String {
    // Dated rows (`--per-day`) lead with their day.
    let dated = rows.iter().any(|r| r.date.is_some());
    let mut header: Vec<&str> = Vec::new();
    if dated {
        header.push("date");
    }
    header.extend(COLUMNS);
    let cells = |r: &Row| -> Vec<String> {
        let mut out = Vec::with_capacity(8);
        if dated {
            out.push(r.date.clone().unwrap_or_default());
        }
        out.extend([
            r.account_id.clone(),
            r.account_name.clone(),
            r.region.clone(),
            r.dest.clone(),
            r.dest_port.to_string(),
            r.source.clone(),
            r.score.to_string(),
        ]);
        out
    };
    match format {
        Format::Json => serde_json::to_string_pretty(rows).unwrap_or_default() + "\n",
        Format::Csv => to_csv(&header, rows.iter().map(cells)),
        Format::Tsv => to_tsv(&header, rows.iter().map(cells)),
        Format::Text => {
            let table: Vec<Vec<String>> = rows.iter().map(cells).collect();
            to_table(&header, &table, &["dest_port", "score"])
        }
    }
}

/// An aligned table: a header line, then a line per row; the `numeric` columns right-aligned.
pub fn to_table(header: &[&str], table: &[Vec<String>], numeric: &[&str]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|c| c.len()).collect();
    for row in table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let right: Vec<bool> = header.iter().map(|c| numeric.contains(c)).collect();
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(&right)
            .map(|((c, &w), &right)| {
                if right {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let header: Vec<String> = header.iter().map(|c| c.to_string()).collect();
    let mut out = line(&header);
    for row in table {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn from_takes_dates_and_day_counts() {
        let today = date!(2026 - 11 - 27);
        // As the original's `--date-from $(date -d -7d)`: a week ago through today.
        assert_eq!(parse_from("7d", today), Ok(date!(2026 - 11 - 20)));
        assert_eq!(parse_from("-7d", today), Ok(date!(2026 - 11 - 20)));
        assert_eq!(parse_from("1d", today), Ok(date!(2026 - 11 - 26)));
        assert_eq!(parse_from("0d", today), Ok(today));
        assert!(parse_from("--7d", today).is_err());
        assert_eq!(parse_from("2026-11-01", today), Ok(date!(2026 - 11 - 01)));
        assert!(parse_from("7w", today).is_err());
        assert!(parse_from("2026-11-31", today).is_err());
        assert_eq!(days(today, today).unwrap().len(), 1);
        assert_eq!(
            days(date!(2024 - 02 - 28), date!(2024 - 03 - 01)).unwrap(),
            [
                date!(2024 - 02 - 28),
                date!(2024 - 02 - 29),
                date!(2024 - 03 - 01)
            ]
        );
        assert!(days(today, date!(2026 - 11 - 26)).is_err());
    }

    #[test]
    fn rows_sort_filter_and_render() {
        let accounts = BTreeMap::from([(
            "111111111111".to_string(),
            AccountInfo {
                name: "shop".into(),
                last_update: None,
                source: Default::default(),
                regions: Default::default(),
            },
        )]);
        let connections = BTreeMap::from([
            (
                "222222222222/us-east-1".to_string(),
                vec![Connection::new("8.8.8.8", "api", 8080, 1)],
            ),
            (
                "111111111111/eu-west-1".to_string(),
                vec![
                    Connection::new("8.8.8.8", "lb", 443, 9),
                    Connection::new("office", "db", 5432, 2),
                    Connection::new("1.1.1.1", "db", 5432, 3),
                    Connection::new("9.9.9.9", "lb", 0, 1),
                ],
            ),
        ]);
        let all = rows(&accounts, &connections, None);
        let order: Vec<(&str, &str, u16, &str)> = all
            .iter()
            .map(|r| {
                (
                    r.account_id.as_str(),
                    r.dest.as_str(),
                    r.dest_port.number().unwrap(),
                    r.source.as_str(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                ("111111111111", "db", 5432, "1.1.1.1"),
                ("111111111111", "db", 5432, "office"),
                ("111111111111", "lb", 0, "9.9.9.9"),
                ("111111111111", "lb", 443, "8.8.8.8"),
                ("222222222222", "api", 8080, "8.8.8.8"),
            ]
        );
        let ok = BTreeSet::from([443, 0]);
        let suspicious = rows(&accounts, &connections, Some(&ok));
        assert_eq!(
            suspicious
                .iter()
                .map(|r| r.dest_port.number().unwrap())
                .collect::<Vec<_>>(),
            [5432, 5432, 8080]
        );
        assert_eq!(
            render(&suspicious[..1], Format::Tsv),
            "account_id\taccount_name\tregion\tdest\tdest_port\tsource\tscore\n\
             111111111111\tshop\teu-west-1\tdb\t5432\t1.1.1.1\t3\n"
        );
        // CSV quotes what needs it (a comma or quote inside a name).
        let mut odd = suspicious[0].clone();
        odd.dest = "db, \"primary\"".into();
        assert_eq!(
            render(&[odd], Format::Csv),
            "account_id,account_name,region,dest,dest_port,source,score\n\
             111111111111,shop,eu-west-1,\"db, \"\"primary\"\"\",5432,1.1.1.1,3\n"
        );
        assert_eq!(
            render(&suspicious[2..], Format::Text),
            "account_id    account_name  region     dest  dest_port  source   score\n\
             222222222222                us-east-1  api        8080  8.8.8.8      1\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&suspicious[..1], Format::Json)).unwrap();
        assert_eq!(json[0]["account_name"], "shop");
        assert_eq!(json[0]["dest_port"], 5432);
    }
}

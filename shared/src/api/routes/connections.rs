//! `GET /connections[/{account_id}/{region}]`: the day's (or range's) connections, score
//! descending; filters, and pages by keyset when one day is asked for.

use super::{Answer, Cx, RouteSpec};
use crate::api::error::ApiError;
use crate::api::http::{json_response, Response};
use crate::api::views::{connections_by_pair, page};
use crate::api::Api;
use crate::model::{AccountRegion, Connection};
use crate::store::{ReadRequest, ReadStore};
use crate::store::{Rows, Top};

pub(in crate::api) const ALL: RouteSpec = RouteSpec {
    path: "/connections",
    query: super::ALL_ROWS,
    summary: "Inbound public connections of every account/region",
    description: "account_id/region → connections, score descending. With limit: the page's rows only (score order over all account/regions), and the header x-next-cursor when more follow",
    answer: Answer::ByPair(super::schema_of::<Connection>),
};

pub(in crate::api) const OF: RouteSpec = RouteSpec {
    path: "/connections/{account_id}/{region}",
    query: super::ROWS,
    summary: "Inbound public connections of one account/region",
    description:
        "connections, score descending (with limit, one page; x-next-cursor when more follow)",
    answer: Answer::List(super::schema_of::<Connection>),
};

pub(super) async fn answer<S: ReadStore>(api: &Api<S>, cx: Cx<'_>) -> Result<Response, ApiError> {
    let filter = cx.query.filter()?;
    let account = cx.query.account()?;
    let paging = cx.query.page(cx.path)?;
    let days = cx.days(api.max_range_days)?;
    // One day, paged, filtered by score at most: Redis sends only what the page can need — the
    // rows after the cursor's row, limit + 1 of them (the +1 tells whether a next page exists).
    let keyset = filter.is_score_only() && days.len() == 1;
    let top = paging.as_ref().filter(|_| keyset).map(|p| Top {
        k: p.limit + 1,
        min_score: filter.min_score,
        after: p.after.clone(),
    });
    let mut read = api
        .read(ReadRequest {
            days,
            scope: cx.scope.clone(),
            account: account.clone(),
            refreshed: cx.scope.is_none(),
            rows: match top {
                Some(top) => Rows::Top(top),
                None => filter.member_pattern().map_or(Rows::All, Rows::Matching),
            },
            ..ReadRequest::default()
        })
        .await?;
    if let Some(account) = &account {
        read.refreshed
            .retain(|pair, _| AccountRegion::key_is_of(pair, account));
    }
    // Filters see the source as counted (an address matches its CIDR block); the answer shows
    // resolved names.
    if !filter.is_score_only() {
        for rows in read.days.iter_mut().flat_map(|d| d.values_mut()) {
            rows.retain(|c| filter.keeps(c));
        }
    }
    let mut by_pair = connections_by_pair(read);
    if filter.min_score > 0 {
        for rows in by_pair.values_mut() {
            rows.retain(|c| c.score >= filter.min_score);
        }
    }
    let mut next = None;
    if let Some(p) = paging {
        // Read by keyset, the rows start after the cursor's row; else at offset.
        let offset = if keyset { 0 } else { p.offset };
        let cut = page(by_pair, offset, p.limit);
        by_pair = cut.rows;
        next = cut.more.then(|| p.next_cursor(cut.last));
    }
    api.name_sources(&mut by_pair).await?;
    let mut response = match &cx.scope {
        Some(_) => {
            let rows = by_pair.into_values().next().unwrap_or_default();
            json_response(200, &rows)
        }
        None => json_response(200, &by_pair),
    };
    if let Some(cursor) = next {
        response.headers.push(("x-next-cursor", cursor));
    }
    Ok(response)
}

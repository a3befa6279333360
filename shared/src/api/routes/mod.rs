//! The route table: every route declared once, in its own file — its path template, the
//! query parameters it takes, what it answers (for the OpenAPI document), how it reads the store
//! and what it makes of the read. The router, the parameter check and the OpenAPI paths are all
//! built from [`ROUTES`]; adding a route is one file here plus one line in `table!` below.

mod account_connections;
mod accounts;
mod addresses;
mod changes;
mod connections;
mod days;
mod endpoints;
mod exposure;
mod health;
mod openapi_document;
mod public_endpoints;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use time::Date;

use super::error::ApiError;
use super::http::Response;
use super::query::Query;
use super::Api;
use crate::model::AccountRegion;
use crate::store::ReadStore;

/// A wire type's schema ([`schema_of`]`::<T>`): what the OpenAPI document says a route answers
/// is derived from the type it serializes.
pub(super) type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

/// A wire type's schema, as a reference into `#/components/schemas`.
pub(super) fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The shape of a route's 200 answer, for the OpenAPI document.
#[derive(Clone, Copy)]
pub(super) enum Answer {
    /// `text/plain` `OK`.
    Ok,
    /// The OpenAPI document itself.
    Document,
    /// An object of strings (`address → name`).
    Names,
    /// An object: key → the type.
    Map(SchemaOf),
    /// An object: `account_id/region` → list of the type.
    ByPair(SchemaOf),
    /// A list of the type.
    List(SchemaOf),
    /// The type itself.
    One(SchemaOf),
}

pub(super) struct RouteSpec {
    /// A matchit template; `{account_id}` and `{region}` are checked before any route runs.
    pub path: &'static str,
    /// The query parameters it takes (components of the OpenAPI document); others are a 400.
    pub query: &'static [&'static str],
    pub summary: &'static str,
    /// What the 200 answer holds, in words.
    pub description: &'static str,
    pub answer: Answer,
}

/// What a route is called with: the request, checked as far as the table says.
pub(super) struct Cx<'a> {
    /// The path as asked (trailing `/` dropped): a page's cursor is bound to it.
    pub path: &'a str,
    /// `{account_id}/{region}` of the path, checked; `None` on estate-wide routes.
    pub scope: Option<AccountRegion>,
    /// The query, every parameter one the route takes.
    pub query: Query,
    /// The UTC day `date` defaults to.
    pub today: Date,
}

impl Cx<'_> {
    /// The days asked for (`date`, or `from`/`to`), at most `max_days`.
    pub fn days(&self, max_days: u32) -> Result<Vec<String>, ApiError> {
        self.query.days(self.today, max_days)
    }

    /// The days asked for, or the last `max_days` days when none are.
    pub fn days_or_recent(&self, max_days: u32) -> Result<Vec<String>, ApiError> {
        self.query.days_or_recent(self.today, max_days)
    }
}

/// The shared parameter lists.
pub(super) const RANGE: &[&str] = &["date", "from", "to"];
/// Every account/region's rows: one account, a range, the row filters, and paging.
pub(super) const ALL_ROWS: &[&str] = &[
    "account",
    "date",
    "from",
    "to",
    "dest",
    "port",
    "source",
    "min_score",
    "limit",
    "cursor",
];
/// One account/region's rows: the same without `account`.
pub(super) const ROWS: &[&str] = match ALL_ROWS.split_first() {
    Some((_, rest)) => rest,
    None => &[],
};
pub(super) const ENDPOINTS: &[&str] = &["date", "from", "to", "dest", "port"];
pub(super) const EXPOSURE: &[&str] = &["date", "from", "to", "verdict", "port"];

/// The table: each line a route's declaration and the function that answers it. It makes
/// [`ROUTES`] (router, parameter checks, OpenAPI) and [`call`] (dispatch by table index).
macro_rules! table {
    ($($spec:path => $answer:path,)*) => {
        pub(super) const ROUTES: &[&RouteSpec] = &[$(&$spec),*];

        /// Answers with the route at `index` of [`ROUTES`].
        pub(super) async fn call<S: ReadStore>(
            index: usize,
            api: &Api<S>,
            cx: Cx<'_>,
        ) -> Result<Response, ApiError> {
            let mut at = 0usize;
            $(
                if index == at {
                    return $answer(api, cx).await;
                }
                at += 1;
            )*
            let _ = at;
            Err(ApiError::NotFound(cx.path.to_string()))
        }
    };
}

table! {
    changes::SPEC => changes::answer,
    days::SPEC => days::answer,
    health::SPEC => health::answer,
    openapi_document::SPEC => openapi_document::answer,
    accounts::SPEC => accounts::answer,
    addresses::SPEC => addresses::answer,
    connections::ALL => connections::answer,
    connections::OF => connections::answer,
    endpoints::ALL => endpoints::answer,
    endpoints::OF => endpoints::answer,
    account_connections::SPEC => account_connections::answer,
    public_endpoints::ALL => public_endpoints::answer,
    public_endpoints::OF => public_endpoints::answer,
    exposure::ALL => exposure::answer,
    exposure::OF => exposure::answer,
}

/// The path templates the router serves.
pub fn route_paths() -> Vec<&'static str> {
    ROUTES.iter().map(|r| r.path).collect()
}

/// The `{name}` parameters of a path template, in order.
pub(super) fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_declared_once_and_its_parameters_are_documented() {
        let mut paths = route_paths();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), ROUTES.len(), "a path is declared twice");
        let components = crate::api::openapi();
        for spec in ROUTES {
            for name in spec.query.iter().copied().chain(path_parameters(spec.path)) {
                assert!(
                    components["components"]["parameters"][name].is_object(),
                    "{}: parameter {name} has no OpenAPI component",
                    spec.path
                );
            }
        }
        assert_eq!(
            path_parameters("/connections/{account_id}/{region}").collect::<Vec<_>>(),
            ["account_id", "region"]
        );
    }
}

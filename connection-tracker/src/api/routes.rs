//! The route table: every route declared once — its path template, the query parameters it
//! takes, and what it answers. The router, the parameter check and the OpenAPI paths are all
//! built from [`ROUTES`]; adding a route is one entry here plus its view in `Api::route`.

/// Which view answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    Health,
    OpenApi,
    Accounts,
    Addresses,
    Connections,
    ConnectionsOf,
    Endpoints,
    EndpointsOf,
    AccountConnections,
    PublicEndpoints,
    PublicEndpointsOf,
    Changes,
    Days,
}

/// The shape of a route's 200 answer, for the OpenAPI document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// `text/plain` `OK`.
    Ok,
    /// The OpenAPI document itself.
    Document,
    /// An object of strings (`address → name`).
    Names,
    /// An object: key → the named schema.
    Map(&'static str),
    /// An object: `account_id/region` → list of the named schema.
    ByPair(&'static str),
    /// A list of the named schema.
    List(&'static str),
    /// The named schema itself.
    One(&'static str),
}

pub(super) struct RouteSpec {
    /// A matchit template; `{account_id}` and `{region}` are checked before any view runs.
    pub path: &'static str,
    pub route: Route,
    /// The query parameters it takes (components of the OpenAPI document); others are a 400.
    pub query: &'static [&'static str],
    pub summary: &'static str,
    /// What the 200 answer holds, in words.
    pub description: &'static str,
    pub answer: Answer,
}

const RANGE: &[&str] = &["date", "from", "to"];
/// Every account/region's rows: one account, a range, the row filters, and paging.
const ALL_ROWS: &[&str] = &[
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
const ROWS: &[&str] = match ALL_ROWS.split_first() {
    Some((_, rest)) => rest,
    None => &[],
};
const ENDPOINTS: &[&str] = &["date", "from", "to", "dest", "port"];

pub(super) const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        path: "/changes",
        route: Route::Changes,
        query: &["date", "baseline_days"],
        summary: "What is new on a day: endpoints, ports and sources not seen in the days before",
        description: "the day, its baseline, and per account/region the new endpoints (destination and port) and the new connections (a source new to its endpoint)",
        answer: Answer::One("Changes"),
    },
    RouteSpec {
        path: "/days",
        route: Route::Days,
        query: &["date", "from", "to"],
        summary: "Each day of a range at a glance: connections counted and account/regions reporting",
        description: "one entry per day, oldest first",
        answer: Answer::List("Day"),
    },
    RouteSpec {
        path: "/health",
        route: Route::Health,
        query: &[],
        summary: "Liveness",
        description: "OK",
        answer: Answer::Ok,
    },
    RouteSpec {
        path: "/openapi.json",
        route: Route::OpenApi,
        query: &[],
        summary: "This document",
        description: "OpenAPI 3.1",
        answer: Answer::Document,
    },
    RouteSpec {
        path: "/accounts",
        route: Route::Accounts,
        query: &[],
        summary: "Monitored accounts, their name and last counted batch",
        description: "account id → account",
        answer: Answer::Map("Account"),
    },
    RouteSpec {
        path: "/addresses",
        route: Route::Addresses,
        query: &["q"],
        summary: "Our public addresses, the named networks and the resolved names",
        description: "address or CIDR block → name: our own addresses, the named networks, the reverse-DNS names the refresh resolved",
        answer: Answer::Names,
    },
    RouteSpec {
        path: "/connections",
        route: Route::Connections,
        query: ALL_ROWS,
        summary: "Inbound public connections of every account/region",
        description: "account_id/region → connections, score descending. With limit: the page's rows only (score order over all account/regions), and the header x-next-cursor when more follow",
        answer: Answer::ByPair("Connection"),
    },
    RouteSpec {
        path: "/connections/{account_id}/{region}",
        route: Route::ConnectionsOf,
        query: ROWS,
        summary: "Inbound public connections of one account/region",
        description: "connections, score descending (with limit, one page; x-next-cursor when more follow)",
        answer: Answer::List("Connection"),
    },
    RouteSpec {
        path: "/endpoints",
        route: Route::Endpoints,
        query: ENDPOINTS,
        summary: "Destinations and ports that got connections, per account/region",
        description: "account_id/region → endpoints",
        answer: Answer::ByPair("Endpoint"),
    },
    RouteSpec {
        path: "/endpoints/{account_id}/{region}",
        route: Route::EndpointsOf,
        query: ENDPOINTS,
        summary: "Destinations and ports that got connections in one account/region",
        description: "endpoints",
        answer: Answer::List("Endpoint"),
    },
    RouteSpec {
        path: "/account-connections",
        route: Route::AccountConnections,
        query: &["date", "from", "to", "include"],
        summary: "Connections between our accounts: sources collapsed to account/region",
        description: "account_id/region → sources",
        answer: Answer::ByPair("AccountSource"),
    },
    RouteSpec {
        path: "/public-endpoints",
        route: Route::PublicEndpoints,
        query: RANGE,
        summary: "Every public interface the refresh found, with its connections in the range",
        description: "account_id/region → public endpoints",
        answer: Answer::ByPair("PublicEndpoint"),
    },
    RouteSpec {
        path: "/public-endpoints/{account_id}/{region}",
        route: Route::PublicEndpointsOf,
        query: RANGE,
        summary: "Public endpoints of one account/region",
        description: "public endpoints",
        answer: Answer::List("PublicEndpoint"),
    },
];

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
        let components = super::super::openapi::openapi();
        for spec in ROUTES {
            assert_eq!(
                ROUTES.iter().filter(|r| r.route == spec.route).count(),
                1,
                "{:?} is served by two paths",
                spec.route
            );
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

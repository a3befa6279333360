//! Records that cross functions and the API's wire types: what the refresh writes and ingest
//! reads (interfaces, accounts, the inventory maps), what ingest counts and the API answers
//! (connections), and each route's JSON shape, which ctrack decodes with these same types.
//! The ground floor: imports nothing of the crate.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod exposure;
mod ids;
mod port;
pub use exposure::{ExposedEndpoint, IngressRule, RuleReview, RuleSource, Verdict, TOP_SOURCES};
pub use ids::{
    is_account_id, is_bucket_name, is_organization_unit, is_region, is_role_arn, own_name,
    pair_key, pair_text, AccountRegion, PayloadId,
};
pub use port::{DestPort, NotAPort, OTHER};

/// Where a monitored account comes from: the accounts table, AWS Organizations, or both (an
/// account of the organization that the table overrides).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    #[default]
    Table,
    Organization,
    OrganizationAndTable,
}

impl Origin {
    pub fn is_table(&self) -> bool {
        *self == Origin::Table
    }
}

/// One monitored account, from the accounts table and/or AWS Organizations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// Regions to scan; empty means the `REGIONS` default.
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Set by the refresh when it merges the table with the organization; never stored in
    /// the table.
    #[serde(default, skip_serializing_if = "Origin::is_table")]
    pub origin: Origin,
}

fn yes() -> bool {
    true
}

impl Account {
    /// The role to assume: the item's `role_arn`, else `arn:aws:iam::<id>:role/<role_name>`.
    pub fn role_arn(&self, role_name: &str) -> String {
        self.role_arn
            .clone()
            .unwrap_or_else(|| format!("arn:aws:iam::{}:role/{role_name}", self.id))
    }
}

/// One public network interface as the refresh describes it (stored as JSON in Redis).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceFacts {
    pub interface_id: String,
    pub account_id: String,
    pub region: String,
    /// The ENI `Description` (`ELB app/…`, `RDSNetworkInterface`, `Primary network interface`, …).
    #[serde(default)]
    pub description: String,
    /// The ENI `InterfaceType` (`interface`, `network_load_balancer`, `nat_gateway`, …).
    #[serde(default)]
    pub interface_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<String>,
    /// The interface's VPC and the account that owns it: a shared VPC's owner speaks for the
    /// interfaces in its VPCs only (`docs/rules.md`, "Shared VPCs").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_owner_id: Option<String>,
    /// Private address → public address (IPv4 association, or a public IPv6 address mapped to
    /// itself, since flow logs show IPv6 destinations as they are).
    #[serde(default)]
    pub public_ips: BTreeMap<IpAddr, IpAddr>,
    /// `Name` tag of the attached instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// DNS name of the load balancer that owns the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_dns_name: Option<String>,
    /// Endpoint host of the RDS instance that owns the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rds_endpoint: Option<String>,
    /// The interface's security groups (a load balancer's, a database's): their ingress rules
    /// are the exposure review's (`RegionInventory::ingress`). None for an NLB without groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
}

impl InterfaceFacts {
    /// Its owner's `ACCOUNT/REGION`, as the API files its traffic.
    pub fn pair(&self) -> String {
        pair_text(&self.account_id, &self.region)
    }

    /// An interface of type `interface` with one private → public address and no instance,
    /// load balancer or database name yet.
    pub fn new(
        interface_id: &str,
        account_id: &str,
        region: &str,
        description: &str,
        (private, public): (IpAddr, IpAddr),
    ) -> Self {
        InterfaceFacts {
            interface_id: interface_id.into(),
            account_id: account_id.into(),
            region: region.into(),
            description: description.into(),
            interface_type: "interface".into(),
            requester_id: None,
            vpc_id: None,
            vpc_owner_id: None,
            public_ips: BTreeMap::from([(private, public)]),
            instance_name: None,
            lb_dns_name: None,
            rds_endpoint: None,
            security_groups: Vec::new(),
        }
    }
}

/// What the refresh writes for one account and region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionInventory {
    pub interfaces: Vec<InterfaceFacts>,
    /// public address → `account/region/name`
    pub addresses: BTreeMap<String, String>,
    /// `account:log-group` → `LogFormat`
    pub formats: BTreeMap<String, String>,
    /// Security group id → its ingress rules that open to the internet, for the groups of the
    /// region's public interfaces (`docs/rules.md`, "Exposure").
    pub ingress: BTreeMap<String, Vec<IngressRule>>,
    /// The region's interfaces without a public address: their lines never count, and are
    /// not parked as lines of an interface not found yet (`docs/rules.md`, "New interfaces").
    pub private_interfaces: BTreeSet<String>,
}

/// An inventory as a file (`events/inventory.json`): what the refresh would write, for replays
/// and demos without AWS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryFile {
    #[serde(default)]
    pub interfaces: Vec<InterfaceFacts>,
    /// public address → `account/region/name`
    #[serde(default)]
    pub addresses: BTreeMap<String, String>,
    /// `account:log-group` → `LogFormat`
    #[serde(default)]
    pub formats: BTreeMap<String, String>,
}

/// The raw maps as the store holds them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InventorySnapshot {
    /// interface id → facts JSON
    pub interfaces: HashMap<String, String>,
    /// public address → `account/region/name`
    pub addresses: HashMap<String, String>,
    /// `account:log-group` → `LogFormat`
    pub formats: HashMap<String, String>,
    /// interface id → `ACCOUNT:REGION`, for interfaces with no public address
    pub private_interfaces: HashMap<String, String>,
}

/// One counted connection of a day, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Connection {
    pub source: String,
    pub dest: String,
    pub dest_port: DestPort,
    pub score: u64,
}

impl Connection {
    pub fn new(source: &str, dest: &str, dest_port: impl Into<DestPort>, score: u64) -> Self {
        Connection {
            source: source.into(),
            dest: dest.into(),
            dest_port: dest_port.into(),
            score,
        }
    }
}

/// `/changes`: what a day brought that the days before it did not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Changes {
    pub date: String,
    pub baseline: DayRange,
    /// `account_id/region` → what is new there (account/regions with nothing new are left out).
    pub changes: BTreeMap<String, PairChanges>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DayRange {
    pub from: String,
    pub to: String,
}

/// What is new in one account/region on the day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PairChanges {
    /// Destinations and ports that got no connection in the baseline.
    pub new_endpoints: Vec<NewEndpoint>,
    /// Connections whose source had not connected to that destination and port before.
    pub new_connections: Vec<Connection>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NewEndpoint {
    pub dest: String,
    pub dest_port: DestPort,
    /// The destination itself is new (else a new port of a known one).
    pub new_dest: bool,
}

/// One connection of one account/region as a flat row: a line of a closed day's evidence
/// archive (JSON lines; the day's counter row as ingest stored it — sources as counted, names
/// not applied — with the account's name) and a row of ctrack's reports (its JSON and CSV).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRow {
    /// The day; in a report only with `--per-day` (a summed range has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    pub dest: String,
    pub dest_port: DestPort,
    pub source: String,
    pub score: u64,
}

/// Score descending, then source, destination and port: the order the API answers in (the
/// page order within one account/region).
pub fn sort_connections(rows: &mut [Connection]) {
    rows.sort_by(|a, b| page_order("", a, "", b));
}

/// The order of a page over every account/region: score descending, then `account/region`,
/// source, destination and port. Pages are cut in this order, and a cursor names the last row
/// of its page in it.
pub fn page_order(a_pair: &str, a: &Connection, b_pair: &str, b: &Connection) -> Ordering {
    b.score
        .cmp(&a.score)
        .then_with(|| a_pair.cmp(b_pair))
        .then_with(|| a.source.cmp(&b.source))
        .then_with(|| a.dest.cmp(&b.dest))
        .then_with(|| a.dest_port.cmp(&b.dest_port))
}

/// `/accounts`: one monitored account and its latest counted batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Account")]
pub struct AccountInfo {
    pub name: String,
    /// `2026-11-27T10:01:02.123456Z`; `null` until a batch of the account was counted.
    pub last_update: Option<String>,
    /// Where the account comes from: `table`, `organization` or `organization_and_table`.
    #[serde(default)]
    pub source: Origin,
    /// Each region the refresh or ingest knows of: its last counted batch, its last
    /// successful refresh and, while it fails, the last failure.
    #[serde(default)]
    pub regions: BTreeMap<String, RegionHealth>,
}

/// `/days`: one day at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "Day")]
pub struct DayCount {
    pub date: String,
    /// Connections (rows: source, destination, port) counted that day, over every
    /// account/region.
    pub connections: u64,
    /// Account/regions with counters that day.
    pub account_regions: u64,
}

/// A region whose last successful refresh is older than this is stale: the refresh runs every
/// few minutes (`RefreshSchedule`), so an hour without one is a failure nobody reported.
pub const STALE_REFRESH_SECONDS: u64 = 3600;

/// How one account/region is doing, for `/accounts`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RegionHealth {
    /// The last counted batch (RFC 3339), if any.
    pub last_update: Option<String>,
    /// The last successful refresh of its inventory (RFC 3339), if any.
    pub last_refresh: Option<String>,
    /// The last refresh failure since the last success, if any.
    pub refresh_failure: Option<RefreshFailure>,
}

/// A refresh of one account/region that failed (its previous inventory is kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RefreshFailure {
    /// When (RFC 3339).
    pub at: String,
    /// What failed: `assume_role`, `describe`, `store`, … (the refresh's kinds).
    pub kind: String,
    /// AWS's or Redis's words, at most 300 characters.
    pub error: String,
}

/// `/endpoints`: a destination and port that got connections.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Endpoint<'a> {
    pub dest: Cow<'a, str>,
    pub dest_port: DestPort,
    /// Distinct sources on the busiest day of the range (HyperLogLog estimate, ±0.81 %),
    /// including sources folded into prefixes: how wide a scan was, beyond the rows kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_sources: Option<u64>,
}

/// `/account-connections`: a source (`account/region`, or an included name) and its score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, rename = "AccountSource")]
pub struct SourceScore<'a> {
    pub source: Cow<'a, str>,
    pub score: u64,
}

/// What a public endpoint is, as `/public-endpoints` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    LoadBalancer,
    Instance,
    Rds,
    NatGateway,
    Other,
}

/// `/public-endpoints`: the interfaces that answer under one name in one account/region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PublicEndpoint {
    pub name: String,
    pub kind: EndpointKind,
    pub account_id: String,
    pub region: String,
    pub interface_ids: Vec<String>,
    pub public_ips: Vec<String>,
    /// False for NAT gateways and jump hosts, whose traffic is not counted.
    pub counted: bool,
    /// Records seen in the range over all connections below.
    pub score: u64,
    pub connections: Vec<EndpointConnection>,
}

/// One source of a public endpoint's traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct EndpointConnection {
    pub source: String,
    pub dest_port: DestPort,
    pub score: u64,
}

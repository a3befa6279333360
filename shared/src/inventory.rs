//! What the refresh knows of our estate, in the form ingest needs it: public interfaces by id
//! (with destination names worked out once per load, not once per record), our own public
//! addresses, flow-log formats by log group, and the named networks.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use foldhash::HashMap as FastMap;
use serde::{Deserialize, Serialize};

use crate::classify::{self, DestName, Networks};
use crate::flowlog::{FlowLogFormat, FormatError};

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
}

/// A destination decided for an interface address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Named(String),
    DstAddr,
    /// NAT gateways and jump hosts: not counted.
    Dropped,
}

impl From<DestName> for Destination {
    fn from(name: DestName) -> Self {
        match name {
            DestName::Named(n) if classify::is_dropped_destination(&n) => Destination::Dropped,
            DestName::Named(n) => Destination::Named(n),
            DestName::DstAddr => Destination::DstAddr,
        }
    }
}

/// A public interface ready for the hot path.
#[derive(Clone, Debug)]
pub struct Interface {
    pub account_id: String,
    pub region: String,
    by_private: FastMap<IpAddr, Destination>,
    fallback: Destination,
}

impl Interface {
    pub fn new(facts: &InterfaceFacts) -> Self {
        let by_private = facts
            .public_ips
            .keys()
            .map(|&p| (p, classify::destination_name(facts, Some(p)).into()))
            .collect();
        Interface {
            account_id: facts.account_id.clone(),
            region: facts.region.clone(),
            by_private,
            fallback: classify::destination_name(facts, None).into(),
        }
    }

    /// The destination for a record's `dstaddr` (private side of the interface).
    pub fn destination(&self, dstaddr: IpAddr) -> &Destination {
        self.by_private.get(&dstaddr).unwrap_or(&self.fallback)
    }
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
}

/// Problems met while loading a snapshot; each entry is skipped, the rest load.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InventoryProblem {
    #[error("interface `{id}` has unreadable facts: {reason}")]
    Interface { id: String, reason: String },
    #[error("address `{0}` is not an IP address")]
    Address(String),
    #[error("log group `{group}` has an unusable format: {error}")]
    Format { group: String, error: FormatError },
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    // foldhash: looked up for every record; fast, and seeded per process.
    pub interfaces: FastMap<String, Interface>,
    pub own_addresses: FastMap<IpAddr, String>,
    pub formats: HashMap<String, FlowLogFormat>,
    pub networks: Networks,
}

impl Inventory {
    /// Builds the hot-path inventory. Bad entries are reported and skipped, never fatal: one
    /// corrupt entry must not stop every account's counting.
    pub fn from_snapshot(
        snapshot: &InventorySnapshot,
        networks: Networks,
    ) -> (Inventory, Vec<InventoryProblem>) {
        let mut problems = Vec::new();
        let mut interfaces = FastMap::default();
        for (id, json) in &snapshot.interfaces {
            match serde_json::from_str::<InterfaceFacts>(json) {
                Ok(facts) => {
                    interfaces.insert(id.clone(), Interface::new(&facts));
                }
                Err(e) => problems.push(InventoryProblem::Interface {
                    id: id.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        let mut own_addresses = FastMap::default();
        for (ip, name) in &snapshot.addresses {
            match ip.parse::<IpAddr>() {
                Ok(addr) => {
                    own_addresses.insert(addr, name.clone());
                }
                Err(_) => problems.push(InventoryProblem::Address(ip.clone())),
            }
        }
        let mut formats = HashMap::with_capacity(snapshot.formats.len());
        for (group, spec) in &snapshot.formats {
            match FlowLogFormat::parse(spec) {
                Ok(f) => {
                    formats.insert(group.clone(), f);
                }
                Err(error) => problems.push(InventoryProblem::Format {
                    group: group.clone(),
                    error,
                }),
            }
        }
        (
            Inventory {
                interfaces,
                own_addresses,
                formats,
                networks,
            },
            problems,
        )
    }

    /// Adds or replaces one interface (tests and tools).
    pub fn insert_interface(&mut self, facts: &InterfaceFacts) {
        self.interfaces
            .insert(facts.interface_id.clone(), Interface::new(facts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_with_bad_entries_loads_the_rest() {
        let good = InterfaceFacts {
            interface_id: "eni-good".into(),
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            description: "Interface for NAT Gateway nat-1".into(),
            interface_type: "nat_gateway".into(),
            requester_id: None,
            public_ips: BTreeMap::from([(
                "10.0.0.9".parse().unwrap(),
                "52.0.0.9".parse().unwrap(),
            )]),
            instance_name: None,
            lb_dns_name: None,
            rds_endpoint: None,
        };
        let snapshot = InventorySnapshot {
            interfaces: HashMap::from([
                ("eni-good".into(), serde_json::to_string(&good).unwrap()),
                ("eni-bad".into(), "{not json".into()),
            ]),
            addresses: HashMap::from([
                ("52.0.0.9".into(), "123456789012/eu-west-1/nat".into()),
                ("nope".into(), "x".into()),
            ]),
            formats: HashMap::from([
                ("flows".into(), "${version} ${srcaddr}".into()),
                ("broken".into(), "${version".into()),
            ]),
        };
        let (inv, problems) = Inventory::from_snapshot(&snapshot, Networks::default());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(inv.interfaces.len(), 1);
        // A NAT gateway's name contains "NAT": dropped whatever the address.
        let iface = &inv.interfaces["eni-good"];
        assert_eq!(
            iface.destination("10.0.0.9".parse().unwrap()),
            &Destination::Dropped
        );
        assert_eq!(
            iface.destination("10.0.0.1".parse().unwrap()),
            &Destination::Dropped
        );
        assert_eq!(inv.own_addresses.len(), 1);
        assert_eq!(inv.formats["flows"].len(), 2);
    }
}

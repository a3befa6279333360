//! What the refresh knows of our estate, in the form ingest needs it: public interfaces by id
//! (with destination names worked out once per load, not once per record), our own public
//! addresses, flow-log formats by log group, and the named networks.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use foldhash::{HashMap as FastMap, HashSet as FastSet};

use crate::model::{InterfaceFacts, InventorySnapshot};
use crate::rules::classify::{self, Destination, Networks};
use crate::rules::flowlog::{FlowLogFormat, FormatError};

/// A public interface ready for the hot path.
#[derive(Clone, Debug)]
pub struct Interface {
    pub account_id: String,
    pub region: String,
    /// An EC2 instance's interface (the S3 rule applies to traffic to instances only).
    pub instance: bool,
    /// The account that owns the interface's VPC, if the refresh learned it: a shared VPC's
    /// owner speaks for the interfaces in its VPCs.
    pub vpc_owner: Option<String>,
    by_private: FastMap<IpAddr, Destination>,
    /// The interface's own name, for a `dstaddr` the refresh did not see.
    own: Destination,
}

impl Interface {
    pub fn new(facts: &InterfaceFacts) -> Self {
        let by_private = facts
            .public_ips
            .keys()
            .map(|&p| (p, classify::destination(facts, Some(p))))
            .collect();
        Interface {
            account_id: facts.account_id.clone(),
            region: facts.region.clone(),
            instance: classify::endpoint_kind(facts) == crate::model::EndpointKind::Instance,
            vpc_owner: facts.vpc_owner_id.clone(),
            by_private,
            own: classify::destination(facts, None),
        }
    }

    /// The destination of a record's `dstaddr` (the private side of the interface), if the
    /// refresh saw that address on it.
    pub fn known_destination(&self, dstaddr: IpAddr) -> Option<&Destination> {
        self.by_private.get(&dstaddr)
    }

    /// The interface's own destination: where a `dstaddr` it did not see is counted.
    pub fn own_destination(&self) -> &Destination {
        &self.own
    }
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
    /// The accounts the refresh found interfaces of: only their logs' lines of interfaces not
    /// found yet are parked (`docs/rules.md`, "New interfaces").
    pub accounts: BTreeSet<String>,
    /// Interfaces the refresh found without a public address: their lines are
    /// `private_interface`, not lines of an interface not found yet.
    pub private_interfaces: FastSet<String>,
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
        let mut accounts = BTreeSet::new();
        for (id, json) in &snapshot.interfaces {
            match serde_json::from_str::<InterfaceFacts>(json) {
                Ok(facts) => {
                    if !accounts.contains(&facts.account_id) {
                        accounts.insert(facts.account_id.clone());
                    }
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
                accounts,
                private_interfaces: snapshot.private_interfaces.keys().cloned().collect(),
            },
            problems,
        )
    }

    /// Adds or replaces one interface (tests and tools).
    pub fn insert_interface(&mut self, facts: &InterfaceFacts) {
        self.accounts.insert(facts.account_id.clone());
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
            interface_type: "nat_gateway".into(),
            ..crate::testing::interface(
                "eni-good",
                "123456789012",
                "eu-west-1",
                "Interface for NAT Gateway nat-1",
                "10.0.0.9",
                "52.0.0.9",
            )
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
            private_interfaces: HashMap::from([(
                "eni-inside".into(),
                "123456789012:eu-west-1".into(),
            )]),
        };
        let (inv, problems) = Inventory::from_snapshot(&snapshot, Networks::default());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(inv.interfaces.len(), 1);
        assert_eq!(inv.accounts, BTreeSet::from(["123456789012".to_string()]));
        assert!(inv.private_interfaces.contains("eni-inside"));
        // A NAT gateway's name contains "NAT": dropped whatever the address.
        let iface = &inv.interfaces["eni-good"];
        let nat = Destination::Dropped("Interface for NAT Gateway nat-1/52.0.0.9".into());
        let at = |ip: &str| iface.known_destination(ip.parse().unwrap());
        assert_eq!(at("10.0.0.9"), Some(&nat));
        assert_eq!(at("10.0.0.1"), None, "an address the refresh did not see");
        assert_eq!(iface.own_destination(), &nat);
        assert_eq!(inv.own_addresses.len(), 1);
        assert_eq!(inv.formats["flows"].len(), 2);
    }
}

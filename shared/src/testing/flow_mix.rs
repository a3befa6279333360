//! The benchmarks' traffic: one account's 40 interfaces of every kind and a realistic mix of
//! flow-log lines with scanners — the same mix for the pipeline bench (in memory) and the
//! replay bench (files through `ctrack replay` into Redis).

use crate::ingest::inventory::Inventory;
use crate::model::{InterfaceFacts, InventoryFile};
use crate::rules::classify::Networks;

use super::Rng;

pub const ACCOUNT: &str = "111111111111";
/// The named network of the mix (`NETWORKS`): `office=85.1.0.0/16`.
pub const NETWORKS: &str = "office=85.1.0.0/16";

/// 40 interfaces of every kind (load balancers, instances, RDS, NAT, other) and 50 own
/// addresses of another account.
pub struct Mix {
    pub interfaces: Vec<InterfaceFacts>,
    pub own_addresses: Vec<(String, String)>,
}

impl Default for Mix {
    fn default() -> Self {
        Self::new()
    }
}

impl Mix {
    pub fn new() -> Mix {
        let mut interfaces = Vec::new();
        for i in 0..40u32 {
            let private = format!("10.0.{}.{}", i / 200, i % 200 + 10);
            let public = format!("52.16.{}.{}", i / 200, i % 200 + 10);
            let (description, lb, rds, name) = match i % 5 {
                0 => (
                    format!("ELB app/shop{i}/50dc6c495c0c9188"),
                    Some(format!("shop{i}-1.eu-west-1.elb.amazonaws.com")),
                    None,
                    None,
                ),
                1 => (
                    "Primary network interface".to_string(),
                    None,
                    None,
                    Some(format!("web{i}")),
                ),
                2 => (
                    "RDSNetworkInterface".to_string(),
                    None,
                    Some(format!("db{i}.abc.eu-west-1.rds.amazonaws.com")),
                    None,
                ),
                3 => (
                    "Interface for NAT Gateway nat-0abc".to_string(),
                    None,
                    None,
                    None,
                ),
                _ => (
                    format!("ELB net/ingress{i}/6a3f0c1e"),
                    Some(format!("ingress{i}-1.elb.eu-west-1.amazonaws.com")),
                    None,
                    None,
                ),
            };
            interfaces.push(InterfaceFacts {
                instance_name: name,
                lb_dns_name: lb,
                rds_endpoint: rds,
                ..super::interface(
                    &format!("eni-{i:017x}"),
                    ACCOUNT,
                    "eu-west-1",
                    &description,
                    &private,
                    &public,
                )
            });
        }
        let own_addresses = (0..50)
            .map(|i| {
                (
                    format!("34.240.0.{i}"),
                    format!("222222222222/eu-west-1/nat-{i}"),
                )
            })
            .collect();
        Mix {
            interfaces,
            own_addresses,
        }
    }

    /// The inventory as ingest holds it.
    pub fn inventory(&self) -> Inventory {
        let mut inventory = Inventory {
            networks: Networks::new(vec![("office".into(), "85.1.0.0/16".parse().unwrap())]),
            ..Inventory::default()
        };
        for facts in &self.interfaces {
            inventory.insert_interface(facts);
        }
        for (ip, name) in &self.own_addresses {
            inventory
                .own_addresses
                .insert(ip.parse().unwrap(), name.clone());
        }
        inventory
    }

    /// The inventory as `ctrack replay --inventory` reads it.
    pub fn inventory_file(&self) -> InventoryFile {
        InventoryFile {
            interfaces: self.interfaces.clone(),
            addresses: self.own_addresses.iter().cloned().collect(),
            formats: Default::default(),
        }
    }

    /// The replay workload's event number `e` of `per_event` lines (started within the hour
    /// before `now`), as a CloudWatch Logs subscription event's JSON text. Each event its own
    /// ids: a stream of distinct deliveries, none a redelivery. The bench and
    /// `tools/count-events` write the same workload from the same `rng` seed.
    pub fn event(&self, rng: &mut Rng, now: u64, e: u64, per_event: u64) -> String {
        let lines: Vec<String> = (0..per_event).map(|_| self.line(rng, now - 3600)).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let json = super::logs_message(ACCOUNT, "/vpc/flow-logs", &refs, (now - 60 + e) * 1000);
        serde_json::json!({"awslogs": {"data": super::encode_payload(json.to_string().as_bytes())}})
            .to_string()
    }

    /// One flow-log line starting within the hour after `hour_start` (Unix seconds): ~60 %
    /// public sources (some IPv6, some ours, some in a named network), ~80 % ACCEPT, ~15 %
    /// REJECT, ~5 % NODATA, 2 % on interfaces the refresh does not know. Public clients come
    /// back to the same endpoint and port (a skewed pool of 2,000); scanners (one record in
    /// ten) come from fresh addresses to any endpoint and port.
    pub fn line(&self, rng: &mut Rng, hour_start: u64) -> String {
        const PORTS: [u16; 7] = [443, 443, 443, 80, 22, 5432, 8443];
        let start = hour_start + rng.below(3600);
        let spread = rng.below(2_000) + 1;
        let client = rng.below(spread);
        let scanner = rng.below(10) == 0;
        let pick = if scanner { rng.below(1 << 20) } else { client };
        let facts = &self.interfaces[(pick % self.interfaces.len() as u64) as usize];
        let private = facts
            .public_ips
            .keys()
            .next()
            .expect("an address")
            .to_string();
        let eni = if rng.below(50) == 0 {
            "eni-0ffffffffffffffff"
        } else {
            facts.interface_id.as_str()
        };
        if rng.below(20) == 0 {
            return format!(
                "2 {ACCOUNT} {eni} - - - - - - - {start} {} - NODATA",
                start + 60
            );
        }
        let src = if scanner {
            format!(
                "{}.{}.{}.{}",
                1 + rng.below(200),
                rng.below(256),
                rng.below(256),
                1 + rng.below(254)
            )
        } else {
            match rng.below(6) {
                0 | 1 => format!(
                    "10.{}.{}.{}",
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                ),
                2 => format!("2a00:1450:4001:{:x}::{:x}", client % 16, client),
                3 => format!("34.240.0.{}", client % 50),
                4 => format!("85.1.{}.{}", client / 256, client % 256),
                _ => format!(
                    "{}.{}.{}.{}",
                    100 + client % 100,
                    client / 100,
                    client % 7,
                    1 + client % 254
                ),
            }
        };
        let dst = if src.contains(':') {
            "2a05:d018::20".to_string()
        } else {
            private
        };
        let port = PORTS[(pick % PORTS.len() as u64) as usize];
        let action = if rng.below(100) < 15 {
            "REJECT"
        } else {
            "ACCEPT"
        };
        format!(
            "2 {ACCOUNT} {eni} {src} {dst} {} {port} 6 {} {} {start} {} {action} OK",
            1024 + rng.below(60000),
            1 + rng.below(100),
            40 + rng.below(100_000),
            start + 60
        )
    }
}

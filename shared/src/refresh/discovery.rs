//! What the refresh learns about one account and region, and how it becomes the maps ingest
//! reads. The describe calls live behind the [`Discovery`] trait (AWS adapter in
//! `aws`); turning their results into interface facts and address names is pure and
//! tested here with tables.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;

use crate::model::{Account, IngressRule, InterfaceFacts, RegionInventory};
use crate::rules::exposure::opens_to_internet;

/// A network interface as DescribeNetworkInterfaces returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawInterface {
    pub id: String,
    pub description: String,
    pub interface_type: String,
    pub requester_id: Option<String>,
    /// The account that owns the interface (`OwnerId`): in a shared VPC, the participant whose
    /// resource it is, even when the VPC's owner describes it.
    pub owner_id: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub security_groups: Vec<String>,
    pub instance_id: Option<String>,
    /// (private address, public address) per associated private address.
    pub public_ips: Vec<(IpAddr, IpAddr)>,
    pub private_ips: Vec<IpAddr>,
    pub ipv6_addresses: Vec<IpAddr>,
}

impl RawInterface {
    /// Public: an association with a public IPv4 address, or a global IPv6 address.
    pub fn is_public(&self) -> bool {
        !self.public_ips.is_empty()
            || self
                .ipv6_addresses
                .iter()
                .any(|ip| !crate::rules::classify::is_private(*ip))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawInstance {
    pub id: String,
    pub name: Option<String>,
}

/// A load balancer: `key` is what follows `ELB ` in its interfaces' descriptions
/// (`name` for classic, `app/name/id` or `net/name/id` for ELBv2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawLoadBalancer {
    pub key: String,
    pub dns_name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawDatabase {
    pub id: String,
    pub endpoint: String,
    pub vpc_id: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
    /// The endpoint resolved through DNS (empty where DNS is not reachable).
    pub resolved: Vec<IpAddr>,
}

/// A public address of ours: a NAT gateway's or an Elastic IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawOwnAddress {
    pub public_ip: IpAddr,
    /// `Name` tag, else the NAT gateway or allocation id.
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawFlowLog {
    pub log_group: String,
    pub log_format: Option<String>,
}

/// Everything the describe calls return for one account and region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionFacts {
    /// Names of the region's available zones (`eu-west-1a` …): `DOMAIN` names a NAT host per
    /// zone (`docs/rules.md`, "Names": our own addresses).
    pub availability_zones: Vec<String>,
    /// VPC id → the account that owns it (`ec2:DescribeVpcs`).
    pub vpc_owners: BTreeMap<String, String>,
    pub interfaces: Vec<RawInterface>,
    pub instances: Vec<RawInstance>,
    pub load_balancers: Vec<RawLoadBalancer>,
    pub databases: Vec<RawDatabase>,
    pub own_addresses: Vec<RawOwnAddress>,
    pub flow_logs: Vec<RawFlowLog>,
    /// Every ingress rule of the region's security groups (`ec2:DescribeSecurityGroupRules`).
    pub ingress_rules: Vec<IngressRule>,
}

/// How RDS interfaces were tied to their databases (the docs explain the rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdsMatch {
    /// The endpoint resolves to the interface's public address.
    Dns,
    /// The only publicly accessible database in the interface's VPC whose subnet group holds
    /// the interface's subnet and whose security groups are the interface's.
    Placement,
}

/// Ties an RDS interface to a database: DNS first, then placement (`docs/rules.md`, "Names": RDS).
pub fn match_database<'a>(
    iface: &RawInterface,
    databases: &'a [RawDatabase],
) -> Option<(&'a RawDatabase, RdsMatch)> {
    let publics: Vec<IpAddr> = iface.public_ips.iter().map(|(_, p)| *p).collect();
    if let Some(db) = databases
        .iter()
        .find(|db| db.resolved.iter().any(|ip| publics.contains(ip)))
    {
        return Some((db, RdsMatch::Dns));
    }
    let mut iface_groups = iface.security_groups.clone();
    iface_groups.sort();
    let candidates: Vec<&RawDatabase> = databases
        .iter()
        .filter(|db| db.vpc_id.is_some() && db.vpc_id == iface.vpc_id)
        .filter(|db| {
            iface
                .subnet_id
                .as_ref()
                .is_some_and(|s| db.subnet_ids.contains(s))
        })
        .filter(|db| {
            let mut groups = db.security_groups.clone();
            groups.sort();
            groups == iface_groups
        })
        .collect();
    match candidates.as_slice() {
        [db] => Some((db, RdsMatch::Placement)),
        // Ambiguous placement: better no name than a wrong one.
        _ => None,
    }
}

/// Whether the account/region being described files an interface under its own name
/// (`docs/rules.md`, "Shared VPCs"): an interface belongs to the account that owns it
/// (`OwnerId`). A shared VPC's owner also sees its participants' interfaces; it leaves those
/// of monitored participants to their own refresh, and files those of unmonitored ones
/// itself, so each interface is written by exactly one account/region, whatever the order.
fn files_here(iface: &RawInterface, account: &Account, monitored: &BTreeSet<String>) -> bool {
    match iface.owner_id.as_deref() {
        None => true,
        Some(owner) => owner == account.id || !monitored.contains(owner),
    }
}

/// The ingress rules that open the interfaces' groups to the internet, by group
/// (`docs/rules.md`, "Exposure"): rules from private blocks or other groups are not reviewed.
fn ingress_of(
    interfaces: &[InterfaceFacts],
    rules: &[IngressRule],
) -> BTreeMap<String, Vec<IngressRule>> {
    let groups: BTreeSet<&str> = interfaces
        .iter()
        .flat_map(|i| i.security_groups.iter().map(String::as_str))
        .collect();
    let mut ingress: BTreeMap<String, Vec<IngressRule>> = BTreeMap::new();
    for rule in rules
        .iter()
        .filter(|r| groups.contains(r.group_id.as_str()))
    {
        if opens_to_internet(rule) {
            ingress
                .entry(rule.group_id.clone())
                .or_default()
                .push(rule.clone());
        }
    }
    for group_rules in ingress.values_mut() {
        group_rules.sort();
    }
    ingress
}

/// Turns one account/region's describe results into the maps ingest reads; `monitored` are
/// the enabled accounts' ids. Pure.
pub fn build_region_inventory(
    account: &Account,
    region: &str,
    facts: &RegionFacts,
    domain_hosts: &[(IpAddr, String)],
    monitored: &BTreeSet<String>,
) -> RegionInventory {
    let instance_names: BTreeMap<&str, &str> = facts
        .instances
        .iter()
        .filter_map(|i| Some((i.id.as_str(), i.name.as_deref()?)))
        .collect();
    let lb_dns: BTreeMap<&str, &str> = facts
        .load_balancers
        .iter()
        .map(|lb| (lb.key.as_str(), lb.dns_name.as_str()))
        .collect();
    let mut inventory = RegionInventory::default();
    let here = |i: &&RawInterface| i.is_public() && files_here(i, account, monitored);
    for iface in facts.interfaces.iter().filter(here) {
        let mut public_ips: BTreeMap<IpAddr, IpAddr> = iface.public_ips.iter().copied().collect();
        for v6 in &iface.ipv6_addresses {
            if !crate::rules::classify::is_private(*v6) {
                public_ips.insert(*v6, *v6);
            }
        }
        let lb_dns_name = iface
            .description
            .strip_prefix("ELB ")
            .and_then(|key| lb_dns.get(key))
            .map(|d| d.to_string());
        let rds_endpoint = (iface.description == "RDSNetworkInterface")
            .then(|| match_database(iface, &facts.databases))
            .flatten()
            .map(|(db, _)| db.endpoint.clone());
        inventory.interfaces.push(InterfaceFacts {
            interface_id: iface.id.clone(),
            account_id: account.id.clone(),
            region: region.to_string(),
            description: iface.description.clone(),
            interface_type: iface.interface_type.clone(),
            requester_id: iface.requester_id.clone(),
            vpc_id: iface.vpc_id.clone(),
            vpc_owner_id: iface
                .vpc_id
                .as_ref()
                .and_then(|vpc| facts.vpc_owners.get(vpc))
                .cloned(),
            public_ips,
            instance_name: iface
                .instance_id
                .as_deref()
                .and_then(|id| instance_names.get(id))
                .map(|n| n.to_string()),
            lb_dns_name,
            rds_endpoint,
            security_groups: iface.security_groups.clone(),
        });
    }
    inventory.ingress = ingress_of(&inventory.interfaces, &facts.ingress_rules);
    inventory.private_interfaces = facts
        .interfaces
        .iter()
        .filter(|i| !i.is_public() && files_here(i, account, monitored))
        .map(|i| i.id.clone())
        .collect();
    for own in &facts.own_addresses {
        inventory.addresses.insert(
            own.public_ip.to_string(),
            format!("{}/{region}/{}", account.id, own.name),
        );
    }
    // Hosts named by the DOMAIN template (nat-<az>.<domain>, odd-<region>.<domain>) win: they
    // are the names people know these addresses by.
    for (ip, host) in domain_hosts {
        inventory
            .addresses
            .insert(ip.to_string(), format!("{}/{region}/{host}", account.id));
    }
    for flow_log in &facts.flow_logs {
        if let Some(format) = &flow_log.log_format {
            inventory.formats.insert(
                format!("{}:{}", account.id, flow_log.log_group),
                format.clone(),
            );
        }
    }
    inventory
}

/// Why an account/region could not be described.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    #[error("cannot assume role {role_arn}: {message}")]
    AssumeRole { role_arn: String, message: String },
    #[error("{call} failed: {message}")]
    Call { call: &'static str, message: String },
    #[error("timed out after {0} s")]
    Timeout(u64),
}

impl DiscoveryError {
    pub fn kind(&self) -> &'static str {
        match self {
            DiscoveryError::AssumeRole { .. } => "assume_role",
            DiscoveryError::Call { .. } => "describe",
            DiscoveryError::Timeout(_) => "timeout",
        }
    }
}

/// Describes one account and region (the AWS adapter assumes the account's role first).
pub trait Discovery: Send + Sync {
    fn describe(
        &self,
        account: &Account,
        region: &str,
    ) -> impl Future<Output = Result<RegionFacts, DiscoveryError>> + Send;
}

/// Where the list of accounts comes from (the DynamoDB table, with AWS Organizations).
pub trait AccountList: Send + Sync {
    fn accounts(&self) -> impl Future<Output = Result<Vec<Account>, DiscoveryError>> + Send;
}

/// An active account of the organization: its id and Organizations name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationAccount {
    pub id: String,
    pub name: String,
}

/// The organization's accounts with the table's: a table item overrides an organization
/// account of the same id (its name, regions, role, `enabled: false` to leave it out) and marks
/// it `organization_and_table`; organization accounts without an item are monitored with their
/// Organizations name and the default regions; table-only accounts stay as they are. Sorted by id.
pub fn merge_accounts(organization: Vec<OrganizationAccount>, table: Vec<Account>) -> Vec<Account> {
    use crate::model::Origin;
    let mut merged: std::collections::BTreeMap<String, Account> = organization
        .into_iter()
        .map(|o| {
            let account = Account {
                id: o.id.clone(),
                name: o.name,
                regions: Vec::new(),
                role_arn: None,
                enabled: true,
                origin: Origin::Organization,
            };
            (o.id, account)
        })
        .collect();
    for mut item in table {
        item.origin = if merged.contains_key(&item.id) {
            Origin::OrganizationAndTable
        } else {
            Origin::Table
        };
        merged.insert(item.id.clone(), item);
    }
    merged.into_values().collect()
}

/// DNS, used by the refresh only (never by ingest).
pub trait Resolver: Send + Sync {
    /// Addresses of a host name; empty when it does not resolve.
    fn lookup(&self, host: &str) -> impl Future<Output = Vec<IpAddr>> + Send;
    /// The PTR name of an address, `None` when there is none.
    fn reverse(&self, ip: IpAddr) -> impl Future<Output = Option<String>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RuleSource;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn account() -> Account {
        Account {
            id: "111111111111".into(),
            name: "alpha".into(),
            regions: vec![],
            role_arn: None,
            enabled: true,
            origin: Default::default(),
        }
    }

    #[test]
    fn an_interface_is_filed_by_its_owner_or_by_whoever_sees_an_unmonitored_ones() {
        let monitored: BTreeSet<String> = ["111111111111", "222222222222"].map(String::from).into();
        // (the interface's OwnerId, filed by the refresh of 111111111111)
        let cases = [
            (None, true),                  // no OwnerId in the answer: the describer's
            (Some("111111111111"), true),  // its own
            (Some("222222222222"), false), // a monitored participant's: left to it
            (Some("333333333333"), true),  // nobody monitors its owner: the VPC owner's
        ];
        for (owner, want) in cases {
            let raw = RawInterface {
                owner_id: owner.map(String::from),
                ..RawInterface::default()
            };
            assert_eq!(files_here(&raw, &account(), &monitored), want, "{owner:?}");
        }
    }

    fn iface(id: &str, description: &str, public: Option<(&str, &str)>) -> RawInterface {
        RawInterface {
            id: id.into(),
            description: description.into(),
            interface_type: "interface".into(),
            vpc_id: Some("vpc-1".into()),
            subnet_id: Some("subnet-a".into()),
            security_groups: vec!["sg-db".into()],
            public_ips: public.map(|(p, q)| (ip(p), ip(q))).into_iter().collect(),
            ..RawInterface::default()
        }
    }

    #[test]
    fn role_arn_defaults_to_the_role_name() {
        let mut a = account();
        assert_eq!(
            a.role_arn("connection-tracker-reader"),
            "arn:aws:iam::111111111111:role/connection-tracker-reader"
        );
        a.role_arn = Some("arn:aws:iam::111111111111:role/custom".into());
        assert_eq!(a.role_arn("x"), "arn:aws:iam::111111111111:role/custom");
    }

    #[test]
    fn only_public_interfaces_are_kept_and_named_from_the_describe_results() {
        let mut web = iface(
            "eni-web",
            "Primary network interface",
            Some(("10.0.0.5", "52.0.0.5")),
        );
        web.instance_id = Some("i-web".into());
        let mut v6only = iface("eni-v6", "", None);
        v6only.ipv6_addresses = vec![ip("2a05:d018::5"), ip("fe80::1")];
        let mut private_v6 = iface("eni-ula", "", None);
        private_v6.ipv6_addresses = vec![ip("fd00::5")];
        let facts = RegionFacts {
            availability_zones: vec![],
            interfaces: vec![
                web,
                iface(
                    "eni-alb",
                    "ELB app/shop/abc",
                    Some(("10.0.1.1", "52.0.1.1")),
                ),
                iface("eni-clb", "ELB legacy", Some(("10.0.1.2", "52.0.1.2"))),
                iface("eni-private", "Primary network interface", None),
                v6only,
                private_v6,
            ],
            instances: vec![RawInstance {
                id: "i-web".into(),
                name: Some("web".into()),
            }],
            load_balancers: vec![
                RawLoadBalancer {
                    key: "app/shop/abc".into(),
                    dns_name: "shop-1.eu-west-1.elb.amazonaws.com".into(),
                },
                RawLoadBalancer {
                    key: "legacy".into(),
                    dns_name: "legacy-1.eu-west-1.elb.amazonaws.com".into(),
                },
            ],
            own_addresses: vec![RawOwnAddress {
                public_ip: ip("52.0.9.9"),
                name: "nat-0abc".into(),
            }],
            flow_logs: vec![
                RawFlowLog {
                    log_group: "/vpc/flows".into(),
                    log_format: Some("${version} ${srcaddr}".into()),
                },
                RawFlowLog {
                    log_group: "/vpc/default".into(),
                    log_format: None,
                },
            ],
            ..RegionFacts::default()
        };
        let hosts = [(
            ip("52.0.9.9"),
            "nat-eu-west-1a.alpha.example.org".to_string(),
        )];
        let inv = build_region_inventory(&account(), "eu-west-1", &facts, &hosts, &BTreeSet::new());
        let ids: Vec<&str> = inv
            .interfaces
            .iter()
            .map(|i| i.interface_id.as_str())
            .collect();
        assert_eq!(ids, ["eni-web", "eni-alb", "eni-clb", "eni-v6"]);
        assert_eq!(inv.interfaces[0].instance_name.as_deref(), Some("web"));
        assert_eq!(
            inv.interfaces[1].lb_dns_name.as_deref(),
            Some("shop-1.eu-west-1.elb.amazonaws.com")
        );
        assert_eq!(
            inv.interfaces[2].lb_dns_name.as_deref(),
            Some("legacy-1.eu-west-1.elb.amazonaws.com")
        );
        // Global IPv6 addresses map to themselves; link-local ones are left out.
        assert_eq!(
            inv.interfaces[3].public_ips,
            BTreeMap::from([(ip("2a05:d018::5"), ip("2a05:d018::5"))])
        );
        assert_eq!(
            inv.addresses,
            BTreeMap::from([(
                "52.0.9.9".to_string(),
                "111111111111/eu-west-1/nat-eu-west-1a.alpha.example.org".to_string()
            )])
        );
        assert_eq!(
            inv.formats,
            BTreeMap::from([(
                "111111111111:/vpc/flows".to_string(),
                "${version} ${srcaddr}".to_string()
            )])
        );
    }

    #[test]
    fn only_rules_that_open_a_public_interfaces_group_to_the_internet_are_kept() {
        let rule = |id: &str, group: &str, source: RuleSource| IngressRule {
            rule_id: id.into(),
            group_id: group.into(),
            group_name: group.into(),
            description: String::new(),
            protocol: "tcp".into(),
            from_port: 22,
            to_port: 22,
            source,
        };
        let cidr = |c: &str| RuleSource::Cidr(c.into());
        let rules = [
            rule("sgr-world", "sg-web", cidr("0.0.0.0/0")),
            rule("sgr-office", "sg-web", cidr("85.1.0.0/16")),
            rule("sgr-inside", "sg-web", cidr("10.0.0.0/8")),
            rule("sgr-peer", "sg-web", RuleSource::Group("sg-app".into())),
            rule("sgr-other", "sg-unused", cidr("0.0.0.0/0")),
        ];
        let mut web = crate::testing::interface(
            "eni-web",
            "111111111111",
            "eu-west-1",
            "Primary network interface",
            "10.0.1.5",
            "52.0.1.5",
        );
        web.security_groups = vec!["sg-web".into()];
        let ingress = ingress_of(&[web], &rules);
        let kept: Vec<(&str, &str)> = ingress
            .iter()
            .flat_map(|(g, rs)| rs.iter().map(move |r| (g.as_str(), r.rule_id.as_str())))
            .collect();
        assert_eq!(kept, [("sg-web", "sgr-office"), ("sg-web", "sgr-world")]);
    }

    #[test]
    fn rds_interfaces_match_by_dns_then_by_placement() {
        let rds_iface = iface(
            "eni-rds",
            "RDSNetworkInterface",
            Some(("10.0.2.2", "52.0.2.2")),
        );
        let db = |id: &str, vpc: &str, subnet: &str, sg: &str, resolved: &[&str]| RawDatabase {
            id: id.into(),
            endpoint: format!("{id}.abc.eu-west-1.rds.amazonaws.com"),
            vpc_id: Some(vpc.into()),
            subnet_ids: vec![subnet.into(), "subnet-z".into()],
            security_groups: vec![sg.into()],
            resolved: resolved.iter().map(|s| ip(s)).collect(),
        };
        type Case<'a> = (Vec<RawDatabase>, Option<(&'a str, RdsMatch)>);
        let cases: Vec<Case> = vec![
            // The endpoint resolves to the interface's public address.
            (
                vec![
                    db("orders", "vpc-1", "subnet-a", "sg-db", &[]),
                    db("users", "vpc-9", "subnet-q", "sg-x", &["52.0.2.2"]),
                ],
                Some(("users", RdsMatch::Dns)),
            ),
            // No DNS: one database placed like the interface.
            (
                vec![
                    db("orders", "vpc-1", "subnet-a", "sg-db", &[]),
                    db("users", "vpc-1", "subnet-b", "sg-db", &[]),
                ],
                Some(("orders", RdsMatch::Placement)),
            ),
            // Two placed alike: ambiguous, no name.
            (
                vec![
                    db("orders", "vpc-1", "subnet-a", "sg-db", &[]),
                    db("users", "vpc-1", "subnet-a", "sg-db", &[]),
                ],
                None,
            ),
            // Other security groups, other VPC: no match.
            (
                vec![
                    db("orders", "vpc-1", "subnet-a", "sg-other", &[]),
                    db("users", "vpc-2", "subnet-a", "sg-db", &[]),
                ],
                None,
            ),
        ];
        for (dbs, want) in cases {
            let got = match_database(&rds_iface, &dbs).map(|(d, how)| (d.id.as_str(), how));
            assert_eq!(got, want, "{dbs:?}");
        }
    }
}

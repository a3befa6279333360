//! Which ingress rules open an endpoint to the internet (`docs/rules.md`, "Exposure"): those
//! whose source holds any address that is not private (rule 4's blocks). Pure.

use std::collections::{BTreeMap, HashMap};

use ipnetwork::IpNetwork;

use super::classify::{is_private_block, Networks};
use crate::model::{Connection, IngressRule, InterfaceFacts, RuleSource};

/// Whether a rule's source lets in any non-private address: a block (or a prefix list holding
/// one) not wholly private. Another group's members are inside: not the internet. A block that
/// does not parse is taken as open (a review had better show it than drop it).
pub fn opens_to_internet(rule: &IngressRule) -> bool {
    let open = |cidr: &String| {
        cidr.parse::<IpNetwork>()
            .map_or(true, |block| !is_private_block(block))
    };
    match &rule.source {
        RuleSource::Cidr(cidr) => open(cidr),
        RuleSource::PrefixList { cidrs, .. } => cidrs.iter().any(open),
        RuleSource::Group(_) => false,
    }
}

/// What a day's review is held against besides its counters: the inventory, the named
/// networks and each account/region's last counted batch.
pub struct Estate<'a> {
    pub interfaces: &'a [InterfaceFacts],
    /// Security group id → its rules that open to the internet.
    pub ingress: &'a BTreeMap<String, Vec<IngressRule>>,
    pub networks: &'a Networks,
    /// `ACCOUNT:REGION` → time of its last counted batch (RFC 3339).
    pub last_updates: &'a HashMap<String, String>,
}

/// One (day, account/region)'s counters, as a day's review reads them.
#[derive(Clone, Debug, Default)]
pub struct DayCounters {
    /// The review's sums by field (`dest⇥port⇥CLASS`); empty: written before they were kept.
    pub sums: HashMap<String, u64>,
    /// Its rows; `None`: more than a reader holds.
    pub rows: Option<Vec<Connection>>,
    /// `dest⇥port` → distinct sources (HyperLogLog estimate).
    pub distinct: HashMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::classify::is_private_block;

    #[test]
    fn a_block_is_private_only_when_every_address_of_it_is() {
        let cases = [
            ("0.0.0.0/0", false),
            ("52.0.0.0/8", false),
            ("172.0.0.0/8", false),
            ("172.16.0.0/12", true),
            ("172.16.0.0/11", false),
            ("10.1.0.0/16", true),
            ("10.0.0.5/32", true),
            ("100.64.0.0/10", false),
            ("192.168.1.0/24", true),
            ("8.8.8.8/32", false),
            ("198.18.0.0/15", true),
            ("198.18.0.0/16", true),
            ("198.16.0.0/13", false),
            ("::/0", false),
            ("fc00::/7", true),
            ("fd12:3456::/32", true),
            ("2001:db8::/32", true),
            ("2a05:d018::/32", false),
            ("::ffff:10.0.0.0/104", true),
        ];
        for (block, want) in cases {
            let net: IpNetwork = block.parse().unwrap();
            assert_eq!(is_private_block(net), want, "{block}");
        }
    }

    fn from(source: RuleSource) -> IngressRule {
        IngressRule {
            rule_id: "sgr-1".into(),
            group_id: "sg-1".into(),
            group_name: "web".into(),
            description: String::new(),
            protocol: "tcp".into(),
            from_port: 22,
            to_port: 22,
            source,
        }
    }

    #[test]
    fn rules_from_the_internet_are_those_with_a_public_address_in_their_source() {
        let list = |cidrs: &[&str]| RuleSource::PrefixList {
            id: "pl-1".into(),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
        };
        let cases = [
            (RuleSource::Cidr("0.0.0.0/0".into()), true),
            (RuleSource::Cidr("::/0".into()), true),
            (RuleSource::Cidr("85.1.0.0/16".into()), true),
            (RuleSource::Cidr("10.0.0.0/8".into()), false),
            (RuleSource::Cidr("not a block".into()), true),
            (list(&["10.0.0.0/8", "192.168.0.0/16"]), false),
            (list(&["10.0.0.0/8", "203.0.114.0/24"]), true),
            (list(&[]), false),
            (RuleSource::Group("sg-2".into()), false),
        ];
        for (source, want) in cases {
            assert_eq!(opens_to_internet(&from(source.clone())), want, "{source:?}");
        }
    }
}

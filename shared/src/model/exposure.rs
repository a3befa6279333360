//! What opens an endpoint to traffic: the ingress rules of its security groups, as the refresh
//! found them (`ec2:DescribeSecurityGroupRules`), the input of the exposure review.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where an ingress rule lets traffic in from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// An address block (`0.0.0.0/0`, `2001:db8::/32`).
    Cidr(String),
    /// A managed prefix list (`pl-…`), with the blocks it held when the refresh read it.
    PrefixList { id: String, cidrs: Vec<String> },
    /// Another security group (`sg-…`): traffic from inside, not from the internet.
    Group(String),
}

/// One ingress rule of a security group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct IngressRule {
    /// `sgr-…`: what `aws ec2 revoke-security-group-ingress --security-group-rule-ids` takes.
    pub rule_id: String,
    pub group_id: String,
    #[serde(default)]
    pub group_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, or `-1` (every protocol).
    pub protocol: String,
    /// The ports it opens, `from_port..=to_port`; both `-1` for every port.
    pub from_port: i32,
    pub to_port: i32,
    pub source: RuleSource,
}

impl IngressRule {
    /// Whether the rule lets traffic in on `port` (any protocol: the counters keep ports, not
    /// protocols). ICMP rules open no port.
    pub fn opens_port(&self, port: u16) -> bool {
        match self.protocol.as_str() {
            "-1" | "all" => true,
            "icmp" | "icmpv6" | "1" | "58" => false,
            _ if self.from_port == -1 && self.to_port == -1 => true,
            _ => (self.from_port..=self.to_port).contains(&i32::from(port)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, from_port: i32, to_port: i32) -> IngressRule {
        IngressRule {
            rule_id: "sgr-1".into(),
            group_id: "sg-1".into(),
            group_name: "web".into(),
            description: String::new(),
            protocol: protocol.into(),
            from_port,
            to_port,
            source: RuleSource::Cidr("0.0.0.0/0".into()),
        }
    }

    #[test]
    fn a_rule_opens_the_ports_of_its_range_whatever_the_protocol() {
        let cases = [
            (rule("tcp", 22, 22), 22, true),
            (rule("tcp", 22, 22), 23, false),
            (rule("tcp", 8000, 8999), 8443, true),
            (rule("udp", 53, 53), 53, true),
            (rule("-1", -1, -1), 5432, true),
            (rule("tcp", -1, -1), 1, true),
            (rule("icmp", -1, -1), 22, false),
            (rule("icmpv6", 8, 0), 8, false),
        ];
        for (rule, port, want) in cases {
            assert_eq!(rule.opens_port(port), want, "{rule:?} {port}");
        }
    }
}

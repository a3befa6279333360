//! What opens an endpoint to traffic: the ingress rules of its security groups, as the refresh
//! found them (`ec2:DescribeSecurityGroupRules`), the input of the exposure review.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EndpointConnection, EndpointKind};

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

/// What the review concludes of one rule that opens an endpoint to the internet
/// (`docs/rules.md`, "Exposure").
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No connection was counted on its ports from inside its source range: close it.
    Unused,
    /// Every source that used it is one of our named networks or own addresses: allow those.
    Narrow,
    /// Sources from the internet used it: keep it.
    Used,
    /// The account/region had no flow-log records in the range: it cannot be judged.
    NoFlowLog,
    /// The endpoint's traffic is not counted (a NAT gateway, a jump host): it cannot be judged.
    NotCounted,
}

impl Verdict {
    /// The names the API and ctrack take (`verdict=`), as serialized.
    pub const NAMES: [&'static str; 5] = ["unused", "narrow", "used", "no_flow_log", "not_counted"];

    /// Its name, as serialized (the variants are declared in the order of [`Self::NAMES`]).
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// One rule of an endpoint, reviewed against the connections counted in the range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RuleReview {
    pub rule: IngressRule,
    pub verdict: Verdict,
    /// Records on the rule's ports from sources inside its range, over the range.
    pub score: u64,
    /// The first and last day (`YYYY-MM-DD`) such a record was counted, if any was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_day: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_day: Option<String>,
    /// Those sources, busiest first (at most [`TOP_SOURCES`]).
    pub top_sources: Vec<EndpointConnection>,
    /// With `used`: distinct sources on the endpoint's ports the rule opens, on the busiest day
    /// whose rows were read (a HyperLogLog per port, ±0.81 %, summed over the ports: a source on
    /// two ports counts twice, and a narrower rule's count holds sources outside it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_sources: Option<u64>,
    /// With `narrow`: the named networks and own addresses that used it, to allow instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub narrow_to: Vec<String>,
    /// What a person might do, to review first: the AWS CLI change for `unused`.
    pub suggestion: String,
}

/// Sources listed per rule at most.
pub const TOP_SOURCES: usize = 10;

/// One public endpoint, its rules that open it to the internet and what each was used for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ExposedEndpoint {
    pub name: String,
    pub kind: EndpointKind,
    pub account_id: String,
    pub region: String,
    pub interface_ids: Vec<String>,
    /// The interfaces' security groups (none: an NLB without groups).
    pub security_groups: Vec<String>,
    pub rules: Vec<RuleReview>,
    /// Connections no rule that opens it to the internet lets in (its port or its source
    /// outside every rule: an NLB without groups, an inventory behind the change), busiest
    /// first: traffic no rule explains.
    pub unexplained: Vec<EndpointConnection>,
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
    fn verdict_names_are_the_serialized_ones() {
        let all = [
            Verdict::Unused,
            Verdict::Narrow,
            Verdict::Used,
            Verdict::NoFlowLog,
            Verdict::NotCounted,
        ];
        let names: Vec<String> = all
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(names, Verdict::NAMES);
        assert_eq!(all.map(Verdict::name), Verdict::NAMES);
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

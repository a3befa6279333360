//! The original tool's rules (`docs/rules.md`) as pure functions: which addresses are
//! private, what a source is called, what a destination interface is called.

use std::net::IpAddr;
use std::sync::LazyLock;

use foldhash::HashMap as FastMap;
use ipnetwork::IpNetwork;

use crate::model::{own_name, EndpointKind, InterfaceFacts};

/// Exactly the blocks Python 3.11's `ipaddress` module calls private (`is_private`).
/// 100.64.0.0/10 (carrier-grade NAT) is deliberately absent: Python does not call it private.
const PRIVATE_BLOCKS: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/29",
    "192.0.0.170/31",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::1/128",
    "::/128",
    "::ffff:0:0/96",
    "100::/64",
    "2001::/23",
    "2001:2::/48",
    "2001:db8::/32",
    "2001:10::/28",
    "fc00::/7",
    "fe80::/10",
];

/// The blocks as (network, mask) integers: a check is a few ANDs, on the hot path.
struct PrivateBlocks {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

static PRIVATE: LazyLock<PrivateBlocks> = LazyLock::new(|| {
    let mut blocks = PrivateBlocks {
        v4: Vec::new(),
        v6: Vec::new(),
    };
    for literal in PRIVATE_BLOCKS {
        match literal.parse::<IpNetwork>().expect("private block literal") {
            IpNetwork::V4(n) => blocks.v4.push((n.network().into(), n.mask().into())),
            IpNetwork::V6(n) => blocks.v6.push((n.network().into(), n.mask().into())),
        }
    }
    blocks
});

/// Whether Python's `ipaddress.ip_address(ip).is_private` is true. Like Python 3.11.7 (the
/// interpreter the expectations were taken from), an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`) is judged by its IPv4 address, so `::ffff:8.8.8.8` is public.
pub fn is_private(ip: IpAddr) -> bool {
    if let IpAddr::V6(v6) = ip {
        if let Some(v4) = v6.to_ipv4_mapped() {
            return is_private(IpAddr::V4(v4));
        }
    }
    match ip {
        IpAddr::V4(v4) => {
            let a = u32::from(v4);
            PRIVATE.v4.iter().any(|&(net, mask)| a & mask == net)
        }
        IpAddr::V6(v6) => {
            let a = u128::from(v6);
            PRIVATE.v6.iter().any(|&(net, mask)| a & mask == net)
        }
    }
}

/// Whether every address of `block` is private ([`is_private`]): a block inside one private
/// block, or made only of private blocks. `0.0.0.0/0`, `52.0.0.0/8` and `172.0.0.0/8` are
/// not; `10.1.0.0/16` and `fc00::/8` are.
pub fn is_private_block(block: IpNetwork) -> bool {
    match block {
        IpNetwork::V4(n) => covered(
            &PRIVATE.v4,
            u128::from(u32::from(n.network())),
            n.prefix(),
            32,
        ),
        IpNetwork::V6(n) => covered(&PRIVATE.v6, u128::from(n.network()), n.prefix(), 128),
    }
}

/// Whether the block `net/prefix` (in a `bits`-wide space) lies within the union of `blocks`
/// (network, mask): inside one, or each of its halves covered. Halves are taken only where a
/// private block lies inside the half, so the depth is bounded by `bits`.
fn covered<T: Copy + Into<u128>>(blocks: &[(T, T)], net: u128, prefix: u8, bits: u8) -> bool {
    let width = u32::from(bits - prefix);
    let mine = match prefix {
        0 => 0,
        _ => (u128::MAX << (128 - prefix)) >> (128 - bits),
    };
    let mut inside = false;
    for &(p_net, p_mask) in blocks {
        let (p_net, p_mask): (u128, u128) = (p_net.into(), p_mask.into());
        let p_prefix = p_mask.count_ones() as u8;
        if p_prefix <= prefix && net & p_mask == p_net {
            return true;
        }
        // A private block inside this one: the halves may be covered between them.
        inside |= p_prefix > prefix && p_net & mine == net;
    }
    if !inside || width == 0 {
        return false;
    }
    let half = 1u128 << (width - 1);
    covered(blocks, net, prefix + 1, bits) && covered(blocks, net | half, prefix + 1, bits)
}

/// Named networks from `NETWORKS`, matched longest prefix first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Networks {
    // Sorted by prefix length, longest first, so the first hit is the longest match.
    entries: Vec<(String, IpNetwork)>,
}

impl Networks {
    pub fn new(mut entries: Vec<(String, IpNetwork)>) -> Self {
        entries.sort_by_key(|(_, net)| std::cmp::Reverse(net.prefix()));
        Networks { entries }
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, net)| net.contains(ip))
            .map(|(name, _)| name.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every named block: `(name, block)`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &IpNetwork)> {
        self.entries.iter().map(|(name, net)| (name.as_str(), net))
    }
}

/// What a source is called: a borrowed name, or its bare address (which the refresh may later
/// resolve through reverse DNS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Name<'a> {
    Named(&'a str),
    Ip(IpAddr),
}

impl Name<'_> {
    /// The name as text, an address written in `buf` (as `Display` writes it, without the
    /// formatting machinery: every counted row is named this way).
    pub fn text<'b>(&'b self, buf: &'b mut [u8; 39]) -> &'b str {
        match self {
            Name::Named(n) => n,
            Name::Ip(ip) => super::text::ip_text(*ip, buf),
        }
    }
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text(&mut [0; 39]))
    }
}

/// Rule 4, without DNS, in the order of `docs/rules.md` ("Names": source): one of our own addresses
/// (`account/region/name`: NAT gateways, Elastic IPs, `DOMAIN` hosts, RDS) → a named network
/// (longest prefix) → the bare address. Our own address first, so that a broad `NETWORKS`
/// entry never hides which account a connection came from.
pub fn source_name<'a>(
    ip: IpAddr,
    networks: &'a Networks,
    own_addresses: &'a FastMap<IpAddr, String>,
) -> Name<'a> {
    if let Some(name) = own_addresses.get(&ip) {
        return Name::Named(name);
    }
    if let Some(name) = networks.lookup(ip) {
        return Name::Named(name);
    }
    Name::Ip(ip)
}

/// The coarser source a bare address folds into when its endpoint keeps no more addresses:
/// its /24 (IPv4) or /48 (IPv6), written `8.8.8.0/24`, `2a00:1450:4001::/48`.
pub fn source_prefix(ip: IpAddr) -> String {
    let (net, bits): (IpAddr, &str) = match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            (std::net::Ipv4Addr::new(a, b, c, 0).into(), "/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (
                std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).into(),
                "/48",
            )
        }
    };
    [super::text::ip_text(net, &mut [0; 39]), bits].concat()
}

/// What kind of thing an interface belongs to, from its description and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterfaceKind {
    LoadBalancer,
    Instance,
    Rds,
    Other,
}

pub fn interface_kind(facts: &InterfaceFacts) -> InterfaceKind {
    let d = facts.description.as_str();
    if d.starts_with("ELB ") {
        InterfaceKind::LoadBalancer
    } else if d == "RDSNetworkInterface" {
        InterfaceKind::Rds
    } else if (d.is_empty() || d == "Primary network interface")
        && matches!(facts.interface_type.as_str(), "" | "interface")
    {
        InterfaceKind::Instance
    } else {
        InterfaceKind::Other
    }
}

/// What a public endpoint is for `/public-endpoints`: the rule-5 kind, with NAT gateways told
/// apart (AWS sets the type; the description is what emulators and older interfaces carry).
pub fn endpoint_kind(facts: &InterfaceFacts) -> EndpointKind {
    if facts.interface_type == "nat_gateway"
        || facts.description.starts_with("Interface for NAT Gateway")
    {
        return EndpointKind::NatGateway;
    }
    match interface_kind(facts) {
        InterfaceKind::LoadBalancer => EndpointKind::LoadBalancer,
        InterfaceKind::Instance => EndpointKind::Instance,
        InterfaceKind::Rds => EndpointKind::Rds,
        InterfaceKind::Other => EndpointKind::Other,
    }
}

/// Rule 5's decision for one address of an interface: the one enum for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Counted under this name.
    Named(String),
    /// Nothing is known of this private address: the record's own `dstaddr` is the name.
    DstAddr,
    /// NAT gateways and jump hosts (the name says so): listed as endpoints, never counted.
    Dropped(String),
}

impl Destination {
    /// The name an endpoint is listed under; `dstaddr` stands in for [`Destination::DstAddr`].
    pub fn name_or(&self, dstaddr: IpAddr) -> String {
        match self {
            Destination::Named(n) | Destination::Dropped(n) => n.clone(),
            Destination::DstAddr => dstaddr.to_string(),
        }
    }

    pub fn is_counted(&self) -> bool {
        !matches!(self, Destination::Dropped(_))
    }
}

/// Rule 5 for one private address of an interface (`None`: an address the refresh did not see).
pub fn destination(facts: &InterfaceFacts, private: Option<IpAddr>) -> Destination {
    let public = private
        .and_then(|p| facts.public_ips.get(&p).copied())
        .or_else(|| facts.public_ips.values().next().copied());
    let with_public = |prefix: &str| match public {
        Some(ip) if prefix.is_empty() => ip.to_string(),
        Some(ip) => format!("{prefix}/{ip}"),
        None => prefix.to_string(),
    };
    let name = match interface_kind(facts) {
        InterfaceKind::LoadBalancer => match &facts.lb_dns_name {
            Some(dns) => dns.clone(),
            None => with_public(&facts.description),
        },
        InterfaceKind::Instance => {
            // By the record's private address; one the refresh did not see is counted under the
            // interface's own name (its first address's), never as a new destination
            // (`docs/rules.md`, "Bounds"). Bare `dstaddr` only for an interface without any.
            match public {
                Some(ip) => match &facts.instance_name {
                    Some(name) => format!("{name}/{ip}"),
                    None => ip.to_string(),
                },
                None => return Destination::DstAddr,
            }
        }
        InterfaceKind::Rds => match &facts.rds_endpoint {
            Some(host) => own_name(&facts.account_id, &facts.region, host),
            None => with_public("RDS"),
        },
        InterfaceKind::Other => with_public(&facts.description),
    };
    if is_dropped_destination(&name) {
        Destination::Dropped(name)
    } else {
        Destination::Named(name)
    }
}

/// NAT gateways and SSH jump hosts ("Odd") are infrastructure, not endpoints: dropped.
fn is_dropped_destination(name: &str) -> bool {
    name.contains("NAT") || name.contains("Odd")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block made of private blocks (no one of which holds it) is private too.
    #[test]
    fn a_block_covered_by_its_halves_is_covered() {
        let halves: [(u32, u32); 2] = [(0x0A00_0000, 0xFF80_0000), (0x0A80_0000, 0xFF80_0000)];
        assert!(
            covered(&halves, 0x0A00_0000, 8, 32),
            "10/8 = 10/9 + 10.128/9"
        );
        assert!(
            !covered(&halves[..1], 0x0A00_0000, 8, 32),
            "only its first half"
        );
        assert!(!covered(&halves, 0, 0, 32), "the whole space");
    }

    #[test]
    fn private_addresses_match_python_ipaddress() {
        // (address, what Python 3.11.7 answers for ipaddress.ip_address(a).is_private)
        let cases = [
            ("0.1.2.3", true),
            ("10.0.0.1", true),
            ("10.255.255.255", true),
            ("11.0.0.1", false),
            ("100.64.0.1", false),
            ("100.127.255.254", false),
            ("127.0.0.1", true),
            ("169.254.169.254", true),
            ("172.15.255.255", false),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("172.32.0.1", false),
            ("192.0.0.7", true),
            ("192.0.0.8", false),
            ("192.0.0.170", true),
            ("192.0.0.171", true),
            ("192.0.0.172", false),
            ("192.0.2.1", true),
            ("192.88.99.1", false),
            ("192.168.1.1", true),
            ("198.18.0.1", true),
            ("198.19.255.255", true),
            ("198.20.0.1", false),
            ("198.51.100.7", true),
            ("203.0.113.12", true),
            ("203.0.114.1", false),
            ("224.0.0.1", false),
            ("240.0.0.1", true),
            ("255.255.255.255", true),
            ("52.213.180.42", false),
            ("8.8.8.8", false),
            ("::1", true),
            ("::", true),
            ("::ffff:8.8.8.8", false),
            ("::ffff:10.0.0.1", true),
            ("::ffff:0:0", true),
            ("100::1", true),
            ("100:0:0:1::1", false),
            ("2001::1", true),
            ("2001:1ff:ffff::1", true),
            ("2001:200::1", false),
            ("2001:2::1", true),
            ("2001:db8::1", true),
            ("2001:10::1", true),
            ("2001:20::1", true),
            ("2001:200::1", false),
            ("fc00::1", true),
            ("fd12:3456::1", true),
            ("fe80::1", true),
            ("febf::1", true),
            ("fec0::1", false),
            ("2600:1f18::1", false),
            ("2a05:d018::1", false),
        ];
        for (ip, want) in cases {
            assert_eq!(is_private(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn networks_longest_prefix_wins() {
        let nets = Networks::new(vec![
            ("office".into(), "123.123.0.0/16".parse().unwrap()),
            ("office-vpn".into(), "123.123.123.0/24".parse().unwrap()),
            ("partner-v6".into(), "2a00:1450::/32".parse().unwrap()),
        ]);
        let cases = [
            ("123.123.123.9", Some("office-vpn")),
            ("123.123.1.9", Some("office")),
            ("123.124.0.1", None),
            ("2a00:1450:4001::1", Some("partner-v6")),
            ("2a00:1451::1", None),
        ];
        for (ip, want) in cases {
            assert_eq!(nets.lookup(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn source_names_first_match_wins() {
        let nets = Networks::new(vec![("office".into(), "85.1.0.0/16".parse().unwrap())]);
        let own: FastMap<IpAddr, String> = [
            (
                "85.1.2.3".parse().unwrap(),
                "111111111111/eu-west-1/nat-eu-west-1a.foo.example.org".to_string(),
            ),
            (
                "34.1.2.3".parse().unwrap(),
                "111111111111/eu-west-1/nat-eu-west-1b.foo.example.org".to_string(),
            ),
        ]
        .into_iter()
        .collect();
        let cases = [
            // Our own address beats a named network that contains it (`docs/rules.md`, "Names": first match wins).
            (
                "85.1.2.3",
                Name::Named("111111111111/eu-west-1/nat-eu-west-1a.foo.example.org"),
            ),
            ("85.1.9.9", Name::Named("office")),
            (
                "34.1.2.3",
                Name::Named("111111111111/eu-west-1/nat-eu-west-1b.foo.example.org"),
            ),
            ("8.8.8.8", Name::Ip("8.8.8.8".parse().unwrap())),
        ];
        for (ip, want) in cases {
            assert_eq!(source_name(ip.parse().unwrap(), &nets, &own), want, "{ip}");
        }
        assert_eq!(
            Name::Ip("2001:4860::8888".parse().unwrap()).to_string(),
            "2001:4860::8888"
        );
    }

    fn facts(description: &str, interface_type: &str) -> InterfaceFacts {
        InterfaceFacts {
            interface_type: interface_type.into(),
            ..crate::testing::interface(
                "eni-1",
                "123456789012",
                "eu-west-1",
                description,
                "10.0.0.5",
                "52.1.2.3",
            )
        }
    }

    #[test]
    fn destination_names_by_interface_kind() {
        let known = Some("10.0.0.5".parse().unwrap());
        let unknown = Some("10.0.0.99".parse().unwrap());
        let named = |s: &str| Destination::Named(s.to_string());

        let mut elb = facts("ELB my-classic", "interface");
        elb.lb_dns_name = Some("my-classic-1.eu-west-1.elb.amazonaws.com".into());
        let mut alb = facts("ELB app/my-alb/0123456789abcdef", "interface");
        alb.lb_dns_name = Some("my-alb-1.eu-west-1.elb.amazonaws.com".into());
        let mut nlb = facts("ELB net/my-nlb/0123456789abcdef", "network_load_balancer");
        nlb.lb_dns_name = Some("my-nlb-1.elb.eu-west-1.amazonaws.com".into());
        let lb_unknown = facts("ELB app/gone/0123", "interface");
        let mut web = facts("Primary network interface", "interface");
        web.instance_name = Some("web".into());
        let mut empty_desc = facts("", "");
        empty_desc.instance_name = Some("worker".into());
        let unnamed_instance = facts("", "interface");
        let mut rds = facts("RDSNetworkInterface", "interface");
        rds.rds_endpoint = Some("db1.abc.eu-west-1.rds.amazonaws.com".into());
        let rds_unknown = facts("RDSNetworkInterface", "interface");
        let other = facts("my custom appliance", "interface");
        let mut no_public = facts("VPC Endpoint Interface vpce-1", "vpc_endpoint");
        no_public.public_ips.clear();
        let nat = facts("Interface for NAT Gateway nat-0123", "nat_gateway");

        let cases: Vec<(&InterfaceFacts, Option<IpAddr>, Destination)> = vec![
            (
                &elb,
                known,
                named("my-classic-1.eu-west-1.elb.amazonaws.com"),
            ),
            (&alb, unknown, named("my-alb-1.eu-west-1.elb.amazonaws.com")),
            (&nlb, known, named("my-nlb-1.elb.eu-west-1.amazonaws.com")),
            (&lb_unknown, known, named("ELB app/gone/0123/52.1.2.3")),
            (&web, known, named("web/52.1.2.3")),
            // An address the refresh did not see: the interface's own name.
            (&web, unknown, named("web/52.1.2.3")),
            (&web, None, named("web/52.1.2.3")),
            (&empty_desc, known, named("worker/52.1.2.3")),
            (&unnamed_instance, known, named("52.1.2.3")),
            (
                &rds,
                known,
                named("123456789012/eu-west-1/db1.abc.eu-west-1.rds.amazonaws.com"),
            ),
            (&rds_unknown, known, named("RDS/52.1.2.3")),
            (&other, known, named("my custom appliance/52.1.2.3")),
            (&other, unknown, named("my custom appliance/52.1.2.3")),
            (&no_public, None, named("VPC Endpoint Interface vpce-1")),
            (
                &nat,
                known,
                Destination::Dropped("Interface for NAT Gateway nat-0123/52.1.2.3".into()),
            ),
            (
                &nat,
                unknown,
                Destination::Dropped("Interface for NAT Gateway nat-0123/52.1.2.3".into()),
            ),
        ];
        for (f, private, want) in cases {
            assert_eq!(
                destination(f, private),
                want,
                "{:?} {:?}",
                f.description,
                private
            );
        }
    }

    #[test]
    fn nat_and_odd_destinations_are_dropped() {
        let cases = [
            ("Interface for NAT Gateway nat-0123/52.1.2.3", true),
            ("odd-eu-west-1/52.1.2.3", false),
            ("Odd (SSH bastion)/52.1.2.3", true),
            ("web/52.1.2.3", false),
            ("my-alb-1.eu-west-1.elb.amazonaws.com", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_dropped_destination(name), want, "{name}");
        }
    }

    #[test]
    fn sources_fold_into_their_24_or_48() {
        let cases = [
            ("8.8.8.8", "8.8.8.0/24"),
            ("100.64.0.1", "100.64.0.0/24"),
            ("2a00:1450:4001:81c::200e", "2a00:1450:4001::/48"),
            ("2600::1", "2600::/48"),
        ];
        for (ip, want) in cases {
            assert_eq!(source_prefix(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn endpoint_kinds() {
        let cases = [
            (
                facts("ELB app/shop/0123", "interface"),
                EndpointKind::LoadBalancer,
            ),
            (
                facts("Primary network interface", "interface"),
                EndpointKind::Instance,
            ),
            (facts("RDSNetworkInterface", "interface"), EndpointKind::Rds),
            (facts("", "nat_gateway"), EndpointKind::NatGateway),
            (
                facts("Interface for NAT Gateway nat-1", "interface"),
                EndpointKind::NatGateway,
            ),
            (facts("bastion appliance", "interface"), EndpointKind::Other),
        ];
        for (f, want) in cases {
            assert_eq!(endpoint_kind(&f), want, "{:?}", f.description);
        }
    }
}

//! The fields AWS writes in a flow-log record, by name, and how each is read.

/// The default (version 2) format, used when nothing else is known.
pub const DEFAULT_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} \
${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

/// Every field AWS documents for VPC flow logs, versions 2 to 8, plus the transit-gateway fields,
/// each with how it is read: the one list of field names. Fields outside it are still accepted
/// in a format and carried as text.
const FIELDS: &[(&str, Slot)] = &[
    ("version", Slot::Version),
    ("account-id", Slot::AccountId),
    ("interface-id", Slot::InterfaceId),
    ("srcaddr", Slot::SrcAddr),
    ("dstaddr", Slot::DstAddr),
    ("srcport", Slot::SrcPort),
    ("dstport", Slot::DstPort),
    ("protocol", Slot::Protocol),
    ("packets", Slot::Packets),
    ("bytes", Slot::Bytes),
    ("start", Slot::Start),
    ("end", Slot::End),
    ("action", Slot::Action),
    ("log-status", Slot::LogStatus),
    ("vpc-id", Slot::Text),
    ("subnet-id", Slot::Text),
    ("instance-id", Slot::Text),
    ("tcp-flags", Slot::TcpFlags),
    ("type", Slot::Text),
    ("pkt-srcaddr", Slot::PktSrcAddr),
    ("pkt-dstaddr", Slot::PktDstAddr),
    ("region", Slot::Region),
    ("az-id", Slot::Text),
    ("sublocation-type", Slot::Text),
    ("sublocation-id", Slot::Text),
    ("pkt-src-aws-service", Slot::PktSrcAwsService),
    ("pkt-dst-aws-service", Slot::Text),
    ("flow-direction", Slot::Text),
    ("traffic-path", Slot::TrafficPath),
    ("ecs-cluster-arn", Slot::Text),
    ("ecs-cluster-name", Slot::Text),
    ("ecs-container-instance-arn", Slot::Text),
    ("ecs-container-instance-id", Slot::Text),
    ("ecs-container-id", Slot::Text),
    ("ecs-second-container-id", Slot::Text),
    ("ecs-service-name", Slot::Text),
    ("ecs-task-definition-arn", Slot::Text),
    ("ecs-task-arn", Slot::Text),
    ("ecs-task-id", Slot::Text),
    ("reject-reason", Slot::Text),
    ("resource-type", Slot::Text),
    ("tgw-id", Slot::Text),
    ("tgw-attachment-id", Slot::Text),
    ("tgw-src-vpc-account-id", Slot::Text),
    ("tgw-dst-vpc-account-id", Slot::Text),
    ("tgw-src-vpc-id", Slot::Text),
    ("tgw-dst-vpc-id", Slot::Text),
    ("tgw-src-subnet-id", Slot::Text),
    ("tgw-dst-subnet-id", Slot::Text),
    ("tgw-src-eni", Slot::Text),
    ("tgw-dst-eni", Slot::Text),
    ("tgw-src-az-id", Slot::Text),
    ("tgw-dst-az-id", Slot::Text),
    ("tgw-pair-attachment-id", Slot::Text),
    ("packets-lost-no-route", Slot::Text),
    ("packets-lost-blackhole", Slot::Text),
    ("packets-lost-mtu-exceeded", Slot::Text),
    ("packets-lost-ttl-expired", Slot::Text),
];

/// The names of [`FIELDS`], in AWS's order.
pub fn known_fields() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|(name, _)| *name)
}

/// Whether a field exists only in Transit Gateway flow logs (`resource-type`, `tgw-…`,
/// `packets-lost-…`): a format naming one is a transit gateway's, whose records carry no
/// interface of ours (`docs/rules.md`, "Record versions").
pub fn is_transit_gateway_field(name: &str) -> bool {
    name == "resource-type" || name.starts_with("tgw-") || name.starts_with("packets-lost-")
}

/// How a field's text is checked and decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Version,
    AccountId,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    TcpFlags,
    PktSrcAddr,
    PktDstAddr,
    Region,
    TrafficPath,
    PktSrcAwsService,
    /// Known or unknown field carried as text.
    Text,
}

impl Slot {
    pub(super) fn of(name: &str) -> Slot {
        FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Slot::Text, |(_, slot)| *slot)
    }
}

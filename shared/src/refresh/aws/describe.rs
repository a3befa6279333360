//! One small function per describe call: pages through it, counts each request, and turns the
//! answer into the plain `Raw*` records that `discovery` works on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{call_error, ip, name_tag};
use crate::model::{IngressRule, RuleSource};
use crate::refresh::discovery::{
    DiscoveryError, RawDatabase, RawFlowLog, RawInstance, RawInterface, RawLoadBalancer,
    RawOwnAddress, Resolver,
};

/// ec2:DescribeNetworkInterfaces.
pub(super) async fn network_interfaces(
    ec2: &aws_sdk_ec2::Client,
    page: Option<i32>,
    calls: &AtomicU64,
) -> Result<Vec<RawInterface>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_network_interfaces()
        .set_max_results(page)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("ec2:DescribeNetworkInterfaces"))?;
        for n in page.network_interfaces() {
            let public_ips = n
                .private_ip_addresses()
                .iter()
                .filter_map(|p| {
                    Some((
                        ip(p.private_ip_address())?,
                        ip(p.association()?.public_ip())?,
                    ))
                })
                .collect::<Vec<_>>();
            // Some answers carry the association only at the top level.
            let public_ips = if public_ips.is_empty() {
                ip(n.private_ip_address())
                    .zip(ip(n.association().and_then(|a| a.public_ip())))
                    .into_iter()
                    .collect()
            } else {
                public_ips
            };
            out.push(RawInterface {
                id: n.network_interface_id().unwrap_or_default().to_string(),
                description: n.description().unwrap_or_default().to_string(),
                interface_type: n
                    .interface_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                requester_id: n.requester_id().map(str::to_string),
                owner_id: n.owner_id().map(str::to_string),
                vpc_id: n.vpc_id().map(str::to_string),
                subnet_id: n.subnet_id().map(str::to_string),
                security_groups: n
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                instance_id: n
                    .attachment()
                    .and_then(|a| a.instance_id())
                    .map(str::to_string),
                public_ips,
                private_ips: n
                    .private_ip_addresses()
                    .iter()
                    .filter_map(|p| ip(p.private_ip_address()))
                    .collect(),
                ipv6_addresses: n
                    .ipv6_addresses()
                    .iter()
                    .filter_map(|a| ip(a.ipv6_address()))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// ec2:DescribeInstances: ids and `Name` tags.
pub(super) async fn instances(
    ec2: &aws_sdk_ec2::Client,
    page: Option<i32>,
    calls: &AtomicU64,
) -> Result<Vec<RawInstance>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_instances()
        .set_max_results(page)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("ec2:DescribeInstances"))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            out.push(RawInstance {
                id: i.instance_id().unwrap_or_default().to_string(),
                name: name_tag(i.tags()),
            });
        }
    }
    Ok(out)
}

/// elasticloadbalancing:DescribeLoadBalancers (classic).
pub(super) async fn classic_load_balancers(
    elb: &aws_sdk_elasticloadbalancing::Client,
    calls: &AtomicU64,
) -> Result<Vec<RawLoadBalancer>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = elb.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("elasticloadbalancing:DescribeLoadBalancers"))?;
        for lb in page.load_balancer_descriptions() {
            if let (Some(name), Some(dns)) = (lb.load_balancer_name(), lb.dns_name()) {
                out.push(RawLoadBalancer {
                    key: name.to_string(),
                    dns_name: dns.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// elasticloadbalancingv2:DescribeLoadBalancers (ALB, NLB, GWLB).
pub(super) async fn load_balancers_v2(
    elbv2: &aws_sdk_elasticloadbalancingv2::Client,
    calls: &AtomicU64,
) -> Result<Vec<RawLoadBalancer>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = elbv2.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("elasticloadbalancingv2:DescribeLoadBalancers"))?;
        for lb in page.load_balancers() {
            // arn:aws:elasticloadbalancing:region:account:loadbalancer/app/name/id
            let key = lb
                .load_balancer_arn()
                .and_then(|arn| arn.split_once(":loadbalancer/"))
                .map(|(_, key)| key.to_string());
            if let (Some(key), Some(dns)) = (key, lb.dns_name()) {
                out.push(RawLoadBalancer {
                    key,
                    dns_name: dns.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// rds:DescribeDBInstances: the publicly accessible ones, their endpoints resolved.
pub(super) async fn public_databases(
    rds: &aws_sdk_rds::Client,
    resolver: &impl Resolver,
    calls: &AtomicU64,
) -> Result<Vec<RawDatabase>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("rds:DescribeDBInstances"))?;
        for db in page.db_instances() {
            if db.publicly_accessible() != Some(true) {
                continue;
            }
            let Some(endpoint) = db.endpoint().and_then(|e| e.address()) else {
                continue;
            };
            let group = db.db_subnet_group();
            out.push(RawDatabase {
                id: db.db_instance_identifier().unwrap_or_default().to_string(),
                endpoint: endpoint.to_string(),
                vpc_id: group.and_then(|g| g.vpc_id()).map(str::to_string),
                subnet_ids: group
                    .map(|g| {
                        g.subnets()
                            .iter()
                            .filter_map(|s| s.subnet_identifier().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                security_groups: db
                    .vpc_security_groups()
                    .iter()
                    .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                    .collect(),
                resolved: Vec::new(),
            });
        }
    }
    for db in &mut out {
        db.resolved = resolver.lookup(&db.endpoint).await;
    }
    Ok(out)
}

/// The names of the region's available zones (`ec2:DescribeAvailabilityZones`).
pub(super) async fn availability_zones(
    ec2: &aws_sdk_ec2::Client,
    calls: &AtomicU64,
) -> Result<Vec<String>, DiscoveryError> {
    calls.fetch_add(1, Ordering::Relaxed);
    let zones = ec2
        .describe_availability_zones()
        .send()
        .await
        .map_err(call_error("ec2:DescribeAvailabilityZones"))?;
    let mut names: Vec<String> = zones
        .availability_zones()
        .iter()
        .filter(|z| {
            z.state()
                .is_none_or(|s| *s == aws_sdk_ec2::types::AvailabilityZoneState::Available)
        })
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// ec2:DescribeVpcs: each VPC the account sees and the account that owns it (another one for
/// a VPC shared with it).
pub(super) async fn vpc_owners(
    ec2: &aws_sdk_ec2::Client,
    page: Option<i32>,
    calls: &AtomicU64,
) -> Result<BTreeMap<String, String>, DiscoveryError> {
    let mut out = BTreeMap::new();
    let mut pages = ec2
        .describe_vpcs()
        .set_max_results(page.map(|p| p.max(5)))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("ec2:DescribeVpcs"))?;
        for vpc in page.vpcs() {
            if let (Some(id), Some(owner)) = (vpc.vpc_id(), vpc.owner_id()) {
                out.insert(id.to_string(), owner.to_string());
            }
        }
    }
    Ok(out)
}

/// ec2:DescribeNatGateways and ec2:DescribeAddresses: our own public addresses.
pub(super) async fn own_addresses(
    ec2: &aws_sdk_ec2::Client,
    page: Option<i32>,
    calls: &AtomicU64,
) -> Result<Vec<RawOwnAddress>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_nat_gateways()
        .set_max_results(page.map(|p| p.max(5)))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("ec2:DescribeNatGateways"))?;
        for nat in page.nat_gateways() {
            let name = name_tag(nat.tags())
                .or_else(|| nat.nat_gateway_id().map(str::to_string))
                .unwrap_or_default();
            for a in nat.nat_gateway_addresses() {
                if let Some(public_ip) = ip(a.public_ip()) {
                    out.push(RawOwnAddress {
                        public_ip,
                        name: name.clone(),
                    });
                }
            }
        }
    }
    calls.fetch_add(1, Ordering::Relaxed);
    let addresses = ec2
        .describe_addresses()
        .send()
        .await
        .map_err(call_error("ec2:DescribeAddresses"))?;
    for a in addresses.addresses() {
        if let Some(public_ip) = ip(a.public_ip()) {
            if out.iter().any(|o| o.public_ip == public_ip) {
                continue; // a NAT gateway's address keeps the gateway's name
            }
            let name = name_tag(a.tags())
                .or_else(|| a.allocation_id().map(str::to_string))
                .unwrap_or_else(|| public_ip.to_string());
            out.push(RawOwnAddress { public_ip, name });
        }
    }
    Ok(out)
}

/// ec2:DescribeFlowLogs: the log groups that receive flow logs, with their formats.
pub(super) async fn flow_logs(
    ec2: &aws_sdk_ec2::Client,
    page: Option<i32>,
    calls: &AtomicU64,
) -> Result<Vec<RawFlowLog>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_flow_logs()
        .set_max_results(page)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("ec2:DescribeFlowLogs"))?;
        for f in page.flow_logs() {
            let to_logs = f
                .log_destination_type()
                .is_none_or(|t| t.as_str() == "cloud-watch-logs");
            if let (true, Some(group)) = (to_logs, f.log_group_name()) {
                out.push(RawFlowLog {
                    log_group: group.to_string(),
                    log_format: f.log_format().map(str::to_string),
                });
            }
        }
    }
    Ok(out)
}

/// ec2:DescribeSecurityGroupRules and ec2:DescribeSecurityGroups (their names), then
/// ec2:GetManagedPrefixListEntries for each prefix list a rule names: every ingress rule of the
/// region, with its source resolved (the exposure review's input).
pub(super) async fn ingress_rules(
    ec2: &aws_sdk_ec2::Client,
    page: Option<i32>,
    calls: &AtomicU64,
) -> Result<Vec<IngressRule>, DiscoveryError> {
    let (raw, names) = tokio::try_join!(
        security_group_rules(ec2, page, calls),
        security_group_names(ec2, page, calls)
    )?;
    let mut lists: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in raw.iter().filter_map(|r| r.prefix_list_id()) {
        if !lists.contains_key(id) {
            lists.insert(id.to_string(), prefix_list_cidrs(ec2, id, calls).await?);
        }
    }
    let rules = raw.iter().filter(|r| r.is_egress() != Some(true));
    Ok(rules
        .filter_map(|r| {
            let source = if let Some(cidr) = r.cidr_ipv4().or(r.cidr_ipv6()) {
                RuleSource::Cidr(cidr.to_string())
            } else if let Some(id) = r.prefix_list_id() {
                RuleSource::PrefixList {
                    id: id.to_string(),
                    cidrs: lists.get(id).cloned().unwrap_or_default(),
                }
            } else {
                RuleSource::Group(r.referenced_group_info()?.group_id()?.to_string())
            };
            let group_id = r.group_id()?.to_string();
            Some(IngressRule {
                rule_id: r.security_group_rule_id()?.to_string(),
                group_name: names.get(&group_id).cloned().unwrap_or_default(),
                group_id,
                description: r.description().unwrap_or_default().to_string(),
                protocol: r.ip_protocol().unwrap_or("-1").to_string(),
                from_port: r.from_port().unwrap_or(-1),
                to_port: r.to_port().unwrap_or(-1),
                source,
            })
        })
        .collect())
}

async fn security_group_rules(
    ec2: &aws_sdk_ec2::Client,
    page: Option<i32>,
    calls: &AtomicU64,
) -> Result<Vec<aws_sdk_ec2::types::SecurityGroupRule>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_security_group_rules()
        .set_max_results(page)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("ec2:DescribeSecurityGroupRules"))?;
        out.extend(page.security_group_rules().iter().cloned());
    }
    Ok(out)
}

/// Group id → group name.
async fn security_group_names(
    ec2: &aws_sdk_ec2::Client,
    page: Option<i32>,
    calls: &AtomicU64,
) -> Result<BTreeMap<String, String>, DiscoveryError> {
    let mut out = BTreeMap::new();
    let mut pages = ec2
        .describe_security_groups()
        .set_max_results(page)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("ec2:DescribeSecurityGroups"))?;
        for g in page.security_groups() {
            if let (Some(id), Some(name)) = (g.group_id(), g.group_name()) {
                out.insert(id.to_string(), name.to_string());
            }
        }
    }
    Ok(out)
}

async fn prefix_list_cidrs(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    calls: &AtomicU64,
) -> Result<Vec<String>, DiscoveryError> {
    let mut out = Vec::new();
    let mut pages = ec2
        .get_managed_prefix_list_entries()
        .prefix_list_id(id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = page.map_err(call_error("ec2:GetManagedPrefixListEntries"))?;
        out.extend(
            page.entries()
                .iter()
                .filter_map(|e| e.cidr())
                .map(str::to_string),
        );
    }
    Ok(out)
}

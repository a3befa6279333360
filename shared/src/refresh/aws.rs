//! The AWS adapters behind [`Discovery`] and [`AccountSource`]: STS AssumeRole, then the EC2,
//! ELB, ELBv2 and RDS describe calls with the assumed credentials; the accounts table in
//! DynamoDB. Endpoints follow the SDK's own settings (`AWS_ENDPOINT_URL` for an emulator).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;

use super::discovery::{
    AccountSource, Discovery, DiscoveryError, RawDatabase, RawFlowLog, RawInstance, RawInterface,
    RawLoadBalancer, RawOwnAddress, RegionFacts, Resolver,
};
use crate::model::Account;

/// The SDK's error with its whole chain of causes, as one line.
fn message<E: std::error::Error>(e: E) -> String {
    aws_sdk_ec2::error::DisplayErrorContext(e).to_string()
}

fn call_error<E: std::error::Error>(call: &'static str) -> impl FnOnce(E) -> DiscoveryError {
    move |e| DiscoveryError::Call {
        call,
        message: message(e),
    }
}

fn ip(text: Option<&str>) -> Option<IpAddr> {
    text.and_then(|t| t.parse().ok())
}

fn name_tag(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Describes accounts through an assumed role.
pub struct AwsDiscovery<R> {
    base: SdkConfig,
    role_name: String,
    /// `MaxResults` of the paginated EC2 calls (`None`: the service default).
    page_size: Option<i32>,
    resolver: R,
    calls: Arc<AtomicU64>,
}

impl<R: Resolver> AwsDiscovery<R> {
    pub fn new(base: SdkConfig, role_name: &str, page_size: Option<i32>, resolver: R) -> Self {
        AwsDiscovery {
            base,
            role_name: role_name.to_string(),
            page_size,
            resolver,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// AWS requests made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn assume(&self, account: &Account, region: &str) -> Result<SdkConfig, DiscoveryError> {
        let role_arn = account.role_arn(&self.role_name);
        let sts = aws_sdk_sts::Client::new(&self.base);
        self.calls.fetch_add(1, Ordering::Relaxed);
        let assumed = sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("connection-tracker-refresh")
            .send()
            .await
            .map_err(|e| DiscoveryError::AssumeRole {
                role_arn: role_arn.clone(),
                message: message(e),
            })?;
        let c = assumed
            .credentials()
            .ok_or_else(|| DiscoveryError::AssumeRole {
                role_arn: role_arn.clone(),
                message: "the answer carried no credentials".into(),
            })?;
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "connection-tracker-assume-role",
        );
        Ok(self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .region(Region::new(region.to_string()))
            .build())
    }
}

impl<R: Resolver> Discovery for AwsDiscovery<R> {
    async fn describe(
        &self,
        account: &Account,
        region: &str,
    ) -> Result<RegionFacts, DiscoveryError> {
        let config = self.assume(account, region).await?;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let elb = aws_sdk_elasticloadbalancing::Client::new(&config);
        let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);
        let rds = aws_sdk_rds::Client::new(&config);
        let calls = &self.calls;
        let page = self.page_size;
        let count = || {
            calls.fetch_add(1, Ordering::Relaxed);
        };

        let interfaces = async {
            let mut out = Vec::new();
            let mut pages = ec2
                .describe_network_interfaces()
                .set_max_results(page)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                count();
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
            Ok::<_, DiscoveryError>(out)
        };

        let instances = async {
            let mut out = Vec::new();
            let mut pages = ec2
                .describe_instances()
                .set_max_results(page)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                count();
                let page = page.map_err(call_error("ec2:DescribeInstances"))?;
                for i in page.reservations().iter().flat_map(|r| r.instances()) {
                    out.push(RawInstance {
                        id: i.instance_id().unwrap_or_default().to_string(),
                        name: name_tag(i.tags()),
                    });
                }
            }
            Ok::<_, DiscoveryError>(out)
        };

        let classic = async {
            let mut out = Vec::new();
            let mut pages = elb.describe_load_balancers().into_paginator().send();
            while let Some(page) = pages.next().await {
                count();
                let page =
                    page.map_err(call_error("elasticloadbalancing:DescribeLoadBalancers"))?;
                for lb in page.load_balancer_descriptions() {
                    if let (Some(name), Some(dns)) = (lb.load_balancer_name(), lb.dns_name()) {
                        out.push(RawLoadBalancer {
                            key: name.to_string(),
                            dns_name: dns.to_string(),
                        });
                    }
                }
            }
            Ok::<_, DiscoveryError>(out)
        };

        let v2 = async {
            let mut out = Vec::new();
            let mut pages = elbv2.describe_load_balancers().into_paginator().send();
            while let Some(page) = pages.next().await {
                count();
                let page =
                    page.map_err(call_error("elasticloadbalancingv2:DescribeLoadBalancers"))?;
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
            Ok::<_, DiscoveryError>(out)
        };

        let databases = async {
            let mut out = Vec::new();
            let mut pages = rds.describe_db_instances().into_paginator().send();
            while let Some(page) = pages.next().await {
                count();
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
                db.resolved = self.resolver.lookup(&db.endpoint).await;
            }
            Ok::<_, DiscoveryError>(out)
        };

        let own = async {
            let mut out = Vec::new();
            let mut pages = ec2
                .describe_nat_gateways()
                .set_max_results(page.map(|p| p.max(5)))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                count();
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
            count();
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
            Ok::<_, DiscoveryError>(out)
        };

        let flow_logs = async {
            let mut out = Vec::new();
            let mut pages = ec2
                .describe_flow_logs()
                .set_max_results(page)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                count();
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
            Ok::<_, DiscoveryError>(out)
        };

        let (interfaces, instances, classic, v2, databases, own_addresses, flow_logs) =
            tokio::try_join!(interfaces, instances, classic, v2, databases, own, flow_logs)?;
        let mut load_balancers = classic;
        load_balancers.extend(v2);
        Ok(RegionFacts {
            interfaces,
            instances,
            load_balancers,
            databases,
            own_addresses,
            flow_logs,
        })
    }
}

/// The accounts table (`ACCOUNTS_TABLE`).
pub struct DynamoAccounts {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoAccounts {
    pub fn new(config: &SdkConfig, table: &str) -> Self {
        DynamoAccounts {
            client: aws_sdk_dynamodb::Client::new(config),
            table: table.to_string(),
        }
    }
}

impl DynamoAccounts {
    /// Adds an account, or replaces the item of one already listed.
    pub async fn put(&self, account: &Account) -> Result<(), DiscoveryError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_from_account(account)))
            .send()
            .await
            .map_err(call_error("dynamodb:PutItem"))?;
        Ok(())
    }

    /// Sets `enabled`; an account not in the table is an error, not a new item.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), DiscoveryError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("account_id", AttributeValue::S(id.to_string()))
            .update_expression("SET enabled = :e")
            .condition_expression("attribute_exists(account_id)")
            .expression_attribute_values(":e", AttributeValue::Bool(enabled))
            .send()
            .await
            .map_err(|e| not_listed(id, "dynamodb:UpdateItem", e))?;
        Ok(())
    }

    /// Removes an account's item; an account not in the table is an error.
    pub async fn remove(&self, id: &str) -> Result<(), DiscoveryError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("account_id", AttributeValue::S(id.to_string()))
            .condition_expression("attribute_exists(account_id)")
            .send()
            .await
            .map_err(|e| not_listed(id, "dynamodb:DeleteItem", e))?;
        Ok(())
    }
}

fn not_listed<E, R>(
    id: &str,
    call: &'static str,
    e: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> DiscoveryError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    if e.code() == Some("ConditionalCheckFailedException") {
        DiscoveryError::Call {
            call,
            message: format!("account {id} is not in the accounts table"),
        }
    } else {
        call_error(call)(e)
    }
}

/// The item of an account, as [`account_from_item`] reads it back.
pub fn item_from_account(account: &Account) -> std::collections::HashMap<String, AttributeValue> {
    let mut item = std::collections::HashMap::from([
        (
            "account_id".to_string(),
            AttributeValue::S(account.id.clone()),
        ),
        ("name".to_string(), AttributeValue::S(account.name.clone())),
        ("enabled".to_string(), AttributeValue::Bool(account.enabled)),
    ]);
    if !account.regions.is_empty() {
        item.insert(
            "regions".into(),
            AttributeValue::L(
                account
                    .regions
                    .iter()
                    .map(|r| AttributeValue::S(r.clone()))
                    .collect(),
            ),
        );
    }
    if let Some(arn) = &account.role_arn {
        item.insert("role_arn".into(), AttributeValue::S(arn.clone()));
    }
    item
}

/// One item of the accounts table; `Err` names what is wrong with it.
pub fn account_from_item(
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Result<Account, String> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let id = text("account_id").ok_or("no account_id (S)")?;
    if !crate::model::is_account_id(&id) {
        return Err(format!("account_id {id:?} is not 12 digits"));
    }
    let regions = match item.get("regions") {
        None => Vec::new(),
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
        }
        Some(AttributeValue::Ss(set)) => set.clone(),
        Some(_) => {
            return Err(format!(
                "account {id}: regions is neither a list nor a string set"
            ))
        }
    };
    Ok(Account {
        name: text("name").unwrap_or_else(|| id.clone()),
        role_arn: text("role_arn"),
        enabled: item
            .get("enabled")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(true),
        regions,
        id,
    })
}

impl AccountSource for DynamoAccounts {
    async fn accounts(&self) -> Result<Vec<Account>, DiscoveryError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(call_error("dynamodb:Scan"))?;
            for item in page.items() {
                match account_from_item(item) {
                    Ok(a) => out.push(a),
                    Err(why) => {
                        tracing::warn!(table = %self.table, %why, "skipping accounts table item")
                    }
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

/// The system resolver: forward lookups through tokio, reverse lookups through getnameinfo.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    async fn lookup(&self, host: &str) -> Vec<IpAddr> {
        match tokio::net::lookup_host((host, 0)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn reverse(&self, ip: IpAddr) -> Option<String> {
        tokio::task::spawn_blocking(move || dns_lookup::lookup_addr(&ip).ok())
            .await
            .ok()
            .flatten()
            .filter(|name| name.parse::<IpAddr>().is_err())
    }
}

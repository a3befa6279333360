//! The AWS adapters behind [`Discovery`] and [`AccountList`]: STS AssumeRole, then the EC2,
//! ELB, ELBv2 and RDS describe calls with the assumed credentials; the accounts table in
//! DynamoDB. Endpoints follow the SDK's own settings (`AWS_ENDPOINT_URL` for an emulator).

mod accounts;
mod describe;
mod organizations;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

use super::discovery::{Discovery, DiscoveryError, RegionFacts, Resolver};
use crate::model::Account;

pub use accounts::{account_from_item, item_from_account, DynamoAccounts};
pub use organizations::{active_account, MonitoredAccounts, OrganizationAccounts};

/// The SDK's error with its whole chain of causes, as one line.
pub(super) fn message<E: std::error::Error>(e: E) -> String {
    aws_sdk_ec2::error::DisplayErrorContext(e).to_string()
}

pub(super) fn call_error<E: std::error::Error>(
    call: &'static str,
) -> impl FnOnce(E) -> DiscoveryError {
    move |e| DiscoveryError::Call {
        call,
        message: message(e),
    }
}

pub(super) fn ip(text: Option<&str>) -> Option<IpAddr> {
    text.and_then(|t| t.parse().ok())
}

pub(super) fn name_tag(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
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
    /// Sent with every `AssumeRole` when set.
    external_id: Option<String>,
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
            external_id: None,
            page_size,
            resolver,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends `external_id` with every `AssumeRole` (`EXTERNAL_ID`).
    pub fn with_external_id(mut self, external_id: Option<String>) -> Self {
        self.external_id = external_id;
        self
    }

    /// AWS requests made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn assume(&self, account: &Account, region: &str) -> Result<SdkConfig, DiscoveryError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let role_arn = account.role_arn(&self.role_name);
        assumed_config(&self.base, &role_arn, self.external_id.clone(), region).await
    }
}

/// `base` with the credentials of `role_arn` (STS `AssumeRole`, `external_id` sent when set)
/// and `region`.
pub(super) async fn assumed_config(
    base: &SdkConfig,
    role_arn: &str,
    external_id: Option<String>,
    region: &str,
) -> Result<SdkConfig, DiscoveryError> {
    let sts = aws_sdk_sts::Client::new(base);
    let assumed = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("connection-tracker-refresh")
        .set_external_id(external_id)
        .send()
        .await
        .map_err(|e| DiscoveryError::AssumeRole {
            role_arn: role_arn.to_string(),
            message: message(e),
        })?;
    let c = assumed
        .credentials()
        .ok_or_else(|| DiscoveryError::AssumeRole {
            role_arn: role_arn.to_string(),
            message: "the answer carried no credentials".into(),
        })?;
    let credentials = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "connection-tracker-assume-role",
    );
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .region(Region::new(region.to_string()))
        .build())
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
        let (calls, page) = (&*self.calls, self.page_size);
        let (
            (zones, vpc_owners, ingress_rules),
            (interfaces, instances, classic, v2, databases, own_addresses, flow_logs),
        ) = tokio::try_join!(
            async {
                tokio::try_join!(
                    describe::availability_zones(&ec2, calls),
                    describe::vpc_owners(&ec2, page, calls),
                    describe::ingress_rules(&ec2, page, calls),
                )
            },
            async {
                tokio::try_join!(
                    describe::network_interfaces(&ec2, page, calls),
                    describe::instances(&ec2, page, calls),
                    describe::classic_load_balancers(&elb, calls),
                    describe::load_balancers_v2(&elbv2, calls),
                    describe::public_databases(&rds, &self.resolver, calls),
                    describe::own_addresses(&ec2, page, calls),
                    describe::flow_logs(&ec2, page, calls),
                )
            },
        )?;
        let mut load_balancers = classic;
        load_balancers.extend(v2);
        Ok(RegionFacts {
            availability_zones: zones,
            vpc_owners,
            interfaces,
            instances,
            load_balancers,
            databases,
            own_addresses,
            flow_logs,
            ingress_rules,
        })
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

//! AWS Organizations as a source of accounts (`ORGANIZATION_ROLE_ARN`): the refresh assumes a
//! role in the management (or delegated administrator) account and lists the active accounts —
//! all of them, or those under `ORGANIZATION_UNITS`, recursively. The accounts table stays the
//! place for overrides ([`crate::refresh::discovery::merge_accounts`]).

use aws_config::SdkConfig;
use aws_sdk_organizations::types::{AccountState, ChildType};

use super::{assumed_config, call_error};
use crate::refresh::discovery::{AccountList, DiscoveryError, OrganizationAccount};

/// OUs below one listed are followed this deep at most (AWS allows five levels).
const MAX_DEPTH: usize = 5;

/// The organization's accounts, through a role of its management account.
pub struct OrganizationAccounts {
    base: SdkConfig,
    role_arn: String,
    external_id: Option<String>,
    units: Vec<String>,
}

impl OrganizationAccounts {
    /// `units`: OU (or root) ids to list under; empty: the whole organization.
    pub fn new(
        base: SdkConfig,
        role_arn: &str,
        external_id: Option<String>,
        units: Vec<String>,
    ) -> Self {
        OrganizationAccounts {
            base,
            role_arn: role_arn.to_string(),
            external_id,
            units,
        }
    }

    /// The active accounts, each once, sorted by id.
    pub async fn list(&self) -> Result<Vec<OrganizationAccount>, DiscoveryError> {
        // Organizations is a global service answered in us-east-1.
        let config = assumed_config(
            &self.base,
            &self.role_arn,
            self.external_id.clone(),
            "us-east-1",
        )
        .await?;
        let client = aws_sdk_organizations::Client::new(&config);
        let mut found = Vec::new();
        if self.units.is_empty() {
            let mut pages = client.list_accounts().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(call_error("organizations:ListAccounts"))?;
                found.extend(page.accounts().iter().cloned());
            }
        } else {
            let mut parents: Vec<(String, usize)> =
                self.units.iter().map(|u| (u.clone(), 0)).collect();
            while let Some((parent, depth)) = parents.pop() {
                let mut pages = client
                    .list_accounts_for_parent()
                    .parent_id(&parent)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(call_error("organizations:ListAccountsForParent"))?;
                    found.extend(page.accounts().iter().cloned());
                }
                if depth < MAX_DEPTH {
                    let mut pages = client
                        .list_children()
                        .parent_id(&parent)
                        .child_type(ChildType::OrganizationalUnit)
                        .into_paginator()
                        .send();
                    while let Some(page) = pages.next().await {
                        let page = page.map_err(call_error("organizations:ListChildren"))?;
                        for child in page.children() {
                            if let Some(id) = child.id() {
                                parents.push((id.to_string(), depth + 1));
                            }
                        }
                    }
                }
            }
        }
        let mut accounts: Vec<OrganizationAccount> =
            found.iter().filter_map(active_account).collect();
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        accounts.dedup_by(|a, b| a.id == b.id);
        Ok(accounts)
    }
}

/// An account of the listing, when it is active: by its `State` (the `Status` field is
/// retired and not read), with an id of 12 digits.
pub fn active_account(
    account: &aws_sdk_organizations::types::Account,
) -> Option<OrganizationAccount> {
    let id = account.id()?;
    let valid = id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
    (valid && account.state() == Some(&AccountState::Active)).then(|| OrganizationAccount {
        id: id.to_string(),
        name: account.name().unwrap_or(id).to_string(),
    })
}

/// What the refresh monitors: the table's accounts, merged with the organization's when one
/// is configured.
pub struct MonitoredAccounts<T> {
    pub table: T,
    pub organization: Option<OrganizationAccounts>,
}

impl<T: AccountList> AccountList for MonitoredAccounts<T> {
    async fn accounts(&self) -> Result<Vec<crate::model::Account>, DiscoveryError> {
        let Some(organization) = &self.organization else {
            return self.table.accounts().await;
        };
        // Both or nothing: a partial list would drop the accounts missing from it.
        let organization = organization.list().await?;
        let table = self.table.accounts().await?;
        Ok(crate::refresh::discovery::merge_accounts(
            organization,
            table,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_organizations::types::{Account, AccountStatus};

    #[test]
    fn only_the_state_decides_whether_an_account_is_active() {
        let account = |state: Option<AccountState>, status: Option<AccountStatus>| {
            Account::builder()
                .id("123456789012")
                .name("team")
                .set_state(state)
                .set_status(status)
                .build()
        };
        let cases = [
            (
                Some(AccountState::Active),
                Some(AccountStatus::Suspended),
                true,
            ),
            (
                Some(AccountState::Suspended),
                Some(AccountStatus::Active),
                false,
            ),
            (
                Some(AccountState::PendingActivation),
                Some(AccountStatus::Active),
                false,
            ),
            (Some(AccountState::Closed), None, false),
            (None, Some(AccountStatus::Active), false),
            (Some(AccountState::Active), None, true),
        ];
        for (state, status, active) in cases {
            let a = account(state.clone(), status.clone());
            assert_eq!(active_account(&a).is_some(), active, "{state:?} {status:?}");
        }
        let odd = Account::builder()
            .id("12345/../x")
            .state(AccountState::Active)
            .build();
        assert!(active_account(&odd).is_none(), "ids are 12 digits");
    }
}

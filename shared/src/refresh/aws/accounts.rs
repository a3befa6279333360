//! The accounts table in DynamoDB (`ACCOUNTS_TABLE`): the refresh reads it, ctrack writes it.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;

use super::call_error;
use crate::model::Account;
use crate::refresh::discovery::{AccountList, DiscoveryError};

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
        origin: crate::model::Origin::Table,
    })
}

impl AccountList for DynamoAccounts {
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

//! `ctrack accounts`: the accounts table (list, add, enable, disable, remove).

use anyhow::Result;
use clap::Subcommand;
use connection_tracker::model::{is_account_id, is_region, Account};
use connection_tracker::refresh::discovery::AccountList;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Tsv,
    Json,
    Csv,
}

#[derive(Subcommand)]
pub enum AccountsAction {
    /// List the accounts.
    List {
        /// tsv (default, with a header line), json (one array) or csv.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Tsv)]
        output: ListFormat,
    },
    /// Add an account, or replace one already listed.
    Add {
        #[arg(value_parser = account_id)]
        id: String,
        #[arg(long)]
        name: String,
        /// Regions to scan; default the refresh's REGIONS.
        #[arg(long, value_delimiter = ',', value_parser = region)]
        regions: Vec<String>,
        /// Role to assume; default arn:aws:iam::ID:role/ROLE_NAME.
        #[arg(long, value_parser = role_arn)]
        role_arn: Option<String>,
    },
    /// Stop monitoring an account; it stays in the table.
    Disable {
        #[arg(value_parser = account_id)]
        id: String,
    },
    /// Monitor a disabled account again.
    Enable {
        #[arg(value_parser = account_id)]
        id: String,
    },
    /// Remove an account from the table.
    Remove {
        #[arg(value_parser = account_id)]
        id: String,
    },
}

fn account_id(v: &str) -> Result<String, String> {
    if is_account_id(v) {
        Ok(v.to_string())
    } else {
        Err("an AWS account id is 12 digits".into())
    }
}

fn region(v: &str) -> Result<String, String> {
    if is_region(v) {
        Ok(v.to_string())
    } else {
        Err("not an AWS region (e.g. eu-west-1)".into())
    }
}

fn role_arn(v: &str) -> Result<String, String> {
    if v.starts_with("arn:aws") && v.contains(":role/") {
        Ok(v.to_string())
    } else {
        Err("expected arn:aws:iam::ACCOUNT:role/NAME".into())
    }
}

/// The accounts as `output` asks: a header line, then one account per line (json: one array).
pub fn render_accounts(list: &[Account], output: ListFormat) -> Result<String> {
    const COLUMNS: [&str; 5] = ["account_id", "name", "enabled", "regions", "role_arn"];
    let cells = |a: &Account| {
        [
            a.id.clone(),
            a.name.clone(),
            a.enabled.to_string(),
            a.regions.join(","),
            a.role_arn.clone().unwrap_or_default(),
        ]
    };
    Ok(match output {
        ListFormat::Json => serde_json::to_string_pretty(list)? + "\n",
        ListFormat::Csv => crate::report::to_csv(&COLUMNS, list.iter().map(cells)),
        ListFormat::Tsv => crate::report::to_tsv(&COLUMNS, list.iter().map(cells)),
    })
}

/// Carries out one action on the table.
pub async fn run(table: &str, action: AccountsAction) -> Result<()> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let dynamo = connection_tracker::refresh::aws::DynamoAccounts::new(&sdk, table);
    match action {
        AccountsAction::List { output } => {
            let list = dynamo.accounts().await?;
            print!("{}", render_accounts(&list, output)?);
        }
        AccountsAction::Add {
            id,
            name,
            regions,
            role_arn,
        } => {
            dynamo
                .put(&Account {
                    id: id.clone(),
                    name,
                    regions,
                    role_arn,
                    enabled: true,
                    origin: Default::default(),
                })
                .await?;
            eprintln!("{id} added to {table}");
        }
        AccountsAction::Disable { id } => {
            dynamo.set_enabled(&id, false).await?;
            eprintln!("{id} disabled");
        }
        AccountsAction::Enable { id } => {
            dynamo.set_enabled(&id, true).await?;
            eprintln!("{id} enabled");
        }
        AccountsAction::Remove { id } => {
            dynamo.remove(&id).await?;
            eprintln!("{id} removed from {table}");
        }
    }
    Ok(())
}

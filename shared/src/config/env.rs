//! The environment reader: variables read through a function (the process environment, or a
//! test's table), blanks as unset, numbers and lists checked, every error naming the variable.

use super::ConfigError;

/// What a bucket setting must hold, in the error that refuses one.
pub(super) const BUCKET_NAME: &str =
    "an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)";

/// Reads variables through `get`, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|name| std::env::var(name).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    pub(super) fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
        &self,
        var: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<T>() {
                Ok(n) if n >= min && n <= max => Ok(n),
                _ => Err(ConfigError::Invalid {
                    var,
                    value: v,
                    expected: format!("a whole number from {min} to {max}"),
                }),
            },
        }
    }

    /// An optional setting, trimmed and checked by `valid`: `None` when unset.
    pub(super) fn checked(
        &self,
        var: &'static str,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(value) = self.get(var) else {
            return Ok(None);
        };
        let value = value.trim().to_string();
        if valid(&value) {
            Ok(Some(value))
        } else {
            Err(ConfigError::Invalid {
                var,
                value,
                expected: expected.into(),
            })
        }
    }

    /// A comma-separated list, blanks dropped, every entry checked.
    pub(super) fn list(
        var: &'static str,
        raw: Option<String>,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let items: Vec<String> = raw
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        match items.iter().find(|s| !valid(s)) {
            Some(bad) => Err(ConfigError::Invalid {
                var,
                value: bad.clone(),
                expected: expected.into(),
            }),
            None => Ok(items),
        }
    }
}

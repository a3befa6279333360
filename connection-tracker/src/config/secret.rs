//! The Redis URL — and its password — from an SSM SecureString parameter instead of a plain
//! environment variable: with `REDIS_URL_PARAMETER` (a parameter name or ARN), each function
//! reads it once at start (decrypted by SSM), and only the functions' memory ever holds it —
//! not `lambda:GetFunctionConfiguration`, not a log line, not an error message.

use super::Env;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the SSM parameter {name} (REDIS_URL_PARAMETER): {message}")]
    Read { name: String, message: String },
    #[error("the SSM parameter {name} (REDIS_URL_PARAMETER) holds no value")]
    Empty { name: String },
    #[error("REDIS_URL and REDIS_URL_PARAMETER are both set; give one")]
    Both,
}

/// `env`, with `REDIS_URL` taken from the SecureString parameter `REDIS_URL_PARAMETER` names,
/// when it names one (read with `ssm`, or a client of the function's own AWS configuration).
/// Without `REDIS_URL_PARAMETER`, `env` as it is.
pub async fn resolve<F: Fn(&str) -> Option<String>>(
    env: Env<F>,
    ssm: Option<aws_sdk_ssm::Client>,
) -> Result<Env<impl Fn(&str) -> Option<String>>, SecretError> {
    let url = match env.get("REDIS_URL_PARAMETER") {
        None => None,
        Some(_) if env.get("REDIS_URL").is_some() => return Err(SecretError::Both),
        Some(name) => {
            let ssm = match ssm {
                Some(client) => client,
                None => aws_sdk_ssm::Client::new(
                    &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
                ),
            };
            Some(read(&ssm, name.trim()).await?)
        }
    };
    Ok(Env(move |var: &str| match (&url, var) {
        (Some(url), "REDIS_URL") => Some(url.clone()),
        _ => (env.0)(var),
    }))
}

/// The decrypted value of a parameter. Errors name the parameter, never a value.
pub async fn read(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, SecretError> {
    let answer = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            name: name.to_string(),
            message: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
        })?;
    answer
        .parameter()
        .and_then(|p| p.value())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .ok_or_else(|| SecretError::Empty {
            name: name.to_string(),
        })
}

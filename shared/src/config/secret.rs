//! The Redis URL — or only its password — from SSM instead of a plain environment variable:
//! with `REDIS_URL_PARAMETER` (the whole URL) or `REDIS_PASSWORD_PARAMETER` (the password of the
//! user `REDIS_URL` names; a SecureString or a Secrets Manager secret), each function reads it
//! once at start (decrypted by SSM), and only the functions' memory ever holds it — not
//! `lambda:GetFunctionConfiguration`, not a log line, not an error message.

use super::Env;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the SSM parameter {name} ({setting}): {message}")]
    Read {
        setting: &'static str,
        name: String,
        message: String,
    },
    #[error("the SSM parameter {name} ({setting}) holds no value")]
    Empty { setting: &'static str, name: String },
    #[error("{0} and {1} are both set; give one")]
    Both(&'static str, &'static str),
    #[error("REDIS_PASSWORD_PARAMETER is set but REDIS_URL is not: it names the server and the user the password is for")]
    NoUrl,
    #[error("REDIS_URL already holds a password and REDIS_PASSWORD_PARAMETER is set; give one")]
    TwoPasswords,
    #[error("REDIS_URL is not a URL with a host (scheme {scheme:?}); the password cannot be added to it")]
    Url { scheme: String },
}

const URL_PARAMETER: &str = "REDIS_URL_PARAMETER";
const PASSWORD_PARAMETER: &str = "REDIS_PASSWORD_PARAMETER";

/// `env`, with `REDIS_URL` taken from the SSM parameters the environment names, when it names
/// one (read with `ssm`, or a client of the function's own AWS configuration):
/// - `REDIS_URL_PARAMETER`: a SecureString holding the whole URL, in place of `REDIS_URL`;
/// - `REDIS_PASSWORD_PARAMETER`: only the password, added to `REDIS_URL` (which names the
///   server and the user) — a SecureString, or a Secrets Manager secret through SSM's
///   `/aws/reference/secretsmanager/<secret>` name (what the template does for the ElastiCache
///   users it creates).
///
/// Without either, `env` as it is.
pub async fn resolve<F: Fn(&str) -> Option<String>>(
    env: Env<F>,
    ssm: Option<aws_sdk_ssm::Client>,
) -> Result<Env<impl Fn(&str) -> Option<String>>, SecretError> {
    let url_parameter = env.get(URL_PARAMETER);
    let password_parameter = env.get(PASSWORD_PARAMETER);
    let given_url = env.get("REDIS_URL");
    let url = match (url_parameter, password_parameter, given_url) {
        (None, None, _) => None,
        (Some(_), _, Some(_)) => return Err(SecretError::Both("REDIS_URL", URL_PARAMETER)),
        (Some(_), Some(_), _) => return Err(SecretError::Both(URL_PARAMETER, PASSWORD_PARAMETER)),
        (None, Some(_), None) => return Err(SecretError::NoUrl),
        (Some(name), None, None) => {
            Some(read(&client(ssm).await, URL_PARAMETER, name.trim()).await?)
        }
        (None, Some(name), Some(url)) => {
            let password = read(&client(ssm).await, PASSWORD_PARAMETER, name.trim()).await?;
            Some(with_password(&url, &password)?)
        }
    };
    Ok(Env(move |var: &str| match (&url, var) {
        (Some(url), "REDIS_URL") => Some(url.clone()),
        _ => (env.0)(var),
    }))
}

/// The client given, or one of the function's own AWS configuration.
async fn client(ssm: Option<aws_sdk_ssm::Client>) -> aws_sdk_ssm::Client {
    match ssm {
        Some(client) => client,
        None => aws_sdk_ssm::Client::new(
            &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
        ),
    }
}

/// `url` with `password` in it, every byte but letters and digits percent-encoded (Redis
/// clients decode it; `Url::set_password` alone would leave `%` as it is). Errors never hold
/// the URL or the password.
pub fn with_password(url: &str, password: &str) -> Result<String, SecretError> {
    let mut parsed = url::Url::parse(url).map_err(|_| SecretError::Url {
        scheme: url
            .split_once("://")
            .map(|(scheme, _)| scheme)
            .filter(|s| s.len() <= 8 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or("none")
            .to_string(),
    })?;
    if parsed.password().is_some() {
        return Err(SecretError::TwoPasswords);
    }
    let scheme = parsed.scheme().to_string();
    parsed
        .set_password(Some(
            &percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        ))
        .map_err(|()| SecretError::Url { scheme })?;
    Ok(parsed.into())
}

/// The decrypted value of a parameter. Errors name the parameter, never a value.
pub async fn read(
    ssm: &aws_sdk_ssm::Client,
    setting: &'static str,
    name: &str,
) -> Result<String, SecretError> {
    let answer = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            setting,
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
            setting,
            name: name.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::IntoConnectionInfo;

    #[test]
    fn a_password_goes_into_the_url_whole_whatever_it_holds() {
        for password in [
            "plain",
            "w/r@it:er%20#pw?1",
            "sp ace+plus&amp;",
            "ünï€ode",
            "%%%",
        ] {
            for url in [
                "rediss://ct-writer@cache.example.org:6379",
                "redis://ct-reader@127.0.0.1:1/0",
            ] {
                let joined = with_password(url, password).unwrap();
                let info = joined.as_str().into_connection_info().unwrap();
                assert_eq!(info.redis_settings().password(), Some(password), "{joined}");
                assert!(info.redis_settings().username().is_some(), "{joined}");
            }
        }
    }

    #[test]
    fn what_cannot_take_a_password_is_refused_without_showing_it() {
        let twice = with_password("redis://u:old-secret@h:6379", "new").unwrap_err();
        assert!(matches!(twice, SecretError::TwoPasswords));
        assert!(!twice.to_string().contains("old-secret"));
        let garbage = with_password("not a url with secret", "pw").unwrap_err();
        assert!(!garbage.to_string().contains("secret"), "{garbage}");
        assert!(with_password("unix:/tmp/redis.sock", "pw").is_err());
    }
}

//! The API client: one base URL, one authentication, errors that show the API's own message.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use serde::de::DeserializeOwned;

/// How requests prove who sends them.
#[derive(Clone)]
pub enum Auth {
    None,
    /// `Authorization: Bearer …` (an API with a JWT authorizer).
    Bearer(String),
    /// SigV4 for `execute-api` (an API with IAM authorization), credentials from the usual AWS
    /// chain (environment, profile, SSO, instance role).
    SigV4 {
        credentials: SharedCredentialsProvider,
        region: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "none",
            Auth::Bearer(_) => "bearer",
            Auth::SigV4 { .. } => "sigv4",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("GET {url}: HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
        /// The parameter the API names as at fault (its 400 answers), e.g. `limit` when the
        /// answer would be too large.
        parameter: Option<String>,
    },
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("GET {url}: the answer is not the JSON expected: {message}")]
    Json { url: String, message: String },
    #[error("cannot sign the request to {url}: {message}")]
    Sign { url: String, message: String },
    #[error("{0:?} is not an http(s) URL")]
    BadUrl(String),
}

pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    auth: Auth,
}

impl ApiClient {
    /// `base`: the API's URL (`https://ID.execute-api.REGION.amazonaws.com`, a custom domain,
    /// or `http://127.0.0.1:9000/lambda-url/api` under `cargo lambda watch`).
    pub fn new(base: &str, auth: Auth, timeout: Duration) -> Result<ApiClient, ClientError> {
        let parsed = reqwest::Url::parse(base).map_err(|_| ClientError::BadUrl(base.into()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(base.into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("ctrack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Http {
                url: base.into(),
                message: e.to_string(),
            })?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_string(),
            http,
            auth,
        })
    }

    /// GETs `path` with `query` and decodes the JSON answer.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        Ok(self.get_page(path, query).await?.0)
    }

    /// GETs one page: the decoded answer and the `x-next-cursor` of the page after it, if any.
    pub async fn get_page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(T, Option<String>), ClientError> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|_| ClientError::BadUrl(format!("{}{path}", self.base)))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let shown = url.to_string();
        let http_error = |e: reqwest::Error| ClientError::Http {
            url: shown.clone(),
            message: error_chain(&e),
        };
        let mut request = self.http.get(url.clone()).build().map_err(http_error)?;
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                let value = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ClientError::Sign {
                        url: shown.clone(),
                        message: "the token is not a valid header value".into(),
                    })?;
                request.headers_mut().insert("authorization", value);
            }
            Auth::SigV4 {
                credentials,
                region,
            } => {
                let sign_error = |message: String| ClientError::Sign {
                    url: shown.clone(),
                    message,
                };
                let creds = credentials
                    .provide_credentials()
                    .await
                    .map_err(|e| sign_error(format!("no AWS credentials: {e}")))?;
                for (name, value) in sigv4_headers(
                    "GET",
                    url.as_str(),
                    &[],
                    &creds,
                    region,
                    "execute-api",
                    SystemTime::now(),
                )
                .map_err(sign_error)?
                {
                    let name: reqwest::header::HeaderName =
                        name.parse().map_err(|_| sign_error(name.clone()))?;
                    let value = value.parse().map_err(|_| sign_error(value.clone()))?;
                    request.headers_mut().insert(name, value);
                }
            }
        }
        let response = self.http.execute(request).await.map_err(http_error)?;
        let status = response.status();
        let next = response
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = response.bytes().await.map_err(http_error)?;
        if !status.is_success() {
            return Err(ClientError::Status {
                url: shown,
                status: status.as_u16(),
                message: error_message(&bytes),
                parameter: serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|json| json["parameter"].as_str().map(String::from)),
            });
        }
        let answer = serde_json::from_slice(&bytes).map_err(|e| ClientError::Json {
            url: shown,
            message: e.to_string(),
        })?;
        Ok((answer, next))
    }
}

/// The API's `message` (ours), API Gateway's `message`/`Message`, or the start of the body.
fn error_message(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["message", "Message"] {
            if let Some(m) = json[key].as_str() {
                return m.to_string();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text.chars().take(200).collect()
    }
}

/// reqwest's error with its causes (`error sending request: … connection refused`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The headers SigV4 adds to a request (`authorization`, `x-amz-date`, and
/// `x-amz-security-token` for temporary credentials).
pub fn sigv4_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS SigV4 test suite (`get-vanilla`, `get-vanilla-query-order-key-case`): fixed
    /// credentials and time, published signatures.
    #[test]
    fn signatures_match_the_aws_test_suite() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 20150830T123600Z
        for (url, signature) in [
            (
                "https://example.amazonaws.com/",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ] {
            let headers =
                sigv4_headers("GET", url, &[], &creds, "us-east-1", "service", time).unwrap();
            let get = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
            assert_eq!(
                get("authorization").unwrap(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={signature}"
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(
            error_message(br#"{"status":400,"message":"date \"x\" is bad","parameter":"date"}"#),
            "date \"x\" is bad"
        );
        assert_eq!(error_message(br#"{"Message":"Forbidden"}"#), "Forbidden");
        assert_eq!(
            error_message(b"Internal Server Error\n"),
            "Internal Server Error"
        );
        assert_eq!(error_message(b""), "(empty body)");
    }
}

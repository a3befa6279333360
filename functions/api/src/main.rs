//! The `api` Lambda function: API Gateway HTTP API (payload 2.0) and function-URL requests,
//! answered by `connection_tracker::api`. Redis is connected on first use, so the function starts and
//! answers 503 while Redis is away.
// A function fits on a screen (clippy.toml): denied outside the tests, in the one clippy run.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

use connection_tracker::api::{accepts_gzip, Api, Request as ApiRequest};
use connection_tracker::config::{secret, Env};
use connection_tracker::store::LazyRedisStore;
use lambda_http::http::header::ACCEPT_ENCODING;
use lambda_http::{run, service_fn, tracing, Body, Error, Request, RequestExt, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = secret::resolve(Env::process(), None).await?.api()?;
    let api = Api::new(LazyRedisStore::new(config.redis.clone()), &config);
    let api = &api;
    run(service_fn(move |request: Request| async move {
        let accepts_gzip = request
            .headers()
            .get_all(ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(accepts_gzip);
        let context = request.lambda_context_ref();
        let request_id = context.map(|c| c.request_id.as_str()).unwrap_or("");
        let today = time::OffsetDateTime::now_utc().date();
        let answer = api
            .handle(
                ApiRequest {
                    method: request.method().as_str(),
                    path: request.uri().path(),
                    query: request.uri().query().unwrap_or(""),
                    accepts_gzip,
                    request_id,
                },
                today,
            )
            .await;
        let mut response = Response::builder().status(answer.status);
        for (name, value) in &answer.headers {
            response = response.header(*name, value);
        }
        let body = match String::from_utf8(answer.body) {
            Ok(text) => Body::Text(text),
            Err(bytes) => Body::Binary(bytes.into_bytes()),
        };
        Ok::<_, Error>(response.body(body)?)
    }))
    .await
}

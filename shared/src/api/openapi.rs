//! The OpenAPI 3.1 document: paths from the route table, the schemas derived from the wire
//! types the routes answer with (`schemars`, JSON Schema 2020-12 as OpenAPI 3.1 takes it), and
//! the parameters and error answers written here.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::Schema;
use serde_json::{json, Value};

use super::error::ErrorBody;
use super::routes::{path_parameters, schema_of, Answer, ROUTES};

/// The OpenAPI 3.1 document of every route in the table.
pub fn openapi() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut s = |item: fn(&mut SchemaGenerator) -> Schema| item(&mut generator).to_value();
    let error = s(schema_of::<ErrorBody>);
    let mut paths = serde_json::Map::new();
    for spec in ROUTES {
        let ok = |content_type: &str, schema: Value| json!({"description": spec.description, "content": {content_type: {"schema": schema}}});
        let schema = match spec.answer {
            Answer::Ok => json!({"type": "string", "const": "OK"}),
            Answer::Document => json!({"type": "object"}),
            Answer::Names => json!({"type": "object", "additionalProperties": {"type": "string"}}),
            Answer::Map(item) => json!({"type": "object", "additionalProperties": s(item)}),
            Answer::ByPair(item) => {
                json!({"type": "object", "description": "keyed by account_id/region",
                "additionalProperties": {"type": "array", "items": s(item)}})
            }
            Answer::List(item) => json!({"type": "array", "items": s(item)}),
            Answer::One(item) => s(item),
        };
        let content_type = if matches!(spec.answer, Answer::Ok) {
            "text/plain"
        } else {
            "application/json"
        };
        let mut responses = json!({"200": ok(content_type, schema)});
        if spec.query.contains(&"cursor") {
            responses["200"]["headers"] = json!({"x-next-cursor": {
                "description": "With limit, when more rows follow: the cursor of the next page",
                "schema": {"type": "string"}}});
        }
        if !matches!(spec.answer, Answer::Ok | Answer::Document) {
            responses["400"] = json!({"$ref": "#/components/responses/BadRequest"});
            responses["503"] = json!({"$ref": "#/components/responses/Unavailable"});
        }
        let parameters: Vec<Value> = path_parameters(spec.path)
            .chain(spec.query.iter().copied())
            .map(|name| json!({"$ref": format!("#/components/parameters/{name}")}))
            .collect();
        let mut get = json!({"summary": spec.summary, "responses": responses});
        if !matches!(spec.answer, Answer::Ok | Answer::Document) {
            get["parameters"] = Value::Array(parameters);
        }
        if matches!(spec.answer, Answer::Ok) {
            // The health check has its own route without an authorizer (template.yaml).
            get["security"] = json!([]);
        }
        paths.insert(spec.path.to_string(), json!({"get": get}));
    }
    let schemas = Value::Object(generator.take_definitions(true));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "connection-tracker",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Who from outside our private networks connects to which public endpoint, on which port, how often. Days are UTC; `date` defaults to today; `from`/`to` sum the days in between (inclusive)."
        },
        "paths": paths,
        // Authentication is API Gateway's (template.yaml, API_AUTH): IAM (SigV4) by default, or
        // a JWT authorizer. The function itself never sees an unauthenticated request.
        "security": [{"sigv4": []}, {"jwt": []}],
        "components": {
            "securitySchemes": {
                "sigv4": {"type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "API_AUTH=iam (the default): requests signed with AWS Signature Version 4 for execute-api (ctrack signs with the caller's AWS credentials)",
                    "x-amazon-apigateway-authtype": "awsSigv4"},
                "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "API_AUTH=jwt: a token from the configured issuer and audience (ctrack --token or CTRACK_TOKEN)"}
            },
            "parameters": {
                "account_id": {"name": "account_id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]{12}$"}},
                "region": {"name": "region", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z]+(-[a-z]+)+-[0-9]+$"}, "example": "eu-west-1"},
                "date": {"name": "date", "in": "query", "description": "One UTC day; default today. Not with from/to.", "schema": {"type": "string", "format": "date"}},
                "from": {"name": "from", "in": "query", "description": "First day of a range (default: to)", "schema": {"type": "string", "format": "date"}},
                "to": {"name": "to", "in": "query", "description": "Last day of a range (default: today); at most API_MAX_RANGE_DAYS days", "schema": {"type": "string", "format": "date"}},
                "include": {"name": "include", "in": "query", "description": "Comma-separated sources (e.g. network names) to keep whole", "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string"}}},
                "q": {"name": "q", "in": "query", "description": "Substring of the name", "schema": {"type": "string"}},
                "account": {"name": "account", "in": "query", "description": "Only this account's account/regions", "schema": {"type": "string", "pattern": "^[0-9]{12}$"}},
                "dest": {"name": "dest", "in": "query", "description": "Only this destination (exact)", "schema": {"type": "string", "minLength": 1, "maxLength": 512}},
                "port": {"name": "port", "in": "query", "description": "Only this destination port", "schema": {"type": "integer", "minimum": 0, "maximum": 65535}},
                "source": {"name": "source", "in": "query", "description": "Only these sources: exact (a name or address), `prefix*`, or a CIDR block (addresses in it, and folded prefixes within it)", "schema": {"type": "string", "minLength": 1, "maxLength": 512}},
                "verdict": {"name": "verdict", "in": "query", "description": "Only rules with these verdicts (comma-separated)", "style": "form", "explode": false, "schema": {"type": "array", "items": {"type": "string", "enum": ["unused", "narrow", "used", "no_flow_log", "not_counted"]}}},
                "min_score": {"name": "min_score", "in": "query", "description": "Only rows whose score over the range is at least this", "schema": {"type": "integer", "minimum": 0}},
                "limit": {"name": "limit", "in": "query", "description": "Page size: the top N rows by score (ties: account/region, source, dest, port); the header x-next-cursor carries the next page's cursor", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
                "baseline_days": {"name": "baseline_days", "in": "query", "description": "Days before `date` that make what is known (default 7, at most API_MAX_RANGE_DAYS)", "schema": {"type": "integer", "minimum": 1, "maximum": 366}},
                "cursor": {"name": "cursor", "in": "query", "description": "The x-next-cursor of the previous page, with the same path and parameters", "schema": {"type": "string"}}
            },
            "schemas": schemas,
            "responses": {
                "BadRequest": {"description": "A parameter is malformed; `parameter` names it", "content": {"application/json": {"schema": error.clone()}}},
                "Unavailable": {"description": "Redis is unavailable; retry later", "content": {"application/json": {"schema": error}}}
            }
        }
    })
}

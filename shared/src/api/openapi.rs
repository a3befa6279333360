//! The OpenAPI 3.1 document: paths from the route table, components (parameters, the wire
//! types' schemas, error answers) written here.

use serde_json::{json, Value};

use super::routes::{path_parameters, Answer, ROUTES};

/// The OpenAPI 3.1 document of every route in the table.
pub fn openapi() -> Value {
    let s = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
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
        let content_type = if spec.answer == Answer::Ok {
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
        if spec.answer == Answer::Ok {
            // The health check has its own route without an authorizer (template.yaml).
            get["security"] = json!([]);
        }
        paths.insert(spec.path.to_string(), json!({"get": get}));
    }
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
                "min_score": {"name": "min_score", "in": "query", "description": "Only rows whose score over the range is at least this", "schema": {"type": "integer", "minimum": 0}},
                "limit": {"name": "limit", "in": "query", "description": "Page size: the top N rows by score (ties: account/region, source, dest, port); the header x-next-cursor carries the next page's cursor", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
                "baseline_days": {"name": "baseline_days", "in": "query", "description": "Days before `date` that make what is known (default 7, at most API_MAX_RANGE_DAYS)", "schema": {"type": "integer", "minimum": 1, "maximum": 366}},
                "cursor": {"name": "cursor", "in": "query", "description": "The x-next-cursor of the previous page, with the same path and parameters", "schema": {"type": "string"}}
            },
            "schemas": {
                "Changes": {"type": "object", "additionalProperties": false, "required": ["date", "baseline", "changes"], "properties": {
                    "date": {"type": "string", "format": "date"},
                    "baseline": {"type": "object", "additionalProperties": false, "required": ["from", "to"], "properties": {
                        "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}}},
                    "changes": {"type": "object", "description": "account_id/region → what is new there", "additionalProperties": {
                        "type": "object", "additionalProperties": false, "required": ["new_endpoints", "new_connections"], "properties": {
                            "new_endpoints": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["dest", "dest_port", "new_dest"], "properties": {
                                "dest": {"type": "string"}, "dest_port": {"type": "integer"},
                                "new_dest": {"type": "boolean", "description": "the destination itself was not seen (else: a new port of it)"}}}},
                            "new_connections": {"type": "array", "items": {"$ref": "#/components/schemas/Connection"}}}}}}},
                "Account": {"type": "object", "additionalProperties": false, "required": ["name", "last_update", "source", "regions"], "properties": {
                    "name": {"type": "string"},
                    "last_update": {"type": ["string", "null"], "format": "date-time", "description": "the last counted batch of any of its regions"},
                    "regions": {"type": "object", "description": "region → how it is doing", "additionalProperties": {"$ref": "#/components/schemas/RegionHealth"}},
                    "source": {"type": "string", "enum": ["table", "organization", "organization_and_table"], "description": "where the account comes from: the accounts table, AWS Organizations, or an organization account the table overrides"}}},
                "Day": {"type": "object", "additionalProperties": false, "required": ["date", "connections", "account_regions"], "properties": {
                    "date": {"type": "string", "format": "date"},
                    "connections": {"type": "integer", "description": "connections (source, destination, port) counted that day"},
                    "account_regions": {"type": "integer", "description": "account/regions with counters that day"}}},
                "RegionHealth": {"type": "object", "additionalProperties": false, "required": ["last_update", "last_refresh", "refresh_failure"], "properties": {
                    "last_update": {"type": ["string", "null"], "format": "date-time", "description": "the last counted batch"},
                    "last_refresh": {"type": ["string", "null"], "format": "date-time", "description": "the last successful refresh of its inventory"},
                    "refresh_failure": {"oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": false, "required": ["at", "kind", "error"], "properties": {
                        "at": {"type": "string", "format": "date-time"},
                        "kind": {"type": "string", "description": "assume_role, describe, timeout, store, …"},
                        "error": {"type": "string", "maxLength": 300}}}], "description": "the last failed refresh since the last success (its previous inventory is kept)"}}},
                "Connection": {"type": "object", "additionalProperties": false, "required": ["source", "dest", "dest_port", "score"], "properties": {
                    "source": {"type": "string", "description": "account/region/name, network name, DNS name or address"},
                    "dest": {"type": "string"},
                    "dest_port": {"type": "integer"},
                    "score": {"type": "integer", "description": "flow-log records counted"}}},
                "Endpoint": {"type": "object", "additionalProperties": false, "required": ["dest", "dest_port"], "properties": {
                    "dest": {"type": "string"}, "dest_port": {"type": "integer"},
                    "distinct_sources": {"type": "integer", "description": "distinct sources on the busiest day of the range (HyperLogLog estimate, ±0.81 %), folded sources included"}}},
                "AccountSource": {"type": "object", "additionalProperties": false, "required": ["source", "score"], "properties": {
                    "source": {"type": "string"}, "score": {"type": "integer"}}},
                "PublicEndpoint": {"type": "object", "additionalProperties": false, "required": ["name", "kind", "account_id", "region", "interface_ids", "public_ips", "counted", "score", "connections"], "properties": {
                    "name": {"type": "string"},
                    "kind": {"type": "string", "enum": ["load_balancer", "instance", "rds", "nat_gateway", "other"]},
                    "account_id": {"type": "string"}, "region": {"type": "string"},
                    "interface_ids": {"type": "array", "items": {"type": "string"}},
                    "public_ips": {"type": "array", "items": {"type": "string"}},
                    "counted": {"type": "boolean"},
                    "score": {"type": "integer"},
                    "connections": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["source", "dest_port", "score"], "properties": {
                        "source": {"type": "string"}, "dest_port": {"type": "integer"}, "score": {"type": "integer"}}}}}},
                "Error": {"type": "object", "additionalProperties": false, "required": ["status", "error", "message"], "properties": {
                    "status": {"type": "integer"}, "error": {"type": "string"}, "message": {"type": "string"},
                    "parameter": {"type": "string", "description": "the parameter at fault (400 only; `limit` when the answer is too large)"},
                    "request_id": {"type": "string", "description": "names the log line with the detail"}}}
            },
            "responses": {
                "BadRequest": {"description": "A parameter is malformed; `parameter` names it", "content": {"application/json": {"schema": s("Error")}}},
                "Unavailable": {"description": "Redis is unavailable; retry later", "content": {"application/json": {"schema": s("Error")}}}
            }
        }
    })
}

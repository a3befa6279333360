#!/usr/bin/env python3
"""Writes the sample ingest events in events/ (deterministic: gzip mtime 0).

The flow-log lines follow the AWS documentation's default (v2) format; the interfaces they name
are described in events/inventory.json, which `ctrack replay --inventory` loads the way the
refresh function would.  Run: python3 scripts/make-events.py
"""
import base64
import gzip
import json
import pathlib

EVENTS = pathlib.Path(__file__).resolve().parent.parent / "events"
A, B = "111111111111", "222222222222"
START = 1795780800  # 2026-11-27T12:00:00Z


def v2(account, eni, src, dst, sport, dport, start, action="ACCEPT", status="OK", proto=6):
    return f"2 {account} {eni} {src} {dst} {sport} {dport} {proto} 10 840 {start} {start + 60} {action} {status}"


def message(owner, group, stream, lines, ts_ms, message_type="DATA_MESSAGE"):
    return {
        "messageType": message_type,
        "owner": owner,
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": ["connection-tracker"] if message_type == "DATA_MESSAGE" else [],
        "logEvents": [
            {"id": f"{ts_ms * 1000 + i:056d}", "timestamp": ts_ms, "message": line}
            for i, line in enumerate(lines)
        ],
    }


def encode(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(raw, mtime=0)).decode()


def write(name, obj):
    (EVENTS / name).write_text(json.dumps(obj, indent=2) + "\n")


same_account = [
    v2(A, "eni-0a1b2c3d4e5f60001", "8.8.8.8", "10.0.1.10", 51234, 443, START),
    v2(A, "eni-0a1b2c3d4e5f60001", "8.8.8.8", "10.0.1.10", 51240, 443, START + 30),
    v2(A, "eni-0a1b2c3d4e5f60001", "1.1.1.1", "10.0.1.10", 40000, 443, START),
    v2(A, "eni-0a1b2c3d4e5f60002", "85.1.2.3", "10.0.2.20", 50022, 22, START),
    v2(A, "eni-0a1b2c3d4e5f60002", "2a00:1450:4001:81a::200e", "2a05:d018:1234:5600::20", 50443, 443, START),
    v2(A, "eni-0a1b2c3d4e5f60003", "34.240.0.1", "10.0.3.30", 41000, 5432, START),
    v2(A, "eni-0a1b2c3d4e5f60003", "100.64.12.7", "10.0.3.30", 41001, 5432, START),
    v2(A, "eni-0a1b2c3d4e5f60001", "10.0.9.9", "10.0.1.10", 41002, 443, START),  # private source
    v2(A, "eni-0a1b2c3d4e5f60004", "8.8.4.4", "10.0.4.40", 41003, 443, START),  # NAT gateway
    v2(A, "eni-0a1b2c3d4e5f60001", "8.8.8.8", "10.0.1.10", 41004, 3389, START, action="REJECT"),
    f"2 {A} eni-0a1b2c3d4e5f60001 - - - - - - - {START} {START + 60} - NODATA",
]
write("ingest-cloudwatch-logs.json", {"awslogs": {"data": encode(
    message(A, "/connection-tracker/vpc-flow-logs", "eni-0a1b2c3d4e5f60001-all", same_account, START * 1000))}})

write("ingest-cloudwatch-logs-control.json", {"awslogs": {"data": encode(message(
    "CloudwatchLogs", "", "", ["CWL CONTROL MESSAGE: Checking health of destination Firehose."],
    START * 1000, "CONTROL_MESSAGE"))}})

records = []
for i, lines in enumerate([
    [v2(B, "eni-0b1b2c3d4e5f60001", "8.8.8.8", "10.1.0.5", 50000, 443, START),
     v2(B, "eni-0b1b2c3d4e5f60001", "52.16.0.99", "10.1.0.5", 50001, 443, START)],
    [v2(B, "eni-0b1b2c3d4e5f60002", "203.0.113.77", "10.1.0.6", 50002, 8080, START),  # doc range: private
     v2(B, "eni-0b1b2c3d4e5f60002", "198.199.70.1", "10.1.0.6", 50003, 8080, START)],
]):
    seq = f"49590338271490256608559692538361571095921575989136588{i:03d}"
    records.append({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": f"/connection-tracker/vpc-flow-logs-{i}",
            "sequenceNumber": seq,
            "data": encode(message(B, "/connection-tracker/vpc-flow-logs", f"eni-0b1b2c3d4e5f6000{i + 1}-all", lines, START * 1000 + i)),
            "approximateArrivalTimestamp": START + 90.123,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000006:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{A}:role/connection-tracker-ingest",
        "awsRegion": "eu-west-1",
        "eventSourceARN": f"arn:aws:kinesis:eu-west-1:{A}:stream/connection-tracker-flow-logs",
    })
write("ingest-kinesis.json", {"Records": records})

write("inventory.json", {
    "interfaces": [
        {"interface_id": "eni-0a1b2c3d4e5f60001", "account_id": A, "region": "eu-west-1",
         "description": "ELB app/shop/50dc6c495c0c9188", "interface_type": "interface", "requester_id": "amazon-elb",
         "public_ips": {"10.0.1.10": "52.16.0.10"}, "lb_dns_name": "shop-1234567890.eu-west-1.elb.amazonaws.com"},
        {"interface_id": "eni-0a1b2c3d4e5f60002", "account_id": A, "region": "eu-west-1",
         "description": "Primary network interface", "interface_type": "interface",
         "public_ips": {"10.0.2.20": "52.16.0.20", "2a05:d018:1234:5600::20": "2a05:d018:1234:5600::20"},
         "instance_name": "web"},
        {"interface_id": "eni-0a1b2c3d4e5f60003", "account_id": A, "region": "eu-west-1",
         "description": "RDSNetworkInterface", "interface_type": "interface", "requester_id": "amazon-rds",
         "public_ips": {"10.0.3.30": "52.16.0.30"}, "rds_endpoint": "orders.c9akciq32.eu-west-1.rds.amazonaws.com"},
        {"interface_id": "eni-0a1b2c3d4e5f60004", "account_id": A, "region": "eu-west-1",
         "description": "Interface for NAT Gateway nat-0c1d2e3f4a5b6c7d8", "interface_type": "nat_gateway",
         "public_ips": {"10.0.4.40": "52.16.0.40"}},
        {"interface_id": "eni-0b1b2c3d4e5f60001", "account_id": B, "region": "us-east-1",
         "description": "ELB net/ingress/6a3f0c1e2b4d5f6a", "interface_type": "network_load_balancer",
         "public_ips": {"10.1.0.5": "3.80.0.5"}, "lb_dns_name": "ingress-6a3f0c1e2b4d5f6a.elb.us-east-1.amazonaws.com"},
        {"interface_id": "eni-0b1b2c3d4e5f60002", "account_id": B, "region": "us-east-1",
         "description": "", "interface_type": "interface",
         "public_ips": {"10.1.0.6": "3.80.0.6"}, "instance_name": "api"},
    ],
    "addresses": {
        "34.240.0.1": f"{B}/us-east-1/nat-us-east-1a.bravo.example.org",
        "52.16.0.99": f"{A}/eu-west-1/nat-eu-west-1b.alpha.example.org",
    },
    "formats": {},
})


def http_api(method, path, query=None, path_parameters=None):
    """An API Gateway HTTP API (payload 2.0) request, shaped like
    `sam local generate-event apigateway http-api-proxy`."""
    query = query or {}
    raw_query = "&".join(f"{k}={v}" for k, v in query.items())
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {
            "accept": "application/json",
            "accept-encoding": "gzip",
            "host": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "ctrack/0.1",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": A,
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.10", "userAgent": "ctrack/0.1"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:12:00:00 +0000",
            "timeEpoch": START * 1000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


# Without accept-encoding, so `cargo lambda invoke` prints readable JSON.
def plain(event):
    del event["headers"]["accept-encoding"]
    return event


write("api-health.json", plain(http_api("GET", "/health")))
write("api-accounts.json", plain(http_api("GET", "/accounts")))
write("api-connections.json", plain(http_api("GET", "/connections", {"date": "2026-11-27"})))
write("api-connections-account.json", plain(http_api(
    "GET", f"/connections/{A}/eu-west-1", {"from": "2026-11-21", "to": "2026-11-27"},
    {"account_id": A, "region": "eu-west-1"})))
write("api-endpoints.json", plain(http_api("GET", "/endpoints", {"date": "2026-11-27"})))
write("api-account-connections.json", plain(http_api(
    "GET", "/account-connections", {"date": "2026-11-27", "include": "office"})))
write("api-addresses.json", plain(http_api("GET", "/addresses", {"q": "nat"})))
write("api-public-endpoints.json", plain(http_api("GET", "/public-endpoints", {"date": "2026-11-27"})))
write("api-bad-account.json", plain(http_api(
    "GET", "/connections/12345/eu-west-1", None, {"account_id": "12345", "region": "eu-west-1"})))
write("api-connections-gzip.json", http_api("GET", "/connections", {"date": "2026-11-27"}))

#!/usr/bin/env bash
# End to end through the Lambda runtime: the three functions under `cargo lambda watch`, invoked
# with the sample events by `cargo lambda invoke` (and the API over HTTP with curl), against a
# throw-away redis-server and moto.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
preflight
ensure_apt redis-server redis-server jq jq curl curl
ensure_venv "cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server]==$MOTO_VERSION"

work=$(mktemp -d)
redis_port=$(free_port)
lambda_port=$(free_port)
moto_port=$(free_port)
start_redis "$redis_port" "$work"
export REDIS_URL="redis://127.0.0.1:$redis_port" RETENTION_DAYS=3650
start_moto "$moto_port" "$work"
MOTO="http://127.0.0.1:$moto_port"
log "seeding moto with one account"
"$VENV/bin/python" scripts/moto_estate.py --endpoint "$MOTO" --table accounts \
  --accounts 555555555555 --regions eu-west-1 >"$work/estate.json"
# The failure bucket: dead letters (written by the ingest function) and failure records.
BUCKET=ct-failures
"$VENV/bin/python" -c "import boto3; boto3.client('s3', endpoint_url='$MOTO', region_name='eu-west-1',
  aws_access_key_id='testing', aws_secret_access_key='testing').create_bucket(Bucket='$BUCKET',
  CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})"
export AWS_ENDPOINT_URL="$MOTO" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=eu-west-1
s3_keys() { "$VENV/bin/python" -c "import boto3; print('\n'.join(o['Key'] for o in boto3.client('s3',
  endpoint_url='$MOTO').list_objects_v2(Bucket='$BUCKET', Prefix='$1').get('Contents', [])))"; }

# Every record below is dated 2026-11-27 (RETENTION_DAYS keeps it) and every read names that day:
# nothing here depends on the day it runs (scripts/test.sh runs it under a clock a year ahead).
DAY=2026-11-27
# scripts/test.sh builds first and runs this under its fake clock (CT_PREBUILT=1): no compiler there.
if [ -z "${CT_PREBUILT:-}" ]; then
  log "building the functions and ctrack"
  cargo build -q -p ingest -p refresh -p api -p ctrack-cli
fi
ctrack() { "$ROOT/target/debug/ctrack" "$@"; }

log "loading the sample inventory"
ctrack replay --force --inventory events/inventory.json events/ingest-cloudwatch-logs-control.json >/dev/null

start_lambda_watch "$lambda_port" "$work" \
  "REDIS_URL=$REDIS_URL,RETENTION_DAYS=3650,AWS_LAMBDA_LOG_FORMAT=JSON" \
  "ACCOUNTS_TABLE=accounts,REGIONS=eu-west-1,AWS_ENDPOINT_URL=$MOTO,AWS_REGION=eu-west-1" \
  "AWS_ACCESS_KEY_ID=testing,AWS_SECRET_ACCESS_KEY=testing,DNS_MAX_LOOKUPS=0,INVENTORY_TTL_SECONDS=0" \
  "DEAD_LETTER_BUCKET=$BUCKET,AWS_IP_RANGES_URL=file://$ROOT/events/ip-ranges.json"

# Every call has a time limit: a reply that never comes fails the run here, in minutes, not at
# CI's limit (stop 37's CI spent its last hour on one answer that never arrived).
invoke() { timeout 300 cargo lambda invoke -A 127.0.0.1 -P "$lambda_port" ingest -o json "$@"; }
invoke_fn() { local f=$1; shift; timeout 300 cargo lambda invoke -A 127.0.0.1 -P "$lambda_port" "$f" -o json "$@"; }
fail() { echo "FAIL: $*" >&2; tail -n 30 "$work/watch.log" >&2; exit 1; }

out=$(invoke --data-file events/ingest-cloudwatch-logs.json) || fail "CloudWatch Logs event: $out"
echo "$out"
[ "$(jq -r .counted <<<"$out")" = 7 ] || fail "expected 7 counted records"
[ "$(jq -r '.skipped.private_source' <<<"$out")" = 1 ] || fail "expected 1 private source"

out=$(invoke --data-file events/ingest-cloudwatch-logs.json) || fail "redelivery: $out"
[ "$(jq -r .duplicates <<<"$out")" = 1 ] || fail "a redelivered event must be a duplicate: $out"

out=$(invoke --data-file events/ingest-kinesis.json) || fail "Kinesis event: $out"
echo "$out"
[ "$(jq -c . <<<"$out")" = '{"batchItemFailures":[]}' ] || fail "Kinesis: expected no item failures"

out=$(invoke --data-file events/ingest-cloudwatch-logs-control.json) || fail "control message: $out"
[ "$(jq -r .control_messages <<<"$out")" = 1 ] || fail "control message not acknowledged"

log "a corrupt payload is a dead letter: kept whole in S3, acknowledged, never retried"
out=$(invoke --data-ascii '{"awslogs":{"data":"bm90IGd6aXA="}}') || fail "a corrupt event must be acknowledged: $out"
[ "$(jq -c '[.dead_lettered, .failed_payloads]' <<<"$out")" = '[1,{"gzip":1}]' ] || fail "dead letter: $out"
letters=$(s3_keys dead-letter/)
grep -qE '^dead-letter/[0-9]{4}/[0-9]{2}/[0-9]{2}/gzip/[0-9a-f]{32}\.json$' <<<"$letters" || fail "no dead letter in S3: $letters"
grep -q '"kept_at":"s3://ct-failures/dead-letter/' "$work/watch.log" || fail "the function should log where it kept the letter"

log "refresh against moto, then ingest for what it found"
out=$(invoke_fn refresh --data-file events/refresh-schedule.json) || fail "refresh: $out"
echo "$out" | jq -c '{refreshed, failed, public_interfaces, own_addresses, formats}'
[ "$(jq -c .refreshed <<<"$out")" = '["555555555555/eu-west-1"]' ] || fail "refresh should cover the seeded account"
[ "$(jq -r .public_interfaces <<<"$out")" = 8 ] || fail "expected 8 public interfaces"
[ "$(jq -c '[.s3_ranges.updated, .s3_ranges.blocks]' <<<"$out")" = '[true,3]' ] \
  || fail "the refresh should store S3's prefixes of AWS's ranges from AWS_IP_RANGES_URL: $out"
"$VENV/bin/python" - "$work/estate.json" >"$work/alb-event.json" <<'PY'
import base64, gzip, json, sys
alb = json.load(open(sys.argv[1]))[0]["interfaces"]["alb"]
line = f"5 555555555555 {alb['id']} 8.8.8.8 {alb['private']} 50000 443 6 3 180 1795780800 1795780860 ACCEPT OK vpc-1 ingress"
msg = {"messageType": "DATA_MESSAGE", "owner": "555555555555", "logGroup": "/connection-tracker/flow-logs",
       "logStream": "s", "subscriptionFilters": ["f"], "logEvents": [{"id": "1", "timestamp": 1795780800000, "message": line}]}
print(json.dumps({"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(msg).encode(), mtime=0)).decode()}}))
PY
out=$(invoke --data-file "$work/alb-event.json") || fail "ingest after refresh: $out"
[ "$(jq -r .counted <<<"$out")" = 1 ] || fail "the ALB record should count with the refresh's format and map: $out"
alb_dns=$(jq -r '.[0].interfaces.alb.dns' "$work/estate.json")
score=$(redis-cli -p "$redis_port" ZSCORE "ct:{$DAY:555555555555:eu-west-1}:conn" "$(printf '8.8.8.8\t%s\t443' "$alb_dns")")
[ "$score" = 1 ] || fail "expected the ALB named by its DNS name $alb_dns"

score=$(redis-cli -p "$redis_port" ZSCORE "ct:{$DAY:111111111111:eu-west-1}:conn" \
  "$(printf '8.8.8.8\tshop-1234567890.eu-west-1.elb.amazonaws.com\t443')")
[ "$score" = 2 ] || fail "expected score 2 after a redelivery, got $score"
grep -q '"_aws"' "$work/watch.log" || fail "no Embedded Metric Format line in the function's output"
log "the api function: over HTTP at /lambda-url/api/ and with HTTP API events"
API="http://127.0.0.1:$lambda_port/lambda-url/api"
# The status code, or it followed by curl's exit code when the transfer did not complete; an
# answer that stalls is asked for again (twice) after 30 s.
status_of() {
  curl -s --max-time 30 --retry 2 --retry-delay 1 -o "$work/body" -w '%{http_code}' "$@" \
    || echo " curl exit $?"
}
[ "$(status_of "$API/health")" = 200 ] && [ "$(cat "$work/body")" = OK ] || fail "/health: $(cat "$work/body")"
[ "$(status_of "$API/connections?date=$DAY")" = 200 ] || fail "/connections: $(cat "$work/body")"
jq -e --arg lb "$alb_dns" '
  (.["111111111111/eu-west-1"][0] == {"source":"8.8.8.8","dest":"shop-1234567890.eu-west-1.elb.amazonaws.com","dest_port":443,"score":2})
  and (.["555555555555/eu-west-1"] | any(.dest == $lb and .score == 1))' "$work/body" >/dev/null \
  || fail "/connections shape or counts: $(cat "$work/body")"
cp "$work/body" "$work/day.json"
[ "$(status_of --compressed "$API/connections/111111111111/eu-west-1?from=2026-11-21&to=2026-11-27")" = 200 ] \
  || fail "range: $(cat "$work/body")"
jq -e -s '.[0]["111111111111/eu-west-1"] == .[1] and (.[1] | length) > 3' "$work/day.json" "$work/body" >/dev/null \
  || fail "a week with one day of data should answer that day: $(cat "$work/body")"
[ "$(status_of "$API/public-endpoints/555555555555/eu-west-1?date=$DAY")" = 200 ] || fail "/public-endpoints"
jq -e --arg lb "$alb_dns" 'any(.name == $lb and .kind == "load_balancer" and .score == 1)' "$work/body" >/dev/null \
  || fail "/public-endpoints should list the ALB with its connection: $(cat "$work/body")"
[ "$(status_of "$API/connections/12345/eu-west-1")" = 400 ] || fail "bad account id should be a 400"
[ "$(jq -r .parameter "$work/body")" = account_id ] || fail "400 should name account_id: $(cat "$work/body")"
[ "$(status_of "$API/nope")" = 404 ] || fail "unknown route should be a 404"
[ "$(status_of -X POST "$API/accounts")" = 405 ] || fail "POST should be a 405"
[ "$(status_of "$API/openapi.json")" = 200 ] && jq -e '.paths["/public-endpoints"]' "$work/body" >/dev/null \
  || fail "/openapi.json"
for event in events/api-*.json; do
  out=$(invoke_fn api --data-file "$event") || fail "invoke api with $event: $out"
  want=200
  [ "$event" = events/api-bad-account.json ] && want=400
  [ "$(jq -r .statusCode <<<"$out")" = "$want" ] || fail "$event: expected $want, got $out"
  if [ "$event" = events/api-connections-gzip.json ]; then
    [ "$(jq -r .isBase64Encoded <<<"$out")" = true ] || fail "gzip answer should be base64: $out"
    jq -r .body <<<"$out" | base64 -d | gunzip | jq -e '.["111111111111/eu-west-1"]' >/dev/null \
      || fail "gzip body should be the JSON"
  else
    echo "$(basename "$event") -> $(jq -r .statusCode <<<"$out") $(jq -r .body <<<"$out" | head -c 160)"
  fi
done

log "contract: Schemathesis against /openapi.json of the api function (≤ ${CONTRACT_EXAMPLES:-100} cases per operation)"
# Positive and negative cases; every answer must be documented (status, content type, headers,
# schema) and none a 5xx. Excluded: ignored_auth (authentication is API Gateway's authorizer,
# not the function's: the local function has none to bypass); the stateful checks
# (use_after_free, ensure_resource_availability: a read-only API creates and deletes nothing);
# positive_data_acceptance, because the API has rules across parameters that OpenAPI 3.1 cannot
# state (date or from/to, from <= to, at most API_MAX_RANGE_DAYS days, a cursor only from the
# page before), so a schema-valid combination may rightly be a 400 naming the parameter — each
# rule has its own Rust test (shared/src/api/query.rs, tests/api_redis.rs).
CONTRACT_VENV="$ROOT/.venv-contract"
VENV="$CONTRACT_VENV" ensure_venv "schemathesis==$SCHEMATHESIS_VERSION"
if ! "$CONTRACT_VENV/bin/schemathesis" run "$API/openapi.json" --url "$API" \
  --max-examples "${CONTRACT_EXAMPLES:-100}" --mode all --seed 20261127 --no-color \
  --exclude-checks ignored_auth,use_after_free,ensure_resource_availability,positive_data_acceptance \
  --generation-database none --request-timeout 10 --request-retries 2 >"$work/contract.log" 2>&1; then
  tail -n 120 "$work/contract.log" >&2
  fail "Schemathesis found answers that do not match /openapi.json"
fi
grep -E 'API Operations|Test cases|passed|failed' "$work/contract.log" | tail -n 6 >&2

log "ctrack against the api function"
tsv=$(ctrack connections "$API" --from 2026-11-21 --to 2026-11-27 -o tsv) || fail "ctrack connections"
grep -qP '^111111111111\t\teu-west-1\tshop-1234567890.eu-west-1.elb.amazonaws.com\t443\t8.8.8.8\t2$' <<<"$tsv" \
  || fail "ctrack connections should list the shop ALB row: $tsv"
out=$(ctrack graph "$API" --from 2026-11-27 --to 2026-11-27 -o "$work/accounts.svg" 2>&1) || fail "ctrack graph: $out"
grep -q "3 accounts, 2 edges" <<<"$out" || fail "graph (every monitored account is a node): $out"
out=$(ctrack graph "$API" --from 2026-11-27 --to 2026-11-27 --per-region -o "$work/regions.dot" 2>&1) || fail "graph --per-region: $out"
grep -q "account/regions, 2 edges" <<<"$out" || fail "graph --per-region: $out"
grep -q '"111111111111/eu-west-1" \[label=' "$work/regions.dot" || fail "per-region nodes: $(cat "$work/regions.dot")"

log "outage: Redis stops, deliveries fail until retries run out, the failure records land in S3"
read -r ODAY OLB OSOURCES < <("$VENV/bin/python" scripts/outage.py events "$work/estate.json" "$work")
redis-cli -p "$redis_port" SHUTDOWN SAVE >/dev/null 2>&1 || true
for attempt in 1 2 3; do # the delivery and Lambda's two asynchronous retries
  if out=$(invoke --data-file "$work/outage-logs.json" 2>&1); then fail "Redis is down, yet: $out"; fi
done
grep -q "cannot count batch" <<<"$out" || fail "the error should say the batch was not counted: $out"
out=$(invoke --data-file "$work/outage-kinesis.json") || fail "Kinesis during the outage: $out"
[ "$(jq '.batchItemFailures | length' <<<"$out")" = 2 ] || fail "both Kinesis records should be handed back: $out"
"$VENV/bin/python" scripts/outage.py destinations "$MOTO" "$BUCKET" "$work/outage-logs.json" \
  "$work/outage-kinesis.json" "cannot count batch: Redis request failed"
# The schedule's redrive while Redis is still down: it counts and removes nothing.
out=$(invoke --data-ascii '{"redrive": "scheduled"}') || fail "redrive during the outage: $out"
[ "$(jq -c '[.redriven, (.stopped != null)]' <<<"$out")" = '[0,true]' ] || fail "a redrive with Redis down must stop: $out"
[ "$(s3_keys aws/lambda/ | wc -l)" = 2 ] || fail "the failure records must stay while Redis is down"
start_redis "$redis_port" "$work"
log "Redis is back: the scheduled redrive counts every record once, no person needed"
# Each scheduled run takes what it can (the first may meet the connection still reconnecting,
# each handles at least one record whatever its deadline); a few runs empty the bucket.
redriven=0
for run in 1 2 3 4 5 6; do
  out=$(invoke --data-ascii '{"redrive": "scheduled"}') || fail "redrive: $out"
  echo "$out" | jq -c .
  [ "$(jq -c '[.left_too_old, .unreadable]' <<<"$out")" = '[0,0]' ] || fail "nothing should be left: $out"
  redriven=$((redriven + $(jq .redriven <<<"$out")))
  [ -z "$(s3_keys aws/lambda/)" ] && break
  sleep 1
done
[ "$redriven" = 2 ] || fail "expected both failure records redriven once, got $redriven"
for src in $OSOURCES; do
  score=$(redis-cli -p "$redis_port" ZSCORE "ct:{$ODAY:555555555555:eu-west-1}:conn" "$(printf '%s\t%s\t443' "$src" "$OLB")")
  [ "$score" = 1 ] || fail "$src should count once after the redrive, got '$score'"
done
[ -z "$(s3_keys aws/lambda/)" ] || fail "the redrive removes what it counted"
out=$(invoke --data-ascii '{"redrive": "scheduled"}') || fail "second redrive: $out"
[ "$(jq -c '[.redriven, .unreadable]' <<<"$out")" = '[0,0]' ] || fail "a second redrive finds nothing: $out"
score=$(redis-cli -p "$redis_port" ZSCORE "ct:{$ODAY:555555555555:eu-west-1}:conn" "$(printf '9.9.9.1\t%s\t443' "$OLB")")
[ "$score" = 1 ] || fail "still exactly once: $score"
# The dead letter stays undecodable: a redrive names it and exits 2, and keeps it.
if out=$(ctrack replay --json "s3://$BUCKET/dead-letter/" 2>&1); then fail "a dead letter cannot count: $out"; fi
grep -q "payload is not valid gzip" <<<"$out" || fail "replay should name the dead letter's problem: $out"
[ -n "$(s3_keys dead-letter/)" ] || fail "the dead letter must stay"

log "e2e through cargo lambda (ingest, refresh, api, ctrack, outage and redrive): ok"

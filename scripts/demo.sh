#!/usr/bin/env bash
# The main job, locally, on a fresh machine: installs what is missing, starts Redis and moto
# (seeded with two accounts: load balancers, instances, a database, NAT gateways, flow logs),
# runs the three functions under `cargo lambda watch`, invokes the refresh, ingests flow logs of
# that estate, queries the API and prints the connections. Then it leaves the API up until
# Ctrl-C; `scripts/demo.sh --no-wait` stops cleanly instead.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
preflight
wait_at_end=1
[ "${1:-}" = --no-wait ] && wait_at_end=0

ensure_apt redis-server redis-server jq jq curl curl
ensure_venv "cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server]==$MOTO_VERSION"

work=$(mktemp -d)
redis_port=$(free_port); moto_port=$(free_port); lambda_port=$(free_port)
start_redis "$redis_port" "$work"
start_moto "$moto_port" "$work"
MOTO="http://127.0.0.1:$moto_port"
log "seeding moto: accounts 111111111111 (shop) and 222222222222 (payments) in eu-west-1"
"$VENV/bin/python" scripts/moto_estate.py --endpoint "$MOTO" --table accounts \
  --accounts 111111111111,222222222222 --regions eu-west-1 --disabled 333333333333 >"$work/estate.json"
# The flow logs are timed a few minutes ago; every read below names their day, so a demo that
# runs across midnight still shows them.
day=$("$VENV/bin/python" scripts/estate_flow_logs.py "$work" <"$work/estate.json")

log "building the functions and the ctrack command (the first build takes a while)"
cargo build -q -p ingest -p refresh -p api -p ctrack-cli
start_lambda_watch "$lambda_port" "$work" \
  "REDIS_URL=redis://127.0.0.1:$redis_port,NETWORKS=office=85.1.0.0/16,DOMAIN={account_name}.example.org" \
  "ACCOUNTS_TABLE=accounts,REGIONS=eu-west-1,AWS_ENDPOINT_URL=$MOTO,AWS_REGION=eu-west-1" \
  "AWS_ACCESS_KEY_ID=testing,AWS_SECRET_ACCESS_KEY=testing,DNS_MAX_LOOKUPS=20,DNS_BUDGET_SECONDS=3" \
  "AWS_IP_RANGES_URL=${AWS_IP_RANGES_URL:-file://$ROOT/events/ip-ranges.json}"
invoke() { cargo lambda invoke -A 127.0.0.1 -P "$lambda_port" "$@" -o json; }

log "refresh: discovering public interfaces through the accounts' roles"
invoke refresh --data-file events/refresh-schedule.json \
  | jq -c '{accounts, refreshed, failed, public_interfaces, own_addresses, formats}'
for f in "$work"/flow-logs-*.json; do
  log "ingest: $(basename "$f")"
  invoke ingest --data-file "$f" | jq -c '{records, counted, skipped, rejected, connections}'
done

API="http://127.0.0.1:$lambda_port/lambda-url/api"
ctrack() { "$ROOT/target/debug/ctrack" "$@"; }
log "GET $API/accounts"
curl -s "$API/accounts" | jq .
log "ctrack connections $API --from $day --to $day"
ctrack connections "$API" --from "$day" --to "$day"
log "ctrack connections $API --from $day --to $day --suspicious -o tsv"
ctrack connections "$API" --from "$day" --to "$day" --suspicious -o tsv
log "GET $API/public-endpoints?date=$day (exposure: every public interface, traffic or not)"
curl -s "$API/public-endpoints?date=$day" | jq -r 'to_entries[] | .key as $k | .value[] |
  "\($k)  \(.kind)  \(.name)  score \(.score)\(if .counted then "" else " (not counted)" end)"'
ctrack graph "$API" --from "$day" --to "$day" -o "$work/accounts.svg"

if [ "$wait_at_end" = 1 ]; then
  cat >&2 <<MSG

The API is up at $API  (Ctrl-C stops everything)
  curl -s '$API/connections?date=$day' | jq .
  curl -s '$API/account-connections?date=$day&include=office' | jq .
  curl -s $API/openapi.json | jq '.paths | keys'
  target/debug/ctrack connections $API --from 7d -o tsv
  target/debug/ctrack scan-endpoints $API
Account graph: $work/accounts.svg
MSG
  while true; do sleep 3600; done
fi
log "demo done; stopping"

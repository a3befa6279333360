#!/usr/bin/env bash
# The main job, locally: start a throw-away redis-server, load the sample inventory, replay the
# sample flow-log events in events/ through the ingest code path, print the counters.
# With REDIS_URL set, uses that Redis instead and leaves it running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ -z "${REDIS_URL:-}" ]; then
  ensure_apt redis-server redis-server
  work=$(mktemp -d)
  port=$(free_port)
  start_redis "$port" "$work"
  export REDIS_URL="redis://127.0.0.1:$port"
fi
# The samples are dated 2026-11-27: keep them inside retention whenever this runs.
export RETENTION_DAYS="${RETENTION_DAYS:-3650}"
cargo run -q -p ctrack-cli -- replay --inventory events/inventory.json events/

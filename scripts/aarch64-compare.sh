#!/usr/bin/env bash
# The arm64 build counts exactly what the x86-64 build counts (issue 15): the functions run on
# Graviton, and decode (zlib-rs chooses SIMD code at run time), the hand-written parsers and
# the counting must give the same answers there. Builds `tools/count-events` (ingest's
# decode → parse → classify → aggregate, no Redis, no AWS) for both, runs the arm64 one under
# qemu-user on AWS's example events and on the replay bench's workload, and compares every
# increment (the workload by digest per event file). Installs what it needs (rustup target,
# Debian's cross gcc and qemu-user). Not in CI (an arm64 release build is minutes more).
#
#   bash scripts/aarch64-compare.sh [EVENTS] [RECORDS]     # default 200 × 2,000 records
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
events=${1:-200}
records=${2:-2000}
target=aarch64-unknown-linux-gnu

ensure_apt aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu qemu-aarch64 qemu-user
if [ ! -d /usr/aarch64-linux-gnu/include ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev-arm64-cross >/dev/null
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
build() { cargo build --release --locked -q -p count-events "$@"; }
log "building count-events for x86-64 and $target (release)"
build
build --target "$target"
x86="target/release/count-events"
arm="target/$target/release/count-events"
file "$arm" | grep -q aarch64 || { echo "$arm is not an arm64 binary" >&2; exit 1; }
run_arm() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$arm" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now=$(date +%s)
status=0
compare() { # compare name args...
  local name=$1; shift
  "$x86" "$@" >"$work/$name.x86"
  run_arm "$@" >"$work/$name.arm64"
  if cmp -s "$work/$name.x86" "$work/$name.arm64"; then
    log "$name: the same on both ($(wc -l <"$work/$name.x86") lines)"
  else
    log "$name: DIFFERENT"; diff "$work/$name.x86" "$work/$name.arm64" | head -20; status=1
  fi
}
# AWS's example events (their lines are from 2026-11-27: counted as of that day's noon).
compare aws-examples count 1795780800 events/inventory.json --networks "office=85.1.0.0/16" events/
# AWS's documentation lines and the custom-format seeds of the fuzz corpus (parsing and rejection).
compare flow-log-lines count 1418533600 events/inventory.json --lines fuzz/seeds/flowlog_lines/
log "writing the workload: $events events × $records records"
"$x86" workload "$work/mix" "$events" "$records" "$now" >/dev/null
compare workload count "$now" "$work/mix/inventory.json" --networks "office=85.1.0.0/16" --digest "$work/mix/events"
exit $status

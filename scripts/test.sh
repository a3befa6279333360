#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing (Debian's redis-server, jq,
# curl, chromium for the dashboard's browser test; cargo-lambda, moto, the SAM CLI and cfn-lint into .venv), then the template linters,
# formatting, clippy, every Rust test (each starts its own redis-server and moto_server on free
# ports) and the end-to-end run of the three functions through cargo lambda. Everything is built
# first on the real clock; the tests and the e2e then run under a clock a year ahead that crosses
# midnight (datefudge), which proves that no test depends on the day it runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
preflight

ensure_apt redis-server redis-server redis-cli redis-tools jq jq openssl openssl curl curl \
  datefudge datefudge chromium chromium
ensure_venv "cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server]==$MOTO_VERSION" \
  "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
  "cfn-lint-serverless==$CFN_LINT_SERVERLESS_VERSION" "pyarrow==$PYARROW_VERSION"
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

log "cfn-lint with the serverless rules, and sam validate --lint (template.yaml, deploy/*.yaml)"
cfn-lint template.yaml deploy/*.yaml -a cfn_lint_serverless.rules
AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-eu-west-1} SAM_CLI_TELEMETRY=0 sam validate --lint
log "template checks: log retention, access log, alarms (scripts/template_checks.py)"
python scripts/template_checks.py
log "cargo fmt --check"
cargo fmt --all -- --check
# One run: each crate root denies clippy::too_many_lines outside the tests (clippy.toml), so
# no second run with other features re-checks every dependency (it took 220 s).
log "cargo clippy -D warnings (all targets: benches are type-checked here; no function over 100 lines outside the tests)"
cargo clippy --workspace --all-targets -- -D warnings
log "building the tests, the functions and ctrack"
cargo test --workspace --no-run
cargo build -p ingest -p refresh -p api -p ctrack-cli

# Fuzzing (cargo-fuzz, libFuzzer with AddressSanitizer; RUSTC_BOOTSTRAP lets stable Rust take
# the sanitizer flags). Briefly here, FUZZ_SECONDS (20) per target; long runs: fuzz/README.md.
# Before the fake clock: ASan must be the first library loaded, and the targets do not read the
# clock.
command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
log "fuzz targets: build, then ${FUZZ_SECONDS:-20} s each"
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -O)
for target in event_decode flowlog_lines aggregate_write parsers logs_message object_readers; do
  corpus=$(mktemp -d) out=$(mktemp) dict=()
  [ -f "fuzz/$target.dict" ] && dict=("-dict=$target.dict")
  if ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$target" "$corpus" "seeds/$target" -- \
    -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=1024 -print_final_stats=1 "${dict[@]}") >"$out" 2>&1; then
    tail -n 60 "$out" >&2
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$out" | sed "s/^/  $target /" >&2
  rm -rf "$corpus" "$out"
done

# Time limits far above a slow machine's run (here: 3 and 2 minutes), so that a hang fails
# the run with its step named instead of running into CI's limit.
fake_clock_near_midnight
log "cargo test"
timeout 2400 cargo test --workspace
fake_clock_near_midnight
log "end to end through cargo lambda"
CT_PREBUILT=1 timeout 1800 scripts/e2e-lambda.sh
log "all tests passed"

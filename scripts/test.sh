#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing (Debian's redis-server, jq,
# curl; cargo-lambda, moto, the SAM CLI and cfn-lint into .venv), then the template linters,
# formatting, clippy, every Rust test (each starts its own redis-server and moto_server on free
# ports) and the end-to-end run of the three functions through cargo lambda. Everything is built
# first on the real clock; the tests and the e2e then run under a clock a year ahead that crosses
# midnight (datefudge), which proves that no test depends on the day it runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_apt redis-server redis-server redis-cli redis-tools jq jq openssl openssl curl curl \
  datefudge datefudge
ensure_venv "cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server]==$MOTO_VERSION" \
  "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION"
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

log "cfn-lint and sam validate --lint (template.yaml, member.yaml)"
cfn-lint template.yaml member.yaml
AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-eu-west-1} SAM_CLI_TELEMETRY=0 sam validate --lint
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings (all targets: benches are type-checked here)"
cargo clippy --workspace --all-targets -- -D warnings
log "building the tests, the functions and ctrack"
cargo test --workspace --no-run
cargo build -p ingest -p refresh -p api -p ctrack-cli

fake_clock_near_midnight
log "cargo test"
cargo test --workspace
fake_clock_near_midnight
log "end to end through cargo lambda"
CT_PREBUILT=1 scripts/e2e-lambda.sh
log "all tests passed"

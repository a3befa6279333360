#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing (Debian's redis-server and
# jq, cargo-lambda into .venv), then formatting, lints, every Rust test (each starts its own
# redis-server on a free port) and the end-to-end run through cargo lambda.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_apt redis-server redis-server redis-cli redis-tools jq jq
ensure_venv "cargo-lambda==$CARGO_LAMBDA_VERSION"
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
log "cargo test"
cargo test --workspace
log "benchmarks compile"
cargo bench --workspace --no-run -q
log "end to end through cargo lambda"
scripts/e2e-lambda.sh
log "all tests passed"

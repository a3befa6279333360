#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing (Debian's redis-server and
# jq; cargo-lambda and moto into .venv), then formatting, lints, every Rust test (each starts its
# own redis-server and moto_server on free ports) and the end-to-end run through cargo lambda.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_apt redis-server redis-server redis-cli redis-tools jq jq openssl openssl
ensure_venv "cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server]==$MOTO_VERSION"
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings (all targets: benches are type-checked here)"
cargo clippy --workspace --all-targets -- -D warnings
log "cargo test"
cargo test --workspace
log "end to end through cargo lambda"
scripts/e2e-lambda.sh
log "all tests passed"

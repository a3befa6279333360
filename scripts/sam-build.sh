#!/usr/bin/env bash
# `sam build` without Docker: installs the SAM CLI and cargo-lambda (with its zig) into .venv and
# the arm64 Rust target, builds the three functions, and prints the binaries' sizes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
preflight
ensure_venv "cargo-lambda==$CARGO_LAMBDA_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' \
  || rustup target add aarch64-unknown-linux-gnu
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-west-1}"
start=$SECONDS
sam build "$@"
log "sam build took $((SECONDS - start)) s"
for fn in IngestFunction RefreshFunction ApiFunction; do
  f=".aws-sam/build/$fn/bootstrap"
  awk -v fn="$fn" -v b="$(stat -c %s "$f")" 'BEGIN { printf "%-16s %6.1f MiB (%d bytes)\n", fn, b / 1048576, b }'
done

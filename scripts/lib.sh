# Shared helpers for the scripts in this folder: installing what is missing, free ports, cleanup.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CARGO_LAMBDA_VERSION=1.9.2
MOTO_VERSION=5.2.5
SAM_CLI_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
CFN_LINT_SERVERLESS_VERSION=0.3.6
CARGO_FUZZ_VERSION=0.13.2
SCHEMATHESIS_VERSION=4.32.5
PYARROW_VERSION=26.0.1

# Each step's line says how far into the run it starts (seconds since the first script's start,
# from /proc/uptime: the fake clock does not move it), so a slow CI run shows where its time went.
read -r CT_UPTIME0 _ </proc/uptime
export CT_T0=${CT_T0:-${CT_UPTIME0%.*}}
log() {
  local up
  read -r up _ </proc/uptime
  printf '\033[1m==> [%5ss] %s\033[0m\n' "$((${up%.*} - CT_T0))" "$*" >&2
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    log "sudo: $*"
    sudo "$@"
  else
    echo "need root for: $* — run as root, or install sudo, or install it yourself and re-run" >&2
    return 1
  fi
}

# Debian packages, installed only when their command is missing.
ensure_apt() { # ensure_apt command package [command package ...]
  local missing=()
  while [ $# -gt 1 ]; do
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
    shift 2
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# What the scripts need before anything else: Rust from rustup, recent enough for the workspace
# (`rust-version` in Cargo.toml), a C toolchain (ring and aws-lc-sys compile C), Python's venv
# module (Debian and Ubuntu ship it separately: python3-venv; pip outside a venv is refused
# there, PEP 668). Fails early, saying what to do, where it cannot install.
preflight() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "Rust is missing: install it with rustup (https://rustup.rs):" >&2
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
    return 1
  fi
  local want have
  want=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
  have=$(rustc --version | awk '{print $2}')
  if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n 1)" != "$want" ]; then
    echo "Rust $have is older than this workspace needs ($want): rustup update stable" >&2
    return 1
  fi
  ensure_apt cc build-essential pkg-config pkg-config
  # crates.io and PyPI over TLS need the CA bundle (a minimal Debian has none).
  [ -s /etc/ssl/certs/ca-certificates.crt ] || {
    log "installing ca-certificates (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ca-certificates >/dev/null
  }
  python3 -c 'import ensurepip, venv' 2>/dev/null || {
    log "installing python3-venv (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  }
}

# Python tools in a project-local, git-ignored venv.
ensure_venv() { # ensure_venv 'pkg==ver' ...
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; python3 -m venv "$VENV"; }
  local want=("$@") missing=()
  for spec in "${want[@]}"; do
    "$VENV/bin/pip" show "${spec%%[=<>\[]*}" >/dev/null 2>&1 || missing+=("$spec")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (pip, into .venv)"
    "$VENV/bin/pip" install -q "${missing[@]}"
  fi
  export PATH="$VENV/bin:$PATH"
}

# Every process started after this call (and its children: redis-server, moto, the functions)
# sees a clock a year ahead, 10 s before midnight UTC, so a run crosses midnight. Debian's
# datefudge: one offset (DATEFUDGE, seconds behind) for every process, the real-time clock only
# (monotonic clocks and file times stay real). libfaketime was tried first: redis-server's
# jemalloc and libfaketime 0.9.10 recurse into each other at start. Nothing a test checks may
# depend on the day it runs. FAKE_CLOCK=0 turns it off.
fake_clock_near_midnight() {
  [ "${FAKE_CLOCK:-1}" != 0 ] || { log "fake clock off (FAKE_CLOCK=0)"; return 0; }
  local lib now target
  lib=$(dpkg -L datefudge 2>/dev/null | grep '/datefudge\.so$' | head -n 1)
  [ -n "$lib" ] || { echo "datefudge is missing (apt-get install datefudge)" >&2; return 1; }
  # The real clock, even when an earlier call already faked this shell's.
  now=$(env -u LD_PRELOAD date -u +%s)
  target=$(env -u LD_PRELOAD date -u -d "$(env -u LD_PRELOAD date -u -d '+1 year' +%F) 23:59:50" +%s)
  export LD_PRELOAD="$lib" DATEFUDGE=$((now - target))
  log "fake clock: it is now $(date -u '+%F %T') UTC for everything this run starts"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until a TCP port accepts connections.
wait_port() { # wait_port port seconds what
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "$3 did not start on port $1 within $2 s" >&2; return 1; }
    sleep 0.2
  done
}

# The servers this script started stop with it: TERM to each one's process group, then, for any
# still there after 15 s, KILL. Only they are waited for, so a stuck server cannot hold the run.
PIDS=()
cleanup() {
  [ ${#PIDS[@]} -gt 0 ] || return 0
  local pid reaper
  for pid in "${PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  (
    sleep 15
    for pid in "${PIDS[@]}"; do kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true; done
  ) &
  reaper=$!
  wait "${PIDS[@]}" 2>/dev/null || true
  kill "$reaper" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start_redis() { # start_redis port dir
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$2" >"$2/redis.log" 2>&1 &
  PIDS+=($!)
  wait_port "$1" 20 redis-server
}

# The Lambda functions under `cargo lambda watch` on 127.0.0.1:port, log in dir/watch.log.
start_lambda_watch() { # start_lambda_watch port dir env-var-list...
  local port=$1 dir=$2 envs=()
  shift 2
  for e in "$@"; do envs+=(--env-var "$e"); done
  log "starting cargo lambda watch on 127.0.0.1:$port"
  setsid cargo lambda watch -A 127.0.0.1 -P "$port" "${envs[@]}" >"$dir/watch.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port" 600 "cargo lambda watch" || { cat "$dir/watch.log"; return 1; }
}

start_moto() { # start_moto port dir
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$1" >"$2/moto.log" 2>&1 &
  PIDS+=($!)
  wait_port "$1" 30 moto_server
}

#!/usr/bin/env bash
# The README's commands on a fresh Debian 12, as a new user would meet them: a minimal
# debootstrap tree (Debian's base and nothing else: no compiler, no Python, no CA bundle), a
# user with sudo, rustup's Rust copied into its home (the one thing the README asks to bring),
# this repository cloned; then `bash scripts/test.sh` (or `demo`) runs there as that user,
# installing what it needs itself. Not part of CI (it builds everything cold: ~30 min here).
#
# Run as root: bash scripts/fresh-machine.sh [test|demo] [DIR]   (DIR default /tmp/fresh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WHAT=${1:-test}
DIR=${2:-/tmp/fresh}
[ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap and chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
[ -x "$CARGO_HOME/bin/rustup" ] || { echo "rustup's Rust is needed here to copy in ($CARGO_HOME/bin/rustup)" >&2; exit 1; }

if [ ! -x "$DIR/usr/bin/apt-get" ]; then
  log "debootstrap --variant=minbase bookworm $DIR"
  debootstrap --variant=minbase bookworm "$DIR" http://deb.debian.org/debian >/dev/null
fi
cleanup() {
  for m in dev/pts dev/shm dev sys proc; do umount -l "$DIR/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$DIR/proc"
mount --rbind /sys "$DIR/sys"
mount --rbind /dev "$DIR/dev"
cp /etc/resolv.conf "$DIR/etc/resolv.conf"
grep -q "$(hostname)" "$DIR/etc/hosts" 2>/dev/null || echo "127.0.1.1 $(hostname)" >> "$DIR/etc/hosts"
# The network's own certificate authorities (a TLS-inspecting proxy, as on a corporate laptop):
# the ca-certificates package that preflight installs takes them in.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$DIR/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$DIR/usr/local/share/ca-certificates/"
  [ ! -x "$DIR/usr/sbin/update-ca-certificates" ] || chroot "$DIR" update-ca-certificates >/dev/null
fi

log "a user 'dev' with sudo, rustup's Rust in its home, the repository cloned"
chroot "$DIR" bash -c 'command -v sudo >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo >/dev/null; }
  id dev >/dev/null 2>&1 || useradd -m -s /bin/bash dev
  echo "dev ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/dev'
rm -rf "$DIR/home/dev/.rustup" "$DIR/home/dev/.cargo" "$DIR/home/dev/connection-tracker"
mkdir -p "$DIR/home/dev/.cargo"
cp -a "$RUSTUP_HOME" "$DIR/home/dev/.rustup"
cp -a "$CARGO_HOME/bin" "$DIR/home/dev/.cargo/bin"
# Only rustup and its toolchain: no cargo-installed tools, no registry cache.
find "$DIR/home/dev/.cargo/bin" -type f ! -name rustup -delete
for tool in cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver rust-gdb rust-lldb; do
  ln -sf rustup "$DIR/home/dev/.cargo/bin/$tool"
done
git clone -q "$ROOT" "$DIR/home/dev/connection-tracker"
chroot "$DIR" chown -R dev:dev /home/dev

case "$WHAT" in
  test) command='bash scripts/test.sh' ;;
  demo) command='bash scripts/demo.sh' ;;
  *) echo "test or demo" >&2; exit 1 ;;
esac
log "as dev, on a fresh Debian 12: $command"
started=$SECONDS
chroot "$DIR" sudo -u dev env -i HOME=/home/dev USER=dev TERM=dumb LANG=C.UTF-8 \
  PATH=/home/dev/.cargo/bin:/usr/local/bin:/usr/bin:/bin \
  bash -c "cd ~/connection-tracker && CI=true $command"
log "passed on a fresh Debian 12 in $((SECONDS - started)) s"

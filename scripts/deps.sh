#!/usr/bin/env bash
# Install what building and testing curfew needs, from Debian 12 packages.
# Idempotent: installs only what is missing, and does nothing when all is there.
set -euo pipefail

packages=(
  gcc make pkg-config meson ninja-build clang libclang-rt-14-dev llvm time
  libuv1-dev libhttp-parser-dev libssl-dev libjansson-dev libyaml-dev libsqlite3-dev
  libcmocka-dev sqlite3 e2fsprogs
  python3-pytest python3-requests python3-jwt python3-cryptography python3-yaml
  python3-jsonschema
  nginx-light libnginx-mod-http-lua caddy wrk curl prometheus systemd
  redis-server redis-tools libhiredis-dev
  faketime libfaketime groff-base
  chromium nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  # A nodejs package that bundles npm (NodeSource's) conflicts with Debian's npm:
  # the command is what the tests need.
  if [ "$p" = npm ] && command -v npm >/dev/null; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx-light's, caddy's, prometheus's and redis-server's postinst start system services;
# the tests start their own.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for svc in nginx caddy prometheus prometheus-node-exporter redis-server; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done

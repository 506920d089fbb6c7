#!/usr/bin/env bash
# apt-resolution.sh PACKAGE.deb — which QEMU apt installs with the .deb on each Debian generation,
# by apt's own resolver (`apt-get -s install ./PACKAGE.deb`, recommends on) over the private apt
# configurations tests/fixtures.sh keeps (empty dpkg status, the machine's apt untouched):
#   bookworm: qemu-user-static (its qemu-user 7.2 is dynamic, unusable for binfmtd)
#   trixie:   qemu-user (static since 1:9.1.0+ds-1; qemu-user-static is only transitional)
#   sid:      qemu-user (forky: no qemu-user-static at all)
set -euo pipefail
DEB=$(readlink -f "${1:?usage: apt-resolution.sh PACKAGE.deb}")
cd "$(dirname "$0")/../.."
FIXTURES=${BINFMTD_FIXTURES:-$PWD/target/fixtures}
fail() { echo "apt-resolution: FAIL: $*" >&2; exit 1; }
for want in bookworm:qemu-user-static trixie:qemu-user sid:qemu-user; do
  suite=${want%%:*} pkg=${want#*:}
  conf="$FIXTURES/apt/$suite/apt.conf"
  [ -f "$conf" ] || fail "no private apt configuration for $suite ($conf); run tests/setup.sh"
  out=$(apt-get -q -c "$conf" -s -o APT::Install-Recommends=true install "$DEB" 2>&1) \
    || fail "$suite: apt-get -s install failed: $out"
  qemu=$(printf '%s\n' "$out" | awk '$1=="Inst" && ($2=="qemu-user" || $2=="qemu-user-static") {print $2}' | sort | tr '\n' ' ')
  [ "$qemu" = "$pkg " ] || fail "$suite: apt installs '${qemu% }' with the .deb, expected $pkg"
  echo "apt-resolution: ok: $suite installs $pkg"
done

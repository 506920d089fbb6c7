#!/usr/bin/env bash
# deb.sh PACKAGE.deb — install the .deb into a booted systemd container and remove it again.
#
# Reuses the systemd test's root filesystem (tests/system/rootfs.sh, debootstrapped once into
# target/system/rootfs) and boot recipe, but boots a throwaway copy of it (cp -a, ~1 s), so the
# shared rootfs stays untouched and the systemd test can run at the same time. The container
# has its own user namespace (--private-users=pick), so its binfmt_misc is a private instance.
# Checks: dpkg -i enables and starts the service, READY reached, entries registered, a foreign
# busybox runs; dpkg --purge stops it, removes binfmtd's entries but not another tool's, and
# leaves no binfmtd file behind.
set -euo pipefail
DEB=$(readlink -f "${1:?usage: deb.sh PACKAGE.deb}")
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUSYBOX=$(awk -F'\t' '$1=="aarch64" && $2=="busybox" {print $3; exit}' target/fixtures/manifest.tsv)
[ -n "$BUSYBOX" ] || { echo "deb-test: no arm64 busybox fixture; run tests/setup.sh" >&2; exit 1; }
fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
pass() { echo "deb-test: ok: $*"; }
# shellcheck source=tests/packaging/nspawn.sh
. tests/packaging/nspawn.sh
boot "binfmtd-deb-$$" || fail "boot"
pass "container booted"

# What qemu-user-static (the package's Recommends) would provide, and a foreign binary.
for t in aarch64 riscv64; do put_file "/usr/bin/qemu-$t-static" "/usr/bin/qemu-$t-static" 755; done
put_file "target/fixtures/$BUSYBOX" /opt/arm64/busybox 755
put_file "$DEB" /tmp/binfmtd.deb 644
# Only the two targets present (others would be reported unavailable).
ct mkdir -p /etc/binfmtd/binfmtd.d
ct sh -c 'printf "targets = [\"aarch64\", \"riscv64\"]\n" > /etc/binfmtd/binfmtd.d/10-test.toml'

# Install: enabled and started by the package, READY reached.
ct env DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/binfmtd.deb >"$LOG.dpkg" 2>&1 || { cat "$LOG.dpkg" >&2; fail "dpkg -i"; }
show() { ct systemctl show -p "$1" --value binfmtd; }
for _ in $(seq 1 100); do [ "$(show SubState)" = running ] && break; sleep 0.1; done
[ "$(show ActiveState)/$(show SubState)" = active/running ] \
  || { ct journalctl -u binfmtd --no-pager >&2; fail "binfmtd is $(show ActiveState)/$(show SubState)"; }
[ "$(ct systemctl is-enabled binfmtd)" = enabled ] || fail "the service is not enabled"
status=$(show StatusText)
case "$status" in "2 emulators registered"*) ;; *) fail "StatusText is '$status'" ;; esac
entries() { ct sh -c 'cd /proc/sys/fs/binfmt_misc && ls | grep -v -e "^register$" -e "^status$" | sort | tr "\n" " "'; }
[ "$(entries)" = "qemu-aarch64 qemu-riscv64 " ] || fail "entries after install: $(entries)"
[ "$(ct /opt/arm64/busybox uname -m)" = aarch64 ] || fail "arm64 busybox does not run"
ct test -f /etc/binfmtd/binfmtd.toml || fail "no /etc/binfmtd/binfmtd.toml"
ct man -w binfmtd >/dev/null 2>&1 || ct test -f /usr/share/man/man8/binfmtd.8.gz || fail "no man page"
pass "dpkg -i: enabled, active (running) through READY ($status), entries registered, busybox runs"

# Another tool's entry must survive the removal.
ct sh -c 'printf ":other-tool:E::binfmtdtest::/bin/true:" > /proc/sys/fs/binfmt_misc/register'

# Purge: stopped, our entries removed, the other tool's kept, no binfmtd file left.
ct env DEBIAN_FRONTEND=noninteractive dpkg --purge binfmtd >"$LOG.dpkg" 2>&1 || { cat "$LOG.dpkg" >&2; fail "dpkg --purge"; }
[ "$(show ActiveState)" = inactive ] || fail "after purge the service is $(show ActiveState)"
[ "$(entries)" = "other-tool " ] || fail "entries after purge: '$(entries)' (want only other-tool)"
left=$(ct sh -c 'ls -d /usr/bin/binfmtd /etc/binfmtd/binfmtd.toml /var/lib/binfmtd \
  /usr/lib/systemd/system/binfmtd.service /etc/systemd/system/*/binfmtd.service \
  /usr/share/man/man8/binfmtd.8.gz /usr/share/doc/binfmtd /var/lib/dpkg/info/binfmtd.* 2>/dev/null || true')
[ -z "$left" ] || fail "files left after purge: $left"
pass "dpkg --purge: stopped, binfmtd's entries removed, another tool's kept, no file left"
echo "deb-test: all passed"

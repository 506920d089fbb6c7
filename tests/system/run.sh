#!/usr/bin/env bash
# run.sh BINFMTD — the systemd test: boot a Debian userland under systemd-nspawn and check the
# binfmtd.service unit for real (issue 5).
#
# The container gets its own user namespace (--private-users=pick), so its binfmt_misc is a
# private instance: nothing here can touch the host's. Inside nspawn /proc/sys is read-only, so
# systemd would skip its binfmt_misc mount; binfmtd's drop-in (systemd/binfmt_misc-mount.conf)
# makes PID 1 mount it for the whole container, and the hardened service (a private mount
# namespace) writes that instance. systemd-binfmt is masked (rootfs.sh).
# Checks: READY with StatusText, entries registered, a foreign busybox runs, `-1 > status` healed,
# reload/restart/stop semantics (entries outlive the service's mount namespace), and
# `systemd-analyze verify`; prints the unit's `systemd-analyze security` exposure.
set -euo pipefail
BIN=$(readlink -f "${1:?usage: run.sh path/to/binfmtd}")
cd "$(dirname "$0")/../.."
ROOT=$PWD
R=${BINFMTD_ROOTFS:-$ROOT/target/system/rootfs}
UNIT=$ROOT/systemd/binfmtd.service
BUSYBOX=$(awk -F'\t' '$1=="aarch64" && $2=="busybox" {print $3; exit}' target/fixtures/manifest.tsv)
[ -n "$BUSYBOX" ] || { echo "system-test: no arm64 busybox fixture; run tests/setup.sh" >&2; exit 1; }

fail() { echo "system-test: FAIL: $*" >&2; exit 1; }
pass() { echo "system-test: ok: $*"; }

bash tests/system/rootfs.sh "$R"

# Install binfmtd, its unit, Debian's static QEMU and a foreign binary into the rootfs; reset state.
install -D -m 0755 "$BIN" "$R/usr/bin/binfmtd"
install -D -m 0644 "$UNIT" "$R/etc/systemd/system/binfmtd.service"
install -D -m 0644 systemd/binfmt_misc-mount.conf \
  "$R/etc/systemd/system/proc-sys-fs-binfmt_misc.mount.d/binfmtd.conf"
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/binfmtd.service "$R/etc/systemd/system/multi-user.target.wants/binfmtd.service"
for t in aarch64 riscv64; do install -m 0755 "/usr/bin/qemu-$t-static" "$R/usr/bin/"; done
install -D -m 0755 "target/fixtures/$BUSYBOX" "$R/opt/arm64/busybox"
rm -rf "$R/var/lib/binfmtd" "$R/etc/binfmtd"
mkdir -p "$R/etc/binfmtd"
# Where the host runs i386 natively, ask for it too: the service must probe that natively despite
# its sandbox (else it would look for an emulator, find none and fail to start).
targets='"aarch64", "riscv64"'
"$BIN" probe-native i386 && targets="$targets, \"i386\""
printf 'targets = [%s]\n' "$targets" > "$R/etc/binfmtd/binfmtd.toml"

# Boot from a fresh cgroup (a stale payload cgroup makes a userns container's systemd die).
NAME=binfmtd-st-$$
LOG=$ROOT/target/system/$NAME.log
CGS=()
cleanup() {
  if [ -n "${NSPAWN:-}" ] && kill -0 "$NSPAWN" 2>/dev/null; then
    kill -TERM "$NSPAWN" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
    # Killing the container's init ends its whole PID namespace; nspawn alone would orphan it.
    [ -n "${PID1:-}" ] && kill -KILL "$PID1" 2>/dev/null || true
    kill -KILL "$NSPAWN" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
  fi
  for cg in "${CGS[@]}"; do
    find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}
trap cleanup EXIT
for h in unified systemd; do
  [ -d /sys/fs/cgroup/$h ] && CGS+=("/sys/fs/cgroup/$h/$NAME")
done
(
  for cg in "${CGS[@]}"; do mkdir -p "$cg"; echo $BASHPID > "$cg/cgroup.procs"; done
  exec systemd-nspawn -q -D "$R" -b -M "$NAME" --register=no --keep-unit --console=pipe \
    --private-users=pick --private-users-ownership=auto --private-network
) </dev/null >"$LOG" 2>&1 &
NSPAWN=$!
# The container's init: a child of nspawn in another PID namespace running systemd (nspawn forks
# short-lived helpers first; entering one of those would fail for good).
PID1=
SELF_NS=$(readlink /proc/self/ns/pid)
for _ in $(seq 1 300); do
  for p in $(ps -o pid= --ppid "$NSPAWN" 2>/dev/null); do
    if [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" != "$SELF_NS" ] &&
       [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then PID1=$p; break; fi
  done
  [ -n "$PID1" ] && break
  sleep 0.05
done
[ -n "$PID1" ] || { cat "$LOG" >&2; fail "the container did not start"; }
ct() { nsenter -t "$PID1" -a "$@"; }
for _ in $(seq 1 300); do
  state=$(ct systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) break ;; esac
  sleep 0.1
done
[ "$state" = running ] || { ct systemctl --failed --no-pager >&2 || true; cat "$LOG" >&2; fail "system state: $state"; }
pass "container booted ($state)"

show() { ct systemctl show -p "$1" --value binfmtd; }
entries() { ct sh -c 'cd /proc/sys/fs/binfmt_misc && ls | grep -v -e register -e status | sort | tr "\n" " "'; }
journal() { ct journalctl -b -u binfmtd --no-pager -o cat; }
expect_entries() { # $1: context
  local e
  e=$(entries)
  [ "$e" = "qemu-aarch64 qemu-riscv64 " ] || { journal >&2; fail "$1: entries are '$e'"; }
}
wait_entries() {
  for _ in $(seq 1 50); do [ "$(entries)" = "qemu-aarch64 qemu-riscv64 " ] && return 0; sleep 0.02; done
  expect_entries "$1"
}

# 1. Started at boot through READY=1, with the status line.
[ "$(show ActiveState)/$(show SubState)" = active/running ] || { journal >&2; fail "binfmtd is $(show ActiveState)/$(show SubState)"; }
status=$(show StatusText)
[ "$status" = "2 emulators registered: aarch64, riscv64" ] || fail "StatusText is '$status'"
pass "active (running), StatusText=$status"

# 2. Registered in the instance the rest of the system sees, and usable there: PID 1 mounted it
#    (proc-sys-fs-binfmt_misc.mount with binfmtd's drop-in). binfmtd's namespace has a fresh /proc
#    (ProtectProc=), so binfmtd mounts binfmt_misc there too: the same instance (one per user
#    namespace), which PID 1's mount keeps alive when the service stops.
[ "$(ct systemctl show -p ActiveState --value proc-sys-fs-binfmt_misc.mount)" = active ] ||
  fail "proc-sys-fs-binfmt_misc.mount is not active: $(ct systemctl status --no-pager proc-sys-fs-binfmt_misc.mount 2>&1 | tail -3)"
expect_entries "after boot"
ct grep -qx "interpreter /var/lib/binfmtd/interpreters/qemu-aarch64" /proc/sys/fs/binfmt_misc/qemu-aarch64 \
  || fail "qemu-aarch64 does not run the managed interpreter"
ct grep -qx "flags: PF" /proc/sys/fs/binfmt_misc/qemu-aarch64 || fail "qemu-aarch64 flags are not PF"
[ "$(ct /opt/arm64/busybox uname -m)" = aarch64 ] || fail "the arm64 busybox did not run through QEMU"
pass "entries registered; arm64 busybox runs"

# 3. What `systemctl restart systemd-binfmt` does to the table (flush everything) is healed.
ct sh -c 'echo -1 > /proc/sys/fs/binfmt_misc/status'
wait_entries "after a flush"
[ "$(ct /opt/arm64/busybox uname -m)" = aarch64 ] || fail "busybox after the flush"
pass "flush healed"

# 3b. A distribution upgrade of an interpreter (new build renamed into place) is picked up: the
#     new build is linked (or copied, on another filesystem), pinned by a fresh registration and
#     recorded: by its inode (a link) or its SHA-256 (a copy).
ct sh -c 'cp /usr/bin/qemu-aarch64-static /usr/bin/.qemu-new && printf upgrade >> /usr/bin/.qemu-new &&
          mv /usr/bin/.qemu-new /usr/bin/qemu-aarch64-static'
new=$(ct sha256sum /usr/bin/qemu-aarch64-static | cut -d' ' -f1)
ino=$(ct stat -c %i /usr/bin/qemu-aarch64-static)
REG=/var/lib/binfmtd/interpreters/registrations.json
recorded() { ct sh -c "grep -q '$new' $REG || grep -qE '\"ino\": $ino(,|\$)' $REG" 2>/dev/null; }
for _ in $(seq 1 150); do recorded && break; sleep 0.02; done
recorded || { journal >&2; fail "the upgraded interpreter was not registered"; }
[ "$(ct /opt/arm64/busybox uname -m)" = aarch64 ] || fail "busybox after the upgrade"
pass "interpreter upgrade picked up"

# 4. Reload: RELOADING then READY again, same process, still registered.
pid=$(show MainPID)
ct systemctl reload binfmtd || fail "systemctl reload"
[ "$(show ActiveState)" = active ] && [ "$(show MainPID)" = "$pid" ] || fail "reload changed the service"
# Type=notify (systemd 252 has no notify-reload): `reload` returns once the signal is sent.
for _ in $(seq 1 100); do journal | grep -q "reloading the configuration" && break; sleep 0.02; done
journal | grep -q "reloading the configuration" || fail "no reload in the journal"
expect_entries "after reload"
pass "reload"

# 5. Restart: a new process, entries kept throughout (never flushed by binfmtd).
ct systemctl restart binfmtd || fail "systemctl restart"
[ "$(show ActiveState)/$(show SubState)" = active/running ] || fail "after restart: $(show ActiveState)"
[ "$(show MainPID)" != "$pid" ] || fail "restart kept the old process"
expect_entries "after restart"
pass "restart"

# 5b. A crash is restarted (Restart=on-failure), and the entries never went away meanwhile.
pid=$(show MainPID)
ct systemctl kill -s KILL binfmtd
expect_entries "right after a crash"
for _ in $(seq 1 100); do
  [ "$(show ActiveState)" = active ] && [ "$(show MainPID)" != "$pid" ] && [ "$(show MainPID)" != 0 ] && break
  sleep 0.1
done
[ "$(show ActiveState)/$(show SubState)" = active/running ] || fail "not restarted after a crash"
expect_entries "after the crash restart"
pass "restarted after a crash"

# 6. Stop: STOPPING, exit 0, entries stay registered and usable: they outlive the service and its
#    private mount namespace.
ct systemctl stop binfmtd
[ "$(show ActiveState)" = inactive ] || fail "after stop: $(show ActiveState) ($(show Result))"
[ "$(show Result)" = success ] || fail "stop result: $(show Result)"
expect_entries "after stop"
[ "$(ct /opt/arm64/busybox uname -m)" = aarch64 ] || fail "busybox after stop"
pass "stop leaves the entries registered and working"

# 7. The unit file is clean for systemd itself.
out=$(ct systemd-analyze verify --man=no /etc/systemd/system/binfmtd.service 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
pass "systemd-analyze verify is clean"

ct systemctl start binfmtd
echo "system-test: journal of binfmtd:"
journal | sed 's/^/  /'
exposure=$(systemd-analyze security --offline=true "$UNIT" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]* [A-Z]*\).*/\1/p')
echo "system-test: systemd-analyze security exposure of binfmtd.service: $exposure"
echo "system-test: all passed"

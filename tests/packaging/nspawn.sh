# nspawn.sh — sourced by deb.sh and ansible.sh: boot a throwaway copy of the systemd test's rootfs.
#
# boot NAME [NSPAWN ARGS...] copies target/system/rootfs (tests/system/rootfs.sh, debootstrapped
# once; ~1 s to copy) to target/system/NAME.rootfs, removes what the systemd test installs into
# it by hand, boots it under systemd-nspawn from a fresh cgroup with its own user namespace
# (--private-users=pick: a private binfmt_misc, never the host's), waits for `running`, and
# sets PID1. ct CMD... runs CMD in the container. The EXIT trap stops it and removes the copy.
# Recipe and the reasons for each flag: /work/shared/notes/environment.md §5.
ROOT=${ROOT:-$PWD}
BASE=${BINFMTD_ROOTFS:-$ROOT/target/system/rootfs}
CGS=()
NSPAWN= PID1= R=
ct() { nsenter -t "$PID1" -a "$@"; }
nspawn_cleanup() {
  if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
    kill -TERM "$NSPAWN" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
    [ -n "$PID1" ] && kill -KILL "$PID1" 2>/dev/null || true
    kill -KILL "$NSPAWN" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
  fi
  for cg in "${CGS[@]}"; do find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  [ -n "$R" ] && rm -rf "$R"
}
boot() {
  local name=$1; shift
  bash "$ROOT/tests/system/rootfs.sh" "$BASE"
  mkdir -p "$ROOT/target/system"
  R=$ROOT/target/system/$name.rootfs
  LOG=$ROOT/target/system/$name.log
  trap nspawn_cleanup EXIT
  rm -rf "$R"; cp -a "$BASE" "$R"
  # The systemd test installs binfmtd into the shared rootfs by hand: start from a clean system.
  rm -rf "$R/etc/binfmtd" "$R/var/lib/binfmtd" "$R/usr/bin/binfmtd" "$R/opt/arm64" \
    "$R/etc/systemd/system/binfmtd.service" "$R/etc/systemd/system/"*.wants/binfmtd.service \
    "$R/etc/systemd/system/proc-sys-fs-binfmt_misc.mount.d"
  rm -f "$R"/usr/bin/qemu-*-static
  for h in unified systemd; do [ -d /sys/fs/cgroup/$h ] && CGS+=("/sys/fs/cgroup/$h/$name"); done
  (
    for cg in "${CGS[@]}"; do mkdir -p "$cg"; echo $BASHPID > "$cg/cgroup.procs"; done
    exec systemd-nspawn -q -D "$R" -b -M "$name" --register=no --keep-unit --console=pipe \
      --private-users=pick --private-users-ownership=auto --private-network "$@"
  ) </dev/null >"$LOG" 2>&1 &
  NSPAWN=$!
  # The container's init: a child of nspawn in another PID namespace running systemd (nspawn
  # forks short-lived helpers first; entering one of those would fail for good).
  local self_ns p
  self_ns=$(readlink /proc/self/ns/pid)
  for _ in $(seq 1 300); do
    PID1=
    for p in $(ps -o pid= --ppid "$NSPAWN" 2>/dev/null); do
      if [ "$(readlink /proc/$p/ns/pid 2>/dev/null)" != "$self_ns" ] &&
         [ "$(cat /proc/$p/comm 2>/dev/null)" = systemd ]; then PID1=$p; break; fi
    done
    [ -n "$PID1" ] && break; sleep 0.05
  done
  [ -n "$PID1" ] || { cat "$LOG" >&2; echo "nspawn: the container did not start" >&2; return 1; }
  local state=
  for _ in $(seq 1 300); do
    state=$(ct systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac; sleep 0.1
  done
  [ "$state" = running ] || { cat "$LOG" >&2; echo "nspawn: system state: $state" >&2; return 1; }
}
# put_file SRC DEST MODE: copy a host file into the container.
put_file() { ct sh -c "mkdir -p \"\$(dirname '$2')\" && cat > '$2' && chmod $3 '$2'" < "$1"; }

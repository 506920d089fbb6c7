#!/usr/bin/env bash
# action.sh STATE IMAGE — docker/setup-qemu-action's command sequence against the pulled image.
#
# The action runs, in order: `docker pull IMAGE`, `docker image inspect IMAGE`,
# `docker run --rm --privileged IMAGE --version`, `… --uninstall qemu-*` (input reset: true),
# `… --install PLATFORMS`, then `… IMAGE` with no arguments, whose stdout (trimmed) is parsed as
# JSON for `supported` (its `platforms` output). A step fails only when the exit status is not 0
# AND stderr is not empty; the error it shows is stderr's last line
# (/work/shared/notes/real-hosts.md §6). Each step is judged that way, and must also exit 0.
#
# Job 1 (reset: true, platforms arm64) on a runner where a previous job left binfmtd's arm64 and
# ppc64le entries. Then "another tool" (an F entry whose interpreter lives outside binfmtd's
# directories) registers qemu-riscv64, and job 2 (platforms arm64,riscv64, reset: false) must
# register arm64, report riscv64 (it executes through the other tool's entry, which stays
# untouched), exit 0, and list both in `supported`. A foreign container runs afterwards.
# Expects the sandbox host's binfmt_misc mounted and empty.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:?usage: action.sh STATE IMAGE}; IMAGE=${2:?usage: action.sh STATE IMAGE}
OUT=$D/out/action; mkdir -p "$OUT"
source tests/image/lib.sh
ARM64=$(fixture_busybox aarch64); RISCV64=$(fixture_busybox riscv64)

# step CMD...: one of the action's exec calls, judged as the action judges it.
step() {
  set +e; "$@" >"$OUT/last.out" 2>"$OUT/last.err"; local rc=$?; set -e
  if [ "$rc" -ne 0 ] && [ -s "$OUT/last.err" ]; then
    fail "setup-qemu-action fails at \`$*\` (exit $rc), showing: $(tail -n1 "$OUT/last.err")"
  fi
  [ "$rc" -eq 0 ] || fail "\`$*\` exited $rc with nothing on stderr"
}
# job PLATFORMS RESET: the whole sequence; leaves the outputs in $OUT/{version,install,status}.*.
job() {
  step dk pull "$IMAGE"
  step dk image inspect "$IMAGE"
  cp "$OUT/last.out" "$OUT/inspect.json"
  step dk run --rm --privileged "$IMAGE" --version
  cat "$OUT/last.out" "$OUT/last.err" >"$OUT/version.txt"
  if [ "$2" = true ]; then step dk run --rm --privileged "$IMAGE" --uninstall 'qemu-*'; fi
  step dk run --rm --privileged "$IMAGE" --install "$1"
  cp "$OUT/last.err" "$OUT/install.err"
  step dk run --rm --privileged "$IMAGE"
  python3 -c "import json,sys; json.loads(sys.stdin.read().strip())['supported']" <"$OUT/last.out" ||
    fail "the no-argument run's stdout is not JSON with \`supported\` (the action parses it)"
}
label() { python3 -c "import json,sys; print(json.load(open('$OUT/inspect.json'))[0]['Config']['Labels']['$1'])"; }

# The previous job's leftovers.
expect 0 run --privileged "$IMAGE" --install arm64,ppc64le
host_entries | grep -qx qemu-ppc64le || fail "setup: qemu-ppc64le was not registered"

job arm64 true
host_entries | grep -qx qemu-ppc64le && fail "--uninstall 'qemu-*' left qemu-ppc64le"
has linux/arm64 || fail "job 1: linux/arm64 not in supported: $(supported)"
has linux/ppc64le && fail "job 1: linux/ppc64le in supported after the reset"
has linux/amd64 || fail "job 1: the native linux/amd64 is not in supported"
BV=$(label org.opencontainers.image.version); QV=$(label io.binfmtd.qemu.version)
grep -qF "$BV" "$OUT/version.txt" || fail "--version does not print binfmtd's version $BV: $(cat "$OUT/version.txt")"
grep -qF "$QV" "$OUT/version.txt" || fail "--version does not print QEMU's version $QV: $(cat "$OUT/version.txt")"
pass "setup-qemu-action job 1 (reset, arm64): every step passes; --version names binfmtd $BV and QEMU $QV"

# Another tool's qemu-riscv64: F, interpreter outside binfmtd's directories.
OTHER=$D/other-tool; mkdir -p "$OTHER"; cp "$CONTEXT/qemu/qemu-riscv64" "$OTHER/qemu-riscv64"
printf '%s' ":qemu-riscv64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:$OTHER/qemu-riscv64:F" >"$D/other-riscv64.reg"
host sh -c "cat $D/other-riscv64.reg > $BM/register"
[ "$(host "$RISCV64" uname -m)" = riscv64 ] || fail "setup: the other tool's qemu-riscv64 does not work"

job arm64,riscv64 false
[ "$(entry_field qemu-riscv64 interpreter)" = "$OTHER/qemu-riscv64" ] ||
  fail "the other tool's qemu-riscv64 was changed: interpreter $(entry_field qemu-riscv64 interpreter)"
host_entries | grep -qx qemu-aarch64 || fail "job 2: qemu-aarch64 not registered"
grep -q riscv64 "$OUT/install.err" || fail "job 2: --install says nothing about riscv64"
has linux/arm64 && has linux/riscv64 || fail "job 2: supported lacks arm64 or riscv64: $(supported)"
[ "$(host "$ARM64" uname -m)" = aarch64 ] || fail "job 2: an arm64 binary does not run on the host"
pass "setup-qemu-action job 2 (arm64,riscv64 with another tool's qemu-riscv64): arm64 registered, riscv64 reported and left alone, exit 0"

R=$D/arm64-rootfs; rm -rf "$R"; mkdir -p "$R/bin"; cp "$ARM64" "$R/bin/busybox"
tar -C "$R" -c . | dk import - local/arm64-busybox >/dev/null
expect 0 run local/arm64-busybox /bin/busybox uname -m
[ "$(cat "$OUT/last.out")" = aarch64 ] || fail "the arm64 container printed $(cat "$OUT/last.out")"
pass "a foreign (arm64) container runs after the action"

#!/usr/bin/env bash
# compat.sh STATE IMAGE — tonistiigi/binfmt behaviours beyond setup-qemu-action's sequence.
#
# Runs after action.sh (binfmtd's qemu-aarch64 and another tool's qemu-riscv64 registered):
# - `supported` comes from executing: it lists the x86-64 levels this CPU has (the oracle is
#   /proc/cpuinfo), linux/386 exactly when an i386 binary runs natively, linux/arm/v7 and v6 once
#   arm is emulated; a disabled entry's platform and a target whose entry cannot execute
#   (an interpreter for the wrong architecture) are absent;
# - `--install` of a target that does not execute and cannot be registered exits non-zero with an
#   `error:` last line naming it (what setup-qemu-action shows);
# - an unknown platform is logged, the rest installed, the JSON printed, exit 0 (as tonistiigi);
# - QEMU_BINARY_PATH, QEMU_BINARY_PREFIX and QEMU_PRESERVE_ARGV0 shape the entry as tonistiigi's
#   `:<prefix>qemu-X:M:0:…:<path>/<prefix>qemu-X:…P…`;
# - the `-setuid` variant registers POCF.
# Leaves no qemu-* entry behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:?usage: compat.sh STATE IMAGE}; IMAGE=${2:?usage: compat.sh STATE IMAGE}
OUT=$D/out/compat; mkdir -p "$OUT"
source tests/image/lib.sh
ARM64=$(fixture_busybox aarch64); I386=$(fixture_busybox i386)
OTHER=$D/other-tool
status() { expect 0 run --privileged "$IMAGE"; }

# x86-64 micro-architecture levels (psABI) from the CPU flags; i386 by running it.
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
level() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
v2="cx16 lahf_lm popcnt pni sse4_1 sse4_2 ssse3"
v3="$v2 avx avx2 bmi1 bmi2 f16c fma abm movbe xsave"
v4="$v3 avx512f avx512bw avx512cd avx512dq avx512vl"
status
for n in 2 3 4; do
  list=v$n
  if level ${!list}; then has "linux/amd64/v$n" || fail "the CPU has x86-64-v$n, supported lacks linux/amd64/v$n: $(supported)"
  else has "linux/amd64/v$n" && fail "the CPU lacks x86-64-v$n, supported lists linux/amd64/v$n"; fi
done
if host "$I386" true 2>/dev/null; then has linux/386 || fail "i386 runs natively, supported lacks linux/386"
else has linux/386 && fail "i386 does not run, supported lists linux/386"; fi
expect 0 run --privileged "$IMAGE" --install arm
status
has linux/arm/v7 && has linux/arm/v6 || fail "arm is emulated, supported lacks linux/arm/v7 or v6: $(supported)"
expect 0 run --privileged "$IMAGE" --uninstall qemu-arm
pass "supported: the CPU's x86-64 levels, linux/386 as the kernel allows, linux/arm/v7 and v6"

host sh -c "echo 0 > $BM/qemu-aarch64"
status
has linux/arm64 && fail "qemu-aarch64 is disabled, yet supported lists linux/arm64"
host sh -c "echo 1 > $BM/qemu-aarch64"
status
has linux/arm64 || fail "qemu-aarch64 re-enabled, supported lacks linux/arm64"
pass "supported follows execution: a disabled entry's platform is absent"

# The other tool's qemu-riscv64, broken: its interpreter is QEMU for another architecture.
cp "$CONTEXT/qemu/qemu-aarch64" "$OTHER/qemu-not-riscv64"
host sh -c "echo -1 > $BM/qemu-riscv64"
sed "s|$OTHER/qemu-riscv64|$OTHER/qemu-not-riscv64|" "$D/other-riscv64.reg" >"$D/broken-riscv64.reg"
host sh -c "cat $D/broken-riscv64.reg > $BM/register"
status
has linux/riscv64 && fail "qemu-riscv64 cannot execute anything, yet supported lists linux/riscv64"
expect nonzero run --privileged "$IMAGE" --install riscv64
last=$(tail -n1 "$OUT/last.err")
[[ $last == error:* && $last == *riscv64* ]] ||
  fail "a requested target that does not execute: the last stderr line is \`$last\`, not an error naming riscv64"
host sh -c "echo -1 > $BM/qemu-riscv64"
pass "a target that does not execute fails the install, with \`$last\`"

expect 0 run --privileged "$IMAGE" --install arm64,linux/bogus9
grep -q bogus9 "$OUT/last.err" || fail "the unknown platform is not reported"
json "'linux/arm64' in d['supported']"
pass "an unknown platform is logged, the rest installed, the JSON printed"

# tonistiigi's environment: the interpreter from QEMU_BINARY_PATH, named with QEMU_BINARY_PREFIX.
expect 0 run --privileged "$IMAGE" --uninstall qemu-aarch64
Q=$D/env-qemu; mkdir -p "$Q"; cp "$CONTEXT/qemu/qemu-aarch64" "$Q/other-qemu-aarch64"
expect 0 run --privileged -v "$Q:/opt/qemu:ro" -e QEMU_BINARY_PATH=/opt/qemu \
  -e QEMU_BINARY_PREFIX=other- -e QEMU_PRESERVE_ARGV0=1 "$IMAGE" --install arm64
host_entries | grep -qx other-qemu-aarch64 || fail "QEMU_BINARY_PREFIX: no other-qemu-aarch64 entry: $(host_entries | xargs)"
[ "$(entry_field other-qemu-aarch64 interpreter)" = /opt/qemu/other-qemu-aarch64 ] ||
  fail "QEMU_BINARY_PATH: interpreter $(entry_field other-qemu-aarch64 interpreter)"
[[ $(entry_field other-qemu-aarch64 flags) == *P*F* ]] ||
  fail "QEMU_PRESERVE_ARGV0: flags $(entry_field other-qemu-aarch64 flags)"
[ "$(host "$ARM64" uname -m)" = aarch64 ] || fail "an arm64 binary does not run through other-qemu-aarch64"
expect 0 run --privileged "$IMAGE" --uninstall other-qemu-aarch64
host_entries | grep -qx other-qemu-aarch64 && fail "--uninstall other-qemu-aarch64 left it"
pass "QEMU_BINARY_PATH, QEMU_BINARY_PREFIX, QEMU_PRESERVE_ARGV0 honoured"

SETUID=${IMAGE%:*}:latest-setuid
expect 0 dk pull "$SETUID"
expect 0 run --privileged "$SETUID" --install arm64
[ "$(entry_field qemu-aarch64 flags)" = POCF ] || fail "the -setuid image registered $(entry_field qemu-aarch64 flags)"
[ "$(host "$ARM64" uname -m)" = aarch64 ] || fail "an arm64 binary does not run through the POCF entry"
expect 0 run --privileged "$SETUID" --uninstall 'qemu-*'
pass "the -setuid variant registers POCF"
[ -z "$(host_entries | grep '^qemu-' || true)" ] || fail "entries left: $(host_entries | xargs)"

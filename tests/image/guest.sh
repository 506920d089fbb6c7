#!/bin/sh
# guest.sh — the container image's arm64 half on an arm64 machine: the scenario of the guest that
# `cargo xtask image-test` boots (xtask/src/vm/image.rs; the VM bench's trixie arm64 kernel on an
# a64fx CPU, which has no AArch32, so 32-bit arm is foreign as well).
#
# The guest's files are the arm64 image's file system as read back from the OCI layout (binfmtd,
# /usr/libexec/binfmtd/qemu-*, /etc/binfmtd/binfmtd.toml) plus busybox, binfmt_misc.ko and
# foreign busyboxes: every binfmtd and QEMU here is the image's. The steps are what the image
# runs as a container, run on the machine itself: setup-qemu-action's sequence (`--version`,
# `--uninstall 'qemu-*'`, `--install all`, the no-argument JSON), `check`, foreign binaries
# through the entries, `--uninstall 'qemu-*'` again.
# One assertion per line (tests/vm/lib.sh). Expectations come from the guest's files and the
# kernel command line (vmtest.native=, vmtest.binfmtd_version=, vmtest.qemu_version=), never
# from binfmtd's own answers.
. /vm/lib.sh
LIBEXEC=/usr/libexec/binfmtd
cmdline() { tr ' ' '\n' </proc/cmdline | sed -n "s/^vmtest\.$1=//p"; }
BV=$(cmdline binfmtd_version); QV=$(cmdline qemu_version)
info "kernel $(uname -r) $(uname -m); native: $NATIVE; the image's binfmtd $BV and QEMU $QV"

# The entries `--install all` must create: one per interpreter the image ships, plus the rows
# that share one (i386's serves i486; microblaze's and microblazeel's also serve the old
# e_machine 0xbaab, rows microblaze-em189 and microblazeel-em189), none for what this CPU runs.
image_entries() {
  for f in "$LIBEXEC"/qemu-*; do
    t=${f##*/qemu-}; echo "$t"
    case $t in i386) echo i486 ;; microblaze|microblazeel) echo "$t-em189" ;; esac
  done | sort -u | while read -r t; do native "$t" || echo "qemu-$t"; done | tr '\n' ' ' | sed 's/ $//'
}
# interpreter_of ENTRY: the image's interpreter that ENTRY must run.
interpreter_of() {
  t=${1#qemu-}; t=${t%-em189}; [ "$t" = i486 ] && t=i386
  echo "$LIBEXEC/qemu-$t"
}
# supported FILE: the JSON's `supported` list, one platform per line.
supported() { tr -d ' \n' <"$1" | grep -o '"supported":\[[^]]*\]' | grep -o '"[^"]*/[^"]*"' | tr -d '"'; }
# run_ok WHAT CMD...: CMD exits 0 (stdout in $OUT.out, stderr in $OUT.err).
run_ok() {
  what=$1; shift
  "$@" >"$OUT.out" 2>"$OUT.err"; rc=$?
  expect "$what" 0 "$rc"
  [ "$rc" = 0 ] || info "$*: $(tail_of "$OUT.err" 4)"
}

check "binfmt_misc.ko of $(uname -r) loads" insmod "/lib/modules/$(uname -r)/binfmt_misc.ko"
check "binfmt_misc mounts at $BM (as a systemd host's automount does)" mount -t binfmt_misc binfmt_misc "$BM"
expect "no QEMU in the guest but the image's" "" "$(ls /usr/bin/qemu-* /usr/local/bin/qemu-* 2>/dev/null)"
expect "the image ships no QEMU for its own architecture" "" "$(ls "$LIBEXEC/qemu-aarch64" 2>/dev/null)"

# setup-qemu-action's sequence.
run_ok "--version exits 0" binfmtd --version
check "--version names binfmtd $BV" grep -qF "binfmtd $BV" "$OUT.out"
check "--version names the image's QEMU $QV" grep -qF "$QV" "$OUT.out"
run_ok "--uninstall 'qemu-*' exits 0 with nothing registered" binfmtd --uninstall 'qemu-*'
run_ok "--install all exits 0" binfmtd --install all
cp "$OUT.err" /tmp/install.err
expect "--install all registers one entry per interpreter of the image, none for $NATIVE" \
  "$(image_entries)" "$(qemu_entries)"
wrong=
for e in $(qemu_entries); do
  grep -qx "interpreter $(interpreter_of "$e")" "$BM/$e" || wrong="$wrong $e:$(sed -n 's/^interpreter //p' "$BM/$e")"
done
expect "every entry runs the image's interpreter from $LIBEXEC" "" "$wrong"
wrong=
for e in $(qemu_entries); do
  f=$(sed -n 's/^flags: //p' "$BM/$e"); [ "$f" = PF ] || wrong="$wrong $e=$f"
done
expect "every entry has the image's flags PF" "" "$wrong"
check "--install all says 'installing: qemu-x86_64 OK'" grep -q 'installing: qemu-x86_64 OK' /tmp/install.err
run_ok "no arguments: the status JSON, exit 0" binfmtd
cp "$OUT.out" /tmp/status.json
listed() { supported /tmp/status.json | grep -qx "$1"; }
for p in linux/amd64 linux/386 linux/arm/v7 linux/arm/v6 linux/arm64 linux/riscv64; do
  check "supported lists $p" listed "$p"
done
info "supported: $(supported /tmp/status.json | tr '\n' ' ')"

# Every target executes, proven by binfmtd's probes and by real foreign binaries.
check "check: every registered target executes" binfmtd check
while IFS="$(printf '\t')" read -r target kind path unames package; do
  if out=$(fixture_runs "$path" "$kind" "$unames" 2>&1); then
    pass "$target $package runs through qemu-$target from the image"
  else
    fail "$target $package runs through qemu-$target from the image: $out"
  fi
done </vm/fixtures.tsv
amd64=$(awk -F'\t' '$1 == "x86_64" {print $3; exit}' /vm/fixtures.tsv)
echo 0 >"$BM/qemu-x86_64"
refuse "with qemu-x86_64 disabled the amd64 busybox cannot run (nothing else serves it)" "$amd64" uname -m
echo 1 >"$BM/qemu-x86_64"

# The reset setup-qemu-action does first (`reset: true`), now with entries to remove.
run_ok "--uninstall 'qemu-*' exits 0" binfmtd --uninstall 'qemu-*'
expect "--uninstall 'qemu-*' leaves no qemu-* entry" "" "$(qemu_entries)"
refuse "after the uninstall the amd64 busybox no longer runs" "$amd64" uname -m

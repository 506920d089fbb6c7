# 70-userns.sh — per-user-namespace binfmt_misc (Linux >= 6.7) seen from the host side: a child
# namespace without its own instance uses the host's entries; its own instance starts empty and
# never reaches the host; `binfmtd exec` needs it, and says so as root on an older kernel.

check "a child user namespace without its own binfmt_misc runs a foreign busybox via the host's entries" \
  unshare -U -r "$FOREIGN" true

mkdir -p /tmp/bm
if kernel_at_least 6 7; then
  check "a child user namespace mounts its own, empty binfmt_misc" \
    unshare -U -r -m sh -c "mount -t binfmt_misc none /tmp/bm && [ \"\$(ls /tmp/bm | tr '\n' ' ')\" = 'register status ' ]"
  unshare -U -r -m sh -c "mount -t binfmt_misc none /tmp/bm && echo ':childonly:E::childonly::/bin/busybox:' > /tmp/bm/register" >/dev/null 2>&1
  refuse "an entry registered in the child's instance does not reach the host's" test -e "$BM/childonly"
  check "exec runs a foreign busybox in a private instance" binfmtd exec -- "$FOREIGN" true
else
  refuse "a child user namespace cannot mount binfmt_misc (Linux < 6.7)" \
    unshare -U -r -m mount -t binfmt_misc none /tmp/bm
  binfmtd exec -- "$FOREIGN" true >/tmp/exec.out 2>&1
  expect "exec fails with its own status 125 before Linux 6.7" 125 "$?"
  check "exec's message names Linux 6.7" grep -q '6\.7' /tmp/exec.out
  check "exec's message tells root to use binfmtd install" grep -q 'binfmtd install' /tmp/exec.out
fi
expect "the host's entries are unchanged" "$(expected_entries)" "$(qemu_entries)"

# 80-limit.sh — Linux 7.3's /proc/sys/user/max_binfmt_misc_interpreters caps the pre-opened (F)
# interpreters: set low, `install all` must fail with one line naming the limit and the sysctl,
# and leave nothing half-registered. Older kernels have no such limit.

limit=/proc/sys/user/max_binfmt_misc_interpreters
if [ -e "$limit" ]; then
  check "uninstall clears binfmtd's entries first" binfmtd uninstall
  old=$(cat "$limit")
  echo 2 >"$limit"
  binfmtd install all >/tmp/limit.out 2>&1
  expect "install all exits 1 with max_binfmt_misc_interpreters = 2" 1 "$?"
  info "install all with the limit at 2 printed: $(grep '^error' /tmp/limit.out | head -n 2 | tr '\n' ' ' | cut -c1-500)"
  expect "exactly one error line" 1 "$(grep -c '^error' /tmp/limit.out)"
  check "the error names the sysctl and the limit 2" \
    grep -q '^error.*max_binfmt_misc_interpreters.*2\|^error.*2.*max_binfmt_misc_interpreters' /tmp/limit.out
  expect "nothing was half-registered" "" "$(qemu_entries)"
  echo "$old" >"$limit"
  check "with the limit restored install all succeeds" binfmtd install all
else
  expect "Linux $(uname -r) has no max_binfmt_misc_interpreters (7.3 added it)" null \
    "$(json_value max_interpreters "$(json_object kernel /tmp/status.json)")"
fi

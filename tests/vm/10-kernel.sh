# 10-kernel.sh — binfmt_misc loads from the kernel's own module; `binfmtd status` reports what
# this kernel supports (flags, P via AT_FLAGS, per-user-namespace instances, the F limit).

check "binfmt_misc.ko of $(uname -r) loads" insmod "/lib/modules/$(uname -r)/binfmt_misc.ko"
check "binfmt_misc mounts at $BM (the global instance)" mount -t binfmt_misc binfmt_misc "$BM"

binfmtd status --json >/tmp/status.json 2>/tmp/status.err
kernel=$(json_object kernel /tmp/status.json)
expect "status --json reports kernel.release" "$(uname -r)" "$(json_value release "$kernel")"

flags=POCF
kernel_at_least 7 3 && flags=POCFTDL
expect "status --json reports the flags this kernel accepts" "$flags" "$(json_value flags "$kernel")"

p=false; kernel_at_least 5 12 && p=true
expect "status --json: preserve_argv0 (AT_FLAGS, Linux >= 5.12)" "$p" "$(json_value preserve_argv0 "$kernel")"

u=false; kernel_at_least 6 7 && u=true
expect "status --json: userns_instances (Linux >= 6.7)" "$u" "$(json_value userns_instances "$kernel")"

limit=/proc/sys/user/max_binfmt_misc_interpreters
m=null; [ -e "$limit" ] && m=$(cat "$limit")
expect "status --json: max_interpreters (the sysctl, when present)" "$m" "$(json_value max_interpreters "$kernel")"

line=$(binfmtd status 2>/dev/null | grep '^kernel ' | head -n1)
case $(printf '%s' "$line" | tr -d ' ,') in
  *"$flags"*) pass "status prints a 'kernel' line with the flags $flags" ;;
  *) fail "status prints a 'kernel' line with the flags $flags: got '$line'" ;;
esac

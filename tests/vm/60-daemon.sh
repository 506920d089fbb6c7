# 60-daemon.sh — `binfmtd daemon` in the background keeps the entries: after `-1 > status`
# (a flush, as systemd-binfmt does) and after an unmount it puts them back.

binfmtd daemon >/tmp/daemon.log 2>&1 &
daemon=$!
if wait_for 60 grep -q -w ready /tmp/daemon.log; then
  pass "the daemon starts and reports ready"
else
  fail "the daemon starts and reports ready: $(tail_of /tmp/daemon.log)"
fi

echo -1 >"$BM/status"
if wait_for 30 entries_complete; then
  pass "the daemon restores every entry after -1 > status"
else
  fail "the daemon restores every entry after -1 > status: have '$(qemu_entries)'"
fi
refuse "the daemon does not restore the other tool's entry (not its own)" test -e "$BM/othertool"
register_othertool  # as the other tool would after a flush
check "a foreign busybox runs after the restore" "$FOREIGN" true

refuse "a plain unmount is refused while the daemon holds the instance" umount "$BM"
umount -l "$BM"
if wait_for 30 entries_complete; then
  pass "the daemon mounts binfmt_misc again and restores every entry after a lazy unmount"
else
  fail "the daemon restores after a lazy unmount: mounted=$(mounted && echo yes || echo no) have '$(qemu_entries)'"
fi
check "a foreign busybox runs after the unmount" "$FOREIGN" true
expect "the other tool's entry is there after the lazy unmount" enabled "$(head -n1 "$BM/othertool" 2>/dev/null)"

kill -TERM "$daemon"
wait "$daemon"
expect "the daemon exits 0 on SIGTERM" 0 "$?"
check "the entries stay registered after the daemon stops" entries_complete

# 40-again.sh — `binfmtd check` confirms every registered target works; a second `install`
# changes nothing.

check "check: every target works or is native" binfmtd check
binfmtd install --json all >/tmp/again.json 2>/tmp/again.err
expect "a second install exits 0" 0 "$?"
check "a second install changes nothing (\"changed\": false)" grep -q '"changed": *false' /tmp/again.json
expect "the entries are the same after the second install" "$(expected_entries)" "$(qemu_entries)"

# 90-uninstall.sh — `uninstall` removes binfmtd's entries and nothing else.

check "uninstall exits 0" binfmtd uninstall
expect "only the other tool's entry is left" othertool \
  "$(ls "$BM" | grep -v -x -e register -e status | tr '\n' ' ' | sed 's/ $//')"

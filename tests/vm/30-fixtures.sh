# 30-fixtures.sh — every test binary of this guest runs: foreign ones through their registered
# entry (busybox must print its own architecture's `uname -m`, which a native run would not),
# native ones with no entry for them at all.

while IFS="$(printf '\t')" read -r target kind path unames package; do
  if native "$target"; then
    if [ -e "$BM/qemu-$target" ]; then
      fail "$target $package: native here, yet qemu-$target is registered"
    elif out=$(fixture_runs "$path" "$kind" "" 2>&1); then
      pass "$target $package runs natively, no entry"
    else
      fail "$target $package runs natively: $out"
    fi
  elif ! grep -qx enabled "$BM/qemu-$target" 2>/dev/null; then
    fail "$target $package: no enabled qemu-$target entry"
  elif out=$(fixture_runs "$path" "$kind" "$unames" 2>&1); then
    pass "$target $package runs through qemu-$target"
  else
    fail "$target $package runs through qemu-$target: $out"
  fi
done </vm/fixtures.tsv

# Where arm is foreign (x86-64, or arm64 without AArch32) the arm busybox runs only through its
# entry: disabled, it cannot.
if ! native arm && [ -e "$BM/qemu-arm" ]; then
  arm=$(awk -F'\t' '$1 == "arm" && $2 == "busybox" {print $3; exit}' /vm/fixtures.tsv)
  echo 0 >"$BM/qemu-arm"
  refuse "with qemu-arm disabled the arm busybox cannot run (this CPU does not run arm itself)" \
    "$arm" uname -m
  echo 1 >"$BM/qemu-arm"
fi

# 20-install.sh — another tool registers first; then `install all` registers exactly one entry
# per non-native interpreter the guest has, with P only where the kernel passes it on (>= 5.12).

check "another tool's entry (othertool) registers" register_othertool

binfmtd install all >/tmp/install.out 2>&1
rc=$?
expect "install all exits 0" 0 "$rc"
[ "$rc" = 0 ] || info "install all: $(tail_of /tmp/install.out 6)"
expect "install all registers one entry per non-native interpreter, none for $NATIVE" \
  "$(expected_entries)" "$(qemu_entries)"
expect "the other tool's entry is untouched" enabled "$(head -n1 "$BM/othertool" 2>/dev/null)"

want=PF
kernel_at_least 5 12 || want=F
wrong=
for e in $(qemu_entries); do
  got=$(sed -n 's/^flags: //p' "$BM/$e")
  [ "$got" = "$want" ] || wrong="$wrong $e=$got"
done
expect "every entry has the flags $want as the kernel reads them back" "" "$wrong"

if kernel_at_least 5 12; then
  refuse "install all warns about nothing on P (Linux >= 5.12 passes it on)" grep -q -i 'warn.*5\.12' /tmp/install.out
else
  check "install all warns that P is dropped before Linux 5.12" grep -q -i 'warn.*5\.12' /tmp/install.out
fi
for e in $(qemu_entries | cut -d' ' -f1); do info "$e reads back: $(tr '\n' ' ' <"$BM/$e")"; done

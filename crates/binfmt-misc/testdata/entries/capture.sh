#!/bin/sh
# Re-captures the entry files in this directory from the running kernel, inside a private
# user + mount namespace (the host's binfmt_misc is never touched). Run from this directory:
#   unshare --user --map-root-user --mount sh capture.sh
# The files were captured on Linux 6.18.44. tests/kernel.rs checks that registering the same rules
# through binfmt_misc::BinfmtMisc reads back byte for byte as these files.
set -eu
out=$(pwd)
M=$(mktemp -d)
mount -t binfmt_misc binfmt_misc "$M"
reg() { printf '%s' "$1" > "$M/register"; }
reg ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:POCF'
reg ':qemu-riscv64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-riscv64-static:FOP'
reg ':nomask:M::ab::/bin/true:'
reg ':offset:M:100:\x00\xff\x3a\x5c:\x0f\xf0\xff\xff:/nonexistent/interp:C'
reg ':ext-jar:E::jar::/usr/bin/jexec:'
reg ':ext-ignored:E:77:py:zzz:/usr/bin/python3:P'
reg '#colon-in-magic#M#2#:\x3a##/tmp/path:with:colons#'
reg ':spaces:M::x::/tmp/a b c:O'
reg ':raw-high:M::'"$(printf '\376\377')"'::/bin/true:'
reg ':full:M:255:\x7f::/bin/true:'
printf 0 > "$M/nomask"
for f in "$M"/*; do
  n=$(basename "$f")
  case $n in register|status) ;; *) cp "$f" "$out/$n" ;; esac
done

# 50-unmount.sh — the global instance across an unmount: before Linux 6.7 the kernel keeps one
# table and entries survive; from 6.7 (and in 6.1 since 6.1.107, a stable backport) the last
# unmount frees the instance and its entries. Then `install` finds binfmt_misc unmounted,
# mounts it itself and restores everything.

before=$(qemu_entries)
check "binfmt_misc unmounts (no daemon holds it)" umount "$BM"
mount -t binfmt_misc binfmt_misc "$BM"
if unmount_frees; then
  expect "after an unmount the entries are gone (this kernel frees them on the last unmount)" \
    "" "$(qemu_entries)"
  register_othertool  # as the other tool would
else
  expect "after an unmount the entries survive (this kernel keeps one global table)" \
    "$before" "$(qemu_entries)"
fi
umount "$BM"
check "install mounts binfmt_misc when it is not mounted" binfmtd install all
check "binfmt_misc is mounted again at $BM" mounted
expect "install restored every entry" "$before" "$(qemu_entries)"

# phase4.sh — (8) issue 14's bug 9 on a real boot: the persisted unit starts with a 40 MB store
# and 300+ MB of persisted interpreters; it must serve every target from where they are.

step 8 "the boot with a persisted install and a 40 MB store"
check "the store is a 40 MB tmpfs" sh -c "findmnt -n -o FSTYPE,SIZE /var/lib/binfmtd | grep -q '^tmpfs *40M'"
check "binfmtd.service (the persisted unit) is active" systemctl is-active --quiet binfmtd.service
within "every target binfmtd knows is served from /usr/local/lib/binfmtd/qemu" 60000 all_persisted
check "an arm64 busybox runs in a chroot whose rootfs has no QEMU" arm64_chroot
refuse "no interpreter was copied into the store" sh -c "ls /var/lib/binfmtd/interpreters/qemu-* 2>/dev/null | grep -q ."
binfmtd_journal >/tmp/journal
refuse "no 'not enough space' and no error in the journal" grep -i -E 'space|error' /tmp/journal
info "store used: $(df -m --output=used /var/lib/binfmtd | tail -n1 | tr -d ' ') MB"
info "binfmtd status: $(systemctl show -p StatusText --value binfmtd.service)"
next ""

# phase3.sh — (7) the boot after the purge: the distribution's emulation, as before binfmtd;
# (8) a persisted install (issue 14's bug 9) set up for the next boot.
step 7 "the boot after apt purge binfmtd"
check "every distribution entry is registered at boot with the distribution's interpreter" all_distro
check "the non-QEMU entry vmsys-shx is registered" shx_untouched
check "an arm64 busybox runs in the chroot again through the distribution's F-pinned entry" arm64_chroot
. /vmsys/leftovers.sh

step 8 "issue 14 bug 9: a persisted install, then a boot with a 40 MB store"
# What `docker run --privileged --rm -v /:/host IMAGE install --persist` does, with the .deb's
# static binary in the image's place: the unit where the image keeps it, `--persist=/`.
rm -rf /tmp/pkg && mkdir -p /tmp/pkg && dpkg-deb -x /vmsys/binfmtd_*.deb /tmp/pkg
cp /tmp/pkg/usr/lib/systemd/system/binfmtd.service /usr/lib/systemd/system/binfmtd.service
check "binfmtd install --persist=/ all (the image's persisted install)" \
  /tmp/pkg/usr/bin/binfmtd install --persist=/ all
rm -f /usr/lib/systemd/system/binfmtd.service
n=$(ls /usr/local/lib/binfmtd/qemu 2>/dev/null | wc -l)
check "the interpreters are persisted in /usr/local/lib/binfmtd/qemu ($n files)" test "$n" -ge 20
info "persisted: $(du -sm /usr/local/lib/binfmtd/qemu | cut -f1) MB"
check "the persisted unit is enabled" systemctl is-enabled --quiet binfmtd.service
# The next boot: a fresh, 40 MB store (what the host of bug 9 had free), far less than the
# persisted interpreters.
rm -rf /var/lib/binfmtd && mkdir -p /var/lib/binfmtd
echo 'tmpfs /var/lib/binfmtd tmpfs size=40M,mode=0755 0 0' >>/etc/fstab
next 4

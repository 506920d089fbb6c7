# phase3.sh — (7) the boot after the purge: the distribution's emulation, as before binfmtd.
step 7 "the boot after apt purge binfmtd"
check "every distribution entry is registered at boot with the distribution's interpreter" all_distro
check "the non-QEMU entry vmsys-shx is registered" shx_untouched
check "an arm64 busybox runs in the chroot again through the distribution's F-pinned entry" arm64_chroot
. /vmsys/leftovers.sh
next ""

#!/bin/bash
# build-rootfs.sh SUITE ROOTFS MIRROR CACHE_DIR INCLUDE QEMU_PACKAGE
#
# The rootfs of one full-system guest (cargo xtask vm-system), built once and cached by the xtask:
# a minbase Debian with systemd as PID 1, the suite's own kernel and initrd in /boot, the
# distribution's QEMU installed as a user installs it (INCLUDE), and, for the offline steps of the
# scenario, .deb files staged under /root/debs: binfmt-support with what it needs
# (/root/debs/binfmt-support) and QEMU_PACKAGE itself for the reinstall (/root/debs/qemu).
# The guest has no network: everything it installs later comes from there.
set -euo pipefail
suite=$1 rootfs=$(realpath -m "$2") mirror=$3 cache=$(realpath -m "$4") include=$5 qemu_package=$6

tmp=$rootfs.tmp
rm -rf "$tmp"
mkdir -p "$cache" "$tmp"
# --cache-dir keeps the downloaded .debs between builds (a rebuild is then offline-fast).
debootstrap --variant=minbase --cache-dir="$cache" --include="$include" "$suite" "$tmp" "$mirror"

in_root() { chroot "$tmp" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

cp /etc/resolv.conf "$tmp/etc/resolv.conf"
in_root apt-get -q update
# Stage the offline packages: binfmt-support and its missing dependencies, and the QEMU package.
in_root apt-get -q clean
in_root apt-get -q install -y --download-only --no-install-recommends binfmt-support
mkdir -p "$tmp/root/debs/binfmt-support" "$tmp/root/debs/qemu"
mv "$tmp"/var/cache/apt/archives/*.deb "$tmp/root/debs/binfmt-support/"
in_root apt-get -q install -y --download-only --reinstall --no-install-recommends "$qemu_package"
mv "$tmp"/var/cache/apt/archives/"$qemu_package"_*.deb "$tmp/root/debs/qemu/"
in_root apt-get -q clean
rm -rf "$tmp"/var/lib/apt/lists/*_Packages "$tmp"/var/lib/apt/lists/*_Translation-*
: >"$tmp/etc/resolv.conf"

# Console login off (a getty on ttyS0 hangs up the scenario's output), root without password,
# the disk as root, and timers that would only compete with the scenario.
passwd -R "$tmp" -d root >/dev/null
echo "$suite-guest" >"$tmp/etc/hostname"
echo '/dev/vda / ext4 defaults 0 1' >"$tmp/etc/fstab"
for unit in serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
            e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service; do
  ln -sf /dev/null "$tmp/etc/systemd/system/$unit"
done
ls "$tmp"/boot/vmlinuz-* "$tmp"/boot/initrd.img-* >/dev/null
rm -rf "$rootfs"
mv "$tmp" "$rootfs"

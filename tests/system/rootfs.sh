#!/usr/bin/env bash
# rootfs.sh DIR — debootstrap a Debian bookworm minbase root filesystem with systemd into DIR, once.
#
# Idempotent: a finished rootfs is marked with DIR/.binfmtd-rootfs-ok and reused (≈40 s and ≈250 MB
# the first time). The mirror is taken from the machine's own apt sources, so no host is hard-coded.
# systemd-binfmt, which would write binfmt_misc on its own, is masked: binfmtd must be the only
# writer in the test.
set -euo pipefail
R=${1:?usage: rootfs.sh DIR}
mkdir -p "$(dirname "$R")"
# binfmt_misc's own units stay as a container has them (their condition skips them on a read-only
# /proc/sys; binfmtd's drop-in lifts it): unmask them in a rootfs made before that.
rm -f "$R/etc/systemd/system/proc-sys-fs-binfmt_misc.automount" \
  "$R/etc/systemd/system/proc-sys-fs-binfmt_misc.mount"
[ -e "$R/.binfmtd-rootfs-ok" ] && exit 0
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
rm -rf "$R.tmp"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps \
  bookworm "$R.tmp" "$MIRROR" >"$R.log" 2>&1 || { tail -20 "$R.log" >&2; exit 1; }
for u in systemd-binfmt.service \
         systemd-networkd.service systemd-resolved.service getty@.service console-getty.service; do
  ln -sf /dev/null "$R.tmp/etc/systemd/system/$u"
done
echo binfmtd-test > "$R.tmp/etc/hostname"
rm -rf "$R"
mv "$R.tmp" "$R"
touch "$R/.binfmtd-rootfs-ok"

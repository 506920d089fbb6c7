#!/bin/bash
# run.sh — the full-system scenario (cargo xtask vm-system), run by vmsys.service at every boot of a
# Debian 12 or 13 guest. The phase is kept on the disk (/var/lib/vmsys/phase): each phase ends with
# a reboot (QEMU runs with -no-reboot, so the host boots the disk again) or, the last, a poweroff.
#   phase 1  (1) baseline: the distribution's entries; (2) apt install ./binfmtd_*.deb
#   phase 2  (3) after a reboot; boot figures; (4) systemd-binfmt restart, QEMU reinstall;
#            (5) binfmt-support; (6) a fake emulator entry; (7) apt purge binfmtd
#   phase 3  (7) the boot after the purge: the distribution's state; (8) `install --persist`
#   phase 4  (8) issue 14's bug 9: the persisted unit boots with a 40 MB store
. /vmsys/lib.sh
export DEBIAN_FRONTEND=noninteractive
mkdir -p /var/lib/vmsys
phase=$(cat /var/lib/vmsys/phase 2>/dev/null || echo 1)
. /etc/os-release
info "phase $phase: $PRETTY_NAME, kernel $(uname -r), $(systemctl --version | head -n1)"
next() {
  sync
  if [ -n "$1" ]; then
    echo "$1" >/var/lib/vmsys/phase; sync
    echo "VMSYS-REBOOT $1"
    systemctl reboot
  else
    echo VMTEST-END
    systemctl poweroff
  fi
}
. "/vmsys/phase$phase.sh"

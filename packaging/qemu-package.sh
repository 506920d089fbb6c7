#!/bin/sh
# qemu-package.sh — print the Debian/Ubuntu package that provides a *static* QEMU user-mode build
# on this machine (what binfmtd registers):
#   - qemu-user when its candidate is >= 1:9.1.0+ds-1: Debian 13 (trixie) and later, where
#     qemu-user is built statically and qemu-user-static is only a transitional package (and is
#     gone in forky/sid);
#   - qemu-user-static otherwise: Debian 12 (bookworm, 7.2) and Ubuntu 24.04 (8.2), where qemu-user is
#     dynamically linked, unusable for F-pinned entries in containers and chroots.
# The .deb expresses the same as `Recommends: qemu-user (>= 1:9.1.0+ds-1) | qemu-user-static`.
set -eu
candidate=$(apt-cache policy qemu-user 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
case "$candidate" in
  "" | "(none)") echo qemu-user-static ;;
  *) if dpkg --compare-versions "$candidate" ge 1:9.1.0+ds-1; then echo qemu-user; else echo qemu-user-static; fi ;;
esac

#!/usr/bin/env bash
# setup.sh — install everything the tests need on a fresh Debian 12 machine (idempotent, no TTY).
#
# Debian packages (only those missing, --no-install-recommends), then the foreign-architecture
# fixtures (tests/fixtures.sh). Debian's static QEMU is qemu-user-static on Debian 12 and
# qemu-user from Debian 13 on (packaging/qemu-package.sh). Installed this way (no recommends: no
# qemu-user-binfmt, no binfmt-support, and systemd is not PID 1 on the CI machines) it registers
# nothing in binfmt_misc.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  "$(sh packaging/qemu-package.sh)"  # the interpreters binfmtd installs and registers
  util-linux         # unshare, nsenter, mount (the sandboxes)
  binutils           # readelf, for diagnostics in test failures
  strace             # fault injection (SIGKILL at a chosen write) in the regression tests
  systemd-container  # systemd-nspawn: boots the Debian rootfs of the systemd test (tests/system)
  debootstrap        # builds that rootfs once, cached in target/system/rootfs
  docker.io          # the container image: pulled and run by a dockerd in a user namespace
  buildah            # builds the image index (cargo xtask image)
  skopeo             # writes and pushes it (OCI layout, docker-archive, the test registry)
  curl               # waits for the test registry (Debian's docker-registry is fetched, not
                     # installed: its init script would serve *:5000 on this machine)
  iproute2           # brings lo up in the sandbox's network namespace (the registry's)
  lintian            # checks the .deb (cargo xtask deb)
  python3-venv       # a venv for kubernetes-validate (the DaemonSet check) and Ansible
  python3-apt        # Ansible's apt module in the role test (installs the .deb)
  qemu-system-x86    # the VM bench boots Debian's amd64 kernels (cargo xtask vm-test)
  qemu-system-arm    # … and the arm64 kernel (qemu-system-aarch64)
  cpio               # checks the VM bench's own initramfs writer against cpio(1)
  xz-utils           # decompresses the kernels' binfmt_misc.ko.xz
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get -q update
  $SUDO apt-get -q install -y --no-install-recommends "${missing[@]}"
fi

bash tests/fixtures.sh

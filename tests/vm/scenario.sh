#!/bin/sh
# scenario.sh — the VM bench's scenario, run by /init in every guest (cargo xtask vm-test).
#
# The same steps run on every kernel and CPU; where kernels differ, the step computes the
# expected result from the kernel version (lib.sh) and asserts it. Steps, in order:
#   10-kernel     binfmt_misc loads; `status` reports the kernel's facts
#   20-install    another tool's entry, then `install all`: the right set, flags per kernel
#   30-fixtures   every foreign busybox/ld.so runs through the registered entries
#   40-again      `check`, and a second `install` changes nothing
#   50-unmount    what an unmount does to the global instance; `install` mounts it again
#   60-daemon     the daemon restores after `-1 > status` and after an unmount
#   70-userns     per-user-namespace instances and `exec`, seen from the host
#   80-limit      max_binfmt_misc_interpreters (Linux >= 7.3)
#   90-uninstall  only the other tool's entry is left
. /vm/lib.sh
info "kernel $(uname -r) $(uname -m); native: $NATIVE"
for step in /vm/[0-9][0-9]-*.sh; do
  . "$step"
done

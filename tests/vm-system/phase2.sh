# phase2.sh — (3) after a reboot, the boot figures, (4) systemd-binfmt and a QEMU reinstall,
# (5) binfmt-support, (6) a fake emulator entry, (7) apt purge binfmtd.

step 3 "reboot"
check "binfmtd.service is active after the reboot" systemctl is-active --quiet binfmtd.service
check "every non-native target is served by binfmtd" all_binfmtd
check_dropped
check "the non-QEMU entry vmsys-shx is untouched" shx_untouched
check "an arm64 busybox runs in a chroot whose rootfs has no QEMU" arm64_chroot
binfmtd_journal >/tmp/journal
refuse "no back-off, fight, 'already exists' or error in binfmtd's journal of this boot" \
  grep -i -E 'back-?off|fight|already exists|error' /tmp/journal
# After READY nothing should have needed healing: a "converged" line after "ready" is a flap.
refuse "no entry flapped after READY (no 'converged' in the journal after 'ready')" \
  sh -c "sed -n '/ready/,\$p' /tmp/journal | grep -i converged"
expect "binfmtd.service did not restart (NRestarts)" 0 "$(systemctl show -p NRestarts --value binfmtd.service)"
info "journal: $(wc -l </tmp/journal) lines; $(tail_of /tmp/journal 2)"

# The boot figures for README (systemd-analyze needs the boot to have finished).
state=$(timeout 300 systemctl is-system-running --wait 2>&1)
info "system state: $state"
info "figure exposure: $(systemd-analyze security binfmtd.service 2>&1 | tail -n1 | sed 's/^.*: //')"
t0=$(systemctl show -p ExecMainStartTimestampMonotonic --value binfmtd.service)
t1=$(systemctl show -p ActiveEnterTimestampMonotonic --value binfmtd.service)
info "figure start-to-ready: $(((t1 - t0) / 1000)) ms (ExecMainStart to READY)"
info "figure boot: $(systemd-analyze time 2>&1 | head -n1)"
systemd-analyze critical-chain binfmtd.service 2>&1 | tail -n +3 | sed 's/^/INFO figure critical-chain binfmtd: /'
systemd-analyze critical-chain systemd-binfmt.service 2>&1 | tail -n +3 | sed 's/^/INFO figure critical-chain systemd-binfmt: /'
systemd-analyze blame 2>/dev/null | grep -E 'binfmt' | sed 's/^ */INFO figure blame: /'

step 4 "systemctl restart systemd-binfmt; reinstall of the QEMU package"
check "systemctl restart systemd-binfmt" systemctl restart systemd-binfmt.service
within "binfmtd serves every target again within a second" 1000 all_binfmtd
within "vmsys-shx is registered again (by systemd-binfmt)" 1000 shx_untouched
qdeb=$(ls /root/debs/qemu/*.deb)
check "dpkg -i ${qdeb##*/} (the reinstall a QEMU update does; fires the triggers)" dpkg -i $qdeb
within "binfmtd serves every target within a second of the reinstall" 1000 all_binfmtd
within "vmsys-shx is still registered" 1000 shx_untouched
check "an arm64 busybox runs in a chroot whose rootfs has no QEMU" arm64_chroot
info "binfmtd status: $(systemctl show -p StatusText --value binfmtd.service)"

step 5 "binfmt-support installed too"
check "dpkg -i binfmt-support and its dependencies" dpkg -i /root/debs/binfmt-support/*.deb
check "binfmt-support.service is active" systemctl is-active --quiet binfmt-support.service
within "binfmtd serves every target within a second of binfmt-support's start" 1000 all_binfmtd
update-binfmts --enable >/tmp/ub 2>&1; info "update-binfmts --enable: exit $? $(tail_of /tmp/ub 2)"
within "binfmtd serves every target within a second of update-binfmts --enable" 1000 all_binfmtd
check "systemctl restart binfmt-support" systemctl restart binfmt-support.service
within "binfmtd serves every target within a second of binfmt-support's restart" 1000 all_binfmtd
check "the non-QEMU entry vmsys-shx is untouched" shx_untouched
check "an arm64 busybox runs in a chroot whose rootfs has no QEMU" arm64_chroot

step 6 "another emulator serves aarch64: binfmtd install all leaves it alone"
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
mkdir -p /opt/fakeemu
printf '#!/bin/sh\necho ran >>/run/fakeemu.log\nexec %s "$@"\n' "$qemu" >/opt/fakeemu/fakeemu-aarch64
chmod 755 /opt/fakeemu/fakeemu-aarch64
line=$(grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf | head -n1)
magic=$(echo "$line" | cut -d: -f5); mask=$(echo "$line" | cut -d: -f6)
check "a fake emulator entry for aarch64 registers (fakeemu-aarch64, a wrapper of QEMU outside distro paths)" \
  sh -c "printf '%s' ':fakeemu-aarch64:M::$magic:$mask:/opt/fakeemu/fakeemu-aarch64:' >$BM/register"
fake_runs() { rm -f /run/fakeemu.log; /srv/arm64/bin/busybox true && grep -q ran /run/fakeemu.log; }
check "the fake emulator runs arm64 programs (newest entry wins)" fake_runs
binfmtd install all >/tmp/install.out 2>&1
expect "binfmtd install all exits 0" 0 "$?"
sleep 2
check "fakeemu-aarch64 is still registered and enabled" enabled fakeemu-aarch64
check "the fake emulator still runs arm64 programs (after install all and 2 s of the daemon)" fake_runs
check "install all names aarch64 as served by fakeemu-aarch64" grep -q 'fakeemu-aarch64' /tmp/install.out
info "install all: $(grep -i aarch64 /tmp/install.out | head -n3 | tr '\n' ' ')"
echo -1 >"$BM/fakeemu-aarch64" 2>/dev/null

step 7 "apt purge binfmtd"
check "apt-get purge -y binfmtd" apt-get purge -y binfmtd
within "the distribution's entries are back (its interpreters)" 5000 all_distro
check "the non-QEMU entry vmsys-shx is untouched" shx_untouched
. /vmsys/leftovers.sh
next 3

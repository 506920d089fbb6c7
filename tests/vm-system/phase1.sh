# phase1.sh — (1) the baseline, (2) the package installed.

step 1 "baseline: the distribution's QEMU only"
ls "$BM" >/dev/null 2>&1
check "binfmt_misc is the global instance, mounted by systemd's automount" \
  grep -q " $BM binfmt_misc " /proc/mounts
check "systemd-binfmt.service ran at boot" systemctl is-active --quiet systemd-binfmt.service
n=$(distro_entries | wc -l)
check "the distribution's QEMU ships binfmt.d files for $n foreign targets" test "$n" -ge 20
check "every one of them is registered with the distribution's interpreter" all_distro
bad=
for e in $(distro_names); do
  case $(field "$e" flags:) in *F*) ;; *) bad="$bad $e=$(field "$e" flags:)" ;; esac
done
expect "the distribution's entries are F-pinned (flags read back with F)" "" "$bad"
check "the non-QEMU entry vmsys-shx (/etc/binfmt.d) is registered" shx_untouched
refuse "binfmtd is not installed" dpkg -s binfmtd
info "entries: $(ls "$BM" | grep -v -E '^(register|status)$' | tr '\n' ' ')"

step 2 "apt install ./binfmtd_*.deb"
before=$(non_qemu_snapshot)
deb=$(ls /vmsys/binfmtd_*.deb)
# (offline: -nic none; `--no-download` would make apt fail with "Pathname to install is not absolute")
check "apt-get install $deb (offline)" apt-get install -y "$deb"
check "binfmtd.service is active" systemctl is-active --quiet binfmtd.service
within "every non-native target is served by binfmtd (F, binfmtd's interpreter)" 60000 all_binfmtd
expect "non-QEMU entries are untouched" "$before" "$(non_qemu_snapshot)"
check "the non-QEMU entry vmsys-shx still has /bin/sh" shx_untouched
check_dropped
check "an arm64 busybox runs in a chroot whose rootfs has no QEMU" arm64_chroot
info "binfmtd status: $(systemctl show -p StatusText --value binfmtd.service)"
info "masks: $(find /etc/binfmt.d -lname /dev/null 2>/dev/null | wc -l) files in /etc/binfmt.d -> /dev/null"
next 2

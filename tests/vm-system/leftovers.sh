# leftovers.sh — (7) nothing of binfmtd is left on the host.
leftovers() {
  local p
  for p in /var/lib/binfmtd /etc/binfmtd /usr/lib/binfmtd /usr/libexec/binfmtd /usr/bin/binfmtd \
           /usr/lib/systemd/system/binfmtd.service /etc/systemd/system/binfmtd.service \
           /usr/lib/systemd/system/proc-sys-fs-binfmt_misc.mount.d/binfmtd.conf \
           /etc/systemd/system/proc-sys-fs-binfmt_misc.mount.d/binfmtd.conf \
           /etc/systemd/system/multi-user.target.wants/binfmtd.service /run/binfmtd; do
    [ -e "$p" ] || [ -L "$p" ] && echo "$p"
  done
  find /etc/binfmt.d /run/binfmt.d -lname /dev/null 2>/dev/null
  grep -l '^interpreter /var/lib/binfmtd' "$BM"/* 2>/dev/null
  dpkg-query -W -f='${Status}\n' binfmtd 2>/dev/null | grep -v '^unknown\|not-installed'
}
expect "no file, mask or entry of binfmtd is left" "" "$(leftovers | tr '\n' ' ')"

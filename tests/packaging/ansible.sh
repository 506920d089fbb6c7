#!/usr/bin/env bash
# ansible.sh PACKAGE.deb — the Ansible role (packaging/ansible/roles/binfmtd) under real systemd.
#
# ansible-lint (production profile, offline) on the role; then, for each install method (the
# .deb, and the static binary from target/dist/root), ansible-playbook runs *inside* a fresh
# nspawn-booted Debian (tests/packaging/nspawn.sh) with connection=local, from a venv bound
# read-only (with the base Python it links to, and Debian's python3-apt for the apt module, which
# installs the .deb). Runs: --check --diff on a fresh system changes
# nothing; the first run installs, configures, enables and starts (READY, entries registered);
# a second run reports changed=0; --check after it reports changed=0; a configuration change
# (other flags) changes the file, fires the reload handler, and the daemon re-registers with
# the new flags.
set -euo pipefail
DEB=$(readlink -f "${1:?usage: ansible.sh PACKAGE.deb}")
cd "$(dirname "$0")/../.."
ROOT=$PWD
V=$ROOT/target/venv-ansible
fail() { echo "ansible-test: FAIL: $*" >&2; exit 1; }
pass() { echo "ansible-test: ok: $*"; }
if [ ! -x "$V/bin/ansible-playbook" ] || [ ! -x "$V/bin/ansible-lint" ]; then
  rm -rf "$V"; /usr/bin/python3 -m venv "$V"
  "$V/bin/pip" install -q -U pip
  "$V/bin/pip" install -q 'ansible-core>=2.19,<2.20' 'ansible-lint>=26,<27'
fi
[ -x target/dist/root/usr/bin/binfmtd ] || fail "run cargo xtask dist first"
(cd packaging/ansible && PATH=$V/bin:$PATH ansible-lint --offline --profile production -q roles/binfmtd) \
  || fail "ansible-lint (production profile)"
pass "ansible-lint --profile production is clean"

run_method() {
  PY=$(readlink -f "$V/bin/python3")                      # the venv is not self-contained
  PYLIB=$("$V/bin/python3" -c 'import sys; print(sys.base_prefix)')/lib/$(basename "$PY")
  # The apt module needs Debian's python3-apt: only its modules, not all of dist-packages.
  DIST=/usr/lib/python3/dist-packages
  APT=$ROOT/target/python-apt; rm -rf "$APT"; mkdir -p "$APT"
  for m in "$DIST"/apt "$DIST"/apt_pkg.*.so "$DIST"/apt_inst.*.so "$DIST"/aptsources; do
    [ -e "$m" ] || fail "python3-apt is missing ($m); run tests/setup.sh"; ln -s "$m" "$APT/"
  done
  # shellcheck source=tests/packaging/nspawn.sh
  . tests/packaging/nspawn.sh
  METHOD=${METHOD:?}
  boot "binfmtd-ansible-$METHOD-$$" --bind-ro="$V" --bind-ro="$PY" --bind-ro="$PYLIB" \
    --bind-ro="$DIST" --bind-ro="$APT" \
    --bind-ro="$ROOT/packaging:/src/packaging" --bind-ro="$ROOT/tests/packaging/ansible:/src/play" \
    --bind-ro="$ROOT/target/dist/root:/src/dist" --bind-ro="$DEB:/src/binfmtd.deb" || fail "boot"
  pass "$METHOD: container booted"
  ct ln -sf "$(basename "$PY")" /usr/bin/python3          # the venv's python3 points at /usr/bin/python3
  for t in aarch64 riscv64; do put_file "/usr/bin/qemu-$t-static" "/usr/bin/qemu-$t-static" 755; done

  # play [ARGS...]: ansible-playbook in the container; prints the recap's changed= count.
  play() {
    ct env -i HOME=/root LC_ALL=C.UTF-8 PATH="$V/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      ANSIBLE_ROLES_PATH=/src/packaging/ansible/roles ANSIBLE_NOCOLOR=1 PYTHONPATH="$APT" \
      ansible-playbook -i localhost, -c local -e ansible_python_interpreter="$V/bin/python3" \
      -e test_method="$METHOD" /src/play/site.yml "$@" >"$LOG.play" 2>&1 || { cat "$LOG.play" >&2; fail "ansible-playbook $*"; }
    sed -n 's/^localhost *:.*changed=\([0-9]*\).*/\1/p' "$LOG.play"
  }
  entries() { ct sh -c 'cd /proc/sys/fs/binfmt_misc 2>/dev/null && ls | grep -v -e "^register$" -e "^status$" | sort | tr "\n" " "'; }

  c=$(play --check --diff)
  [ "$c" -gt 0 ] || fail "check mode on a fresh system reported no changes"
  ct test ! -e /usr/local/bin/binfmtd -a ! -e /usr/bin/binfmtd || fail "check mode installed binfmtd"
  ct test ! -e /etc/binfmtd/binfmtd.toml || fail "check mode wrote the configuration"
  pass "$METHOD: --check --diff on a fresh system: $c changes reported, none made"

  c=$(play --diff)
  [ "$c" -gt 0 ] || fail "the first run changed nothing"
  show() { ct systemctl show -p "$1" --value binfmtd; }
  [ "$(show ActiveState)/$(show SubState)" = active/running ] || fail "binfmtd is $(show ActiveState)/$(show SubState)"
  [ "$(ct systemctl is-enabled binfmtd)" = enabled ] || fail "binfmtd is not enabled"
  [ "$(entries)" = "qemu-aarch64 qemu-riscv64 " ] || fail "entries after the first run: $(entries)"
  ct grep -qx 'flags: PF' /proc/sys/fs/binfmt_misc/qemu-aarch64 || fail "flags after the first run"
  pass "$METHOD: first run: $c changes; installed, enabled, active (running), entries registered"

  c=$(play)
  [ "$c" = 0 ] || { cat "$LOG.play" >&2; fail "second run: changed=$c"; }
  c=$(play --check --diff)
  [ "$c" = 0 ] || { cat "$LOG.play" >&2; fail "check after apply: changed=$c"; }
  pass "$METHOD: second run and --check afterwards: changed=0"

  pid=$(show MainPID)
  c=$(play -e test_flags=POF --diff)
  # Two changes: the configuration file and the reload the handler performs.
  [ "$c" = 2 ] || { cat "$LOG.play" >&2; fail "config change: changed=$c (want 2)"; }
  grep -q 'RUNNING HANDLER \[binfmtd : Reload binfmtd\]' "$LOG.play" || fail "the reload handler did not run"
  [ "$(show MainPID)" = "$pid" ] || fail "the config change restarted instead of reloading"
  for _ in $(seq 1 50); do ct grep -qx 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-aarch64 && break; sleep 0.1; done
  ct grep -qx 'flags: POF' /proc/sys/fs/binfmt_misc/qemu-aarch64 || fail "the reload did not apply the new flags"
  pass "$METHOD: config change: the file and a reload (handler), entries re-registered with POF by the same process"
}
for METHOD in deb binary; do (run_method); done
echo "ansible-test: all passed"

#!/usr/bin/env bash
# test.sh STATE LAYOUT — prove the container image, served from a registry, with a real engine
# (run by `cargo xtask image-test`, which builds LAYOUT and starts the sandboxed dockerd first).
#
# The engine is tests/image/sandbox-dockerd.sh's dockerd (state in STATE): every binfmt_misc here
# is the sandbox's instance, never the host's. "host" below means the sandbox host (the namespaces
# dockerd runs in), whose binfmt_misc lives at /proc/sys/fs/binfmt_misc in its own mount namespace.
# Environment from xtask: IMAGE_VERSION_TAG (binfmtd-V-qemu-V), IMAGE_PLATFORMS (amd64 arm64 ...).
#
# Order: registry.sh serves the OCI layout's tags from a registry inside the sandbox and the
# engine pulls the index back (the digest it reports must be the layout's); the loud failure
# without --privileged; action.sh (setup-qemu-action's sequence), compat.sh (tonistiigi
# behaviours); then `--install all` and a foreign binary and container; the JSON status;
# `--uninstall 'qemu-*'`; the DaemonSet's command line; the visibility check (host without
# binfmt_misc: a loud error, not a silent loss; with --pid=host: fixed by mounting it in the
# host's namespace); `install --persist` into a host root directory; last, emulated.sh runs every
# foreign half of the index under emulation.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:?usage: test.sh STATE LAYOUT}; LAYOUT=${2:?usage: test.sh STATE LAYOUT}
VTAG=${IMAGE_VERSION_TAG:?set by cargo xtask image-test}
read -r -a PLATFORMS <<<"${IMAGE_PLATFORMS:-amd64}"
OUT=$D/out; mkdir -p "$OUT"
source tests/image/lib.sh
BUSYBOX=$(fixture_busybox aarch64)
REG=127.0.0.1:5000
TAG=$REG/binfmtd:latest

# Served from a registry, pulled back by the engine: the digest is the layout's index.
bash tests/image/registry.sh "$D" "$LAYOUT" latest "$VTAG" latest-setuid "$VTAG-setuid"
expect 0 dk pull "$REG/binfmtd:$VTAG"
want=$(skopeo manifest-digest <(skopeo inspect --raw "oci:$LAYOUT:latest"))
dk image inspect --format '{{json .RepoDigests}}' "$REG/binfmtd:$VTAG" | grep -qF "$REG/binfmtd@$want" ||
  fail "the pulled image is not the layout's index $want"
pass "the index is served by a registry and pulled back ($REG/binfmtd:$VTAG, $want)"

# 0. Without --privileged: a loud failure naming the fix, nothing registered.
expect nonzero run "$TAG" --install all
grep -q -- '--privileged' "$OUT/last.err" || fail "no --privileged hint without --privileged"
host_mounted && fail "the host got a binfmt_misc mount from an unprivileged container"
pass "refuses without --privileged, with the hint"

# 1. Host with binfmt_misc mounted (as on a systemd host after the automount fired).
host mount -t binfmt_misc binfmt_misc "$BM"
sleep 0.3   # the instance must be older than the container's mount to count as the host's
# 1b. setup-qemu-action's sequence (action.sh), the tonistiigi behaviours (compat.sh); then --install all.
bash tests/image/action.sh "$D" "$TAG"
bash tests/image/compat.sh "$D" "$TAG"
expect 0 run --privileged "$TAG" --install all
json "'linux/arm64' in d['supported'] and 'qemu-aarch64' in (d['emulators'] or [])"
grep -q 'installing: qemu-aarch64' "$OUT/last.err" || fail "no tonistiigi-style progress line"
host_entries | grep -qx qemu-aarch64 || fail "the host does not see qemu-aarch64"
host_entries | grep -qx qemu-x86_64 && fail "the native x86_64 was registered"
[ "$(host "$BUSYBOX" uname -m)" = aarch64 ] || fail "a foreign binary does not run on the host"
host grep -q '^flags: PF$' "$BM/qemu-aarch64" || fail "qemu-aarch64 is not registered with PF"
pass "--install all: entries on the host, foreign binary runs through the image's interpreter"

# 2. A second --install changes nothing; the no-argument run prints the status JSON.
expect 0 run --privileged "$TAG" --install all
expect 0 run --privileged "$TAG"
json "'linux/arm64' in d['supported'] and 'qemu-riscv64' in (d['emulators'] or [])"
pass "no arguments: JSON status with supported and emulators"

# 3. --uninstall 'qemu-*' removes them from the host.
expect 0 run --privileged "$TAG" --uninstall 'qemu-*'
[ -z "$(host_entries | grep '^qemu-' || true)" ] || fail "entries left after --uninstall: $(host_entries)"
expect nonzero host "$BUSYBOX" uname -m
pass "--uninstall 'qemu-*' clears the host"

# 3b. The DaemonSet's container (packaging/kubernetes/daemonset.yaml): its args and readiness
#     probe, with the host's binfmt_misc bind-mounted where the manifest's hostPath volume goes.
mapfile -t ARGS < <(bash tests/image/kubernetes.sh args)
mapfile -t READY < <(bash tests/image/kubernetes.sh readiness)
VOL=(-v "$BM:/host/binfmt_misc")
expect 1 run --privileged "${VOL[@]}" "$TAG" "${READY[@]}"
pass "the readiness probe fails while nothing is registered"
CID=$(dk run -d --network none --privileged "${VOL[@]}" "$TAG" "${ARGS[@]}")
ready() {
  for _ in $(seq 1 100); do
    dk exec "$CID" /usr/bin/binfmtd "${READY[@]}" >/dev/null 2>&1 && return 0; sleep 0.1
  done
  dk logs "$CID" >&2; fail "the DaemonSet's container never became ready"
}
ready
host_entries | grep -qx qemu-aarch64 || fail "the daemon did not register on the host"
host sh -c "echo -1 > $BM/status"
for _ in $(seq 1 50); do host_entries | grep -qx qemu-aarch64 && break; sleep 0.1; done
host_entries | grep -qx qemu-aarch64 || fail "the daemon did not restore a flushed table"
ready
dk stop -t 10 "$CID" >/dev/null
[ "$(dk wait "$CID")" = 0 ] || { dk logs "$CID" >&2; fail "the daemon did not exit 0 on SIGTERM"; }
host_entries | grep -qx qemu-aarch64 || fail "entries removed when the daemon stopped"
dk rm "$CID" >/dev/null
expect 0 run --privileged "$TAG" --uninstall 'qemu-*'
pass "DaemonSet command line: ready, heals a flush, exits 0 on SIGTERM leaving the entries"

# 4. Host without binfmt_misc: the registrations would vanish with the container. Loud error.
host umount "$BM"
expect nonzero run --privileged "$TAG" --install all
grep -q 'disappears with this container' "$OUT/last.err" || fail "no visibility error"
grep -q -- '--pid=host' "$OUT/last.err" || fail "the visibility error does not name --pid=host"
host_mounted && fail "the host got a mount"
pass "host without binfmt_misc: fails loudly instead of a silent loss"

# 5. The same with --pid=host: binfmtd mounts binfmt_misc in the host's namespace (PID 1's).
expect 0 run --privileged --pid=host "$TAG" --install arm64
grep -q "mounted it at $BM there" "$OUT/last.err" || fail "no note about mounting on the host"
host_mounted || fail "binfmt_misc is not mounted on the host after --pid=host"
host_entries | grep -qx qemu-aarch64 || fail "the host does not see qemu-aarch64 after --pid=host"
[ "$(host "$BUSYBOX" uname -m)" = aarch64 ] || fail "foreign binary does not run after --pid=host"
pass "--pid=host: binfmt_misc mounted in the host namespace, entries survive the container"
expect 0 run --privileged "$TAG" --uninstall 'qemu-*'

# 6. install --persist into a host root (-v ROOT:/host): binary, interpreters, config, unit, enabled.
HR=$D/hostroot; rm -rf "$HR"; mkdir -p "$HR/etc/binfmtd"
echo '# the host administrator'"'"'s own file' > "$HR/etc/binfmtd/binfmtd.toml"
expect 0 dk run --rm --network none --privileged -v "$HR:/host" "$TAG" install --persist arm64 riscv64
cmp -s "$HR/usr/local/bin/binfmtd" "$CONTEXT/binfmtd" || fail "persisted binary"
for t in aarch64 riscv64; do
  cmp -s "$HR/usr/local/lib/binfmtd/qemu/qemu-$t" "$CONTEXT/qemu/qemu-$t" || fail "persisted qemu-$t"
done
[ "$(ls "$HR/usr/local/lib/binfmtd/qemu" | wc -l)" = 2 ] || fail "persisted more interpreters than asked"
grep -qx 'interpreter_dirs = \["/usr/local/lib/binfmtd/qemu"\]' "$HR/etc/binfmtd/binfmtd.d/50-persist.toml" \
  || fail "drop-in"
grep -qx "# the host administrator's own file" "$HR/etc/binfmtd/binfmtd.toml" || fail "host config touched"
grep -qx 'ExecStart=/usr/local/bin/binfmtd daemon $BINFMTD_OPTS' "$HR/etc/systemd/system/binfmtd.service" \
  || fail "unit ExecStart"
grep -qx 'ConditionPathIsReadWrite=' "$HR/etc/systemd/system/proc-sys-fs-binfmt_misc.mount.d/binfmtd.conf" \
  || fail "the binfmt_misc mount drop-in"
[ "$(readlink "$HR/etc/systemd/system/multi-user.target.wants/binfmtd.service")" = \
  /etc/systemd/system/binfmtd.service ] || fail "the unit is not enabled"
host_entries | grep -qx qemu-riscv64 || fail "install --persist did not register now"
expect 0 dk run --rm --network none --privileged -v "$HR:/host" "$TAG" install --persist arm64 riscv64
pass "install --persist: binary, interpreters, drop-ins, unit and its enablement on the host (twice)"
expect 0 run --privileged "$TAG" --uninstall 'qemu-*'

# 7. The foreign halves of the index, under emulation (needs the host's binfmt_misc).
bash tests/image/emulated.sh "$D" "$TAG" "${PLATFORMS[@]}"
host umount "$BM"
echo "image test: all passed"

#!/usr/bin/env bash
# registry.sh STATE LAYOUT TAG... — serve the image index from a real registry inside the sandbox.
#
# Debian's docker-registry (distribution 2.8, bookworm) listens on 127.0.0.1:5000 in the sandbox
# dockerd's network namespace (lo brought up there), so the sandboxed engine pulls over HTTP like
# any client (127.0.0.0/8 is an insecure registry by default) and nothing listens on the real
# host. The registry runs in the sandbox's PID namespace: it ends with the sandbox.
# It is fetched with tests' private apt configuration (packaging/container/debian-fetch.sh), not
# apt-installed: the package's init script would start a registry on *:5000 of the real host.
# skopeo (tests/setup.sh) copies each TAG of the OCI layout with --all (the whole index).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=$(realpath "${1:?usage: registry.sh STATE LAYOUT TAG...}"); LAYOUT=$(realpath "${2:?usage: registry.sh STATE LAYOUT TAG...}")
shift 2
SD=tests/image/sandbox-dockerd.sh
REG=127.0.0.1:5000

line=$(bash packaging/container/debian-fetch.sh bookworm "docker-registry:$(dpkg --print-architecture)")
BIN=$(echo "$line" | cut -f3)/usr/bin/docker-registry
[ -x "$BIN" ] || { echo "registry: $BIN missing" >&2; exit 1; }

mkdir -p "$D/registry"
cat >"$D/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $D/registry}
http:
  addr: $REG
EOF
"$SD" hostns "$D" ip link set lo up
"$SD" hostns "$D" "$BIN" serve "$D/registry.yml" </dev/null >"$D/registry.log" 2>&1 &
for _ in $(seq 1 100); do
  "$SD" hostns "$D" curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1
done
"$SD" hostns "$D" curl -sf "http://$REG/v2/" >/dev/null ||
  { echo "registry: docker-registry did not come up; see $D/registry.log" >&2; tail -5 "$D/registry.log" >&2; exit 1; }
for tag in "$@"; do
  "$SD" hostns "$D" skopeo copy --all --quiet --dest-tls-verify=false \
    "oci:$LAYOUT:$tag" "docker://$REG/binfmtd:$tag"
done
echo "registry: $REG/binfmtd serves $*" >&2

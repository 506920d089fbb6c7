#!/usr/bin/env bash
# sandbox-dockerd.sh start|stop|hostns|docker DIR [ARGS...] — a dockerd that cannot touch the host.
#
# dockerd runs inside a private user + mount + net + PID namespace ("the sandbox host"): its
# containers, --privileged ones included, share that user namespace, so the binfmt_misc they
# mount is the sandbox's instance, never the real host's (Linux >= 6.7). The PID namespace makes
# `docker run --pid=host` see the sandbox host's PID 1 (the holder below), as on a real machine.
#   start DIR         start it (state, images and the socket live in DIR)
#   hostns DIR CMD..  run CMD as the sandbox host (its user, mount, network and PID namespaces;
#                     a background CMD ends with the sandbox)
#   docker DIR ARGS.. Debian's docker client (BuildKit) talking to it
#   stop DIR          stop dockerd and the holder, remove the cgroups dockerd created
# Recipe: /work/shared/notes/environment.md §3 (root writes the uid/gid maps: no newuidmap).
set -euo pipefail
cmd=${1:?start|stop|hostns|docker}; D=$(realpath -m "${2:?state directory}")
DOCKER=/usr/bin/docker   # Debian's docker.io client: speaks the engine's API version, BuildKit
case "$cmd" in
start)
  mkdir -p "$D"
  # 1. user + mount + net namespace, maps written by root from outside.
  unshare --user --mount --net --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
  U=$!; echo "$U" > "$D/userns.pid"
  while [ "$(readlink /proc/$U/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do sleep 0.02; done
  echo '0 0 65536' > /proc/$U/uid_map
  echo '0 0 65536' > /proc/$U/gid_map
  # 2. inside it, a PID namespace whose PID 1 (a sleep) is the sandbox host's init.
  nsenter -t "$U" --user --mount --net -- \
    unshare --pid --fork --kill-child --mount-proc sleep infinity </dev/null >/dev/null 2>&1 &
  F=$!; echo "$F" > "$D/fork.pid"
  H=
  for _ in $(seq 1 200); do
    H=$(cat /proc/$F/task/*/children 2>/dev/null | awk '{print $1}')
    [ -n "$H" ] && [ "$(readlink /proc/$H/ns/pid)" != "$(readlink /proc/$F/ns/pid)" ] && break
    H=; sleep 0.02
  done
  [ -n "$H" ] || { echo "sandbox-dockerd: the PID namespace holder did not start" >&2; exit 1; }
  echo "$H" > "$D/holder.pid"
  nsenter -t "$H" --user --mount --net --pid -- dockerd \
      --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/docker.pid" \
      -H "unix://$D/docker.sock" --bridge=none --iptables=false --ip-masq=false \
      --cgroup-parent "/binfmtd-sandbox-$U" \
      </dev/null >"$D/dockerd.log" 2>&1 &
  echo $! > "$D/nsenter.pid"          # nsenter forks into the PID namespace, then execs dockerd
  for _ in $(seq 1 300); do
    $DOCKER -H "unix://$D/docker.sock" version >/dev/null 2>&1 && exit 0; sleep 0.05
  done
  echo "sandbox-dockerd: dockerd did not come up; see $D/dockerd.log" >&2; tail -5 "$D/dockerd.log" >&2
  exit 1 ;;
hostns)
  shift 2; exec nsenter -t "$(cat "$D/holder.pid")" --user --mount --net --pid -- "$@" ;;
docker)
  shift 2; DOCKER_BUILDKIT=1 exec $DOCKER -H "unix://$D/docker.sock" "$@" ;;
stop)
  # dockerd first, gracefully (it stops its containers); it is nsenter's child.
  if [ -f "$D/nsenter.pid" ]; then
    N=$(cat "$D/nsenter.pid")
    P=$(cat /proc/$N/task/*/children 2>/dev/null | awk '{print $1}')
    if [ -n "$P" ]; then
      kill -TERM "$P" 2>/dev/null || true
      for _ in $(seq 1 200); do kill -0 "$P" 2>/dev/null || break; sleep 0.05; done
    fi
  fi
  # Then the PID namespace's init: the kernel kills everything left in the namespace with it.
  for f in holder nsenter fork userns; do
    [ -f "$D/$f.pid" ] || continue
    P=$(cat "$D/$f.pid"); kill -KILL "$P" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$P" 2>/dev/null || break; sleep 0.05; done
    rm -f "$D/$f.pid"
  done
  # Empty cgroup directories dockerd left (the glob stays literal when there are none).
  for cg in /sys/fs/cgroup/*/binfmtd-sandbox-*; do
    if [ -d "$cg" ]; then find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  exit 0 ;;
*) echo "usage: sandbox-dockerd.sh start|stop|hostns|docker DIR [ARGS...]" >&2; exit 2 ;;
esac

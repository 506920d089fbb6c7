#!/usr/bin/env bash
# emulated.sh STATE IMAGE PLATFORM... — each foreign half of the index, pulled and run under emulation.
#
# For every PLATFORM (OCI architecture) other than the host's: `docker run --platform linux/P IMAGE`
# first fails (no emulator: the image really is foreign code), then, with the amd64 image's
# emulators registered on the sandbox host, `--version` (the same binfmtd and QEMU versions as the
# amd64 half prints) and `table` work, and the engine says it ran the linux/P image.
# Run last: `docker run --platform` re-points IMAGE's local tag at the platform it pulls.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:?usage: emulated.sh STATE IMAGE PLATFORM...}; IMAGE=${2:?usage: emulated.sh STATE IMAGE PLATFORM...}
shift 2
OUT=$D/out/emulated; mkdir -p "$OUT"
source tests/image/lib.sh
native=$(dk version --format '{{.Server.Arch}}')
foreign=(); for p in "$@"; do [ "$p" = "$native" ] || foreign+=("$p"); done
[ ${#foreign[@]} -gt 0 ] || { pass "no foreign platform in the index"; exit 0; }

dk pull -q "$IMAGE" >/dev/null
dk tag "$IMAGE" local/binfmtd-native
expect 0 run local/binfmtd-native --version
# versions: --version's output without warnings and without the interpreter's path (each half
# names one of its own interpreters, and the native target's differs per platform).
versions() { cat "$OUT/last.out" "$OUT/last.err" | grep -v '^warning:' | sed 's| (/[^)]*)$||'; }
versions >"$OUT/native-version.txt"
expect 0 run --privileged local/binfmtd-native --uninstall 'qemu-*'
# pull_as P: IMAGE's tag now means its linux/P half (so that runs print no pull progress).
pull_as() { dk pull -q --platform "linux/$1" "$IMAGE" >/dev/null; }
for p in "${foreign[@]}"; do
  pull_as "$p"
  expect nonzero run --platform "linux/$p" "$IMAGE" --version
  grep -q 'exec format error' "$OUT/last.err" || fail "linux/$p without an emulator: $(tail -n1 "$OUT/last.err")"
done
expect 0 run --privileged local/binfmtd-native --install "$(IFS=,; echo "${foreign[*]}")"
for p in "${foreign[@]}"; do
  pull_as "$p"
  expect 0 run --platform "linux/$p" "$IMAGE" --version
  [ "$(dk image inspect --format '{{.Architecture}}' "$IMAGE")" = "$p" ] || fail "the engine did not run linux/$p"
  versions >"$OUT/version.txt"
  cmp -s "$OUT/native-version.txt" "$OUT/version.txt" ||
    fail "linux/$p --version names other versions than the native half's: $(cat "$OUT/version.txt")"
  expect 0 run --platform "linux/$p" "$IMAGE" table
  [ "$(grep -c 'qemu-' "$OUT/last.out")" -ge 30 ] || fail "linux/$p table: $(head -3 "$OUT/last.out")"
  pass "linux/$p: pulled, runs under emulation (--version, table)"
done
expect 0 run --privileged local/binfmtd-native --uninstall 'qemu-*'

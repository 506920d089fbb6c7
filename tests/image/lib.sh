# lib.sh — helpers shared by the image tests (sourced by tests/image/*.sh, never run).
#
# Expects: D (the sandbox state directory), OUT (a scratch directory), the current directory at the
# workspace root. "host" means the sandbox host (the namespaces dockerd runs in), whose
# binfmt_misc lives at $BM in its own mount namespace: never the real host's.
SD=tests/image/sandbox-dockerd.sh
BM=/proc/sys/fs/binfmt_misc
# The amd64 image's own files (what went into it), to compare with what the container installs.
CONTEXT=$PWD/target/image/context/amd64

# The foreign test binaries of tests/fixtures.sh.
FIX=${BINFMTD_FIXTURES:-$PWD/target/fixtures}

# fixture_busybox TARGET: the fixtures' static busybox for TARGET (from their manifest; where each lives
# depends on the Debian suite it comes from), as an absolute path.
fixture_busybox() {
  local p
  p=$(awk -F'\t' -v t="$1" '$1 == t && $2 == "busybox" {print $3; exit}' "$FIX/manifest.tsv" 2>/dev/null)
  [ -n "$p" ] && [ -x "$FIX/$p" ] || {
    echo "image test: no $1 busybox in $FIX/manifest.tsv (run tests/fixtures.sh)" >&2; return 1; }
  echo "$FIX/$p"
}

dk() { "$SD" docker "$D" "$@"; }
host() { "$SD" hostns "$D" "$@"; }
run() { dk run --rm --network none "$@"; }
pass() { echo "image test: ok: $*"; }
fail() {
  echo "image test: FAILED: $*" >&2
  for f in "$OUT"/last.*; do [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
  exit 1
}
# expect STATUS CMD...: run CMD, keep its output in $OUT/last.{out,err}, check the exit status.
expect() {
  local want=$1; shift
  set +e; "$@" >"$OUT/last.out" 2>"$OUT/last.err"; local got=$?; set -e
  if [ "$want" = nonzero ]; then [ "$got" -ne 0 ] || fail "expected failure: $*"
  else [ "$got" -eq "$want" ] || fail "exit $got, expected $want: $*"; fi
}
host_entries() { host sh -c "ls $BM 2>/dev/null | grep -v -e '^register\$' -e '^status\$' || true"; }
host_mounted() { host sh -c "grep -q ' $BM binfmt_misc ' /proc/self/mounts"; }
# entry_field NAME FIELD: a line of the host's entry file (`interpreter`, `flags`), without the key.
entry_field() { host sh -c "sed -n 's/^$2:\? //p' $BM/$1" 2>/dev/null || true; }
# json PYTHON-EXPR: check $OUT/last.out, parsed as JSON into d.
json() {
  python3 -c "import json,sys; d=json.load(open('$OUT/last.out')); sys.exit(0 if ($1) else 1)" \
    || fail "JSON check failed: $1"
}
# supported: the `supported` list of $OUT/last.out, one per line; has PLATFORM: it is listed.
supported() { python3 -c "import json; print(' '.join(json.load(open('$OUT/last.out'))['supported'] or []))"; }
has() {
  python3 -c "import json,sys; sys.exit(sys.argv[1] not in (json.load(open('$OUT/last.out'))['supported'] or []))" "$1"
}

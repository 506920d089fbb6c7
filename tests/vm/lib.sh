# lib.sh — helpers of the VM scenario (sourced, POSIX sh for busybox): one assertion per line.
#
# Every assertion prints exactly one line, `PASS <what>` or `FAIL <what>: <why>`; `INFO <text>`
# lines are context only. Expectations that differ between kernels are computed here from the
# running kernel's version (and from vmtest.native= on the kernel command line), never skipped.

BM=/proc/sys/fs/binfmt_misc
OUT=/tmp/out

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; }
info() { echo "INFO $*"; }

# The last lines of a file, on one line.
tail_of() { tail -n "${2:-3}" "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-400; }

# check WHAT CMD...: PASS if CMD exits 0, else FAIL with its status and last output lines.
check() {
  what=$1; shift
  if "$@" >"$OUT" 2>&1; then pass "$what"; else fail "$what: exit $?: $(tail_of "$OUT")"; fi
}

# refuse WHAT CMD...: PASS if CMD fails.
refuse() {
  what=$1; shift
  if "$@" >"$OUT" 2>&1; then fail "$what: it succeeded: $(tail_of "$OUT")"; else pass "$what"; fi
}

# expect WHAT EXPECTED ACTUAL
expect() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# kernel_at_least MAJOR MINOR: the running kernel is MAJOR.MINOR or newer.
kernel_at_least() {
  r=$(uname -r); major=${r%%.*}; rest=${r#*.}; minor=${rest%%[!0-9]*}
  [ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -ge "$2" ]; }
}

# native TARGET: the virtual CPU runs TARGET itself (vmtest.native= on the kernel command line).
native() {
  case ",$NATIVE," in *",$1,"*) return 0 ;; esac
  return 1
}
NATIVE=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^vmtest\.native=//p')

# unmount_frees: the last unmount of binfmt_misc frees every entry. Upstream since 6.7; Debian's
# changelog says when a stable backport brought it to an older series (6.1.107): the host passes
# that as vmtest.umount_cleanup=backported.
unmount_frees() {
  kernel_at_least 6 7 || grep -q 'vmtest\.umount_cleanup=backported' /proc/cmdline
}

# The entry "another tool" registered (and registers again after a flush, as such tools do).
register_othertool() { echo ':othertool:E::othertool::/bin/busybox:' >"$BM/register"; }

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds or SECONDS pass.
wait_for() {
  n=$(($1 * 5)); shift
  while [ "$n" -gt 0 ]; do
    "$@" >/dev/null 2>&1 && return 0
    usleep 200000; n=$((n - 1))
  done
  return 1
}

# json_object KEY FILE: the flat JSON object under "KEY" in FILE, on one line.
json_object() { tr -d '\n' <"$2" | grep -o "\"$1\": *{[^}]*}" | head -n1; }
# json_value KEY TEXT: the scalar value of "KEY" in TEXT, quotes stripped.
json_value() {
  printf '%s' "$2" | grep -o "\"$1\": *[^,}]*" | head -n1 | sed 's/^"[^"]*": *//; s/^"//; s/" *$//; s/ *$//'
}

# The qemu-* entries registered now, sorted, on one line.
qemu_entries() { ls "$BM" 2>/dev/null | grep '^qemu-' | sort | tr '\n' ' ' | sed 's/ $//'; }

# binfmt_misc is mounted at $BM.
mounted() { grep -q " $BM binfmt_misc " /proc/mounts; }

# The entries binfmtd should register here: one per interpreter the guest has (i386's also
# serves i486), minus what the CPU runs natively. Computed from the files, not from binfmtd.
expected_entries() {
  for f in /usr/bin/qemu-* /usr/local/bin/qemu-*; do
    [ -e "$f" ] || continue
    t=${f##*/qemu-}; t=${t%-static}
    echo "$t"; [ "$t" = i386 ] && echo i486
  done | sort -u | while read -r t; do native "$t" || echo "qemu-$t"; done | tr '\n' ' ' | sed 's/ $//'
}

# entries_complete: every expected entry is registered and enabled.
entries_complete() {
  mounted || return 1
  for e in $(expected_entries); do grep -qx enabled "$BM/$e" 2>/dev/null || return 1; done
}

# fixture_runs PATH KIND UNAMES: PATH runs and prints what its kind should (busybox: `uname -m`
# in the comma-separated UNAMES, or any output when UNAMES is empty; ld.so: a version line).
fixture_runs() {
  case $2 in
    busybox) m=$("$1" uname -m 2>&1 </dev/null) || { echo "$m"; return 1; }
             [ -z "$3" ] || case ",$3," in *",$m,"*) ;; *) echo "printed $m"; return 1 ;; esac ;;
    ldso) v=$("$1" --version 2>&1 </dev/null) || { echo "$v" | head -n2; return 1; }
          echo "$v" | head -n1 | grep -q -i 'version' || { echo "printed $(echo "$v" | head -n1)"; return 1; } ;;
  esac
}

# One foreign busybox of this guest (for daemon and namespace checks).
FOREIGN=$(awk -F'\t' '$2 == "busybox" {print $1, $3}' /vm/fixtures.tsv | while read -r t p; do
  native "$t" || { echo "$p"; break; }
done)

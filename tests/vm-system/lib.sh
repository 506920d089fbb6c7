# lib.sh — helpers of the full-system scenario (sourced by run.sh, bash): one assertion per line.
#
# Every assertion prints exactly one line, `PASS (N) <what>` or `FAIL (N) <what>: <why>`, where N is
# the issue's step; `INFO <text>` lines are context (and the boot figures). Expectations come from
# the distribution's own files (/usr/lib/binfmt.d/qemu-*.conf), never from binfmtd.

BM=/proc/sys/fs/binfmt_misc
OUT=/tmp/vmsys.out
STEP=0

step() { STEP=$1; info "step $1: $2"; }
pass() { echo "PASS ($STEP) $*"; }
fail() { echo "FAIL ($STEP) $*"; }
info() { echo "INFO $*"; }

# The last lines of a file, on one line.
tail_of() { tail -n "${2:-4}" "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-500; }

# check WHAT CMD...: PASS if CMD exits 0, else FAIL with its status and last output lines.
check() {
  local what=$1; shift
  if "$@" >"$OUT" 2>&1; then pass "$what"; else fail "$what: exit $?: $(tail_of "$OUT")"; fi
}
# refuse WHAT CMD...: PASS if CMD fails.
refuse() {
  local what=$1; shift
  if "$@" >"$OUT" 2>&1; then fail "$what: it succeeded: $(tail_of "$OUT")"; else pass "$what"; fi
}
# expect WHAT EXPECTED ACTUAL
expect() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi; }

# wait_ms MS CMD...: poll CMD every 50 ms until it succeeds or MS pass; prints the time taken.
wait_ms() {
  local limit=$1 start now; shift
  start=$(date +%s%N)
  while :; do
    now=$(date +%s%N)
    # A success counts only if the check that saw it started within the limit.
    [ $(((now - start) / 1000000)) -gt "$limit" ] && { echo "$limit+"; return 1; }
    if "$@" >/dev/null 2>&1; then echo $(((now - start) / 1000000)); return 0; fi
    sleep 0.05
  done
}

# within WHAT MS CMD...: PASS if CMD succeeds within MS milliseconds (the time is in the line).
within() {
  local what=$1 limit=$2 took; shift 2
  if took=$(wait_ms "$limit" "$@"); then pass "$what (after ${took} ms)"
  else "$@" >"$OUT" 2>&1; fail "$what: not within $limit ms: $(tail_of "$OUT" 6)"; fi
}

# The distribution's QEMU entries: "NAME INTERPRETER" per line, from its binfmt.d files (the
# host's own targets excluded: the CPU runs them).
distro_entries() {
  local f
  for f in /usr/lib/binfmt.d/qemu-*.conf; do
    [ -e "$f" ] || continue
    grep -v '^#' "$f" | awk -F: 'NF > 7 {print $2, $7}'
  done | grep -v -E '^qemu-(x86_64|i386|i486) ' | sort
}
distro_names() { distro_entries | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//'; }
# Distribution entries of targets QEMU itself dropped, so binfmtd has no row for them and they stay
# the distribution's: Debian 12's qemu-user-static 7.2 still ships cris (deprecated in QEMU 9.0,
# gone from Debian 13's 10.0). Fixed here, not asked from binfmtd.
DROPPED_BY_QEMU="qemu-cris"
dropped() { case " $DROPPED_BY_QEMU " in *" $1 "*) return 0 ;; esac; return 1; }
# The distribution entries binfmtd must serve: every one but those.
served_names() { local n; for n in $(distro_names); do dropped "$n" || echo "$n"; done | tr '\n' ' ' | sed 's/ $//'; }
# dropped_stay_distro: each dropped target present is still the distribution's (entry and file).
dropped_stay_distro() {
  local n want bad=
  while read -r n want; do
    dropped "$n" || continue
    { enabled "$n" && [ "$(field "$n" interpreter)" = "$want" ] && [ ! -e "/etc/binfmt.d/$n.conf" ]; } ||
      bad="$bad $n"
  done < <(distro_entries)
  [ -z "$bad" ] || { echo "not the distribution's (or masked):$bad"; return 1; }
}

field() { sed -n "s/^$2 //p" "$BM/$1" 2>/dev/null; }
enabled() { [ "$(head -n1 "$BM/$1" 2>/dev/null)" = enabled ]; }

# served_by_binfmtd NAME: enabled, F in flags, interpreter in binfmtd's store.
served_by_binfmtd() {
  enabled "$1" && case $(field "$1" flags:) in *F*) ;; *) return 1 ;; esac &&
    case $(field "$1" interpreter) in /var/lib/binfmtd/*) ;; *) return 1 ;; esac
}
# all_persisted: every distribution target binfmtd knows is served by binfmtd from a persisted
# install's interpreters (/usr/local/lib/binfmtd/qemu, issue 14's bug 9); prints the others.
all_persisted() {
  local n bad=
  for n in $(served_names); do
    { enabled "$n" && case $(field "$n" flags:) in *F*) ;; *) false ;; esac &&
      case $(field "$n" interpreter) in /usr/local/lib/binfmtd/qemu/*) ;; *) false ;; esac; } ||
      bad="$bad $n=$(enabled "$n" && field "$n" interpreter || echo absent)"
  done
  [ -z "$bad" ] || { echo "not from the persisted install:$bad" | cut -c1-400; return 1; }
}
# all_binfmtd: every distribution target binfmtd knows is served by binfmtd; prints the others.
all_binfmtd() {
  local n bad=
  for n in $(served_names); do served_by_binfmtd "$n" || bad="$bad $n=$(enabled "$n" && field "$n" interpreter || echo absent)"; done
  [ -z "$bad" ] || { echo "not binfmtd's:$bad" | cut -c1-400; return 1; }
}
# all_distro: every distribution entry is registered, enabled, with the distribution's interpreter.
all_distro() {
  local n want bad=
  while read -r n want; do
    enabled "$n" && [ "$(field "$n" interpreter)" = "$want" ] || bad="$bad $n=$(enabled "$n" && field "$n" interpreter || echo absent)"
  done < <(distro_entries)
  [ -z "$bad" ] || { echo "not the distribution's:$bad" | cut -c1-400; return 1; }
}

# The non-QEMU entry systemd-binfmt registers from /etc/binfmt.d/vmsys-shx.conf (tests/vm-system/stage).
shx_untouched() { enabled vmsys-shx && [ "$(field vmsys-shx interpreter)" = /bin/sh ]; }
# Other non-QEMU entries (binfmt-support's, python's…) as they are now: "name interpreter" lines.
non_qemu_snapshot() {
  local e
  for e in "$BM"/*; do
    e=${e##*/}
    case $e in register|status|qemu-*|fakeemu-*) continue ;; esac
    echo "$e $(head -n1 "$BM/$e") $(field "$e" interpreter)"
  done
}

# arm64 busybox in a chroot whose rootfs has no QEMU at all (only an F-pinned entry can run it).
arm64_chroot() { [ "$(chroot /srv/arm64 /bin/busybox uname -m 2>&1)" = aarch64 ]; }

# The binfmtd unit's journal of this boot.
binfmtd_journal() { journalctl -b -o cat -u binfmtd.service --no-pager 2>/dev/null; }

# check_dropped: the dropped targets' entries stay the distribution's, where the suite has any.
check_dropped() {
  local present=
  for n in $DROPPED_BY_QEMU; do grep -q "^$n " < <(distro_entries) && present="$present $n"; done
  if [ -n "$present" ]; then
    check "targets QEMU dropped stay the distribution's, unmasked:$present" dropped_stay_distro
  else
    info "no distribution entry of a target QEMU dropped ($DROPPED_BY_QEMU)"
  fi
}

#!/usr/bin/env bash
# fixtures.sh — download real foreign-architecture binaries from Debian's archive for the tests.
#
# Nothing is installed and the machine's apt state is untouched: private apt configurations (one
# per suite: bookworm, sid, trixie, bookworm-backports) live under $FIXTURES/apt, packages are
# downloaded into $FIXTURES/debs/<suite> and unpacked with `dpkg-deb -x` into
# $FIXTURES/pkg/<suite>/<package>_<arch>. The result is cached: a package already unpacked is not
# fetched again.
#
# Output: $FIXTURES/manifest.tsv, one line per binary:
#   <expected target or "-"> TAB <kind> TAB <path relative to $FIXTURES> TAB <package>
# kind is `busybox` (run `busybox uname -m`), `ldso` (run `ld.so --version`), or `none`
# (a negative vector: no QEMU row may match it).
# Also QEMU builds other than the machine's own 7.2 (Debian's `qemu-user` is static since 9.1), as
# $FIXTURES/qemu-<suite>/usr/bin/qemu-<target>:
#   qemu-sid      the newest (loong64 binaries need more than bookworm's 7.2);
#   qemu-trixie   Debian 13's 10.0.x (interpreter-selection tests: two real versions; benchmark);
#   qemu-bookworm-backports  10.0.x for Debian 12, only if the mirror carries bookworm-backports
#                 (the emulated-work benchmark, `cargo xtask bench emulated`).
# And $FIXTURES/busybox-trixie/<target>/busybox: Debian 13's busybox-static for the benchmark's targets
# (built with arm64 pointer authentication, like current distributions' binaries; bookworm's is not).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIXTURES=${BINFMTD_FIXTURES:-$ROOT/target/fixtures}
mkdir -p "$FIXTURES/debs" "$FIXTURES/pkg" "$FIXTURES/apt"

log() { printf 'fixtures: %s\n' "$*" >&2; }

mirror() {
  local m
  m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# private_apt SUITE "ARCH ..." [optional] — set up (once) and refresh (at most daily) a private apt
# config. A failed refresh exits, or returns 1 when `optional` is given.
private_apt() {
  local suite=$1 arches=$2 optional=${3:-} a="$FIXTURES/apt/$1" list=""
  for x in $arches; do list="$list\"$x\"; "; done
  mkdir -p "$a/etc/sources.list.d" "$a/etc/preferences.d" "$a/lists/partial" "$a/cache/archives/partial"
  [ -f "$a/status" ] || : >"$a/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg check-valid-until=no] $(mirror) $suite main" >"$a/etc/sources.list"
  cat >"$a/apt.conf.new" <<EOF
Dir::Etc::SourceList "$a/etc/sources.list";
Dir::Etc::SourceParts "$a/etc/sources.list.d";
Dir::Etc::Preferences "$a/etc/preferences";
Dir::Etc::PreferencesParts "$a/etc/preferences.d";
Dir::State::Lists "$a/lists";
Dir::State::status "$a/status";
Dir::Cache "$a/cache";
APT::Architectures { $list };
APT::Sandbox::User "root";
Acquire::Languages "none";
EOF
  # A changed configuration (another architecture) invalidates the lists.
  if cmp -s "$a/apt.conf.new" "$a/apt.conf"; then rm "$a/apt.conf.new"; else
    mv "$a/apt.conf.new" "$a/apt.conf" && rm -f "$a"/lists/*Packages*
  fi
  if [ -z "$(find "$a/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
    log "updating private apt lists for $suite ($arches)"
    if ! apt-get -q -c "$a/apt.conf" update >"$a/update.log" 2>&1; then
      [ -n "$optional" ] && return 1
      cat "$a/update.log" >&2; exit 1
    fi
  fi
}

# deb_of SUITE PACKAGE[:ARCH] — the downloaded .deb of that package (Architecture: all without :ARCH).
deb_of() {
  local name=${2%%:*} arch=all
  [ "$name" = "$2" ] || arch=${2#*:}
  ls -t "$FIXTURES/debs/$1/${name}"_*_"$arch".deb 2>/dev/null | head -n1
}

# prefetch SUITE PACKAGE[:ARCH]... — download, in one apt-get call, every package not unpacked
# or downloaded yet (each apt-get call re-reads the whole index: one call per package is slow).
# With OPTIONAL=1 in the environment a failed download returns 1 instead of exiting.
prefetch() {
  local suite=$1 missing=() pkg
  shift
  mkdir -p "$FIXTURES/debs/$suite"
  for pkg in "$@"; do
    [ -f "$FIXTURES/pkg/$suite/${pkg/:/_}/.done" ] || [ -n "$(deb_of "$suite" "$pkg")" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "downloading ${#missing[@]} packages from $suite"
  if ! (cd "$FIXTURES/debs/$suite" && apt-get -q -c "$FIXTURES/apt/$suite/apt.conf" download \
    "${missing[@]}" >"$FIXTURES/debs/$suite.log" 2>&1); then
    [ "${OPTIONAL:-}" = 1 ] && return 1
    cat "$FIXTURES/debs/$suite.log" >&2; log "cannot download from $suite: ${missing[*]}"; exit 1
  fi
}

# fetch SUITE PACKAGE[:ARCH] — unpack the (prefetched) package into
# $FIXTURES/pkg/<suite>/<package>_<arch>; echo that directory.
fetch() {
  local suite=$1 pkg=$2 dir="$FIXTURES/pkg/$1/${2/:/_}" deb
  if [ ! -f "$dir/.done" ]; then
    deb=$(deb_of "$suite" "$pkg")
    [ -n "$deb" ] || { log "$pkg ($suite) was not downloaded"; exit 1; }
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    touch "$dir/.done"
  fi
  echo "$dir"
}

manifest=$FIXTURES/manifest.tsv.new
: >"$manifest"
# first_elf DIR NAME — the first regular file called NAME under DIR that is an ELF file.
first_elf() {
  local f
  while IFS= read -r f; do
    [ "$(head -c4 "$f" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] && { echo "$f"; return; }
  done < <(find "$1" -type f -name "$2" | sort)
  log "no ELF file named $2 under $1"; exit 1
}

add() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3#"$FIXTURES"/}" "$4" >>"$manifest"; }

private_apt bookworm "amd64 arm64 armhf armel i386 ppc64el s390x mipsel mips64el"
private_apt sid "amd64 riscv64 loong64"
TRIXIE_BUSYBOX="aarch64:arm64 arm:armhf riscv64:riscv64 s390x:s390x ppc64le:ppc64el"
trixie=(qemu-user:amd64) trixie_arches=amd64
for pair in $TRIXIE_BUSYBOX; do trixie+=("busybox-static:${pair#*:}") trixie_arches+=" ${pair#*:}"; done
private_apt trixie "$trixie_arches"

# busybox-static: target <- Debian architecture.
BOOKWORM_BUSYBOX="aarch64:arm64 arm:armhf arm:armel i386:i386 ppc64le:ppc64el s390x:s390x mipsel:mipsel mips64el:mips64el"
SID_BUSYBOX="riscv64:riscv64 loongarch64:loong64"
# glibc's dynamic loader from libc6-<arch>-cross (Architecture: all), for targets without busybox-static.
# Format: target:package-arch. "-" marks a negative vector (an ABI that QEMU cannot run).
CROSS="hppa:hppa m68k:m68k ppc:powerpc ppc64:ppc64 sh4:sh4 sparc64:sparc64 sparc32plus:sparc-sparc64
  mips:mips mipsel:mipsel mipsn32:mipsn32 mipsn32el:mipsn32el mips64:mips64 mips64el:mips64el
  mips:mipsr6 mipsel:mipsr6el mipsn32:mipsn32r6 mipsn32el:mipsn32r6el mips64:mips64r6 mips64el:mips64r6el
  loongarch64:loong64 riscv64:riscv64 s390x:s390x aarch64:arm64 -:x32 -:arc"
bw=() sid=(qemu-user:amd64)
for pair in $BOOKWORM_BUSYBOX; do bw+=("busybox-static:${pair#*:}"); done
for pair in $SID_BUSYBOX; do sid+=("busybox-static:${pair#*:}"); done
for pair in $CROSS; do sid+=("libc6-${pair#*:}-cross"); done
prefetch bookworm "${bw[@]}"
prefetch sid "${sid[@]}"
prefetch trixie "${trixie[@]}"

for pair in $BOOKWORM_BUSYBOX; do
  t=${pair%%:*} arch=${pair#*:}
  d=$(fetch bookworm "busybox-static:$arch")
  add "$t" busybox "$(first_elf "$d" busybox)" "busybox-static:$arch (bookworm)"
done
for pair in $SID_BUSYBOX; do
  t=${pair%%:*} arch=${pair#*:}
  d=$(fetch sid "busybox-static:$arch")
  add "$t" busybox "$(first_elf "$d" busybox)" "busybox-static:$arch (sid)"
done

for pair in $CROSS; do
  t=${pair%%:*} arch=${pair#*:}
  d=$(fetch sid "libc6-$arch-cross")
  ldso=$(find "$d/usr" -type f \( -name 'ld-*.so*' -o -name 'ld.so*' -o -name 'ld64.so*' \) | sort | head -n1)
  [ -n "$ldso" ] || { log "no dynamic loader in libc6-$arch-cross"; exit 1; }
  kind=ldso; [ "$t" = - ] && kind=none
  add "$t" "$kind" "$ldso" "libc6-$arch-cross (sid)"
done

mkdir -p "$FIXTURES/busybox-trixie"
for pair in $TRIXIE_BUSYBOX; do
  d=$(fetch trixie "busybox-static:${pair#*:}")
  # busybox picks its applet by its name: link the directory, keep the file name
  ln -sfn "$(dirname "$(first_elf "$d" busybox)")" "$FIXTURES/busybox-trixie/${pair%%:*}"
done

# Static QEMU builds other than the machine's 7.2: sid's (loong64 binaries need it) and trixie's.
# qemu_build SUITE — link $FIXTURES/qemu-<suite> to its unpacked qemu-user and check it runs.
qemu_build() {
  local d
  d=$(fetch "$1" qemu-user:amd64)
  "$d/usr/bin/qemu-aarch64" --version >/dev/null || { log "$1's qemu-aarch64 does not run"; exit 1; }
  ln -sfn "$d" "$FIXTURES/qemu-$1"
}
qemu_build sid
qemu_build trixie
# bookworm-backports' (its qemu-user-static is a transitional package; qemu-user holds the static
# binaries), only where the mirror has the suite: the benchmark reports its absence.
if private_apt bookworm-backports "amd64" optional && OPTIONAL=1 prefetch bookworm-backports qemu-user:amd64; then
  qemu_build bookworm-backports
else
  log "bookworm-backports' qemu-user is not available from $(mirror); going on without it"
  rm -f "$FIXTURES/qemu-bookworm-backports"
fi

mv "$manifest" "$FIXTURES/manifest.tsv"
log "$(wc -l <"$FIXTURES/manifest.tsv") binaries listed in $FIXTURES/manifest.tsv"

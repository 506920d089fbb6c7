#!/usr/bin/env bash
# fixtures.sh — download real foreign-architecture binaries from Debian's archive for the tests.
#
# Nothing is installed and the machine's apt state is untouched: two private apt configurations
# (bookworm and sid) live under $FIXTURES/apt, packages are downloaded and unpacked with
# `dpkg-deb -x`. The result is cached: a package already unpacked is not fetched again.
#
# Output: $FIXTURES/manifest.tsv, one line per binary:
#   <expected target or "-"> TAB <kind> TAB <path relative to $FIXTURES> TAB <package>
# kind is `busybox` (run `busybox uname -m`), `ldso` (run `ld.so --version`), or `none`
# (a negative vector: no QEMU row may match it).
# Also $FIXTURES/qemu-sid/usr/bin/qemu-*: sid's newer static QEMU (for loong64, which bookworm's
# QEMU 7.2 cannot run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIXTURES=${BINFMTD_FIXTURES:-$ROOT/target/fixtures}
mkdir -p "$FIXTURES/debs" "$FIXTURES/apt"

log() { printf 'fixtures: %s\n' "$*" >&2; }

mirror() {
  local m
  m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# private_apt SUITE "ARCH ..." — set up (once) and refresh (at most daily) a private apt config.
private_apt() {
  local suite=$1 arches=$2 a="$FIXTURES/apt/$1" list=""
  for x in $arches; do list="$list\"$x\"; "; done
  mkdir -p "$a/etc/sources.list.d" "$a/etc/preferences.d" "$a/lists/partial" "$a/cache/archives/partial"
  [ -f "$a/status" ] || : >"$a/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg check-valid-until=no] $(mirror) $suite main" >"$a/etc/sources.list"
  cat >"$a/apt.conf" <<EOF
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
  if [ -z "$(find "$a/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
    log "updating private apt lists for $suite ($arches)"
    apt-get -q -c "$a/apt.conf" update >"$a/update.log" 2>&1 || { cat "$a/update.log" >&2; exit 1; }
  fi
}

# deb_of PACKAGE[:ARCH] — the downloaded .deb of that package (Architecture: all without :ARCH).
deb_of() {
  local name=${1%%:*} arch=all
  [ "$name" = "$1" ] || arch=${1#*:}
  ls -t "$FIXTURES/debs/${name}"_*_"$arch".deb 2>/dev/null | head -n1
}

# prefetch SUITE PACKAGE[:ARCH]... — download, in one apt-get call, every package not unpacked
# or downloaded yet (each apt-get call re-reads the whole index: one call per package is slow).
prefetch() {
  local suite=$1 missing=() pkg
  shift
  for pkg in "$@"; do
    [ -f "$FIXTURES/pkg/${pkg/:/_}/.done" ] || [ -n "$(deb_of "$pkg")" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "downloading ${#missing[@]} packages from $suite"
  (cd "$FIXTURES/debs" && apt-get -q -c "$FIXTURES/apt/$suite/apt.conf" download "${missing[@]}" \
    >"$FIXTURES/debs/$suite.log" 2>&1) ||
    { cat "$FIXTURES/debs/$suite.log" >&2; log "cannot download from $suite: ${missing[*]}"; exit 1; }
}

# fetch PACKAGE[:ARCH] — unpack the (prefetched) package into $FIXTURES/pkg/<name>; echo that directory.
fetch() {
  local pkg=$1 dir="$FIXTURES/pkg/${1/:/_}" deb
  if [ ! -f "$dir/.done" ]; then
    deb=$(deb_of "$pkg")
    [ -n "$deb" ] || { log "$pkg was not downloaded"; exit 1; }
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

for pair in $BOOKWORM_BUSYBOX; do
  t=${pair%%:*} arch=${pair#*:}
  d=$(fetch "busybox-static:$arch")
  add "$t" busybox "$(first_elf "$d" busybox)" "busybox-static:$arch (bookworm)"
done
for pair in $SID_BUSYBOX; do
  t=${pair%%:*} arch=${pair#*:}
  d=$(fetch "busybox-static:$arch")
  add "$t" busybox "$(first_elf "$d" busybox)" "busybox-static:$arch (sid)"
done

for pair in $CROSS; do
  t=${pair%%:*} arch=${pair#*:}
  d=$(fetch "libc6-$arch-cross")
  ldso=$(find "$d/usr" -type f \( -name 'ld-*.so*' -o -name 'ld.so*' -o -name 'ld64.so*' \) | sort | head -n1)
  [ -n "$ldso" ] || { log "no dynamic loader in libc6-$arch-cross"; exit 1; }
  kind=ldso; [ "$t" = - ] && kind=none
  add "$t" "$kind" "$ldso" "libc6-$arch-cross (sid)"
done

# A newer static QEMU than bookworm's 7.2 (loong64 binaries need it).
d=$(fetch "qemu-user:amd64")
ln -sfn "$d" "$FIXTURES/qemu-sid"

mv "$manifest" "$FIXTURES/manifest.tsv"
log "$(wc -l <"$FIXTURES/manifest.tsv") binaries listed in $FIXTURES/manifest.tsv"

#!/usr/bin/env bash
# debian-fetch.sh SUITE PACKAGE:ARCH... — Debian packages for the container image, without apt-installing.
#
# The image must not depend on the build host's packages (Debian 12 has QEMU 7.2; the image ships
# the current stable's): a private apt configuration per SUITE under $CACHE/apt/SUITE (lists
# refreshed at most daily, signatures checked with the machine's debian-archive-keyring) downloads
# each .deb, and `dpkg-deb -x` unpacks it into $CACHE/pkg/NAME_ARCH_VERSION (cached: a version
# already unpacked is not fetched again). The machine's apt state is untouched.
# A stable codename (trixie) also reads SUITE-updates and SUITE-security; sid reads sid only.
# Prints one line per package: `PACKAGE:ARCH<TAB>VERSION<TAB>DIRECTORY`.
# CACHE is $BINFMTD_IMAGE_CACHE, default target/image/debian.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${BINFMTD_IMAGE_CACHE:-$ROOT/target/image/debian}
suite=${1:?usage: debian-fetch.sh SUITE PACKAGE:ARCH...}; shift
[ $# -gt 0 ] || { echo "usage: debian-fetch.sh SUITE PACKAGE:ARCH..." >&2; exit 2; }
log() { printf 'debian-fetch: %s\n' "$*" >&2; }

# The machine's mirrors (deb822 or one-line format), else deb.debian.org.
uris() { awk '/^URIs:/{print $2} /^deb /{print $2}' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; }
main=$(uris | grep -v -- '-security' | head -n1); main=${main:-http://deb.debian.org/debian}
security=$(uris | grep -- '-security' | head -n1); security=${security:-http://deb.debian.org/debian-security}

a="$CACHE/apt/$suite"
# The architectures asked for, plus those the configuration already has (no list churn).
arches=$({ printf '%s\n' "$@" | sed 's/.*://'
  # (none on the first run: no apt.conf yet)
  [ ! -f "$a/apt.conf" ] || sed -n 's/^APT::Architectures { \(.*\)};$/\1/p' "$a/apt.conf" | tr -d '";' | tr ' ' '\n'
} | grep -v '^$' | sort -u)
mkdir -p "$a/etc/sources.list.d" "$a/etc/preferences.d" "$a/lists/partial" "$a/cache/archives/partial" "$CACHE/debs"
[ -f "$a/status" ] || : >"$a/status"
key="signed-by=/usr/share/keyrings/debian-archive-keyring.gpg"
{
  echo "deb [$key] $main $suite main"
  case $suite in
    sid | unstable | experimental | *-*) ;;
    *) echo "deb [$key] $main $suite-updates main"; echo "deb [$key] $security $suite-security main" ;;
  esac
} >"$a/etc/sources.list.new"
list=""; for x in $arches; do list="$list\"$x\"; "; done
cat >"$a/apt.conf.new" <<EOF
Dir::Etc::SourceList "$a/etc/sources.list";
Dir::Etc::SourceParts "$a/etc/sources.list.d";
Dir::Etc::Preferences "$a/etc/preferences";
Dir::Etc::PreferencesParts "$a/etc/preferences.d";
Dir::State::Lists "$a/lists";
Dir::State::status "$a/status";
Dir::Cache "$a/cache";
APT::Architectures { $list};
APT::Sandbox::User "root";
Acquire::Languages "none";
EOF
fresh=$(find "$a/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -n1)
if ! cmp -s "$a/apt.conf.new" "$a/apt.conf" || ! cmp -s "$a/etc/sources.list.new" "$a/etc/sources.list" ||
  [ -z "$fresh" ]; then
  mv "$a/apt.conf.new" "$a/apt.conf"; mv "$a/etc/sources.list.new" "$a/etc/sources.list"
  log "updating the private apt lists for $suite ($(echo $arches))"
  apt-get -q -c "$a/apt.conf" update >"$a/update.log" 2>&1 || { cat "$a/update.log" >&2; exit 1; }
fi
rm -f "$a/apt.conf.new" "$a/etc/sources.list.new"

# The candidate version of each package (one apt-cache call: each one reads every list);
# download the ones not unpacked yet, in one apt-get call.
for p in "$@"; do
  [ "$p" != "${p%%:*}" ] || { log "$p: give the architecture (PACKAGE:ARCH)"; exit 2; }
done
mapfile -t candidates < <(apt-cache -c "$a/apt.conf" policy "$@" | awk '/Candidate:/{print $2}')
declare -A version
missing=()
i=0
for p in "$@"; do
  v=${candidates[$i]:-}; i=$((i + 1))
  if [ ${#candidates[@]} -ne $# ] || [ -z "$v" ] || [ "$v" = "(none)" ]; then
    for q in "$@"; do
      c=$(apt-cache -c "$a/apt.conf" policy "$q" | awk '/Candidate:/{print $2}')
      [ -n "$c" ] && [ "$c" != "(none)" ] || log "$q is not in $suite (for $(echo $arches))"
    done
    exit 1
  fi
  version[$p]=$v
  [ -f "$CACHE/pkg/${p/:/_}_${v//:/%3a}/.done" ] || missing+=("$p=$v")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "downloading ${missing[*]} from $suite"
  (cd "$CACHE/debs" && apt-get -q -c "$a/apt.conf" download "${missing[@]}" >"$CACHE/debs/$suite.log" 2>&1) ||
    { cat "$CACHE/debs/$suite.log" >&2; exit 1; }
fi
for p in "$@"; do
  v=${version[$p]} name=${p%%:*} arch=${p#*:}
  dir="$CACHE/pkg/${p/:/_}_${v//:/%3a}"
  if [ ! -f "$dir/.done" ]; then
    deb="$CACHE/debs/${name}_${v//:/%3a}_$arch.deb"
    [ -f "$deb" ] || { log "$deb was not downloaded"; exit 1; }
    rm -rf "$dir" && mkdir -p "$dir" && dpkg-deb -x "$deb" "$dir" && touch "$dir/.done"
    rm -f "$deb"
  fi
  printf '%s\t%s\t%s\n' "$p" "$v" "$dir"
done

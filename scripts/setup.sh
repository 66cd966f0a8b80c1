#!/usr/bin/env bash
# One-time (idempotent) machine set-up for StochasticInterpolants.
#  1. TorchSharp's native shim (libLibTorchSharp.so) needs GLIBCXX_3.4.32; Debian 12 ships 3.4.30.
#     On Debian 12 as root we take libstdc++6 from Debian 13 (trixie) through an apt source pinned
#     *below* bookworm, so nothing else is upgraded unless asked for with -t trixie.
#  2. fonts-dejavu-core so figures carry text, libtcmalloc-minimal4 so native memory stays flat, mpich (MPICH's mpiexec
#     and libmpich.so.12) for data-parallel runs under mpiexec; a plain run never loads MPI.
#  3. dotnet restore + build (Release) of the whole solution.
# Usage: scripts/setup.sh [--no-build | PROJECT]   (default: build the whole solution)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK is required (dotnet not on PATH); install it from your distribution or Microsoft's packages"

libstdcxx() {
  local f
  for f in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 /{print $NF; exit}'
}

has_glibcxx_3432() {
  local f; f="$(libstdcxx)"; [ -n "$f" ] || return 1
  grep -aq 'GLIBCXX_3\.4\.32' "$f"
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 97; fi; }

apt_updated=0
apt_update() { [ $apt_updated = 1 ] || { as_root apt-get update -qq >/dev/null; apt_updated=1; }; }

missing_pkgs=()
[ -d /usr/share/fonts/truetype/dejavu ] || missing_pkgs+=(fonts-dejavu-core)
ls /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4* >/dev/null 2>&1 || missing_pkgs+=(libtcmalloc-minimal4)
{ command -v mpiexec >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libmpich\.so\.12'; } || missing_pkgs+=(mpich)

if ! has_glibcxx_3432; then
  if [ "$(uname -s)" != Linux ] || [ ! -r /etc/debian_version ]; then
    die "TorchSharp needs libstdc++ with GLIBCXX_3.4.32 (GCC 13+); install a newer libstdc++6 for your OS"
  fi
  . /etc/os-release
  if [ "${VERSION_CODENAME:-}" != bookworm ]; then
    die "TorchSharp needs libstdc++ with GLIBCXX_3.4.32 (GCC 13+); this ${PRETTY_NAME:-Debian} lacks it: install libstdc++6 >= 13"
  fi
  as_root true || die "TorchSharp needs GLIBCXX_3.4.32; run as root (or with sudo) once, or install libstdc++6 from Debian 13: apt-get install -t trixie libstdc++6"
  log "libstdc++ lacks GLIBCXX_3.4.32: adding a pinned Debian 13 (trixie) source and upgrading libstdc++6"
  as_root tee /etc/apt/sources.list.d/si-trixie.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  as_root tee /etc/apt/preferences.d/si-trixie-pin >/dev/null <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  apt_update
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -t trixie libstdc++6 >/dev/null \
    || die "apt-get install -t trixie libstdc++6 failed"
  has_glibcxx_3432 || die "libstdc++6 was upgraded but still lacks GLIBCXX_3.4.32"
  log "libstdc++ now provides GLIBCXX_3.4.32"
fi

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if as_root true 2>/dev/null && command -v apt-get >/dev/null; then
    log "installing ${missing_pkgs[*]}"
    apt_update
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends -t bookworm "${missing_pkgs[@]}" >/dev/null 2>&1 \
      || DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null \
      || log "warning: could not install ${missing_pkgs[*]} (figures may lack text; memory may grow; no mpiexec)"
  else
    log "warning: not root; optional packages missing: ${missing_pkgs[*]}"
  fi
fi

if [ "${1:-}" != --no-build ]; then
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
  target="${1:-$here/StochasticInterpolants.slnx}"
  log "restoring and building $(basename "$target") (Release)"
  dotnet build "$target" -c Release -nologo -v q -clp:NoSummary >&2 \
    || die "build failed"
fi

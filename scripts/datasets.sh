#!/usr/bin/env bash
# Real tables for the benchmarks, kept in a cache folder: scikit-learn's bundled data sets (iris, wine, breast cancer,
# diabetes), taken from Debian's python3-sklearn package with apt-get download + dpkg-deb -x (nothing is installed).
# Usage: scripts/datasets.sh sklearn
#   Makes sure iris.csv, wine_data.csv, breast_cancer.csv and diabetes.csv (gunzipped diabetes_data_raw.csv.gz) are in
#   ${SI_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/stochastic-interpolants/datasets}/sklearn/ and prints that folder on
#   stdout (messages go to stderr). Idempotent: once the files are there it only prints the folder.
set -euo pipefail
log() { printf '[datasets] %s\n' "$*" >&2; }
die() { printf '[datasets] error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: %s sklearn\n' "$(basename "$0")" >&2; exit 2; }

cache="${SI_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/stochastic-interpolants/datasets}"

sklearn() {
  local dir="$cache/sklearn" files=(iris.csv wine_data.csv breast_cancer.csv diabetes.csv) f missing=()
  for f in "${files[@]}"; do [ -s "$dir/$f" ] || missing+=("$f"); done
  if [ ${#missing[@]} -eq 0 ]; then echo "$dir"; return 0; fi

  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 \
    || die "apt-get and dpkg-deb are needed to fetch Debian's python3-sklearn (the tables' source); on another system put ${files[*]} into $dir yourself"
  log "fetching scikit-learn's tables from Debian's python3-sklearn (downloaded and unpacked, not installed) into $dir"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/si-datasets.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  local err
  if ! err="$(cd "$tmp" && apt-get download -q python3-sklearn 2>&1 >/dev/null)"; then
    # Usually an empty or stale package list; only root can refresh it.
    [ "$(id -u)" = 0 ] || die "apt-get download python3-sklearn failed (run 'apt-get update' as root, then retry): ${err//$'\n'/ }"
    log "apt-get download failed; running apt-get update and retrying"
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
    err="$(cd "$tmp" && apt-get download -q python3-sklearn 2>&1 >/dev/null)" \
      || die "apt-get download python3-sklearn failed: ${err//$'\n'/ }"
  fi
  local deb
  deb="$(ls "$tmp"/python3-sklearn_*.deb 2>/dev/null | head -n 1)"
  [ -n "$deb" ] || die "apt-get download left no python3-sklearn_*.deb in $tmp"
  dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $(basename "$deb") failed"
  local src
  src="$(find "$tmp/root" -type f -path '*/sklearn/datasets/data/iris.csv' -printf '%h\n' | head -n 1)"
  [ -n "$src" ] || die "$(basename "$deb") holds no sklearn/datasets/data/iris.csv"
  mkdir -p "$dir"
  # Each file is written beside its final name and renamed into place, so a reader never sees half a table.
  for f in iris.csv wine_data.csv breast_cancer.csv; do
    [ -s "$src/$f" ] || die "$(basename "$deb") lacks sklearn/datasets/data/$f"
    cp "$src/$f" "$dir/.$f.part" && mv -f "$dir/.$f.part" "$dir/$f"
  done
  [ -s "$src/diabetes_data_raw.csv.gz" ] || die "$(basename "$deb") lacks sklearn/datasets/data/diabetes_data_raw.csv.gz"
  gunzip -c "$src/diabetes_data_raw.csv.gz" >"$dir/.diabetes.csv.part" && mv -f "$dir/.diabetes.csv.part" "$dir/diabetes.csv"
  log "$(basename "$deb"): ${files[*]} in $dir"
  echo "$dir"
}

[ $# -eq 1 ] || usage
case "$1" in
  sklearn) sklearn ;;
  -h|--help) usage ;;
  *) printf '[datasets] error: unknown data set collection '\''%s'\'' (expected sklearn)\n' "$1" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Runs the test suite from a fresh machine: set-up (native check, restore, build), then `dotnet test`,
# then a plain "N passed, N failed" line for CI. Extra arguments go to `dotnet test` (e.g. --filter Interpolants).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh" || exit 1
# The report test opens report.html in headless Chromium (Debian's chromium), installed here when missing.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[test] installing chromium for the report test" >&2
    (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm chromium >/dev/null 2>&1) \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
      || echo "[test] warning: could not install chromium; the headless-browser report test will fail" >&2
  else
    echo "[test] warning: chromium is missing and this is not root; the headless-browser report test will fail" >&2
  fi
fi
tc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [ -e "$tc" ] && [[ "${LD_PRELOAD:-}" != *tcmalloc* ]]; then export LD_PRELOAD="$tc${LD_PRELOAD:+:$LD_PRELOAD}"; fi
results="$(mktemp -d)"
dotnet test "$here/tests/StochasticInterpolants.Tests/StochasticInterpolants.Tests.csproj" -c Release --no-build \
  --logger "trx;LogFileName=results.trx" --results-directory "$results" --logger "console;verbosity=normal" "$@"
code=$?
trx="$results/results.trx"
if [ -f "$trx" ]; then
  passed=$(grep -o 'passed="[0-9]*"' "$trx" | head -1 | tr -dc 0-9)
  failed=$(grep -o 'failed="[0-9]*"' "$trx" | head -1 | tr -dc 0-9)
  skipped=$(grep -o 'notExecuted="[0-9]*"' "$trx" | head -1 | tr -dc 0-9)
  if [ "${failed:-0}" != 0 ]; then
    # CI keeps only the tail of the log: repeat each failure's name and first message lines here.
    echo "--- failed tests ---"
    python3 - "$trx" <<'PY' || grep -o 'testName="[^"]*" [^>]*outcome="Failed"' "$trx"
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") != "Failed":
        continue
    msg = r.find(".//t:ErrorInfo/t:Message", ns)
    st = r.find(".//t:ErrorInfo/t:StackTrace", ns)
    print("FAILED", r.get("testName"))
    print("  ", (msg.text or "").strip()[:1500])
    print("  ", "\n   ".join((st.text or "").strip().splitlines()[:12]))
PY
  fi
  echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
else
  echo "0 passed, 1 failed"
  [ $code -ne 0 ] || code=1
fi
rm -rf "$results"
exit $code

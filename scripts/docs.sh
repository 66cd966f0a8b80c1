#!/usr/bin/env bash
# Builds the documentation site offline: the tutorial, the guides, the theory and the API reference (from the XML docs
# of the four library assemblies) into one static folder that needs no server beyond a static file server and fetches
# nothing from another host when viewed. Tools come from the registries this project reaches: docfx 2.81 (a local
# .NET tool, .config/dotnet-tools.json) and, from npm (docs/site/package.json), KaTeX, which typesets every formula at
# build time, and playwright-core, which drives Debian's chromium for --check.
# Usage: scripts/docs.sh [--figures] [--check] [--out DIR] [--serve]
#   --figures  first regenerate the tutorial's figures with the library (dotnet run examples/tutorial.cs; minutes)
#   --check    then open every page in headless Chromium: loads, links, images, math, animations (docs/site/check-site.mjs)
#   --out DIR  where the site goes (default artifacts/site; the folder is replaced)
#   --serve    then serve the site on http://localhost:8080 (Ctrl-C stops)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[docs] %s\n' "$*" >&2; }
die() { printf '[docs] error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

figures=0 check=0 serve=0 out="$here/artifacts/site"
while [ $# -gt 0 ]; do
  case "$1" in
    --figures) figures=1 ;;
    --check) check=1 ;;
    --serve) serve=1 ;;
    --out) [ $# -ge 2 ] || { usage; exit 2; }; out="$(realpath -m "$2")"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) printf '[docs] error: unknown option %s\n' "$1" >&2; usage; exit 2 ;;
  esac
  shift
done

command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK is required (dotnet not on PATH)"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || die "Node.js 20+ and npm are required (playwright-core needs 20; Debian 12's nodejs is 18: use NodeSource's or Debian 13's)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js 20+ is required (playwright-core), found $(node --version)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# docfx crashes (SIGSEGV) under a preloaded tcmalloc, which the test runner sets for TorchSharp: nothing here needs it.
preload="${LD_PRELOAD:-}"
unset LD_PRELOAD
SECONDS=0
cd "$here"

log "tools: docfx (dotnet tool restore), KaTeX and playwright-core (npm ci in docs/site)"
dotnet tool restore >/dev/null || die "dotnet tool restore failed (docfx 2.81.0 from NuGet)"
if [ ! -d docs/site/node_modules/katex ] || [ docs/site/package-lock.json -nt docs/site/node_modules/.package-lock.json ]; then
  npm ci --prefix docs/site --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci in docs/site failed"
fi

if [ $figures = 1 ]; then
  log "regenerating the tutorial's figures (examples/tutorial.cs)"
  "$here/scripts/setup.sh" --no-build
  tc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
  ( if [ -e "$tc" ]; then export LD_PRELOAD="$tc"; elif [ -n "$preload" ]; then export LD_PRELOAD="$preload"; fi
    dotnet run -c Release examples/tutorial.cs -- --out docs/tutorial/images ) \
    || die "examples/tutorial.cs failed"
fi

log "building the library assemblies the API reference is read from (Release, beside their dependencies in the tool's output)"
dotnet build src/Si.Cli/Si.Cli.csproj -c Release -nologo -v q -clp:NoSummary >&2 \
  || die "build failed"
# The ONNX generator package is not part of the tool: built on its own, with ONNX Runtime's managed assembly beside it.
dotnet build src/StochasticInterpolants.Onnx/StochasticInterpolants.Onnx.csproj -c Release -nologo -v q -clp:NoSummary -p:CopyLocalLockFileAssemblies=true >&2 \
  || die "build of StochasticInterpolants.Onnx failed"

log "docfx metadata + build -> $out"
rm -rf "$out"
find docs/api -name '*.yml' -delete 2>/dev/null || true
dotnet tool run docfx metadata docs/docfx.json --logLevel warning >&2 || die "docfx metadata failed (exit $?)"
dotnet tool run docfx build docs/docfx.json --output "$out" --warningsAsErrors --logLevel warning >&2 \
  || die "docfx build failed (a broken link, a missing file or a bad xref is an error: see above)"
node docs/site/render-math.mjs "$out" >&2 || die "typesetting the math failed"
# The template's source maps (21 MB) serve only a debugger; the pages never ask for them.
find "$out" -name '*.js.map' -delete

pages=$(find "$out" -name '*.html' ! -name 'toc.html' | wc -l)
size=$(du -sm "$out" | cut -f1)
secs=$SECONDS
log "site: $pages pages, ${size} MB, built in ${secs} s: $out/index.html"

if [ $check = 1 ]; then
  log "checking every page in headless Chromium"
  node docs/site/check-site.mjs "$out" "$(dirname "$out")/site-check.json" "$(dirname "$out")/tutorial-first-figure.png" \
    || die "the site check failed (details above and in $(dirname "$out")/site-check.json)"
fi
if [ $serve = 1 ]; then
  log "serving $out on http://localhost:8080 (Ctrl-C stops)"
  exec dotnet tool run docfx serve "$out" --port 8080
fi

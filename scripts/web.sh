#!/usr/bin/env bash
# Builds the browser generator of an exported model: one static folder (index.html, app.js, style.css, serve.mjs,
# onnxruntime-web's WebAssembly build and the model as model.onnx) that fetches nothing from another host. Tools come
# from npm (web/package.json, installed offline-reproducibly by npm ci into web/node_modules): onnxruntime-web 1.30.0,
# and playwright-core, which only web/check-page.mjs uses. The server is web/serve.mjs (Node alone, no package): a
# machine without python3 or npx http-server serves the folder with `node DIR/serve.mjs DIR 8081`.
# Usage: scripts/web.sh --model FILE.onnx --out DIR [--serve] [--port N]
#   --model FILE  a model written by si export (an image model with a Gaussian base: the page refuses others, saying why)
#   --out DIR     where the page goes (the folder is replaced; it must be empty or a page built by this script)
#   --serve       then serve DIR on http://localhost:8081 with web/serve.mjs (Ctrl-C stops); open that address
#   --port N      the port for --serve (default 8081)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[web] %s\n' "$*" >&2; }
die() { printf '[web] error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }
bad() { printf '[web] error: %s\n' "$*" >&2; usage; exit 2; }

model="" out="" serve=0 port=8081
while [ $# -gt 0 ]; do
  case "$1" in
    --model) [ $# -ge 2 ] || bad "--model needs a file"; model="$2"; shift ;;
    --out) [ $# -ge 2 ] || bad "--out needs a folder"; out="$(realpath -m "$2")"; shift ;;
    --serve) serve=1 ;;
    --port) [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -le 65535 ] || bad "--port needs a port number (0..65535)"; port="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad "unknown option $1" ;;
  esac
  shift
done
[ -n "$model" ] || bad "--model FILE.onnx is required"
[ -n "$out" ] || bad "--out DIR is required"
[ -f "$model" ] || die "no model file $model"
model="$(realpath "$model")"

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || die "Node.js 20+ and npm are required (Debian 12's nodejs is 18: use NodeSource's or Debian 13's)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js 20+ is required, found $(node --version)"

# A folder that holds something other than an earlier page is not ours to replace.
if [ -e "$out" ]; then
  [ -d "$out" ] || die "--out $out exists and is not a folder"
  if [ -n "$(ls -A "$out")" ] && [ ! -f "$out/.si-web" ]; then
    die "--out $out is not empty and was not built by scripts/web.sh: choose another folder"
  fi
fi

web="$here/web"
if [ ! -d "$web/node_modules/onnxruntime-web" ] || [ ! -f "$web/node_modules/.package-lock.json" ] \
   || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  log "npm ci in web/ (onnxruntime-web, playwright-core)"
  npm ci --prefix "$web" --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci in web/ failed"
fi
dist="$web/node_modules/onnxruntime-web/dist"
runtime=(ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm)
for f in "${runtime[@]}"; do [ -f "$dist/$f" ] || die "onnxruntime-web has no dist/$f (web/node_modules is damaged: delete it and run again)"; done

# Built beside the target and renamed into place: a failed build leaves the previous page whole.
parent="$(dirname "$out")"
mkdir -p "$parent" || die "cannot create $parent"
tmp="$(mktemp -d "$parent/.web-build.XXXXXX")" || die "cannot write in $parent"
trap 'rm -rf "$tmp"' EXIT
cp "$web/index.html" "$web/app.js" "$web/style.css" "$web/serve.mjs" "$tmp/" || die "copying the page failed"
for f in "${runtime[@]}"; do cp "$dist/$f" "$tmp/" || die "copying $f failed"; done
cp "$model" "$tmp/model.onnx" || die "copying the model failed"
echo "built by scripts/web.sh from $model" > "$tmp/.si-web"
rm -rf "$out"
mv "$tmp" "$out" || die "cannot move the page to $out"
trap - EXIT
size=$(du -sm "$out" | cut -f1)
log "page: $out/index.html (${size} MB; model $(du -k "$out/model.onnx" | cut -f1) KB)"

if [ $serve = 1 ]; then
  exec node "$out/serve.mjs" "$out" "$port"
fi

#!/usr/bin/env bash
# Builds the CLI as an ESM bundle in dist/ (git-ignored), which bin/eclip.mjs runs instead of compiling src/ through
# tsx at every start. Code splitting keeps start-up short: what only some commands need (vega for figures, the
# server for `eclip serve`) sits in chunks loaded on first use. bin/eclip.mjs runs the bundle only while it is not
# older than src/ and the installed packages, so a checkout that edits code runs the code as edited; re-run this
# (setup.sh does) to make it fast again. Externals as in scripts/device-bundle.sh: wasm and native packages stay in
# node_modules. Usage: scripts/build-cli.sh [OUT_DIR] (default dist; the test builds elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
tmp=$(mktemp -d "$out.tmp.XXXXXX") && chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
# the stamp's time is the build's start: a source edited while esbuild runs is newer than it, so never hidden
touch "$tmp/.stamp"
npx --no-install esbuild src/cli/main.ts --bundle --splitting --platform=node --format=esm --target=node20 \
  --log-level=warning --outdir="$tmp" --entry-names=eclip --out-extension:.js=.mjs \
  --external:@resvg/resvg-js --external:highs --external:playwright-core \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
# files found next to the module that uses them (import.meta.url / dirname)
cp src/plan/highs-worker.mjs src/execute/sim/sim-worker.mjs "$tmp/"
cp -r src/serve/dashboard "$tmp/dashboard"
# swap in whole: a CLI starting meanwhile sees the old bundle or the new, never half of one
old=""
if [ -e "$out" ]; then old=$(mktemp -d "$out.old.XXXXXX") && mv "$out" "$old/"; fi
mv "$tmp" "$out"
trap - EXIT
[ -z "$old" ] || rm -rf "$old"

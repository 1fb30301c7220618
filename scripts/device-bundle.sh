#!/usr/bin/env bash
# Packs what the TypeScript side needs at run time on the GPU machine (which has no Node and no network) into
# .device/ (git-ignored): the CLI as one ESM bundle, HiGHS's worker and the packages esbuild cannot inline
# (wasm). resvg (native, 4.4 MB) stays behind to keep the carried tree small: runs there write SVG figures only (or
# none, with --no-plots); `eclip bench --from` here makes the PNG copies.
# The bundle is also packed as .device/eclip.tar.xz (~3 MB instead of 12): the tree that travels is capped at 64 MiB
# and the repository's recorded results fill half of it. With a Node binary compressed as .device/node.xz (xz of the
# official linux-x64 `node`) beside it, carry `.device/node.xz` and `.device/eclip.tar.xz` (the
# gpu/scripts/device-*.sh unpack both; and .device/before.tar.xz, made with BEFORE=<commit>, for before/after legs)
# and run there:
#   python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/node.xz'),open('/tmp/node','wb'))";
#     chmod +x /tmp/node
#   ECLIP_HOME=$PWD /tmp/node .device/eclip/eclip.mjs bench --backend gpu ...
#   ECLIP_HOME=$PWD /tmp/node --test .device/eclip/*.test.mjs
set -euo pipefail
cd "$(dirname "$0")/.."
out=.device/eclip
rm -rf "$out" && mkdir -p "$out/node_modules"
npx esbuild src/cli/main.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outfile="$out/eclip.mjs" --external:@resvg/resvg-js --external:highs --external:playwright-core \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
# the TypeScript GPU tests, bundled the same way (node --test runs them there; ECLIP_HOME points at the checkout)
npx esbuild test/gpu/serve-tritonclient.test.ts test/gpu/serve-paris.test.ts test/gpu/serve-shm-tritonclient.test.ts --bundle --platform=node --format=esm --target=node20 \
  --log-level=warning --outdir="$out" --out-extension:.js=.mjs --external:@resvg/resvg-js --external:highs \
  --external:playwright-core --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
# the plan table's planning threads (src/execute/sim/table-threads.ts): bundled too, so a device bundle plans on
# worker threads without tsx (eclip serve's loads and unloads plan while the others serve)
npx esbuild src/execute/sim/table-worker.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outfile="$out/table-worker.bundle.mjs" --external:@resvg/resvg-js --external:highs --external:playwright-core \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
# eclip-fit's scoring threads (src/execute/sim/score-threads.ts): the search's climbs score on every core
npx esbuild src/execute/sim/score-worker.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outfile="$out/score-worker.bundle.mjs" --external:@resvg/resvg-js --external:highs --external:playwright-core \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
cp src/plan/highs-worker.mjs "$out/"
cp -r node_modules/highs node_modules/uplot "$out/node_modules/"
cp -r src/serve/dashboard "$out/dashboard"
tar -cJf .device/eclip.tar.xz -C .device eclip
du -sh "$out" .device/eclip.tar.xz
# BEFORE=<commit>: that commit's CLI bundled the same way (its own device-bundle.sh, on this checkout's
# node_modules) as .device/before.tar.xz, unpacked there to .device/before/: before/after legs in one device call
if [ -n "${BEFORE:-}" ]; then
  tree=$(mktemp -d)
  git archive "$BEFORE" | tar -x -C "$tree"
  ln -s "$PWD/node_modules" "$tree/node_modules"
  (cd "$tree" && env -u BEFORE bash scripts/device-bundle.sh >/dev/null)
  tar -cJf .device/before.tar.xz -C "$tree/.device" --transform 's,^eclip,before,' eclip
  rm -rf "$tree"
  du -sh .device/before.tar.xz
fi

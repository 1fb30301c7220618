#!/usr/bin/env bash
# Sets eclip up on a fresh machine: Node packages (exactly as locked) and a Python virtual environment with what
# the backend's CPU tests need. The GPU backend itself runs under the GPU machine's own PyTorch install.
set -euo pipefail
cd "$(dirname "$0")"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("eclip needs Node >= 20.19, found "+process.versions.node); process.exit(1) }'
# npm ci rejects lockfiles written by this npm (it omits other platforms' optional packages), so install from the lockfile with npm install
npm install --no-fund --no-audit
# the CLI as a bundle in dist/, so it starts without compiling TypeScript (bin/eclip.mjs falls back to src/ when
# anything there is newer; re-run this script, or scripts/build-cli.sh, after editing)
scripts/build-cli.sh
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r gpu/requirements-test.txt
echo "eclip is set up: ./bin/eclip.mjs --help"

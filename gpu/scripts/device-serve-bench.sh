#!/usr/bin/env bash
# `eclip serve-bench --backend gpu` on the GPU machine, from the carried bundle (scripts/device-bundle.sh) and Node
# (../shared/tools/device-node.sh). Usage there: OUT=... gpu/scripts/device-serve-bench.sh NAME [serve-bench options...]
# Writes $OUT/NAME.tgz (results.json, requests.csv, report.txt, configs/) and $OUT/NAME.log.
# Each (mix, policy) starts a fresh server and Python backend (build + capture: tens of seconds): keep one call's
# mixes × policies × (start + warm-up + window) inside the device tool's 10-minute limit.
set -uo pipefail
name=$1; shift
OUT=${OUT:-out}; mkdir -p "$OUT"
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl 2>/dev/null
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 ECLIP_HOME=$PWD ECLIP_PYTHON=python3
[ -x /tmp/node ] || { python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/node.xz'),open('/tmp/node','wb'))" && chmod +x /tmp/node; }
/tmp/node .device/eclip/eclip.mjs serve-bench --backend gpu --out "/tmp/$name" "$@" 2>&1 | tee "$OUT/$name.log" | grep -v '^gpu: captured'
rc=${PIPESTATUS[0]}
tar czf "$OUT/$name.tgz" -C /tmp "$name"
exit "$rc"

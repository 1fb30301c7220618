#!/usr/bin/env bash
# `eclip bench --backend gpu` on the GPU machine, from the carried bundle (scripts/device-bundle.sh) and Node
# (../shared/tools/device-node.sh). Usage there: OUT=... gpu/scripts/device-bench.sh NAME [bench options...]
# Writes $OUT/NAME.tgz (results.json, requests.csv, report.txt, figures) and $OUT/NAME.log; exits with the bench's
# status. ECLIP_SUBCOMMAND=serve-bench runs `eclip serve-bench` the same way (gpu/scripts/device-serve-bench.sh).
set -uo pipefail
name=$1; shift
OUT=${OUT:-out}; mkdir -p "$OUT"
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl 2>/dev/null
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 ECLIP_HOME=$PWD ECLIP_PYTHON=python3
# the bundle carried this call wins over one left by an earlier call (ignored outputs stay on the machine)
[ -f .device/eclip.tar.xz ] && rm -rf .device/eclip && tar -xJf .device/eclip.tar.xz -C .device
[ -x /tmp/node ] || { python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/node.xz'),open('/tmp/node','wb'))" && chmod +x /tmp/node; }
/tmp/node .device/eclip/eclip.mjs "${ECLIP_SUBCOMMAND:-bench}" --backend gpu --out "/tmp/$name" "$@" 2>&1 |
  tee "$OUT/$name.log" | grep -v '^gpu: captured'
rc=${PIPESTATUS[0]}
tar czf "$OUT/$name.tgz" -C /tmp "$name"
exit "$rc"

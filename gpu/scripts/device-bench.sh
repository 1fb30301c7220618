#!/usr/bin/env bash
# `eclip bench --backend gpu` on the GPU machine, from the carried bundle (scripts/device-bundle.sh) and Node
# (.device/node.xz, see scripts/device-bundle.sh). Usage there: OUT=... gpu/scripts/device-bench.sh NAME [bench options...]
# Writes $OUT/NAME.tgz (results.json, requests.csv, report.txt, figures) and $OUT/NAME.log; exits with the bench's
# status. ECLIP_SUBCOMMAND=serve-bench runs `eclip serve-bench` the same way (gpu/scripts/device-serve-bench.sh);
# ECLIP_BUNDLE=.device/before/eclip.mjs runs the second bundle (BEFORE=<commit> scripts/device-bundle.sh) instead.
set -uo pipefail
name=$1; shift
OUT=${OUT:-out}; mkdir -p "$OUT"
. "$(dirname "$0")/device-env.sh"
/tmp/node "${ECLIP_BUNDLE:-.device/eclip/eclip.mjs}" "${ECLIP_SUBCOMMAND:-bench}" --backend gpu --out "/tmp/$name" "$@" 2>&1 |
  tee "$OUT/$name.log" | grep -v '^gpu: captured'
rc=${PIPESTATUS[0]}
tar czf "$OUT/$name.tgz" -C /tmp "$name"
exit "$rc"

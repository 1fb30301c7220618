#!/usr/bin/env bash
# eclip-fit --tune --stream-priorities against baseline (batch per part), the headline series method; parts as arguments; TUNE= leaves out --tune; PROFILES picks the profile dir
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv,noheader
parts=()
for p in "$@"; do parts+=("$p"); done
OUT=$OUT LIMIT_S=${LIMIT_S:-585} gpu/scripts/device-bench-parts.sh "${parts[@]}" -- --profiles ${PROFILES:-profiles/h100} \
  --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots ${TUNE---tune} ${PRIO---stream-priorities}
for f in "$OUT"/*.log; do echo "== $f"; grep -E "tuned on|^STP|WARNING|failed" "$f" | head -20; done

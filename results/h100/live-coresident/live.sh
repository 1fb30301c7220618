#!/usr/bin/env bash
# usage: .device/s37/live.sh BATCH:SEED... ; onoff-long's bench, untuned tables (the shipped calibration); OUT set by the device
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv >> "$OUT/gpu-before.csv"
for spec in "$@"; do
  b=${spec%%:*}; s=${spec#*:}; name="ol-b$b-s$s"; t0=$(date +%s)
  OUT=$OUT gpu/scripts/device-bench.sh "$name" --mix examples/onoff-long.yaml --policies baseline,eclip-fit,eclip-live \
    --modes graph --batch "$b" --seed "$s" --profiles profiles/h100 --warmup 1 --duration 8 --no-plots --no-sim-compare > /dev/null
  echo "$name rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
done
for spec in "$@"; do b=${spec%%:*}; s=${spec#*:}; name="ol-b$b-s$s"
  echo "== $name"; grep -A5 "^policy  *requests  *STP" "$OUT/$name.log" | cut -c1-110
done

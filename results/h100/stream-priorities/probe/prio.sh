#!/bin/bash
set -u
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu,driver_version --format=csv > $OUT/gpu.txt
python3 gpu/scripts/priority-probe.py --batch 1 --mixes all --out $OUT/b1 > $OUT/b1.log 2>&1
python3 gpu/scripts/priority-probe.py --batch 8 --mixes paper --out $OUT/b8 > $OUT/b8.log 2>&1
grep -v "^\[" $OUT/b1.log; grep -v "^\[" $OUT/b8.log

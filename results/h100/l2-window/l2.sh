#!/bin/bash
# L2 probe: paper mixes at batch 1 then 8
set -u
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu,driver_version --format=csv > $OUT/gpu.txt
python3 -c "import torch;print(torch.__version__)" >> $OUT/gpu.txt
python3 gpu/scripts/l2-probe.py --batch 1 --out $OUT/b1 2>&1 | tee $OUT/b1.log | grep -v "^\[" 
python3 gpu/scripts/l2-probe.py --batch 8 --out $OUT/b8 2>&1 | tee $OUT/b8.log | grep -v "^\["
grep -h "set-aside\|Error\|error" $OUT/b1.log | head -5

#!/usr/bin/env bash
# Each candidate calibration (candidates/, made from profiles/h100/sim-calibration.json with a co-residency κ of 0.2
# for one batch-1 profile, or for alexnet.b1 and resnext101.b1 together as on the H200) scored on the H100's batch-1
# tuning trails: A = tuned-shipped-13's 13 trails, B = tuned-p95-13's seven and tuned-p95-gpu-cap's six N trails.
# From the repository's root; CPU only (about 30 s per run on 2 cores).
set -euo pipefail
D=results/h100/kappa-b1-trails
A="results/h100/tuned-shipped-13/p-a1 results/h100/tuned-shipped-13/p-a2 results/h100/tuned-shipped-13/p-b1 results/h100/tuned-shipped-13/p-b2 results/h100/tuned-shipped-13/p-c"
B="$(ls -d results/h100/tuned-p95-13/N-* results/h100/tuned-p95-gpu-cap/N-* | tr '\n' ' ')"
node --import tsx bench/tuning-trail-sim.ts $A > $D/trails/A-shipped.txt 2>&1
node --import tsx bench/tuning-trail-sim.ts $B > $D/trails/B-shipped.txt 2>&1
for c in pair alexnet resnext101 albert densenet201 vgg19 resnet152 shufflenet; do
  node --import tsx bench/tuning-trail-sim.ts --calibration $D/candidates/k-$c.json $A > $D/trails/A-$c.txt 2>&1
  node --import tsx bench/tuning-trail-sim.ts --calibration $D/candidates/k-$c.json $B > $D/trails/B-$c.txt 2>&1
done

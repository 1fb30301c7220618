#!/usr/bin/env bash
# usage: plans.sh CANDIDATE_JSON OUTDIR  (one plan process at a time)
set -u
cand=$1; out=$2; mkdir -p $out/shipped $out/cand
rm -rf /tmp/prof-cand; cp -r profiles/h100 /tmp/prof-cand; cp $cand /tmp/prof-cand/sim-calibration.json
for m in mix1 mix2 mix3 mix4 mix5 mix6 mix7 more1 more2 more3 more4 more5 more6; do
  case $m in mix*) f=mixes/paper.yaml;; *) f=mixes/more.yaml;; esac
  ./bin/eclip.mjs plan --mix $f --mix-name $m --profiles profiles/h100 --batch 8 --out $out/shipped/$m.json > $out/shipped/$m.txt 2>&1
  ./bin/eclip.mjs plan --mix $f --mix-name $m --profiles /tmp/prof-cand --batch 8 --out $out/cand/$m.json > $out/cand/$m.txt 2>&1
done

#!/usr/bin/env bash
# Op spans on the bench: ARMS="s1:span b1:ship" parts of eclip bench --backend gpu, the three mixes with resnext101
# (rx.yaml), baseline beside eclip-fit; ship = profiles/h200, span = the same with resnext101.b1 profiled again
# (prof/, it has opSpanUs). Each arm its own baseline, back to back.
set -uo pipefail
here=$(dirname "$0"); OUT=${OUT:-out}; mkdir -p "$OUT"
rm -rf /tmp/pspan && cp -r profiles/h200 /tmp/pspan && cp "$here"/prof/resnext101.b1.fp16.json /tmp/pspan/
for arm in $ARMS; do
  IFS=: read -r name kind <<<"$arm"
  dir=profiles/h200; [ "$kind" = span ] && dir=/tmp/pspan
  OUT=$OUT PARTS="$name:$here/rx.yaml" PROFILES=$dir PART_S=${PART_S:-260} bash "$here/run.sh" 2>&1 | grep -E "STP/base|error|Error"
done

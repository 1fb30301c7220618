#!/usr/bin/env bash
# Several `device-bench.sh` parts in one device call, each written as its own NAME.tgz as soon as it ends, so a call
# cut at its time limit loses at most the part in flight. A part starts only if its estimate still fits:
#   OUT=... LIMIT_S=570 [ELAPSED=s already spent in this call] gpu/scripts/device-bench-parts.sh NAME:MIXES:EST_S[:BATCH] \
#     ... -- [bench options for every part]
# (BATCH, where given, adds `--batch BATCH` to that part alone.) A part still running at LIMIT_S is stopped there and
# packed with what it wrote (device-bench.sh's DEADLINE_S: the runs that ended, marked incomplete; none while it still
# plans or tunes): keep LIMIT_S some 30 s under the device call's own limit (the stop's grace, the packing).
# Prints "skipped NAME" for each part that did not fit (run it in the next call). Each part leaves one file in $OUT,
# NAME.tgz with its log inside (device-bench.sh), and the device tool brings back 8.
set -uo pipefail
parts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do parts+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
limit=${LIMIT_S:-570}
SECONDS=${ELAPSED:-0}
for p in "${parts[@]}"; do
  IFS=: read -r name mixes est batch <<<"$p"
  if [ $((SECONDS + est)) -gt "$limit" ]; then echo "skipped $name (${SECONDS} s in, estimate $est s)"; continue; fi
  echo "== $name: $mixes${batch:+, batch $batch} (at ${SECONDS} s)"
  DEADLINE_S=$((limit - SECONDS)) "$(dirname "$0")/device-bench.sh" "$name" --mix "$mixes" "$@" \
    ${batch:+--batch "$batch"} | grep -E '^eclip bench: (run .* failed|WARNING)|wrote|stopped at its deadline'
done
echo "done at ${SECONDS} s"

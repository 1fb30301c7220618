#!/usr/bin/env bash
# Served A/B legs against one bench, in ONE device call: `device-serve-bench.sh` once with the bench (the first leg),
# then once per further leg with BENCH=0 and `--bench` that bench, each leg a fresh server per policy with its own
# environment. Legs alternate as given, so a drift of the machine within the call falls on both settings.
# Usage there: OUT=... LEGS="a0:ECLIP_SERVE_AHEAD=0 a2:ECLIP_SERVE_AHEAD=2 a0:ECLIP_SERVE_AHEAD=0" \
#   gpu/scripts/device-serve-legs.sh [more serve-bench options...]
# A leg is NAME[:VAR=value,…[:--option,value,…]]: its environment, then serve-bench options of its own (commas for
# spaces), e.g. c6::--concurrency,6.
#   env: as device-serve-bench.sh (MIXES, POLICIES, BATCH, TRANSPORTS, DURATION, WARMUP, PROFILES), and BUDGET_S (540:
#        a leg that would start with less than 100 s left is skipped). Leg i is named NAME-i (the first: NAME).
# Writes $OUT/legs.tgz (per leg: the serve results.json per transport as NAME-i-TRANSPORT.json, the bench's
# results.json and report.txt, every step's log) and prints each leg's served ÷ bench last; then, here,
# `node --import tsx bench/serve-legs.ts legs/r/*-*.json` tables the legs side by side.
set -uo pipefail
legs=${LEGS:?LEGS="name:VAR=value[,VAR=value] ..."}
final=${OUT:-out}; work=$final/legs; mkdir -p "$work/r"
budget=${BUDGET_S:-540}
rm -rf /tmp/legs-*
i=0
for leg in $legs; do
  IFS=: read -r name envs opts <<<"$leg"
  read -ra own <<<"${opts//,/ }"
  tag=legs-$name; [ $i -gt 0 ] && tag=legs-$name-$i
  left=$((budget - SECONDS))
  if [ $left -lt 100 ]; then echo "skipped $tag: ${left} s left" | tee -a "$work/skipped.txt"; i=$((i + 1)); continue; fi
  extra=()
  if [ $i -gt 0 ]; then extra=(--bench /tmp/legs-first/bench/results.json); fi
  # shellcheck disable=SC2086 # VAR=value pairs, comma-separated
  env ${envs//,/ } OUT="$work" LIMIT_S=$left BENCH=$([ $i -eq 0 ] && echo 1 || echo 0) \
    gpu/scripts/device-serve-bench.sh "$tag" "${extra[@]}" "$@" "${own[@]}" >"$work/$tag.out" 2>&1
  [ $i -eq 0 ] && ln -sfn "/tmp/$tag" /tmp/legs-first
  if [ ! -f /tmp/legs-first/bench/results.json ]; then
    echo "the first leg made no bench (its log: $tag.log): no later leg has one to be divided by" | tee -a "$work/skipped.txt"
    break
  fi
  for t in shm cuda-shm http grpc; do
    [ -f "/tmp/$tag/serve/$t/results.json" ] && cp "/tmp/$tag/serve/$t/results.json" "$work/r/${tag#legs-}-$t.json"
  done
  [ -f "/tmp/$tag/serve/results.json" ] && cp "/tmp/$tag/serve/results.json" "$work/r/${tag#legs-}-${TRANSPORTS:-one}.json"
  rm -f "$work/$tag.tgz"
  i=$((i + 1))
done
cp /tmp/legs-first/bench/results.json "$work/r/bench.json" 2>/dev/null
cp /tmp/legs-first/bench/report.txt "$work/r/bench-report.txt" 2>/dev/null
# each leg's Σ served ÷ bench table as serve-bench printed it (the full table of the legs: bench/serve-legs.ts, here
# on the files: the GPU machine has the CLI bundle, not the checkout's packages)
for f in "$work"/legs-*.log; do
  echo "== $(basename "$f" .log)"
  grep -A4 '^Served ÷ bench: Σ' "$f" | tail -n +2
done >"$work/table.txt"
tar -czf "$final/legs.tgz" -C "$final" legs && rm -rf "$work"
tar -xzOf "$final/legs.tgz" legs/table.txt 2>/dev/null | tail -40

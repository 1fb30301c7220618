#!/usr/bin/env bash
# `eclip serve-bench --backend gpu` on the GPU machine: device-bench.sh with the other subcommand.
# Usage there: OUT=... gpu/scripts/device-serve-bench.sh NAME [serve-bench options...]
# Writes $OUT/NAME.tgz (results.json, requests.csv, report.txt, configs/) and $OUT/NAME.log.
# Each (mix, policy) starts a fresh server and Python backend (build + capture: tens of seconds): keep one call's
# mixes × policies × (start + warm-up + window) inside the device tool's 10-minute limit.
ECLIP_SUBCOMMAND=serve-bench exec "$(dirname "$0")/device-bench.sh" "$@"

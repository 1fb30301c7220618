#!/usr/bin/env bash
# Soak of `eclip serve` on the simulator (bench/soak.ts): finds the server's capacity (closed loop), then loads it
# open-loop at SOAK_LOAD (default 0.8) of it for SOAK_DURATION s (default 600) with good requests (JSON, binary
# tensors, gzip, shared memory) and bad ones, sampling the server's memory and event loop. Exits 1 on any request
# lost, a good one not answered 200, a bad one not answered its 4xx, memory that grows, or an unclean exit.
# CI runs a short form: SOAK_LOAD=0.6 scripts/soak.sh --duration 40 --capacity-duration 5 --queue-size 2048 (.ci/run
# says why). More: bench/soak.ts.
# Usage: [SOAK_DURATION=S] [SOAK_LOAD=F] [SOAK_OUT=DIR] scripts/soak.sh [bench/soak.ts options]
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/soak.ts --duration "${SOAK_DURATION:-600}" --load "${SOAK_LOAD:-0.8}" \
  ${SOAK_OUT:+--out "$SOAK_OUT"} "$@"

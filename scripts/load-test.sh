#!/usr/bin/env bash
# Fixed-rate load test of `eclip serve` on the simulator backend, loopback only: autocannon at LOAD_RATE req/s
# (default 200) for LOAD_DURATION s (default 60). Prints req/s, p50/p95/p99 and errors; exits 1 on any error.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx test/serve/load-driver.ts

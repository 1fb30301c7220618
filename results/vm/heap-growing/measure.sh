#!/usr/bin/env bash
# One run: eclip serve (simulator backend) serving mix4 at batch 8 (2.4-MB image requests) from serve-bench --url at a
# fixed Poisson rate; prints the CPU per request of the process that reads the bodies (the front-end, or the one
# process with FRONTENDS=0) over the window, and how many full (Mark-Compact) and young (Scavenge) collections it ran
# from its start to its stop (node --trace-gc, which the engine passes to its front-ends).
# Usage, from the repository's root: results/vm/heap-growing/measure.sh FRONTENDS [ECLIP_HEAP_GROWING_PERCENT]
#   env: RATE (requests/s per model, default 60) DURATION (window, s, default 6) PORT (default 8300)
set -uo pipefail
fe=${1:?usage: measure.sh FRONTENDS [PERCENT]}; percent=${2:-}
rate=${RATE:-60}; duration=${DURATION:-6}; port=${PORT:-8300}
dir=$(mktemp -d /tmp/heap-growing.XXXXXX)
cat >"$dir/serve.yaml" <<YAML
format: eclip.serve/1
host: 127.0.0.1
port: $port
backend: sim
policy: baseline
frontends: $fe
models:
  - { name: alexnet, model: alexnet, batch: 8, dtype: fp16, queueSize: 64 }
  - { name: resnet152, model: resnet152, batch: 8, dtype: fp16, queueSize: 64 }
  - { name: vgg19, model: vgg19, batch: 8, dtype: fp16, queueSize: 64 }
YAML
env ${percent:+ECLIP_HEAP_GROWING_PERCENT=$percent} node --trace-gc ./bin/eclip.mjs serve --config "$dir/serve.yaml" \
  --grpc-port off >"$dir/serve.log" 2>&1 &
sp=$!
for _ in $(seq 120); do grep -q listening "$dir/serve.log" && break; sleep 0.5; done
sleep 1
pid=$sp
[ "$fe" != 0 ] && pid=$(pgrep -P "$sp" -f eclip | head -1)
load() { ./bin/eclip.mjs serve-bench --url "http://127.0.0.1:$port" --mix mix4 --batch 8 --rate "$rate" "$@" >/dev/null 2>&1; }
load --duration 1 --warmup 1 --out "$dir/warm"
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
c0=$(cpu)
load --duration "$duration" --warmup 0 --out "$dir/run"
c1=$(cpu)
kill -TERM "$sp"; wait "$sp"
n=$(python3 -c "import json,sys; print(sum(w['requests'] for r in json.load(open(sys.argv[1]))['runs'] for w in r['workers']))" "$dir/run/results.json")
mc=$(grep -c "^\[$pid:.*Mark-Compact" "$dir/serve.log"); sc=$(grep -c "^\[$pid:.*Scavenge" "$dir/serve.log")
# clock ticks (1/100 s) of user + system time from before the window's clients start to after they stop, per request of the window
python3 -c "import sys; t,n=map(float,sys.argv[1:3]); print(f'frontends {sys.argv[3]} percent {sys.argv[4] or \"(default)\"}: {t*10/n:.2f} ms CPU per request ({int(n)} requests), Mark-Compact {sys.argv[5]}, Scavenge {sys.argv[6]}')" \
  "$((c1 - c0))" "$n" "$fe" "$percent" "$mc" "$sc"
[ -n "${KEEP:-}" ] || rm -rf "$dir"

#!/usr/bin/env bash
# One run: eclip serve (simulator backend, one front-end process) serving mix4 at batch 8 over gRPC to Triton's own
# client (tritonclient.grpc: gRPC's C core) at a fixed rate; prints the front-end's CPU per request over the window.
# Usage, from the repository's root: results/vm/grpc-frame-size/measure.sh [ECLIP_GRPC_MAX_FRAME_BYTES]
#   env: PYTHON (one with tritonclient[grpc]; default .venv/bin/python) RATE (requests/s per model, default 40)
#        DURATION (window, s, default 6) PORT (HTTP; gRPC is PORT+1; default 8330)
set -uo pipefail
frame=${1:-}
py=${PYTHON:-.venv/bin/python}; rate=${RATE:-40}; duration=${DURATION:-6}; port=${PORT:-8330}
here=$(dirname "$0"); dir=$(mktemp -d /tmp/grpc-frame-size.XXXXXX)
cat >"$dir/serve.yaml" <<YAML
format: eclip.serve/1
host: 127.0.0.1
port: $port
backend: sim
policy: baseline
frontends: 1
models:
  - { name: alexnet, model: alexnet, batch: 8, dtype: fp16, queueSize: 64 }
  - { name: resnet152, model: resnet152, batch: 8, dtype: fp16, queueSize: 64 }
  - { name: vgg19, model: vgg19, batch: 8, dtype: fp16, queueSize: 64 }
YAML
env ${frame:+ECLIP_GRPC_MAX_FRAME_BYTES=$frame} ./bin/eclip.mjs serve --config "$dir/serve.yaml" \
  --grpc-port $((port + 1)) >"$dir/serve.log" 2>&1 &
sp=$!
for _ in $(seq 120); do grep -q listening "$dir/serve.log" && break; sleep 0.5; done
sleep 1
fe=$(pgrep -P "$sp" | head -1)
"$py" "$here/load.py" "127.0.0.1:$((port + 1))" "$rate" 2 >/dev/null # warm-up
cpu() { awk '{ print $14 + $15 }' "/proc/$fe/stat"; }
c0=$(cpu)
n=$("$py" "$here/load.py" "127.0.0.1:$((port + 1))" "$rate" "$duration")
c1=$(cpu)
kill -TERM "$sp"; wait "$sp"
# clock ticks (1/100 s) of user + system time of the front-end over the window, per request
python3 -c "import sys; t,n=map(float,sys.argv[1:3]); print(f'max frame {sys.argv[3] or \"(default)\"}: {t*10/n:.2f} ms CPU per request ({int(n)} requests)')" \
  "$((c1 - c0))" "$n" "$frame"
rm -rf "$dir"

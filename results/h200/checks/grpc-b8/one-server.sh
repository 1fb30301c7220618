#!/usr/bin/env bash
# Session 64, fourth to sixth calls: one eclip serve (GPU backend, mix4's models at batch 8, baseline, 8 front-ends), measured
# by serve-bench --url in turn (SEQ; a number: a pause of that many seconds); the front-ends' RSS after each, and the
# server processes' minor page faults per request in each run. SERVE_ENV: variables for the server (`env` style).
set -uo pipefail
. gpu/scripts/device-env.sh
cli=.device/eclip/eclip.mjs
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
cat > "$OUT/serve.json" <<JSON
{"format": "eclip.serve/1", "host": "127.0.0.1", "port": 18000, "grpcPort": 18001, "backend": "gpu",
 "policy": "baseline", "profiles": "$PWD/profiles/h200", "dashboard": false, "frontends": 8,
 "models": [{"name": "alexnet-0", "model": "alexnet", "batch": 8, "dtype": "fp16"},
            {"name": "resnet152-0", "model": "resnet152", "batch": 8, "dtype": "fp16"},
            {"name": "vgg19-0", "model": "vgg19", "batch": 8, "dtype": "fp16"}]}
JSON
env ${SERVE_ENV:-} /tmp/node $cli serve --config "$OUT/serve.json" > "$OUT/serve.log" 2>&1 &
spid=$!
for i in $(seq 1 120); do curl -sf http://127.0.0.1:18000/v2/health/ready >/dev/null && break; sleep 1; done
echo "ready after $i s (SERVE_ENV: ${SERVE_ENV:-none})" | tee -a "$OUT/table.txt"
fes=$(ps -o pid=,comm= --ppid $spid | awk '$2=="node"{print $1}' | paste -sd,)
pids="$spid,$fes"
echo "server $spid front-ends $fes" >> "$OUT/table.txt"
faults() { for p in ${pids//,/ }; do awk '{print $10}' /proc/$p/stat; done | awk '{s+=$1} END {print s}'; }
rss() { for p in ${pids//,/ }; do awk '/VmRSS/{print $2}' /proc/$p/status; done | awk '{s+=$1} END {printf "%.0f", s/1024}'; }
k=0
for t in ${SEQ:-http grpc-stream http grpc http http}; do
  if [[ $t =~ ^[0-9]+$ ]]; then sleep $t; echo "pause $t s" >> "$OUT/table.txt"; continue; fi
  k=$((k+1))
  f0=$(faults)
  timeout 120 /tmp/node $cli serve-bench --url http://127.0.0.1:18000 --grpc-url 127.0.0.1:18001 --server-pids "$pids" \
    --mix mix4 --batch 8 --duration 3 --warmup 4 --transport $t --concurrency 8 --client-processes 9 \
    --out "$OUT/r$k-$t" > "$OUT/r$k-$t.log" 2>&1
  f1=$(faults)
  python3 - "$OUT/r$k-$t/results.json" "$k" "$t" "$(rss)" "$((f1 - f0))" >> "$OUT/table.txt" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
x = r['runs'][0]
n = next(n for n in x['notes'] if n.startswith('host CPU'))
cpu = re.search(r'server ([\d.]+) cores.*per request: server ([\d.]+) ms', n).groups()
print(sys.argv[2], sys.argv[3], 'req/s', ' '.join(f"{w['throughputRps']:.0f}" for w in x['workers']),
      'sum', f"{sum(w['throughputRps'] for w in x['workers']):.0f}", 'server cores', cpu[0], 'ms/req', cpu[1],
      'RSS MB', sys.argv[4], 'faults/request', round(int(sys.argv[5]) / sum(1 for _ in open(sys.argv[1].replace('results.json', 'requests.csv')))))
PY
done
kill -TERM $spid; wait $spid
echo "server exit $?" >> "$OUT/table.txt"
# the table comes back; the run folders and logs stay (too many files)
mkdir -p /tmp/runs && mv "$OUT"/r*-* "$OUT/serve.json" "$OUT/serve.log" /tmp/runs/ 2>/dev/null
cat "$OUT/table.txt"

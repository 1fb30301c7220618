#!/usr/bin/env bash
# Triton side by side with eclip serve (issue #17's outside anchor), in ONE device call. Carry .device/triton.tar.xz
# (scripts/triton-bundle.sh: Triton's server from NVIDIA's PyTriton wheel, with its Python backend), .device/node.xz,
# .device/eclip.tar.xz and .whl/ (scripts/device-bundle.sh). Steps (STEPS, default check,bench,serve):
#   check  Triton on a repository of the first mix (gpu/anchor/triton_repo.py: the same model names, tensors and
#          batch as eclip serve, each model eager PyTorch in Triton's Python backend); each model's answer compared
#          with the eager model built here (gpu/anchor/triton_check.py);
#   bench  `eclip bench --backend gpu` of MIXES under baseline at BATCH: the GPU's closed-loop rate to divide by;
#   serve  per mix: `eclip serve-bench` of eclip serve under POLICIES, then the same clients against Triton serving
#          the same models (`serve-bench --url`), back to back, TRANSPORTS, CONCURRENCY clients per model.
# Usage there: OUT=... gpu/scripts/device-triton-anchor.sh NAME
#   env: MIXES (mix4) BATCH (1) POLICIES (baseline) TRANSPORTS (shm) CONCURRENCY (4) DURATION (4) WARMUP (2)
#        INSTANCES (Triton instances per model, 1) PROFILES (profiles/h100) LIMIT_S (560) STEPS
# Writes $OUT/NAME.tgz (bench/, serve-eclip/, serve-triton/, triton-*.log, check.txt) and $OUT/NAME.log; prints the
# served tables last. Triton is stopped after each mix (and on exit); its stubs with it.
set -uo pipefail
name=${1:?usage: device-triton-anchor.sh NAME}
OUT=${OUT:-out}; mkdir -p "$OUT"
mixes=${MIXES:-mix4}; batch=${BATCH:-1}; policies=${POLICIES:-baseline}; transports=${TRANSPORTS:-shm}
conc=${CONCURRENCY:-4}; duration=${DURATION:-4}; warmup=${WARMUP:-2}; instances=${INSTANCES:-1}
profiles=${PROFILES:-profiles/h100}; limit=${LIMIT_S:-560}; steps=,${STEPS:-check,bench,serve},
. "$(dirname "$0")/device-env.sh"
dir=/tmp/$name; rm -rf "$dir"; mkdir -p "$dir"
log=$OUT/$name.log
SECONDS=0
eclip() { left=$((limit - SECONDS)); timeout -k 10 $((left > 30 ? left : 30)) /tmp/node .device/eclip/eclip.mjs "$@"; }
mkdir -p /tmp/triton && tar -xJf .device/triton.tar.xz -C /tmp/triton
T=/tmp/triton/pytriton/tritonserver
site=$(python3 -c "import os,torch;print(os.path.dirname(os.path.dirname(torch.__file__)))")
triton_pid=
stop_triton() {
  [ -n "$triton_pid" ] || return 0
  kill -TERM "$triton_pid" 2>/dev/null
  for _ in $(seq 60); do kill -0 "$triton_pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$triton_pid" 2>/dev/null; pkill -KILL -f triton_python_backend_stub 2>/dev/null
  triton_pid=
}
trap stop_triton EXIT
# start_triton CONFIG TAG: a repository for CONFIG's models, the server on 8000/8001/8002, ready or an error
start_triton() {
  local repo=$dir/repo-$2
  (cd gpu && python3 -m anchor.triton_repo --config "$1" --out "$repo" --instances "$instances") >>"$log" 2>&1 || return 1
  PYTHONPATH=$PWD/gpu:$site:${PYTHONPATH:-} "$T/bin/tritonserver" --model-repository="$repo" \
    --backend-directory="$T/backends" --http-port 8000 --grpc-port 8001 --metrics-port 8002 \
    --allow-gpu-metrics=true --metrics-interval-ms=100 >"$dir/triton-$2.log" 2>&1 &
  triton_pid=$!
  for _ in $(seq 240); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=1)" 2>/dev/null && { echo "triton ready after ${SECONDS} s" >>"$log"; return 0; }
    kill -0 "$triton_pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "triton did not become ready; its log:" | tee -a "$log"; tail -30 "$dir/triton-$2.log" | tee -a "$log"
  stop_triton; return 1
}
# a serve config for MIX as serve-bench writes it (the names and batch Triton must serve)
config_of() { eclip serve-bench --mix "$1" --policies baseline --batch "$batch" --duration 0.2 --warmup 0 \
  --out "$dir/cfg-$1" >/dev/null 2>&1; ls "$dir/cfg-$1"/configs/*.json | head -1; }
nvidia-smi --query-gpu=name,driver_version --format=csv >"$log" 2>&1
cat /tmp/triton/VERSION >>"$log"
first=${mixes%%,*}
if [[ $steps == *,check,* ]]; then
  echo "== check: Triton on $first (at ${SECONDS} s)" | tee -a "$log"
  cfg=$(config_of "$first")
  if [ -n "$cfg" ] && start_triton "$cfg" check; then
    (cd gpu && python3 -m anchor.triton_check --url http://127.0.0.1:8000 --config "$cfg") 2>&1 | tee "$dir/check.txt" | tee -a "$log"
    stop_triton
  fi
fi
bench=()
if [[ $steps == *,bench,* ]]; then
  echo "== bench: $mixes / baseline / batch $batch (at ${SECONDS} s)" | tee -a "$log"
  eclip bench --backend gpu --mix "$mixes" --policies "$policies" --batch "$batch" --profiles "$profiles" \
    --duration "$duration" --warmup 1 --modes graph --no-solo --no-plots --no-sim-compare --out "$dir/bench" >>"$log" 2>&1
  echo "== bench: exit $? at ${SECONDS} s" | tee -a "$log"
  [ -f "$dir/bench/results.json" ] && bench=(--bench "$dir/bench/results.json")
fi
if [[ $steps == *,serve,* ]]; then
  for mix in ${mixes//,/ }; do
    common=(--mix "$mix" --batch "$batch" --profiles "$profiles" --duration "$duration" --warmup "$warmup"
      --concurrency "$conc" --transport "$transports" "${bench[@]}")
    echo "== $mix: eclip serve, $policies (at ${SECONDS} s)" | tee -a "$log"
    eclip serve-bench --backend gpu --policies "$policies" "${common[@]}" --out "$dir/serve-eclip/$mix" 2>&1 |
      grep -v '^gpu: captured' >>"$log"
    echo "== $mix: Triton (at ${SECONDS} s)" | tee -a "$log"
    # the config eclip serve just ran (the same names and batch), else one written for it
    cfg=$(ls "$dir/serve-eclip/$mix/configs/"*.json 2>/dev/null | head -1)
    [ -n "$cfg" ] || cfg=$(config_of "$mix")
    if [ -n "$cfg" ] && start_triton "$cfg" "$mix"; then
      pids=$(pgrep -d, -f 'tritonserver|triton_python_backend_stub')
      eclip serve-bench --url http://127.0.0.1:8000 --grpc-url 127.0.0.1:8001 --metrics-url http://127.0.0.1:8002/metrics \
        --label triton --server-pids "$pids" "${common[@]}" --out "$dir/serve-triton/$mix" >>"$log" 2>&1
      echo "== $mix: Triton exit $? at ${SECONDS} s" | tee -a "$log"
      stop_triton
    fi
  done
fi
find "$dir" -name requests.csv -delete
tar czf "$OUT/$name.tgz" -C /tmp "$name"
for f in "$dir"/serve-eclip/*/*/report.txt "$dir"/serve-eclip/*/report.txt "$dir"/serve-triton/*/*/report.txt "$dir"/serve-triton/*/report.txt; do
  [ -f "$f" ] || continue
  echo "==== ${f#"$dir"/}"
  awk '/^(Served ÷ bench|Per worker)/{p=1} p&&/^$/{p=0} p' "$f"
  grep -E 'host CPU in the window' "$f" | sed -E 's/^ +note: host CPU in the window: /    host CPU: /'
done
[ -f "$dir/check.txt" ] && { echo "==== check"; cat "$dir/check.txt"; }
echo "== done at ${SECONDS} s"

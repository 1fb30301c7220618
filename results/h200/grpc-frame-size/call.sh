#!/usr/bin/env bash
# eclip serve (GPU backend, baseline, 8 front-ends) serving MIX (mix4, or mix7) at BATCH (8) to Triton's own gRPC client
# (tritonclient.grpc, gRPC's C core) in closed loop, arm by arm as ARMS gives them: FRAME:MODE:PROCS — the largest
# HTTP/2 frame (16384, or default: unset), the clients' mode (unary: a ModelInfer call per request; stream: one
# ModelStreamInfer stream per client process; http: tritonclient.http, binary tensors, a POST per request;
# grpc-shm, http-shm: the tensors in system shared-memory regions of each client process) and client processes per
# model; with each arm's client CPU and the
# host's busy cores beside the server's. Then the GPU's closed-loop rate for the same mix (eclip bench) to divide by.
# Carry .device/node.xz, .device/eclip.tar.xz and .whl/ (tritonclient, python-rapidjson; scripts/device-bundle.sh);
# where the machine's grpcio is older than tritonclient's generated code asks, wheels of grpcio and protobuf in
# client-whl/ beside this script (pip download, as for .whl/) are put on the clients' path only; for http,
# tritonclient.http's geventhttpclient and what it needs (gevent, greenlet, zope.event, zope.interface, brotli) in
# client-whl-http/, likewise. From the
# repository's root on the GPU machine:
#   OUT=... results/h200/grpc-frame-size/call.sh      env: ARMS WINDOW (s, 8) MIX (mix4) BATCH (8)
# Writes $OUT/call.log (each arm's server log appended) and prints the table last.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
arms=${ARMS:-16384:unary:8 default:unary:8 default:unary:8 16384:unary:8 default:stream:4 default:stream:8 default:unary:4}
window=${WINDOW:-8}; mix=${MIX:-mix4}; export BATCH=${BATCH:-8}
case $mix in
  mix4) models="alexnet:alexnet resnet152:resnet152 vgg19:vgg19" ;;
  mix7) models="alexnet-0:alexnet alexnet-1:alexnet alexnet-2:alexnet" ;;
  *) echo "MIX: mix4 or mix7" >&2; exit 2 ;;
esac
names=$(for m in $models; do printf '%s,' "${m%%:*}"; done); export MODELS=${names%,}
here=$(dirname "$0")
load=$here/../../vm/grpc-frame-size/load.py; [ -f "$load" ] || load=$here/load.py # a copy beside this one
. gpu/scripts/device-env.sh
dir=/tmp/grpc-frame-size; rm -rf "$dir"; mkdir -p "$dir"
log=$OUT/call.log
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv; nproc
  python3 -c "import grpc, google.protobuf, sys; print('python', sys.version.split()[0], 'grpcio', grpc.__version__, 'protobuf', google.protobuf.__version__)"
} >"$log" 2>&1
client_path=${PYTHONPATH:-}
if ! python3 -c "import tritonclient.grpc" 2>>"$log"; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site-client \
    "$here"/client-whl/*.whl >>"$log" 2>&1
  client_path=/tmp/site-client:$client_path
fi
PYTHONPATH=$client_path python3 -c "import tritonclient.grpc, grpc; print('clients: grpcio', grpc.__version__)" >>"$log" 2>&1 ||
  { echo "tritonclient.grpc does not import: see $log"; cat "$log"; exit 1; }
if [[ " $arms" == *:http* ]] && ! PYTHONPATH=$client_path python3 -c "import tritonclient.http" 2>>"$log"; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site-client-http \
    "$here"/client-whl-http/*.whl >>"$log" 2>&1
  client_path=/tmp/site-client-http:$client_path
  PYTHONPATH=$client_path python3 -c "import tritonclient.http, gevent; print('clients: gevent', gevent.__version__)" >>"$log" 2>&1 ||
    { echo "tritonclient.http does not import: see $log"; cat "$log"; exit 1; }
fi
cat >"$dir/serve.yaml" <<YAML
format: eclip.serve/1
host: 127.0.0.1
port: 8000
backend: gpu
policy: baseline
profiles: $PWD/profiles/h200
frontends: 8
models:
$(for m in $models; do echo "  - { name: ${m%%:*}, model: ${m#*:}, batch: $BATCH }"; done)
YAML
# user + system clock ticks of the server's processes whose command is $1 (node: engine + front-ends; python3: backend)
ticks() { local t=0 p; for p in $(pgrep -g "$pg"); do
  [ "$(cat /proc/$p/comm 2>/dev/null)" = "$1" ] && t=$((t + $(awk '{ print $14 + $15 }' /proc/$p/stat))); done; echo $t; }
# busy and total jiffies of the whole host (all cores)
host() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
rows=()
for spec in $arms; do
  IFS=: read -r arm mode procs <<<"$spec"
  addr=127.0.0.1:8001; [[ "$mode" == http* ]] && addr=127.0.0.1:8000
  frame=; [ $arm = default ] || frame=$arm
  setsid env ${frame:+ECLIP_GRPC_MAX_FRAME_BYTES=$frame} /tmp/node .device/eclip/eclip.mjs serve --config "$dir/serve.yaml" \
    --grpc-port 8001 >"$dir/serve-$arm.log" 2>&1 &
  sp=$!; pg=$sp
  for _ in $(seq 480); do grep -q listening "$dir/serve-$arm.log" && break; kill -0 $sp 2>/dev/null || break; sleep 0.5; done
  PYTHONPATH=$client_path python3 "$load" "$addr" 0 3 "$procs" "$mode" >/dev/null 2>&1 # warm-up
  n0=$(ticks node); p0=$(ticks python3); read -r h0 t0 <<<"$(host)"
  n=$(PYTHONPATH=$client_path python3 "$load" "$addr" 0 "$window" "$procs" "$mode" 2>"$dir/clients.txt")
  n1=$(ticks node); p1=$(ticks python3); read -r h1 t1 <<<"$(host)"
  c=$(awk '/^clients_cpu_s/ { print $2 }' "$dir/clients.txt")
  kill -TERM $sp; wait $sp
  { echo "== arm $spec"; cat "$dir/clients.txt" "$dir/serve-$arm.log"; } >>"$log"
  label='16 KiB'; [ $arm = default ] && label='1 MiB'; [[ "$mode" == http* ]] && label='–'
  rows+=("$(python3 -c "import sys; a,m,k,n,w,dn,dp,c,dh,dt=sys.argv[1:4]+[int(sys.argv[4]),float(sys.argv[5]),int(sys.argv[6]),int(sys.argv[7]),float(sys.argv[8]),int(sys.argv[9]),int(sys.argv[10])]; nc=int(sys.argv[11]); print(f'{a:>6} {m:>6} {k:>5} {n/w:9.0f} {dn*10/n:11.2f} {dp*10/n:11.2f} {c*1000/n:11.2f} {nc*dh/dt:10.1f}')" \
    "$label" "$mode" "$procs" "$n" "$window" $((n1 - n0)) $((p1 - p0)) "$c" $((h1 - h0)) $((t1 - t0)) "$(nproc)")")
done
/tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix "$mix" --batch "$BATCH" --profiles profiles/h200 --policies baseline \
  --modes graph --duration 4 --warmup 1 --no-solo --no-plots --out "$dir/bench" >>"$log" 2>&1
bench=$(python3 -c "import json,sys; r=[r for r in json.load(open(sys.argv[1]))['runs'] if r['policy']=='baseline' and r['role']=='mix'][0]; print(round(sum(w['throughputRps'] for w in r['workers'])))" "$dir/bench/results.json")
{ echo; date -u +%FT%TZ
  echo "$mix batch $BATCH, baseline, 8 front-ends, tritonclient closed loop, window ${window} s"
  echo "GPU closed-loop rate (eclip bench, baseline): $bench req/s"
  echo "(CPU per request over the window: node = engine + front-ends, backend = its Python, clients = the client processes; busy cores of the host's $(nproc))"
  echo " frame   mode procs  served/s  node ms/req backend ms/req clients ms/req busy cores"
  printf '%s\n' "${rows[@]}"; } | tee -a "$log"

# the engine profiled under each transport: mix7 b1, baseline, 12 clients per model over 3 client processes
. gpu/scripts/device-env.sh
mkdir -p $OUT/p
for t in shm cuda-shm; do
  d=/tmp/prof-$t-$SECONDS; mkdir -p $d
  timeout 100 /tmp/node --cpu-prof --cpu-prof-dir $d .device/eclip/eclip.mjs serve-bench --backend gpu --mix mix7 --batch 1 \
    --policies baseline --transport $t --duration 4 --warmup 1 --concurrency 12 --client-processes 3 \
    --profiles profiles/h100 --out $d/out > $OUT/p/$(basename $d).log 2>&1
  echo "== $t rc=$? at $SECONDS s"
  grep -h "host CPU" $d/out/*.txt $d/out/*/report.txt 2>/dev/null | head -2
  f=$(ls $d/*.cpuprofile | head -1)
  python3 .device/prof/topwin.py $f 4 45 > $OUT/p/top-$(basename $d).txt
  python3 .device/prof/incl.py $f writeJson,decodeBody,infer,startOne,parserOnIncoming,flush,push,nextTick,runMicrotasks >> $OUT/p/top-$(basename $d).txt 2>&1
  head -25 $OUT/p/top-$(basename $d).txt
  find $d/out -name results.json -exec cp {} $OUT/p/results-$(basename $d).json \;
done
tar -cJf $OUT/prof.tar.xz -C /tmp $(cd /tmp && ls -d prof-*)

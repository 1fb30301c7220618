#!/usr/bin/env bash
# `eclip bench --backend gpu` on the GPU machine, from the carried bundle (scripts/device-bundle.sh) and Node
# (.device/node.xz, see scripts/device-bundle.sh). Usage there: OUT=... gpu/scripts/device-bench.sh NAME [bench options...]
# Writes $OUT/NAME.tgz (results.json, requests.csv, report.txt, figures, and its log as bench.log: one file a part,
# where a device call brings back 8), or $OUT/NAME.log alone where the command wrote no folder; exits with the bench's
# status. ECLIP_SUBCOMMAND=serve-bench runs `eclip serve-bench` the same way (gpu/scripts/device-serve-bench.sh);
# ECLIP_BUNDLE=.device/before/eclip.mjs runs the second bundle (BEFORE=<commit> scripts/device-bundle.sh) instead.
# DEADLINE_S=N stops the command after N s (SIGTERM) and still packs what it wrote: a bench keeps the runs that ended
# in results.json and the plans made so far in plans/ (no results.json before its first run ends, e.g. while it
# tunes); serve-bench keeps nothing until its end.
set -uo pipefail
name=${1:-}; shift || true
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || { echo "usage: device-bench.sh NAME [bench options] (NAME: a letter or digit, then letters, digits, _ . -)" >&2; exit 2; }
OUT=${OUT:-out}; mkdir -p "$OUT"
. "$(dirname "$0")/device-env.sh"
rm -rf "/tmp/$name"   # a warm machine keeps /tmp: an earlier call's part of this name is not this one's
deadline=()
[ -n "${DEADLINE_S:-}" ] && deadline=(timeout -k 15 "$(( DEADLINE_S > 0 ? DEADLINE_S : 1 ))")
"${deadline[@]}" /tmp/node "${ECLIP_BUNDLE:-.device/eclip/eclip.mjs}" "${ECLIP_SUBCOMMAND:-bench}" --backend gpu \
  --out "/tmp/$name" "$@" 2>&1 | tee "$OUT/$name.log" | grep -v '^gpu: captured'
rc=${PIPESTATUS[0]}
case $rc in 124 | 137) if [ -n "${DEADLINE_S:-}" ]; then
  echo "$name: stopped at its deadline (${DEADLINE_S} s); packed what it wrote" | tee -a "$OUT/$name.log"
  # stopped in an MPS run, the bench's backend was killed before it could stop its MPS daemon; the daemon's watcher
  # stops it, and should the watcher have failed, this stops it as the next MPS run would (gpu/eclip_gpu/mps.py,
  # reap_orphans, which first gives a watcher at work some seconds): a line here means the watcher did not; its
  # stop is held short (the packing below must fit in the call's last seconds)
  PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" "${ECLIP_PYTHON:-python3}" -c \
    'from eclip_gpu.mps import reap_orphans
for d in reap_orphans(timeout_s=5): print(f"stopped the MPS daemon the bench left in {d}")' 2>&1 | tee -a "$OUT/$name.log"
fi ;; esac
# the log travels inside the part (NAME/bench.log, as a recorded series keeps it)
if [ -d "/tmp/$name" ]; then
  mv "$OUT/$name.log" "/tmp/$name/bench.log" && tar czf "$OUT/$name.tgz" -C /tmp "$name"
fi
exit "$rc"

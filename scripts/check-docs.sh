#!/usr/bin/env bash
# Runs every fenced ```sh block marked runnable in README.md and docs/*.md (or the files given), so the commands the
# docs show cannot rot. A block is runnable when the line just before its opening fence is `<!-- runnable -->`; only
# blocks that run quickly on the simulator, without a GPU, are marked. Each block runs in its own bash
# (-euo pipefail) from the repository root, with a time limit; the script exits 1 if any block fails.
# Usage: scripts/check-docs.sh [--list] [FILE.md ...]    (CHECK_DOCS_TIMEOUT: seconds per block, default 120)
set -uo pipefail
cd "$(dirname "$0")/.."
list=0
if [ "${1:-}" = "--list" ]; then list=1; shift; fi
if [ $# -gt 0 ]; then files=("$@"); else files=(README.md docs/*.md); fi
limit="${CHECK_DOCS_TIMEOUT:-120}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "check-docs: no such file: $f" >&2; exit 2; }
  # split the file's runnable blocks into $tmp/<n>.sh, each with a first line naming where it came from
  awk -v dir="$tmp" -v file="$f" -v start="$n" '
    /^<!-- runnable -->[[:space:]]*$/ { marked = NR; next }
    !inblock && /^```sh[[:space:]]*$/ && marked > 0 && marked == NR - 1 { inblock = 1; start++; out = dir "/" start ".sh"
                                                            print "# " file ":" NR > out; next }
    inblock && /^```[[:space:]]*$/ { inblock = 0; close(out); next }
    inblock { print > out }
    END { if (inblock) { print "check-docs: " file ": unterminated runnable block" > "/dev/stderr"; exit 3 } }
  ' "$f" || exit 2
  n=$(find "$tmp" -name '*.sh' | wc -l)
done
if [ "$n" -eq 0 ]; then echo "check-docs: no runnable blocks found" >&2; exit 1; fi

for i in $(seq 1 "$n"); do
  block="$tmp/$i.sh"
  where="$(head -1 "$block" | cut -c3-)"
  if [ "$list" = 1 ]; then echo "== $where"; tail -n +2 "$block"; continue; fi
  t0=$SECONDS
  if timeout "$limit" bash -euo pipefail "$block" >"$tmp/$i.log" 2>&1; then
    echo "check-docs: ok   $where ($((SECONDS - t0)) s)"
  else
    rc=$?
    failed=$((failed + 1))
    echo "check-docs: FAIL $where (exit $rc after $((SECONDS - t0)) s); last lines:"
    tail -n 20 "$tmp/$i.log" | sed 's/^/    /'
  fi
done
[ "$list" = 1 ] && exit 0
echo "check-docs: $n blocks, $failed failed"
[ "$failed" -eq 0 ]

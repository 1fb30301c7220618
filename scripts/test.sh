#!/usr/bin/env bash
# Runs every test that needs no GPU: the TypeScript tests (node:test) and the Python backend's CPU tests (pytest).
# Prints one closing line "N passed, N failed, N skipped" over both.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
mapfile -t files < <(find test -name '*.test.ts' | sort)
# test files as many at a time as there are cores (ECLIP_TEST_CONCURRENCY overrides): node's default, one fewer,
# runs them one at a time on a 2-core runner, where most of the time is one file's simulations on one core
jobs=${ECLIP_TEST_CONCURRENCY:-$(nproc 2>/dev/null || echo 2)}
node --import tsx --test --test-concurrency="$jobs" --test-reporter=spec "${files[@]}" 2>&1 | tee "$log/node"
node_rc=${PIPESTATUS[0]}
py=.venv/bin/python; [ -x "$py" ] || py=python3
"$py" -m pytest -q gpu/tests 2>&1 | tee "$log/py"
py_rc=${PIPESTATUS[0]}
num() { grep -oE "$1" "$2" | tail -1 | grep -oE '[0-9]+' || echo 0; }
passed=$(( $(num 'ℹ pass [0-9]+' "$log/node") + $(num '[0-9]+ passed' "$log/py") ))
failed=$(( $(num 'ℹ fail [0-9]+' "$log/node") + $(num '[0-9]+ failed' "$log/py") + $(num '[0-9]+ errors?' "$log/py") ))
skipped=$(( $(num 'ℹ skipped [0-9]+' "$log/node") + $(num '[0-9]+ skipped' "$log/py") ))
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$node_rc" -eq 0 ] && [ "$py_rc" -eq 0 ]

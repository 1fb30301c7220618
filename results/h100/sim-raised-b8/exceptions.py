#!/usr/bin/env python3
# The H100 guard's exception runs (test/measure/sim-vs-gpu.test.ts, GUARD_EXCEPTIONS, the worker ones) under candidate
# simulators: each run's worst worker (simulated ÷ measured rate-to-baseline − 1), and over every batch-8 partitioned
# worker the mean |error|, the workers and runs past 15% and 17%. Input: JSON files written by
# `bench/raised-workers.ts --batch 8 --json FILE LABEL=CAL ...`, picked as FILE:LABEL[=SHOWN].
#   python3 exceptions.py rows.json:shipped=shipped rows.json:g0 ...
import json
import sys

EXC = ['eclip-fit-floors/more-batch8 more4', 'b8-prio more4', 'p8b2 more4', 'p8c more6', 't8b2 more4', 'g8 more6',
       'q4 more4', 'q5 more6', 'd13 more3', 'd14 more4', 'f14 more4', 'q8b2 more4']
cands = []
for a in sys.argv[1:]:
    src, _, shown = a.partition('=')
    path, _, key = src.partition(':')
    cands.append((shown or key, json.load(open(path))[key]))
base = cands[0][1]
print('worst worker of each exception run: simulated ÷ measured ratio to baseline − 1')
print(f"{'run':36s}" + ''.join(f'{l[:21]:>22s}' for l, _ in cands))
for e in EXC:
    idx = [i for i, r in enumerate(base) if e in r['run']]
    cells = []
    for _, rows in cands:
        w = max((rows[i] for i in idx), key=lambda r: abs(r['err']))
        cells.append(f"{w['worker'][:12]} {w['err'] * 100:+6.1f}%")
    print(f'{e:36s}' + ''.join(f'{c:>22s}' for c in cells))
print('\nbatch-8 partitioned workers (649) and runs (their worst worker)')
for l, rows in cands:
    errs = [abs(r['err']) for r in rows]
    worst = {}
    for r in rows:
        worst[r['run']] = max(worst.get(r['run'], 0), abs(r['err']))
    exc = [v for k, v in worst.items() if any(e in k for e in EXC)]
    print(f'{l:24s} mean |err| {sum(errs) / len(errs) * 100:.2f}%, mean err {sum(r["err"] for r in rows) / len(rows) * 100:+.2f}%, '
          f'workers past 15% / 17%: {sum(x > 0.15 for x in errs)} / {sum(x > 0.17 for x in errs)}, '
          f'runs past 17%: {sum(v > 0.17 for v in worst.values())} of {len(worst)}, '
          f'exception runs past 17%: {sum(v > 0.17 for v in exc)} of {len(exc)}, worst {max(errs) * 100:.1f}%')

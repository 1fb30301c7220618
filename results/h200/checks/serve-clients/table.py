#!/usr/bin/env python3
"""Per part (w9h: HTTP, the others gRPC) and policy, each window in order: served ÷ bench (Σ req/s), served STP ÷
baseline's STP (the same server's window of the same index) and the worst worker ÷ its baseline rate, alexnet's served ÷ bench, the busiest client
process's cores and the clients' cores (from the host-CPU note), server CPU ms per request. Run in this folder."""
import json
import re

parts = [(p, 'grpc') for p in ['g3', 'g9', 'r3', 'r9', 'r9c16', 'w9']] + [('w9h', 'http'), ('y9', 'grpc'), ('y3', 'grpc')]
for part, transport in parts:
    r = json.load(open(f'{part}/serve/{transport}/results.json'))
    for policy in ['baseline', 'eclip-fit']:
        rows = []
        runs = [x for x in r['runs'] if x['policy'] == policy]
        if not runs:  # w9's eclip-fit server: its clients failed (README)
            continue
        for run in (x for x in r['runs'] if x['policy'] == policy):
            ws = run['workers']
            note = next(n for n in run['notes'] if n.startswith('host CPU'))
            num = lambda k: float(re.search(k + r' ([\d.]+)', note).group(1))
            sy = run['metrics']['system']
            rows.append((sum(w['throughputRps'] for w in ws) / sum(w['benchRps'] for w in ws),
                         sy['stpVsBaseline'], sy['worstVsBaseline'],
                         ws[0]['servedVsBench'], num('busiest client process'), num('clients'),
                         num('per request: server')))
        cols = [', '.join(f'{row[i]:.{d}f}' for row in rows) for i, d in enumerate([2, 3, 2, 2, 2, 2, 3])]
        print(f"| {part} | {policy} | {run['concurrency']} | " + ' | '.join(cols) + ' |')

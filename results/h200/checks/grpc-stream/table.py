#!/usr/bin/env python3
"""Per part and transport (in the order the part ran them) and policy, each window in order: served ÷ bench (Σ req/s),
served STP ÷ baseline's STP (the same server's window of the same index), the worst worker ÷ its baseline rate,
alexnet's served ÷ its bench, server CPU ms per request, the server's and the clients' cores and the busiest client
process's (from the host-CPU note). Run in this folder."""
import json
import re

parts = [('s9', ['grpc', 'grpc-stream']), ('t9', ['grpc-stream', 'grpc']), ('u9', ['grpc', 'grpc-stream']),
         ('v3', ['grpc-stream', 'grpc']), ('x9', ['grpc', 'grpc-stream']), ('z9', ['grpc-stream', 'grpc'])]
for part, transports in parts:
    for transport in transports:
        r = json.load(open(f'{part}/serve/{transport}/results.json'))
        for policy in ['baseline', 'eclip-fit']:
            rows = []
            runs = [x for x in r['runs'] if x['policy'] == policy]
            if any(not x['workers'] or 'throughputRps' not in x['workers'][0] for x in runs) or not runs:
                print(f'| `{part}` | {transport} | {policy} | failed (a client process exited) |')
                continue
            for run in (x for x in r['runs'] if x['policy'] == policy):
                ws = run['workers']
                note = next(n for n in run['notes'] if n.startswith('host CPU'))
                num = lambda k: float(re.search(k + r' ([\d.]+)', note).group(1))
                sy = run['metrics']['system']
                rows.append((sum(w['throughputRps'] for w in ws) / sum(w['benchRps'] for w in ws),
                             sy['stpVsBaseline'], sy['worstVsBaseline'], ws[0]['servedVsBench'],
                             num('per request: server'), num('in the window: server'), num('clients'),
                             num('busiest client process')))
            # no ratio to baseline where baseline's run of that server failed
            cols = [', '.join('–' if row[i] is None else f'{row[i]:.{d}f}' for row in rows)
                    for i, d in enumerate([2, 3, 2, 2, 3, 2, 2, 2])]
            print(f'| `{part}` | {transport} | {policy} | ' + ' | '.join(cols) + ' |')

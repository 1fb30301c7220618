#!/usr/bin/env python3
"""Per part (w9h: HTTP, the others gRPC) and policy, each window in order: served ÷ bench (Σ req/s), served STP ÷
baseline's STP (the same server's window of the same index) and the worst worker ÷ its baseline rate, alexnet's served ÷ bench, the busiest client
process's cores and the clients' cores (from the host-CPU note), server CPU ms per request. Run in this folder."""
import json

from windows import cells, window

parts = [(p, 'grpc') for p in ['g3', 'g9', 'r3', 'r9', 'r9c16', 'w9']] + [('w9h', 'http'), ('y9', 'grpc'), ('y3', 'grpc')]
columns = [('served', 2), ('stp', 3), ('worst', 2), ('first', 2), ('busiest', 2), ('clients', 2), ('cpu_ms', 3)]
for part, transport in parts:
    r = json.load(open(f'{part}/serve/{transport}/results.json'))
    for policy in ['baseline', 'eclip-fit']:
        runs = [x for x in r['runs'] if x['policy'] == policy]
        if not runs:  # w9's eclip-fit server: its clients failed (README)
            continue
        print(f"| {part} | {policy} | {runs[-1]['concurrency']} | " + ' | '.join(cells([window(x) for x in runs], columns)) + ' |')

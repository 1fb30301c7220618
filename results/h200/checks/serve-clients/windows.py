"""One served window (a serve-bench run of results.json) as the checks' tables read it: served ÷ bench (Σ req/s),
served STP ÷ baseline's (the same server's window of the same index), the worst worker ÷ its baseline rate, the first
worker's served ÷ its bench (alexnet in mix4), and from the host-CPU note the server's CPU ms per request, the
server's, the clients' and the busiest client process's cores. Shared by the table.py of serve-clients/,
grpc-stream/ and grpc-b8/."""
import json
import re


def window(run: dict) -> dict:
    ws = run['workers']
    note = next(n for n in run['notes'] if n.startswith('host CPU'))
    num = lambda k: float(re.search(k + r' ([\d.]+)', note).group(1))
    sy = run['metrics']['system']
    return {'served': sum(w['throughputRps'] for w in ws) / sum(w['benchRps'] for w in ws),
            'stp': sy['stpVsBaseline'], 'worst': sy['worstVsBaseline'], 'first': ws[0]['servedVsBench'],
            'cpu_ms': num('per request: server'), 'server': num('in the window: server'),
            'clients': num('clients'), 'busiest': num('busiest client process')}


def cells(rows: list[dict], columns: list[tuple[str, int]]) -> list[str]:
    """Each column's values over the windows, comma-separated, to its decimals ('–' where there is none)."""
    return [', '.join('–' if r[k] is None else f'{r[k]:.{d}f}' for r in rows) for k, d in columns]


def transport_rows(parts: list[tuple[str, list[str]]], columns: list[tuple[str, int]]) -> None:
    """Prints a table row per part, transport (in the order the part ran them) and policy, each window in order; a
    policy whose run failed (a client process exited) gets a row saying so. Shared by grpc-stream/ and grpc-b8/."""
    for part, transports in parts:
        for transport in transports:
            r = json.load(open(f'{part}/serve/{transport}/results.json'))
            for policy in ['baseline', 'eclip-fit']:
                runs = [x for x in r['runs'] if x['policy'] == policy]
                if not runs or any(not x['workers'] or 'throughputRps' not in x['workers'][0] for x in runs):
                    print(f'| `{part}` | {transport} | {policy} | failed (a client process exited) |')
                    continue
                # no ratio to baseline where baseline's run of that server failed ('–')
                print(f'| `{part}` | {transport} | {policy} | ' + ' | '.join(cells([window(x) for x in runs], columns)) + ' |')

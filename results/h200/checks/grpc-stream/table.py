#!/usr/bin/env python3
"""Per part and transport (in the order the part ran them) and policy, each window in order: served ÷ bench (Σ req/s),
served STP ÷ baseline's STP (the same server's window of the same index), the worst worker ÷ its baseline rate,
alexnet's served ÷ its bench, server CPU ms per request, the server's and the clients' cores and the busiest client
process's (from the host-CPU note). Run in this folder."""
import sys

sys.path.insert(0, '../serve-clients')
from windows import transport_rows  # noqa: E402

parts = [('s9', ['grpc', 'grpc-stream']), ('t9', ['grpc-stream', 'grpc']), ('u9', ['grpc', 'grpc-stream']),
         ('v3', ['grpc-stream', 'grpc']), ('x9', ['grpc', 'grpc-stream']), ('z9', ['grpc-stream', 'grpc']),
         ('a9', ['grpc', 'grpc-stream']), ('b9', ['grpc-stream', 'grpc'])]
columns = [('served', 2), ('stp', 3), ('worst', 2), ('first', 2), ('cpu_ms', 3), ('server', 2), ('clients', 2),
           ('busiest', 2)]
transport_rows(parts, columns)

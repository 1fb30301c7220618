#!/usr/bin/env python3
"""Per part and transport (in the order the part ran them) and policy, each window in order: served ÷ bench (Σ req/s),
served STP ÷ baseline's STP (the same server's window of the same index), the worst worker ÷ its baseline rate, the
first worker's served ÷ its bench (mix4: alexnet; mix3: albert), server CPU ms per request, the server's and the
clients' cores and the busiest client process's (from the host-CPU note). Run in this folder."""
import sys

sys.path.insert(0, '../serve-clients')
from windows import transport_rows  # noqa: E402

parts = [('m4', ['grpc', 'grpc-stream', 'http']), ('m3', ['grpc-stream', 'grpc', 'http']),
         ('f12', ['http', 'grpc-stream', 'shm']), ('f8', ['http', 'grpc-stream', 'shm']),
         ('g12', ['grpc', 'grpc-stream', 'http']), ('g8', ['grpc-stream', 'http', 'grpc'])]
columns = [('served', 2), ('stp', 3), ('worst', 2), ('first', 2), ('cpu_ms', 2), ('server', 2), ('clients', 2),
           ('busiest', 2)]
transport_rows(parts, columns)

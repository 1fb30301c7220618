"""eclip's GPU backend: the Python process that owns the GPU.

Data flows one way: capture + profile (profile.json) -> plan (made by the TypeScript optimizer) -> execute -> measure
(results). This package never decides a plan; it runs what it is given and measures it.
"""

import os

__version__ = "0.1.0"

# Hardware work queues: with the driver's default 8, streams of different green contexts meet in one queue and
# co-located workers complete requests in lock-step (measured: results/h100/queues-ab/README.md, made with
# gpu/scripts/device-queues-ab.sh; docs/design.md §7). A stream's queue is fixed
# when its context is created, so this must be set before the first CUDA call of the process: here, on import. A
# value set by the user stands. (CUDA >= 13.1 drivers can also give green contexts queues of their own, the
# "balanced" workqueue scope; the 580 drivers of our GPUs are 13.0.)
os.environ.setdefault("CUDA_DEVICE_MAX_CONNECTIONS", "32")

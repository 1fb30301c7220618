"""Convolutions chosen for a partition's SMs (the conv target; docs/design.md §7).

cuDNN picks each convolution's algorithm for the device as it reports itself (all its SMs), and PyTorch passes
cuDNN no SM target the way it passes cuBLASLt one (gemm_target.py). With `torch.backends.cudnn.benchmark` PyTorch
times the candidate algorithms at a shape's first call, on the calling thread's current stream, and keeps the fastest
in a cache that is per thread (cuDNN's execution plans are not thread-safe). So a thread that benchmarked on a
partition's stream holds that partition's choices. A Lane is such a thread, one per partition size; during a capture
each convolution op is handed to the lane of the stream it is being captured on, which launches it into that same
capturing stream. The lane benchmarks before any capture (timing inside a capture is impossible); in the capture the
benchmark flag is off, so a shape the lane has not seen takes cuDNN's heuristic choice instead of being timed.
"""

from __future__ import annotations

import contextlib
import queue
import threading

from .cuda import BackendError

# the aten ops a convolution may reach the dispatch mode as (conv2d under inference mode; the first one seen is
# handed over, the rest of its chain runs inside the lane, where the mode is not active)
_CONV_OPS = frozenset({"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                       "convolution", "_convolution", "cudnn_convolution", "cudnn_convolution_transpose"})


class Lane:
    """A thread holding one partition size's cuDNN choices: run(fn, stream) runs fn there with `stream` current.
    It keeps no stream of its own: partitions (and their streams) come and go with each plan's pool."""

    def __init__(self, sms: int):
        self.sms = sms
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"conv-lane-{sms}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import torch  # noqa: PLC0415

        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, stream, box, done = job
            try:
                with torch.inference_mode(), torch.cuda.stream(stream):
                    box["value"] = fn()
            except BaseException as e:  # noqa: BLE001 -- re-raised on the caller's thread
                box["error"] = e
            done.set()

    def run(self, fn, stream):
        """fn() on this lane's thread with `stream` current there; its result, or its error."""
        box: dict = {}
        done = threading.Event()
        self._jobs.put((fn, stream, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def benchmark(self, built, stream) -> None:
        """Runs the model once on `stream` (a partition of this lane's size) with cuDNN benchmarking on: every
        convolution shape of the model gets its fastest algorithm on these SMs, in this thread's cache. Not while
        anything captures."""
        import torch  # noqa: PLC0415

        def forward():
            with torch.backends.cudnn.flags(enabled=True, benchmark=True,
                                            deterministic=torch.backends.cudnn.deterministic,
                                            allow_tf32=torch.backends.cudnn.allow_tf32):
                built.forward()
            torch.cuda.current_stream().synchronize()

        self.run(forward, stream)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=10)


class Lanes:
    """The lanes of one process, by partition size; a lane is made and benchmarked for a model at first use."""

    def __init__(self):
        self._by_sms: dict[int, Lane] = {}
        self._benchmarked: set[tuple[int, str, int, str]] = set()

    def lane(self, part, built) -> Lane:
        """The lane of `part`'s size (made the first time that size is asked for), benchmarked on `part` for
        `built`'s model, batch and dtype."""
        lane = self._by_sms.get(part.sms)
        if lane is None:
            lane = self._by_sms[part.sms] = Lane(part.sms)
        key = (part.sms, built.name, built.batch, built.dtype)
        if key not in self._benchmarked:
            lane.benchmark(built, part.torch_stream)
            self._benchmarked.add(key)
        return lane

    def close(self) -> None:
        for lane in self._by_sms.values():
            lane.close()
        self._by_sms.clear()
        self._benchmarked.clear()


# the process's lanes: the profiler's, the bench's and the server's captures share them (a lane per partition size)
LANES = Lanes()


def is_conv(func) -> bool:
    """Whether an aten op (as a dispatch mode sees it, e.g. "aten.conv2d.default") is a convolution."""
    parts = str(func).split(".")
    return len(parts) >= 2 and parts[0] == "aten" and parts[1] in _CONV_OPS


@contextlib.contextmanager
def conv_lanes_mode(lane_of_stream, seen: dict | None = None):
    """Inside: every convolution op runs on lane_of_stream(current stream)'s thread, launched into the current
    (capturing) stream; other ops, and convolutions whose stream has no lane (None), run here as usual. `seen`:
    the count of convolutions handed to a lane ("handed"), updated."""
    import torch  # noqa: PLC0415
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415

    class ConvLanes(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if is_conv(func):
                stream = torch.cuda.current_stream()
                lane = lane_of_stream(stream)
                if lane is not None:
                    if seen is not None:
                        seen["handed"] = seen.get("handed", 0) + 1
                    return lane.run(lambda: func(*args, **kwargs), stream)
            return func(*args, **kwargs)

    if torch.backends.cudnn.benchmark:
        raise BackendError("cuDNN benchmarking is on: conv lanes capture with it off (a shape timed inside a capture "
                           "breaks the capture)")
    with ConvLanes():
        yield

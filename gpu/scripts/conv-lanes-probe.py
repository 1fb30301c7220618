"""Whether conv lanes (eclip_gpu/conv_target.py) give each partition its own cuDNN choices inside one process.

Per model (batch 1), two disjoint partitions A and B (--a-slices, --b-slices). Each row's graph is timed over
replays (median of --reps, CUDA events on the stream it starts on):

  A default / A lanes          the whole request captured on A, convolutions by cuDNN's heuristics / by A's lane
  split default / split lanes  the first half of the ops on A, the rest on B (graph mode's stream switch at op starts),
                               convolutions by the heuristics / by the lane of the partition each runs on

Both lanes are benchmarked before the first lanes capture, so "A lanes" also shows that B's benchmarking did not
replace A's choices (the cache is per thread). The outputs of each lanes graph are compared with its default twin's.

    python3 gpu/scripts/conv-lanes-probe.py [--models resnext101,resnet152,densenet201] [--out F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def time_graph(torch, g, stream, reps: int) -> float:
    with torch.cuda.stream(stream):
        for _ in range(10):
            g.replay()
        times = []
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(stream)
            g.replay()
            b.record(stream)
            b.synchronize()
            times.append(a.elapsed_time(b) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnext101,resnet152,densenet201")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--a-slices", default="0,1")
    ap.add_argument("--b-slices", default="2,3,4,5,6,7")
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--out", default="conv-lanes-probe.jsonl")
    a = ap.parse_args()
    import torch  # noqa: PLC0415

    from eclip_gpu import capture, conv_target, partitions, zoo  # noqa: PLC0415
    from eclip_gpu.execute import graph_capture  # noqa: PLC0415

    layout = partitions.read_layout(0)
    pa = partitions.make_partition(layout, tuple(int(x) for x in a.a_slices.split(",")), pid=1)
    pb = partitions.make_partition(layout, tuple(int(x) for x in a.b_slices.split(",")), pid=2)
    origin = torch.cuda.Stream()
    lanes = conv_target.Lanes()
    rows = []

    seen: dict = {}

    def capture_on(built, n_ops: int | None, lane_of):
        """One graph starting on `origin`: all ops on A (n_ops None) or ops [0, n_ops/2) on A and the rest on B."""
        g = torch.cuda.CUDAGraph(keep_graph=True)
        state = {"stream": origin}

        def before(op: int):
            target = pa.torch_stream if n_ops is None or op < n_ops // 2 else pb.torch_stream
            if target is not state["stream"]:
                ev = torch.cuda.Event()
                ev.record(state["stream"])
                target.wait_event(ev)
                torch.cuda.set_stream(target)
                state["stream"] = target

        mode = conv_target.conv_lanes_mode(lane_of, seen) if lane_of else torch.no_grad()
        with torch.inference_mode(), graph_capture(g, origin, None, lane_of is not None), mode:
            with capture._op_hook_mode(before):
                out = built.forward()
            ev = torch.cuda.Event()
            ev.record(state["stream"])
            origin.wait_event(ev)
            torch.cuda.set_stream(origin)
        g.instantiate()
        n_kernels = len(capture.graph_kernels(g.raw_cuda_graph())[0])
        return g, out, n_kernels

    with open(a.out, "w") as log:
        for name in a.models.split(","):
            built = zoo.build(name, a.batch, "fp16")
            capture.warm_up(built, [origin, pa.torch_stream, pb.torch_stream], iters=1)
            count = {"n": 0}
            with torch.inference_mode(), capture._op_hook_mode(lambda i: count.__setitem__("n", i + 1)):
                built.forward()
            torch.cuda.synchronize()
            la, lb = lanes.lane(pa, built), lanes.lane(pb, built)
            by_stream = {pa.torch_stream.cuda_stream: la, pb.torch_stream.cuda_stream: lb}

            def lane_of(s, by_stream=by_stream):
                return by_stream.get(s.cuda_stream)

            got = {}
            # the whole request captured on A inside A's lane thread: its choices without any hand-over
            gt, ot, kt = la.run(lambda: capture_on(built, None, None), origin)
            torch.cuda.synchronize()
            got["A-in-lane"] = {"us": time_graph(torch, gt, origin, a.reps), "kernels": kt}
            del gt
            for label, n_ops in (("A", None), ("split", count["n"])):
                gd, od, kd = capture_on(built, n_ops, None)
                gl, ol, kl = capture_on(built, n_ops, lane_of)
                torch.cuda.synchronize()
                td, tl = time_graph(torch, gd, origin, a.reps), time_graph(torch, gl, origin, a.reps)
                od, ol = (od[0] if isinstance(od, tuple) else od).float(), (ol[0] if isinstance(ol, tuple) else ol).float()
                diff = float((od - ol).abs().max() / od.abs().max().clamp_min(1e-6))
                got[label] = {"default_us": td, "lanes_us": tl, "ratio": tl / td, "kernels": [kd, kl],
                              "max_rel_diff": diff}
                del gd, gl
                torch.cuda.synchronize()
            row = {"seen": dict(seen), "model": name, "batch": a.batch, "ops": count["n"], "a_sms": pa.sms, "b_sms": pb.sms, **got}
            log.write(json.dumps(row) + "\n")
            log.flush()
            rows.append(row)
            print(json.dumps(row), flush=True)
            del built
            torch.cuda.empty_cache()
    lanes.close()
    print(f"\nmodel        A={pa.sms} SMs default µs  lanes ÷ default  split A/B={pa.sms}/{pb.sms} default µs  "
          "lanes ÷ default  kernels (split)  max rel diff")
    for r in rows:
        print(f"{r['model']:12s} {r['A']['default_us']:19.1f} {r['A']['ratio']:16.3f} {r['split']['default_us']:27.1f} "
              f"{r['split']['ratio']:16.3f}  {r['split']['kernels']}  {max(r['A']['max_rel_diff'], r['split']['max_rel_diff']):.2e}  "
              f"{r['A-in-lane']['us'] / r['A']['default_us']:.3f}")


if __name__ == "__main__":
    main()

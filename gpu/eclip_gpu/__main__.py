"""Command line of the GPU backend: `python -m eclip_gpu <command>` (run with gpu/ on PYTHONPATH).

  describe   --out DIR [--probe]                 GPU description (slice layout read off the device) -> DIR/gpu.json
  profile    --models all|a,b --batch 1,8 --out DIR [--repeats N] [--dtype fp16] [--gemm-target [--conv-target]]
                                                 one profile per (model, batch) + gpu.json + primitives.json
  primitives --out DIR                           DIR/primitives.json
  retime     --profiles DIR [--models all|a,b] [--batch all|1,8] [--dtype fp16]
                                                 re-time the request latencies of DIR's profiles (kernels kept)
  backend                                        serve the TypeScript side over fds 3/4 (protocol.py)

Errors a user can act on print one line and exit 2; a CUDA error that poisons the process exits 3 (restart it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


# The package's own modules are imported inside each command, under main's ImportError handler: a machine without
# fastjsonschema or cuda-bindings gets MISSING_PACKAGES's one line, not a traceback.


def _models(spec: str) -> list[str]:
    from .zoo import ZOO  # noqa: PLC0415

    return sorted(ZOO) if spec == "all" else [m.strip() for m in spec.split(",") if m.strip()]


def cmd_describe(args) -> None:
    from .formats import write_json  # noqa: PLC0415
    from .partitions import PartitionPool, read_layout, smid_probe  # noqa: PLC0415

    layout = read_layout()
    sm_ids = None
    if args.probe:
        pool = PartitionPool(layout)
        sm_ids = {i: sorted(smid_probe(pool.create([i]))) for i in range(layout.n_slices)}
    path = write_json("gpu", layout.describe(sm_ids), Path(args.out) / "gpu.json")
    print(f"wrote {path}", file=sys.stderr)


def cmd_primitives(args) -> None:
    from .formats import write_json  # noqa: PLC0415
    from .partitions import PartitionPool, read_layout  # noqa: PLC0415
    from .primitives import measure  # noqa: PLC0415

    pool = PartitionPool(read_layout())
    write_json("primitives", measure(pool), Path(args.out) / "primitives.json")


def cmd_profile(args) -> None:
    from .formats import write_json  # noqa: PLC0415
    from .partitions import PartitionPool, read_layout  # noqa: PLC0415
    from .primitives import measure  # noqa: PLC0415
    from .profiler import ladder, profile_model, request_latencies_us  # noqa: PLC0415

    out = Path(args.out)
    layout = read_layout()
    pool = PartitionPool(layout)
    if not (out / "gpu.json").exists():  # keep a description that has the %smid probe's SM ids
        write_json("gpu", layout.describe(), out / "gpu.json")
    parts = ladder(pool)
    if not args.no_primitives:
        write_json("primitives", measure(pool), out / "primitives.json")
    batches = [int(b) for b in str(args.batch).split(",")]
    todo = [(m, b) for m in _models(args.models) for b in batches]
    # every request latency first: once torch.profiler has run, the process's graph launches are slower (profiler.py)
    latencies = {(m, b): request_latencies_us(parts, m, b, args.dtype, gemm_target=args.gemm_target,
                                              conv_target=args.conv_target) for m, b in todo}
    for i, (m, b) in enumerate(todo, 1):
        t0 = time.perf_counter()
        request_us, _, targeted_us, _, conv_sms = latencies[(m, b)]
        prof = profile_model(pool, parts, m, b, args.dtype, repeats=args.repeats, request_us=request_us,
                             gemm_target=args.gemm_target, targeted_request_us=targeted_us, conv_sms=conv_sms)
        path = write_json("profile", prof, out / f"{m}.b{b}.{args.dtype}.json")
        print(
            f"[{i}/{len(todo)}] {m} b{b}: {len(prof['kernels'])} kernels, request {prof['requestUs'][-1]:.0f} µs on "
            f"{prof['sizes'][-1]} SMs, {prof['requestUs'][0]:.0f} µs on {prof['sizes'][0]}; kernel sum "
            f"{prof['kernelSumRatio'][-1]:.0%} of request; {time.perf_counter() - t0:.1f} s -> {path}",
            file=sys.stderr,
            flush=True,
        )


def cmd_retime(args) -> None:
    import re  # noqa: PLC0415

    from .cuda import BackendError  # noqa: PLC0415
    from .formats import read_json, write_json  # noqa: PLC0415
    from .partitions import PartitionPool, read_layout  # noqa: PLC0415
    from .profiler import ladder, retime_profile  # noqa: PLC0415

    d = Path(args.profiles)
    name = re.compile(rf"^(.+)\.b(\d+)\.{re.escape(args.dtype)}\.json$")
    found = {(m.group(1), int(m.group(2))): f for f in sorted(d.glob("*.json")) if (m := name.match(f.name))}
    models = None if args.models == "all" else args.models.split(",")
    if args.batch != "all" and not all(b.isdigit() for b in str(args.batch).split(",")):
        raise BackendError(f"--batch: batch sizes or all, got {args.batch!r}")
    batches = None if args.batch == "all" else [int(b) for b in str(args.batch).split(",")]
    todo = {k: f for k, f in found.items() if (models is None or k[0] in models) and (batches is None or k[1] in batches)}
    missing = [f"{m} b{b}" for m in (models or []) for b in (batches or sorted({k[1] for k in found}))
               if (m, b) not in found]
    if missing or not todo:
        raise BackendError(
            f"no {args.dtype} profile in {d} for {', '.join(missing) or f'models {args.models}, batch {args.batch}'}"
        )
    layout = read_layout()
    parts = ladder(PartitionPool(layout))
    # every profile timed (and checked) before any is written: a refusal leaves the directory as it was
    done = []
    for i, f in enumerate(sorted(todo.values()), 1):
        old = read_json("profile", f)
        new = retime_profile(parts, layout.ref(), old)
        done.append((f, new))
        print(
            f"[{i}/{len(todo)}] {f.name}: request on {new['sizes'][-1]} SMs {old['requestUs'][-1]:.0f} -> "
            f"{new['requestUs'][-1]:.0f} µs, on {new['sizes'][0]} SMs {old['requestUs'][0]:.0f} -> "
            f"{new['requestUs'][0]:.0f} µs",
            file=sys.stderr,
            flush=True,
        )
    for f, new in done:
        write_json("profile", new, f)


def cmd_backend(args) -> None:
    from .protocol import serve  # noqa: PLC0415

    serve()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eclip_gpu", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("describe")
    p.add_argument("--out", required=True)
    p.add_argument("--probe", action="store_true", help="record each slice's SM ids with an %%smid kernel")
    p.set_defaults(fn=cmd_describe)
    p = sub.add_parser("primitives")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_primitives)
    p = sub.add_parser("profile")
    p.add_argument("--models", default="all")
    p.add_argument("--batch", default="1")
    p.add_argument("--dtype", default="fp16")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", required=True)
    p.add_argument("--no-primitives", action="store_true")
    p.add_argument("--gemm-target", action="store_true",
                   help="also time every size with GEMMs picked for its SMs (the profile's gemmTarget)")
    p.add_argument("--conv-target", action="store_true",
                   help="with --gemm-target: each size's convolutions by algorithms benchmarked on it (conv lanes) where faster")
    p.set_defaults(fn=cmd_profile)
    p = sub.add_parser("retime")
    p.add_argument("--profiles", required=True)
    p.add_argument("--models", default="all")
    p.add_argument("--batch", default="all")
    p.add_argument("--dtype", default="fp16")
    p.set_defaults(fn=cmd_retime)
    p = sub.add_parser("backend")
    p.set_defaults(fn=cmd_backend)
    args = ap.parse_args(argv)
    try:
        from .cuda import BackendError  # noqa: PLC0415
        from .formats import FormatError  # noqa: PLC0415

        args.fn(args)
    except ImportError as e:
        print(f"eclip_gpu: {MISSING_PACKAGES}: {e}", file=sys.stderr)
        return 2
    except (BackendError, FormatError) as e:
        print(f"eclip_gpu: {e}", file=sys.stderr)
        return 2
    return 0


# the GPU machine's image may lack fastjsonschema (an H100 image did): say what to install, not a traceback
MISSING_PACKAGES = ("the GPU backend needs PyTorch with CUDA, cuda-bindings, nvidia-ml-py and fastjsonschema "
                    "(python3 -m pip install -r gpu/requirements.txt)")


if __name__ == "__main__":
    sys.exit(main())

"""Why resnext101/resnet152 b8 profiled with --gemm-target --conv-target see 2 kernels more at 8 SMs than the graph."""
import difflib, sys, torch
sys.path.insert(0, "gpu")
from eclip_gpu import zoo
from eclip_gpu.capture import capture_one, warm_up
from eclip_gpu.partitions import PartitionPool, read_layout
from eclip_gpu.profiler import ladder, kernel_times_us, _capture_targeted

pool = PartitionPool(read_layout())
parts = ladder(pool)
small, whole = parts[0], parts[-1]
for name in sys.argv[1].split(","):
    built = zoo.build(name, 8, "fp16")
    warm_up(built, [small.torch_stream, whole.torch_stream], iters=1)
    ref = capture_one(built, whole.torch_stream, track_ops=False)
    d8 = capture_one(built, small.torch_stream, track_ops=False)
    names = lambda c: [k.name[:90] for k in c.kernels]
    print(name, "default whole", len(ref.kernels), "default 8", len(d8.kernels), flush=True)
    t8 = _capture_targeted(built, small, whole.sms)
    print(name, "gemm-targeted 8", len(t8.kernels), flush=True)
    seen = {}
    l8 = _capture_targeted(built, small, whole.sms, conv_target=True, seen=seen)
    print(name, "laned 8", len(l8.kernels), seen, flush=True)
    d8b = capture_one(built, small.torch_stream, track_ops=False)
    print(name, "default 8 after lanes", len(d8b.kernels), "cudnn.benchmark", torch.backends.cudnn.benchmark, flush=True)
    per, seen_k, _ = kernel_times_us(d8b.graphs[0], small.torch_stream, 3)
    print(name, "profiler records per replay of default 8 after lanes", len(per[0]), flush=True)
    for a, b, lab in ((ref, d8, "whole vs 8"), (d8, d8b, "8 before vs after lanes")):
        diff = [l for l in difflib.unified_diff(names(a), names(b), lineterm="", n=0) if l[:1] in "+-" and l[:3] not in ("+++", "---")]
        print(lab, "diff lines", len(diff)); print("\n".join(diff[:12]), flush=True)
    if len(per[0]) != len(d8b.kernels):
        pk = [s[0][:90] for s in seen_k]
        diff = [l for l in difflib.unified_diff(names(d8b), pk, lineterm="", n=0) if l[:1] in "+-" and l[:3] not in ("+++", "---")]
        print("graph vs profiler records", len(diff)); print("\n".join(diff[:12]), flush=True)
    del ref, d8, t8, l8, d8b, built
    torch.cuda.synchronize(); torch.cuda.empty_cache()

"""PARIS + ELSA on the GPU (eclip_gpu.paris): a measured latency table, an open-loop replay on two partitions, and one
over partitions of two GPUs (skipped with fewer than two visible)."""

import random

import pytest

from eclip_gpu.paris import ParisSession


def test_latency_table_is_valid_and_falls_with_sms(pool):
    s = ParisSession(pool.layout)
    try:
        r = s.table({"model": "alexnet", "batches": [1, 2], "dtype": "fp16", "cellMs": 20}, progress=print)
    finally:
        s.close()
    t = r["table"]
    assert t["sizes"][-1] == pool.layout.sm_count and t["batches"] == [1, 2]
    assert len(t["latencyUs"]) == 2 and all(len(row) == len(t["sizes"]) for row in t["latencyUs"])
    for row in t["latencyUs"]:
        assert row[0] > row[-1], row  # one slice is slower than the whole GPU
    print(f"alexnet table in {r['wallS']} s: b1 {t['latencyUs'][0]}")


def _trace(n=240, rate=800.0, seed=1):
    rng = random.Random(seed)
    t, arrival, model, batch = 0.0, [], [], []
    for _ in range(n):
        t += rng.expovariate(rate) * 1e6
        arrival.append(round(t, 1))
        model.append(rng.randrange(2))
        batch.append(rng.randrange(2))
    return {"arrivalUs": arrival, "model": model, "batchIdx": batch}


def test_open_loop_replay_on_two_partitions(pool):
    layout = pool.layout
    n_slices = layout.n_slices
    small = [0, 1]
    big = list(range(2, n_slices))
    sms = [sum(layout.slice_sms(i) for i in small), sum(layout.slice_sms(i) for i in big)]
    partitions = [{"id": "g0p0", "slices": small, "sms": sms[0]}, {"id": "g0p1", "slices": big, "sms": sms[1]}]
    models = [{"model": "alexnet", "batches": [1, 2], "sloUs": 5000},
              {"model": "shufflenet", "batches": [1, 2], "sloUs": 8000}]
    # rough estimates (µs): alexnet ~0.3/0.6 ms and shufflenet ~1/1.5 ms on the big partition, 3x on the small one
    base = [[300, 450], [900, 1300]]
    est = [[[b * 3 for b in row] for row in base], [list(row) for row in base]]
    trace = _trace()
    n = len(trace["arrivalUs"])
    s = ParisSession(layout)
    try:
        msg = {"key": "t", "partitions": partitions, "models": models, "dtype": "fp16", "estUs": est,
               "dispatch": "elsa", "sloMargin": 0.5, "dropAfterSlo": 1e6, "firstMeasured": n // 10, "trace": trace}
        r = s.run(msg, progress=print)
        # what the trace needs, on each partition
        assert r["captures"] == 2 * len(set(zip(trace["model"], trace["batchIdx"])))
        assert r["dropped"] == [0] * n
        for q in range(n):
            assert r["partition"][q] in (0, 1), q
            assert r["partition"][q] == r["assigned"][q], f"query {q}: ran on {r['partition'][q]}, ELSA chose another"
            assert r["releaseUs"][q] >= trace["arrivalUs"][q] - 0.2, q
            assert r["startUs"][q] >= r["releaseUs"][q] - 0.2, q
            assert r["endUs"][q] > r["startUs"][q], q
        used = set(r["partition"])
        lag = sorted(rel - a for rel, a in zip(r["releaseUs"], trace["arrivalUs"]))
        lat = sorted(e - a for e, a in zip(r["endUs"], trace["arrivalUs"]))
        print(f"elsa: partitions used {used}, release lag p50 {lag[n // 2]:.0f} µs p99 {lag[int(n * 0.99)]:.0f} µs, "
              f"latency p50 {lat[n // 2]:.0f} µs p99 {lat[int(n * 0.99)]:.0f} µs, {r['notes']}")
        # the same layout again under a central FIFO: every graph is kept, nothing is captured
        r2 = s.run({**msg, "key": "t2", "dispatch": "fifo"}, progress=print)
        assert r2["captures"] == 0
        assert all(p in (0, 1) for p in r2["partition"]) and all(a in (-1, 0, 1) for a in r2["assigned"])
        assert all(e > st for e, st in zip(r2["endUs"], r2["startUs"]))
    finally:
        s.close()


def test_open_loop_replay_over_two_gpus(pool):
    """`eclip paris --backend gpu --gpus 2`'s path: partitions on GPUs 0 and 1 of one process, one dispatcher."""
    import torch

    from eclip_gpu.energy import Energy

    if torch.cuda.device_count() < 2:
        pytest.skip(f"needs 2 GPUs; this machine shows {torch.cuda.device_count()}")
    layout = pool.layout
    s = ParisSession(layout, Energy(0))
    try:
        seen = s.gpus({"count": 2})
        assert seen["deviceCount"] >= 2 and len(seen["gpus"]) == 2
        # the TS side refuses GPUs of different layouts; the same kind of GPU gives the same slices
        assert [x["sms"] for x in seen["gpus"][1]["slices"]] == [x["sms"] for x in seen["gpus"][0]["slices"]]
        small, big = [0, 1], list(range(2, layout.n_slices))
        sms = [sum(layout.slice_sms(i) for i in small), sum(layout.slice_sms(i) for i in big)]
        parts = [{"id": f"g{g}p{i}", "gpu": g, "slices": sl, "sms": sms[i]}
                 for g in (0, 1) for i, sl in enumerate((small, big))]
        models = [{"model": "alexnet", "batches": [1, 2], "sloUs": 5000},
                  {"model": "shufflenet", "batches": [1, 2], "sloUs": 8000}]
        base = [[300, 450], [900, 1300]]
        per_part = [[[b * 3 for b in row] for row in base], [list(row) for row in base]]
        trace = _trace(n=400, rate=1600.0, seed=2)
        n = len(trace["arrivalUs"])
        classes = len(set(zip(trace["model"], trace["batchIdx"])))
        msg = {"key": "t", "models": models, "dtype": "fp16", "dispatch": "elsa", "sloMargin": 0.5,
               "dropAfterSlo": 1e6, "firstMeasured": n // 10, "trace": trace}
        # GPU 0 alone first (compare() runs --gpus 1,2 in that order), then both GPUs
        r1 = s.run({**msg, "partitions": parts[:2], "estUs": per_part}, progress=print)
        assert r1["gpus"] == [0] and len(r1["energyPerGpuJ"]) == 1
        r = s.run({**msg, "key": "t2", "partitions": parts, "estUs": per_part * 2}, progress=print)
        assert r["captures"] == 2 * classes, "GPU 0's graphs are kept; GPU 1's two partitions are captured"
        assert r["gpus"] == [0, 1]
        assert r["dropped"] == [0] * n
        assert all(r["partition"][q] == r["assigned"][q] for q in range(n))
        on_gpu = {parts[p]["gpu"] for p in r["partition"]}
        assert on_gpu == {0, 1}, f"both GPUs serve queries ({on_gpu})"
        e = r["energyPerGpuJ"]
        assert len(e) == 2 and all(x > 0 for x in e) and abs(sum(e) - r["energyJ"]) < 1e-9, e
        # each GPU holds its own partitions' graphs: outputs live on the partition's device
        for (g, _), part in s.parts.items():
            for graph, out, built in part.graphs.values():
                assert out.device.index == g, (g, out.device)
        lat = sorted(end - a for end, a in zip(r["endUs"], trace["arrivalUs"]))
        lag = sorted(rel - a for rel, a in zip(r["releaseUs"], trace["arrivalUs"]))
        print(f"2 GPUs elsa: latency p50 {lat[n // 2]:.0f} µs p99 {lat[int(n * 0.99)]:.0f} µs, release lag p99 "
              f"{lag[int(n * 0.99)]:.0f} µs, energy {e} J, {r['notes']}")
        # back to GPU 0 alone: GPU 1's partitions are destroyed, GPU 0's graphs were kept throughout
        r3 = s.run({**msg, "key": "t3", "partitions": parts[:2], "estUs": per_part}, progress=print)
        assert r3["captures"] == 0 and r3["gpus"] == [0]
        assert all(g == 0 for g, _ in s.parts)
    finally:
        s.close()

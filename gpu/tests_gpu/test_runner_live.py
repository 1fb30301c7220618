"""A bench run that follows a plan table on the GPU (runner.py with `live`, GPU test): alexnet + albert, each alone on
the whole GPU (baseline) or together in graph mode over two halves of the GPU. alexnet runs all along, albert joins
for a busy period in the middle: alexnet's requests start under its alone plan, then the pair's, then alone again;
every capture's output equals the baseline's; the set times cover the window; the switches are counted. Run with
`python -m pytest gpu/tests_gpu -k live` (gpu/scripts/device-live.sh)."""

import pytest

from tests_gpu.plans import alternating_groups

BATCH = 2
MODELS = ("alexnet", "albert")


@pytest.fixture(scope="module")
def runner():
    from eclip_gpu.runner import Runner

    r = Runner()
    yield r
    r.close()


def _table(runner):
    import torch

    from eclip_gpu.execute import op_kernel_starts

    layout = runner.layout
    gpu = {"name": layout.name, "smCount": layout.sm_count, "sliceSize": layout.min_size}
    n = layout.n_slices
    whole = {"id": 0, "slices": list(range(n)), "sms": layout.sm_count}
    halves = [{"id": 0, "slices": list(range(n // 2))}, {"id": 1, "slices": list(range(n // 2, n))}]
    workers = {}
    for m in MODELS:
        w = {"name": f"{m}#0", "model": m, "batch": BATCH, "dtype": "fp16", "fingerprint": ""}
        _, dry = op_kernel_starts(runner._built(w), torch.cuda.Stream())
        workers[m] = (w, len(dry.kernels))
    alone = {m: {"policy": "baseline", "gpu": gpu, "pool": {"partitions": [whole]},
                 "workers": [{**w, "groups": [{"first": 0, "last": k - 1, "partition": 0}]}]}
             for m, (w, k) in workers.items()}
    pair = {"policy": "eclip", "gpu": gpu, "pool": {"partitions": halves},
            "workers": [{**w, "groups": alternating_groups(k, [0, 1])} for w, k in workers.values()]}
    entries = [{"key": "alexnet#0", "plan": alone["alexnet"]}, {"key": "albert#0", "plan": alone["albert"]},
               {"key": "albert#0+alexnet#0", "plan": pair}]
    # masks over the pair plan's workers: bit 0 alexnet, bit 1 albert
    return pair, entries, ["", "alexnet#0", "albert#0", "albert#0+alexnet#0"]


def test_a_run_follows_the_table_as_the_set_changes(runner):
    pair, entries, sets = _table(runner)
    msg = {"type": "run", "key": "duo|eclip-live|graph|b2", "plan": pair, "mode": "graph", "warmupS": 0.2,
           "windowS": 1.2, "checkOutputs": True,
           # alexnet all along; albert busy 0.6–1.0 s
           "arrivals": [{"kind": "closed", "periodsUs": [0, 1.4e6]}, {"kind": "closed", "periodsUs": [0.6e6, 1.0e6]}],
           "live": {"holdUs": 5000, "plans": entries, "sets": sets}}
    out = runner.run(msg, progress=print)
    live = out["live"]
    a, b = live["requestSets"]
    wa, wb = out["workers"]
    assert len(a) == len(wa["endUs"]) > 10 and len(b) == len(wb["endUs"]) > 10
    # albert only ever ran beside alexnet (closed loop all along): the pair's plan
    assert set(b) == {0b11}
    # alexnet: alone, then the pair's plan, then alone again once albert's hold ran out
    assert a[0] == 0b01 and a[-1] == 0b01 and 0b11 in a
    first, last = a.index(0b11), len(a) - 1 - a[::-1].index(0b11)
    assert all(m == 0b11 for m in a[first:last + 1]), "alexnet left the pair's plan while albert was busy"
    starts = wa["startUs"]
    assert 0.55e6 < starts[first] < 0.7e6 and 0.95e6 < starts[last] < 1.1e6
    # the sets' time covers the window; alexnet alone and the pair took most of it
    window = out["windowEndUs"] - out["windowStartUs"]
    t = live["setTimeUs"]
    assert abs(sum(t) - window) < 1e3
    assert t[0b11] > 0.3e6 and t[0b01] > 0.6e6 and t[0b10] == 0
    # in the window: albert in, albert out; over the run also alexnet's first request (nothing active before it)
    assert live["switches"] == 2 and live["switchesTotal"] == 3
    # every capture under a partitioned plan computes the baseline's output
    checked = {c["name"]: c for c in out["outputCheck"]}
    assert sorted(checked) == ["albert#0 under albert#0+alexnet#0", "alexnet#0 under albert#0+alexnet#0"]
    for c in checked.values():
        assert c["bitwise"] or (c["relErr"] is not None and c["relErr"] < 1e-3), c
    # a model alone runs on the whole GPU: its requests alone are not slower than beside albert
    service = [e - s for s, e in zip(wa["startUs"], wa["endUs"])]
    alone = [x for x, m in zip(service, a) if m == 0b01]
    together = [x for x, m in zip(service, a) if m == 0b11]
    print(f"alexnet µs alone {sum(alone) / len(alone):.0f}, beside albert {sum(together) / len(together):.0f}; "
          f"sets µs {t}")
    assert sum(alone) / len(alone) < sum(together) / len(together)

import pytest

from eclip_gpu.capture import snap_groups


def test_boundaries_inside_an_op_move_to_the_op_start():
    groups = [
        {"first": 0, "last": 4, "partition": 1},
        {"first": 5, "last": 9, "partition": 2},
        {"first": 10, "last": 11, "partition": 3},
    ]
    # ops start at kernels 0, 3, 6, 10: the boundary at 5 falls inside the op 3..5 and moves to 3
    out, moved = snap_groups(groups, [0, 3, 6, 10])
    assert moved == 1
    assert out == [
        {"first": 0, "last": 2, "partition": 1},
        {"first": 3, "last": 9, "partition": 2},
        {"first": 10, "last": 11, "partition": 3},
    ]


def test_a_group_swallowed_by_snapping_disappears_and_coverage_stays_whole():
    groups = [
        {"first": 0, "last": 3, "partition": 1},
        {"first": 4, "last": 4, "partition": 2},
        {"first": 5, "last": 9, "partition": 3},
    ]
    out, moved = snap_groups(groups, [0, 4, 8])
    # 5 snaps to 4, where the second group already starts: the third group is dropped, the second runs to 9
    assert [g["partition"] for g in out] == [1, 2]
    assert out[0]["first"] == 0 and out[-1]["last"] == 9
    assert all(a["last"] + 1 == b["first"] for a, b in zip(out, out[1:]))
    assert moved == 1


def test_a_worker_on_every_sm_is_placed_as_baseline_places_it():
    from types import SimpleNamespace

    from eclip_gpu.execute import on_every_sm

    layout = SimpleNamespace(sm_count=132)
    parts = {0: SimpleNamespace(sms=132), 1: SimpleNamespace(sms=64)}
    on_whole = [{"first": 0, "last": 9, "partition": 0}]
    assert on_every_sm(on_whole, parts, layout)
    assert on_every_sm(on_whole * 2, parts, layout)
    # one group on fewer SMs, no groups (baseline itself) or no layout: captured as the mode says
    assert not on_every_sm([*on_whole, {"first": 10, "last": 11, "partition": 1}], parts, layout)
    assert not on_every_sm(None, parts, layout)
    assert not on_every_sm(on_whole, parts, None)


def test_a_worker_needs_the_partitions_its_groups_name_and_no_other():
    from eclip_gpu.cuda import BackendError
    from eclip_gpu.execute import kernel_partitions

    parts = {0: "whole", 1: "left", 2: "right"}
    groups = [{"first": 0, "last": 3, "partition": 2}, {"first": 4, "last": 9, "partition": 1},
              {"first": 10, "last": 11, "partition": 2}]
    assert kernel_partitions("w", groups, parts) == {1: "left", 2: "right"}
    assert kernel_partitions("w", None, parts) == {}  # baseline: no group, no partition
    with pytest.raises(BackendError, match=r"w: plan 'k' puts its kernels on partition\(s\) \[7\], which it does not"):
        kernel_partitions("w", [{"first": 0, "last": 1, "partition": 7}], parts, "plan 'k'")

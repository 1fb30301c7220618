"""eclip-rt's gate mechanism without a GPU (gate.py): where a best-effort graph's waits go among its ops, and the
plan's gate checked before anything is captured. The captured waits and raises themselves: gpu/tests_gpu/test_gate.py."""

import pytest

from eclip_gpu.cuda import BackendError
from eclip_gpu.gate import check_gate, wait_points


def test_each_gate_waits_before_the_first_op_at_or_after_its_kernel():
    # kernels launched before each op: ops 0 and 1 launch nothing before op 2, ops 3–6 start at kernels 1, 3, 5, 8
    per_op = [0, 0, 1, 1, 3, 5, 8]
    assert wait_points(per_op, [0, 2, 5]) == {0, 4, 5}
    # two gates that fall inside one op's kernels give that op one wait
    assert wait_points(per_op, [2, 3]) == {4}
    # a gate past the last op's start has no op to wait before
    assert wait_points(per_op, [0, 9]) == {0}
    assert wait_points(per_op, []) == set()


def test_a_plan_gate_is_checked():
    assert check_gate("w", None) is None
    assert check_gate("w", {"role": "raise"}) == {"role": "raise"}
    assert check_gate("w", {"role": "wait", "atKernels": [0, 4]})["atKernels"] == [0, 4]
    with pytest.raises(BackendError, match="w: gate role 'open'"):
        check_gate("w", {"role": "open"})
    with pytest.raises(BackendError, match="w: a waiting gate needs atKernels"):
        check_gate("w", {"role": "wait"})
    with pytest.raises(BackendError, match="atKernels"):
        check_gate("w", {"role": "wait", "atKernels": [-1]})

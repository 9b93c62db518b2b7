"""`parallel` merge `mul` and the broadcasting of element-wise merges (`add` and `mul`), as
PyTorch broadcasts: same rank, per axis equal sizes or a 1. Numbers by hand in comments, and
the broadcast shapes cross-checked against torch's own broadcasting."""
from __future__ import annotations

import pytest
from conftest import analyse_text as analyse
from conftest import codes, locate
from torch_ref import hwc_to_nchw, need_torch, nchw_to_hwc

SE = """\
input: [56, 56, 24]
layers:
  - parallel:
      merge: mul
      branches:
        - []
        - [globalavgpool, conv: {filters: 8, kernel: 1}, relu, conv: {filters: 24, kernel: 1}, hardsigmoid]
"""


def test_squeeze_and_excitation_gate_scales_the_volume(spec_file):
    # the gate: pool to 1×1×24; 1×1 conv 24→8: 24·8 + 8 = 200 params, 1·1·8·24 = 192 MACs;
    # 1×1 conv 8→24: 8·24 + 24 = 216 params, 192 MACs. The mul broadcasts 1×1×24 over
    # 56×56×24 and keeps 56×56×24; it adds no params and no MACs.
    a = analyse(spec_file, SE)
    assert codes(a) == []
    assert a.output == (56, 56, 24)
    assert (a.totals.params, a.totals.macs, a.totals.depth) == (416, 384, 2)
    # the merge stores its output: 56·56·24 = 75,264 values
    assert a.totals.merge_activations == 75_264


@pytest.mark.parametrize("merge", ["add", "mul"])
def test_elementwise_merges_broadcast_alike(spec_file, merge):
    # branch1 8×8×4 (identity), branch2 1×1×4 (global pool): broadcast to 8×8×4
    a = analyse(spec_file, f"input: [8, 8, 4]\nlayers:\n  - parallel: {{merge: {merge}, "
                           "branches: [[], [globalmaxpool]]}\n")
    assert codes(a) == []
    assert a.output == (8, 8, 4)


def test_a_one_channel_map_scales_every_channel(spec_file):
    # spatial attention: a 1×1 conv 4→1 gives 8×8×1 (4 + 1 = 5 params, 8·8·1·4 = 256 MACs);
    # times 8×8×4 broadcasts to 8×8×4
    a = analyse(spec_file, "input: [8, 8, 4]\nlayers:\n  - parallel: {merge: mul, branches: "
                           "[[], [conv: {filters: 1, kernel: 1}, sigmoid]]}\n")
    assert codes(a) == []
    assert a.output == (8, 8, 4)
    assert (a.totals.params, a.totals.macs) == (5, 256)


def test_both_sides_may_broadcast(spec_file):
    # 8×8×1 (a 1×1 conv to one channel) times 1×1×4 (global pool): 8×8×4, as torch gives
    a = analyse(spec_file, "input: [8, 8, 4]\nlayers:\n  - parallel: {merge: mul, branches: "
                           "[[conv: {filters: 1, kernel: 1}], [globalavgpool]]}\n")
    assert codes(a) == []
    assert a.output == (8, 8, 4)


def test_shapes_that_cannot_broadcast_name_both(spec_file):
    # branch1: 2×2/2 → (8 − 2)/2 + 1 = 4, so 4×4×4; branch2 the identity 8×8×4: 4 ≠ 8, neither 1
    text = """\
input: [8, 8, 4]
layers:
  - parallel:
      merge: mul
      branches:
        - [maxpool: {size: 2, stride: 2}]
        - []
"""
    a = analyse(spec_file, text)
    assert codes(a) == ["merge-mismatch"]
    d = a.diagnostics[0]
    assert "cannot multiply branch1 (4×4×4) and branch2 (8×8×4)" in d.message
    assert (d.line, d.column) == locate(text, "parallel")
    assert a.output is None


def test_a_flat_gate_does_not_broadcast_over_a_volume(spec_file):
    # dense after the pool gives the flat [4]; PyTorch's (N, 4) does not broadcast over (N, 4, 8, 8)
    a = analyse(spec_file, "input: [8, 8, 4]\nlayers:\n  - parallel: {merge: mul, branches: "
                           "[[], [globalavgpool, dense: 4, sigmoid]]}\n")
    assert codes(a) == ["merge-mismatch"]
    d = a.diagnostics[0]
    assert "(8×8×4)" in d.message and "(4)" in d.message
    assert "1×1 conv" in d.hint


def test_a_third_branch_is_checked_against_the_broadcast_so_far(spec_file):
    # 8×8×4 · 1×1×4 = 8×8×4; then · 4×4×4 (2×2/2 pool) fails: 8 against 4
    a = analyse(spec_file, "input: [8, 8, 4]\nlayers:\n  - parallel: {merge: mul, branches: "
                           "[[], [globalavgpool], [maxpool: 2]]}\n")
    assert codes(a) == ["merge-mismatch"]
    assert "(4×4×4)" in a.diagnostics[0].message


BROADCAST_CASES = [
    ((8, 8, 4), (1, 1, 4)),
    ((8, 8, 4), (8, 8, 1)),
    ((1, 1, 4), (8, 8, 4)),
    ((8, 8, 1), (1, 1, 4)),
    ((8, 8, 4), (8, 8, 4)),
    ((8, 8, 4), (4, 4, 4)),
    ((8, 8, 4), (8, 8, 2)),
    ((8, 8, 4), (1, 8, 4)),
    ((5,), (1,)),
    ((5,), (3,)),
]


@pytest.mark.parametrize("a, b", BROADCAST_CASES)
def test_broadcasting_agrees_with_torch(a, b):
    torch = need_torch()
    from archcalc.engine import broadcast_shapes

    try:
        expected = nchw_to_hwc(torch.broadcast_shapes(hwc_to_nchw(a), hwc_to_nchw(b)))
    except RuntimeError:
        expected = None
    assert broadcast_shapes(a, b) == expected

"""The window helpers of archcalc/layers/window.py, cross-checked by brute force.

The reference here never uses the closed formulas: it places windows one by one on a
padded axis and counts them.

* floor mode: windows start at 0, s, 2s, ... (padded coordinates) and must fit inside the
  padded axis of length L = p_begin + n + p_end;
* ceil mode: windows slide on until one reaches the end of the padded axis (so the last one
  may hang over it), and then, as PyTorch does, a last window that starts inside the end
  padding (start ≥ p_begin + n) is dropped.
"""
from __future__ import annotations

import doctest
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc.layers import window


def brute_output(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> int:
    extent = d * (k - 1) + 1  # first to last tap of a dilated window
    length = pb + n + pe
    starts = []
    start = 0
    if ceil:
        while True:
            starts.append(start)
            if start + extent >= length:  # this window reaches the end of the padded axis
                break
            start += s
        if starts[-1] >= pb + n:
            starts.pop()
    else:
        while start + extent <= length:
            starts.append(start)
            start += s
    return len(starts)


def brute_uncovered_tail(n: int, k: int, s: int, d: int, pb: int, pe: int) -> int:
    """Real input positions no window's extent touches (floor mode, stride ≤ extent)."""
    extent = d * (k - 1) + 1
    covered = set()
    start = 0
    while start + extent <= pb + n + pe:
        covered.update(range(start, start + extent))
        start += s
    return sum(1 for position in range(pb, pb + n) if position not in covered)


def brute_same_padding(n: int, e: int, s: int) -> tuple[int, int]:
    """The least total padding whose floor-mode output is ⌈n/s⌉, smaller half first."""
    want = -(-n // s)
    total = 0
    while brute_output(n, e, s, 1, total // 2, total - total // 2, False) < want:
        total += 1
    return total // 2, total - total // 2


def test_module_doctests_pass():
    failures, tried = doctest.testmod(window)
    assert tried >= 3
    assert failures == 0


# ---------------------------------------------------------------------- hand-computed cases
@pytest.mark.parametrize("args, out", [
    ((227, 11, 4, 1, 0, 0, False), 55),   # AlexNet conv1: ⌊(227 − 11)/4⌋ + 1 = 54 + 1
    ((32, 5, 1, 1, 0, 0, False), 28),     # LeNet C1: 32 − 5 + 1
    ((13, 3, 2, 1, 0, 0, False), 6),      # AlexNet pool5: ⌊10/2⌋ + 1
    ((224, 7, 2, 1, 3, 3, False), 112),   # ResNet stem: ⌊(224 + 6 − 7)/2⌋ + 1 = 111 + 1
    ((112, 3, 2, 1, 1, 1, False), 56),    # ResNet max pool: ⌊(112 + 2 − 3)/2⌋ + 1 = 55 + 1
    ((9, 3, 1, 2, 0, 0, False), 5),       # dilation 2: e = 2·2 + 1 = 5, 9 − 5 + 1
    ((6, 3, 1, 1, 0, 1, False), 5),       # one-sided padding: 6 + 1 − 3 + 1
    ((112, 3, 2, 1, 0, 0, True), 56),     # GoogLeNet pool, ceil: ⌈109/2⌉ + 1 = 55 + 1 (floor: 55)
    ((5, 2, 2, 1, 1, 1, True), 3),        # PyTorch: ⌊(5 + 2 − 2 + 1)/2⌋ + 1 = 4, and
                                          # (4 − 1)·2 = 6 ≥ 5 + 1, so the last window is dropped
    ((6, 3, 2, 1, 1, 1, True), 4),        # PyTorch: ⌊(6 + 2 − 3 + 1)/2⌋ + 1 = 4; (4 − 1)·2 = 6 < 7: kept
    ((4, 5, 1, 1, 0, 0, False), 0),       # the window does not fit: 4 − 5 + 1
])
def test_axis_output_by_hand(args, out):
    assert window.axis_output(*args) == out


@pytest.mark.parametrize("n, e, s, pads", [
    (224, 7, 2, (2, 3)),   # out 112: (112 − 1)·2 + 7 − 224 = 5 → 2 before, 3 after
    (7, 3, 2, (1, 1)),     # odd n: out ⌈7/2⌉ = 4, total (4 − 1)·2 + 3 − 7 = 2
    (8, 3, 2, (0, 1)),     # even n: out 4, total (4 − 1)·2 + 3 − 8 = 1, the smaller half (0) first
    (8, 1, 2, (0, 0)),     # 1x1 stride 2: total max((4 − 1)·2 + 1 − 8, 0) = 0
    (5, 3, 1, (1, 1)),     # stride 1: total e − 1 = 2
    (6, 4, 1, (1, 2)),     # even kernel: total 3, 1 before, 2 after
])
def test_same_padding_by_hand(n, e, s, pads):
    assert window.same_padding(n, e, s) == pads


def test_pytorch_drop_rule_matters_for_this_case():
    # without the rule, ceil mode would give ⌈(5 + 2 − 2)/2⌉ + 1 = ⌈2.5⌉ + 1 = 4 windows
    # starting at 0, 2, 4, 6 (padded); the one at 6 lies wholly in the end padding
    assert brute_output(5, 2, 2, 1, 1, 1, ceil=True) == 3
    assert window.axis_output(5, 2, 2, 1, 1, 1, True) == 3


@pytest.mark.parametrize("args, lost", [
    ((227, 11, 4, 1, 0, 0), 0),   # (227 − 11)/4 = 54 exactly
    ((224, 11, 4, 1, 0, 0), 1),   # AlexNet at 224: ⌊213/4⌋ + 1 = 54 windows cover
                                  # (54 − 1)·4 + 11 = 223 of 224 columns → 1 unseen
    ((224, 7, 2, 1, 3, 3), 0),    # ResNet stem: the skipped column is padding
    ((10, 1, 3, 1, 0, 0), 0),     # stride 3 > window 1 skips input by design
])
def test_dropped_input_by_hand(args, lost):
    n, k, s, d, pb, pe = args
    out = window.axis_output(n, k, s, d, pb, pe, False)
    assert window.dropped_input(n, k, s, d, pb, pe, out) == lost


@pytest.mark.parametrize("args, pad", [
    ((224, 11, 4, 1), 3),   # (224 + p − 11) mod 4 for p = 1, 2, 3: 214 → 2, 215 → 3, 216 → 0
    ((227, 11, 4, 1), 4),   # 227 − 11 = 216 divides already (p = 0); p = 1..4: 217 → 1, 218 → 2,
                            # 219 → 3, 220 → 0
    ((10, 2, 2, 1), None),  # p must be < e = 2 and (10 + 1 − 2) = 9 is odd: none
])
def test_exact_padding_by_hand(args, pad):
    assert window.exact_padding(*args) == pad


# -------------------------------------------------------------------------- brute force
GRID = list(itertools.product(range(1, 13), range(1, 5), range(1, 4), range(1, 3), range(3),
                              range(3), (False, True)))


def test_axis_output_matches_brute_force_on_a_grid():
    mismatches = []
    for n, k, s, d, pb, pe, ceil in GRID:
        extent = d * (k - 1) + 1
        got = window.axis_output(n, k, s, d, pb, pe, ceil)
        if extent > pb + n + pe:  # no window fits: the caller reports a non-positive size
            if got >= 1:
                mismatches.append(((n, k, s, d, pb, pe, ceil), got, "≤ 0"))
            continue
        want = brute_output(n, k, s, d, pb, pe, ceil)
        if got != want:
            mismatches.append(((n, k, s, d, pb, pe, ceil), got, want))
    assert mismatches == []


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(1, 12), s=st.integers(1, 6), d=st.integers(1, 4),
       pb=st.integers(0, 6), pe=st.integers(0, 6), ceil=st.booleans())
def test_axis_output_matches_brute_force(n, k, s, d, pb, pe, ceil):
    got = window.axis_output(n, k, s, d, pb, pe, ceil)
    if d * (k - 1) + 1 > pb + n + pe:
        assert got < 1
    else:
        assert got == brute_output(n, k, s, d, pb, pe, ceil)


def pytorch_output(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> int:
    """PyTorch's pooling_output_shape_pad_lr (aten/src/ATen/native/Pool.h), transcribed."""
    out = (n + pb + pe - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + pb:
        out -= 1
    return out


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(1, 12), s=st.integers(1, 6), d=st.integers(1, 4),
       pb=st.integers(0, 6), pe=st.integers(0, 6), ceil=st.booleans())
def test_brute_force_agrees_with_pytorchs_formula(n, k, s, d, pb, pe, ceil):
    if d * (k - 1) + 1 <= pb + n + pe:
        assert brute_output(n, k, s, d, pb, pe, ceil) == pytorch_output(n, k, s, d, pb, pe, ceil)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(1, 12), s=st.integers(1, 6), d=st.integers(1, 3))
def test_same_padding_matches_brute_force(n, k, s, d):
    e = window.effective_kernel(k, d)
    pads = window.same_padding(n, e, s)
    assert pads == brute_same_padding(n, e, s)
    # and the padded output is ⌈n/s⌉
    assert window.axis_output(n, k, s, d, *pads, False) == -(-n // s)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 200), k=st.integers(1, 9), s=st.integers(1, 5), d=st.integers(1, 3),
       pb=st.integers(0, 4), pe=st.integers(0, 4))
def test_dropped_input_matches_brute_force(n, k, s, d, pb, pe):
    e = window.effective_kernel(k, d)
    out = window.axis_output(n, k, s, d, pb, pe, False)
    lost = window.dropped_input(n, k, s, d, pb, pe, out)
    if out < 1 or s > e:
        assert lost == 0  # nothing to report: no output, or gaps by design
    else:
        assert lost == brute_uncovered_tail(n, k, s, d, pb, pe)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 200), k=st.integers(1, 9), s=st.integers(1, 5), d=st.integers(1, 3))
def test_exact_padding_is_the_least_total_that_divides(n, k, s, d):
    e = window.effective_kernel(k, d)
    candidates = [p for p in range(1, e) if n + p >= e and (n + p - e) % s == 0]
    assert window.exact_padding(n, k, s, d) == (candidates[0] if candidates else None)
    if candidates:
        # padding that much loses nothing at the end
        p = candidates[0]
        out = window.axis_output(n + p, k, s, d, 0, 0, False)
        assert (out - 1) * s + e == n + p

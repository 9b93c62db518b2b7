"""Window arithmetic shared by convolution and pooling (contract section 3, "window rule").

Every function works on one spatial axis and uses integers only.

>>> axis_output(227, 11, 4, 1, 0, 0, False)   # AlexNet conv1: ⌊(227 − 11)/4⌋ + 1
55
>>> same_padding(224, 7, 2)                    # ⌈224/2⌉ = 112 needs 5 rows of padding, 2 before
(2, 3)
>>> axis_output(112, 3, 2, 1, 0, 0, True)      # ceil mode: ⌈(112 − 3)/2⌉ + 1
56
"""
from __future__ import annotations


def effective_kernel(k: int, d: int) -> int:
    return d * (k - 1) + 1


def same_padding(n: int, e: int, s: int) -> tuple[int, int]:
    """(begin, end) padding for out = ⌈n/s⌉; the smaller half goes first, as TensorFlow does."""
    out = -(-n // s)
    total = max((out - 1) * s + e - n, 0)
    return total // 2, total - total // 2


def axis_output(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> int:
    """Output length; may be ≤ 0 when the window does not fit (the caller reports it)."""
    e = effective_kernel(k, d)
    span = n + pb + pe - e
    if span < 0:
        return span // s + 1 if not ceil else 0
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    # PyTorch drops a last window that would start inside the end padding.
    if (out - 1) * s >= n + pb:
        out -= 1
    return out


def dropped_input(n: int, k: int, s: int, d: int, pb: int, pe: int, out: int) -> int:
    """How many real (non-padding) input positions at the end no window covers.

    Zero when the division is exact, when only padding is skipped (ResNet's stem:
    (224 + 6 − 7)/2 + 1 = 112.5 skips one padding column) or when the stride is larger than
    the window, which skips input by design.
    """
    e = effective_kernel(k, d)
    if s > e or out < 1:
        return 0
    covered = (out - 1) * s + e
    uncovered = n + pb + pe - covered
    # at most the n real positions (a window may see only the begin padding)
    return max(0, min(n, uncovered - pe))


def exact_padding(n: int, k: int, s: int, d: int) -> int | None:
    """The smallest total padding (< the window) that makes (n + p − e)/s exact, if any."""
    e = effective_kernel(k, d)
    for p in range(1, e):
        if (n + p - e) % s == 0 and n + p >= e:
            return p
    return None


def adaptive_bins(n: int, o: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive-pooling bins over an axis of n for o outputs: bin i covers
    [⌊i·n/o⌋, ⌈(i+1)·n/o⌉). Equal bins of n/o when o divides n; otherwise some are one wider,
    and when o > n neighbouring bins overlap.

    >>> adaptive_bins(7, 3)      # [0, 3), [2, 5), [4, 7)
    [(0, 3), (2, 5), (4, 7)]
    """
    return [(i * n // o, -(-(i + 1) * n // o)) for i in range(o)]


def adaptive_window(n: int, o: int) -> tuple[int, int, int]:
    """(e, s, p_begin) for the receptive-field recurrence: exact (n/o, n/o, 0) when o divides
    n; otherwise e is the widest bin and s = ⌈n/o⌉, so the fields computed through it (and
    after it) are upper bounds: every k consecutive bins span at most e + (k − 1)·⌈n/o⌉."""
    if n % o == 0:
        return (n // o, n // o, 0)
    widest = max(end - start for start, end in adaptive_bins(n, o)) if o <= 4096 else -(-n // o) + 1
    return (widest, -(-n // o), 0)

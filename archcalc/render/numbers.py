"""Number formatting: the only place integers become human units. Exact until here."""
from __future__ import annotations

_STEPS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def human(n: int | None, digits: int = 3) -> str:
    """61706 -> '61.7 K', 62378344 -> '62.4 M', 15470264320 -> '15.5 G', 0 -> '0'.

    Three significant digits, like the lecture's '~60 M'."""
    if n is None:
        return "—"
    sign = "-" if n < 0 else ""
    a = abs(n)
    for i, (size, unit) in enumerate(_STEPS):
        if a >= size:
            text = _digits(a / size, digits)
            if float(text) >= 1000 and i > 0:  # 999.95 K rounds up: say 1.00 M instead
                size, unit = _STEPS[i - 1]
                text = _digits(a / size, digits)
            return f"{sign}{text} {unit}"
    return f"{sign}{a}"


def _digits(value: float, digits: int) -> str:
    return f"{value:.{max(0, digits - len(str(int(value))))}f}"


def exact(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def shape(s) -> str:
    return "—" if s is None else "×".join(str(x) for x in s)


def share(part: int, whole: int) -> str:
    if not whole:
        return ""
    pct = 100 * part / whole
    if part and pct < 0.05:
        return "<0.1%"
    return f"{pct:.1f}%"


def signed(n: int) -> str:
    return f"+{human(n)}" if n > 0 else human(n)

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
            text = _scaled(a, size, digits)
            if i > 0 and len(text.split(".")[0]) > 3:  # 999.95 K rounds up: say 1.00 M instead
                size, unit = _STEPS[i - 1]
                text = _scaled(a, size, digits)
            return f"{sign}{text} {unit}"
    return f"{sign}{a}"


def _scaled(a: int, size: int, digits: int) -> str:
    """a/size to ``digits`` significant digits (half up), in integers: no float noise, even for
    totals far beyond 2⁵³ (10²⁰ is '100,000,000 T', not '99999992000000311296 T')."""
    places = max(0, digits - len(str(a // size)))
    q, r = divmod(a * 10**places, size)
    if 2 * r >= size:
        q += 1
    if not places:
        return f"{q:,}" if q >= 10_000 else str(q)
    text = str(q).rjust(places + 1, "0")
    return f"{text[:-places]}.{text[-places:]}"


def _digits(value: float, digits: int) -> str:
    return f"{value:.{max(0, digits - len(str(int(value))))}f}"


def exact(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def shape(s) -> str:
    if s is None:
        return "—"
    if getattr(s, "ids", False):  # token ids, `input: {tokens: T}`
        return f"{s[0]} ids"
    return "×".join(str(x) for x in s)


def row_input(row: dict) -> str:
    """A list row's input: `1024 ids` for a token-id input (the row's `tokens`), else its shape."""
    return f"{row['tokens']} ids" if row.get("tokens") else shape(row["input"])


def share(part: int, whole: int) -> str:
    if not whole:
        return ""
    pct = 100 * part / whole
    if part and pct < 0.05:
        return "<0.1%"
    return f"{pct:.1f}%"


def signed(n: int) -> str:
    return f"+{human(n)}" if n > 0 else human(n)


def ratio(new: int | None, old: int | None) -> str:
    """138357544 vs 62378344 -> '×2.22' (three significant digits); '' when old is 0 or missing."""
    if not old or new is None:
        return ""
    value = new / old
    if value >= 999.5:
        text = f"{value:,.0f}"
    elif value >= 0.9995:
        text = _digits(value, 3)
        if len(text.split(".")[0]) > len(str(int(value))):  # 9.996 rounds to 10.0, not 10.00
            text = _digits(float(text), 3)
    else:
        text = f"{value:.3g}"
        if "e" in text:  # three significant digits would need an exponent
            text = "<0.001" if value else "0"
    return f"×{text}"


def relative(change: int | None, old: int | None) -> str:
    """The change as a signed percentage of ``old``: '+121.8%', '-3.0%', '0%'; '' when old is 0."""
    if not old or change is None:
        return ""
    if change == 0:
        return "0%"
    pct = 100 * change / old
    text = f"{pct:+.1f}%"
    if text in ("+0.0%", "-0.0%"):
        return "+<0.1%" if change > 0 else "-<0.1%"
    return text


def byte_size(n: int | None) -> str:
    """Decimal units, as memory figures are quoted: 553430176 -> '553 MB', 156 -> '156 B'."""
    if n is None:
        return "—"
    text = human(n)
    return f"{text}B" if text[-1].isalpha() else f"{text} B"

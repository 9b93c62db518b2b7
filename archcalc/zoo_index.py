"""`archcalc list`'s index of the built-ins: each one's row of totals, kept current in
specs/index.json. The names themselves are looked up in archcalc/readers/zoo.py."""
from __future__ import annotations

import os

from .readers import zoo


# --------------------------------------------------------------------------------- families
def family(name: str) -> str:
    """The family a built-in belongs to, for `archcalc list`: the name's leading letters
    (resnet50 and resnet152-v1 → resnet, efficientnet_b0 → efficientnet, vgg-a → vgg), with
    the prefix `wide_` kept (wide_resnet50_2 → wide_resnet)."""
    lowered = name.lower()
    head = "wide_" if lowered.startswith("wide_") else ""
    rest = lowered[len(head):]
    letters = ""
    for ch in rest:
        if not ch.isalpha():
            break
        letters += ch
    return head + (letters or rest)


# ------------------------------------------------------------------------------- the index
# `archcalc list` shows every built-in's totals; analysing ~80 networks at each call would
# cost several times a `show`. specs/index.json keeps each built-in's list row with the
# SHA-256 of its spec file; a row is used only while the file still has that digest, and any
# other spec (new, or edited since) is analysed afresh. Tests compare every stored row with
# a fresh analysis (so a change of the analysis code that changes a built-in's numbers fails
# until the index is rewritten) and check that every built-in is in it; `python -m
# archcalc.zoo_index` (or pytest --update-goldens) rewrites it.
INDEX_FILE = "index.json"


def _digest(path: str) -> str:
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def analyse_row(name: str, seq: int | None = None, count_as: str | None = None) -> dict:
    """A built-in's list row, from a fresh analysis (at ``seq`` tokens for a token input; with
    ``count_as``, MACs as that tool counts them, archcalc's own as ``exact_macs``)."""
    from .engine import analyze
    from .readers import load_spec

    analysis = analyze(load_spec(name), seq=seq, count_as=count_as)
    t = analysis.totals
    if count_as is not None:
        return dict(_row(name, analysis), count_as=count_as, exact_macs=t.exact_macs)
    return _row(name, analysis)


def _row(name: str, analysis) -> dict:
    t = analysis.totals
    return {"name": name, "family": family(name), "title": analysis.title,
            "input": list(analysis.input) if analysis.input else None,
            "output": list(analysis.output) if analysis.output else None,
            "params": t.params, "macs": t.macs, "depth": t.depth, "layers": t.layers,
            "errors": len(analysis.errors),
            **({"tokens": analysis.input[0]} if getattr(analysis.input, "ids", False) else {})}


def _read_index() -> dict:
    import json

    try:
        with open(os.path.join(zoo.zoo_dir(), INDEX_FILE), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def rows(selected=None) -> list[dict]:
    """The list rows of the built-ins named in ``selected`` (all by default), in zoo order:
    from the index where it is current, else analysed now."""
    entries = _read_index().get("specs")
    entries = entries if isinstance(entries, dict) else {}
    out = []
    directory = zoo.zoo_dir()
    for name in zoo.names() if selected is None else selected:
        entry = entries.get(name)
        path = os.path.join(directory, name + ".yaml")
        if isinstance(entry, dict) and isinstance(entry.get("row"), dict) \
                and entry.get("sha256") == _digest(path):
            out.append(entry["row"])
        else:
            out.append(analyse_row(name))
    return out


def build_index() -> dict:
    return {"about": "archcalc list's rows of the built-in specs; rewritten by `python -m archcalc.zoo_index`",
            "specs": {name: {"sha256": _digest(os.path.join(zoo.zoo_dir(), name + ".yaml")),
                             "row": analyse_row(name)} for name in zoo.names()}}


def write_index() -> str:
    import json

    path = os.path.join(zoo.zoo_dir(), INDEX_FILE)
    data = build_index()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("{\n" + ",\n".join(
            f"  {json.dumps(key)}: " + (json.dumps(value) if key != "specs" else "{\n" + ",\n".join(
                f"    {json.dumps(name)}: {json.dumps(entry, ensure_ascii=False)}"
                for name, entry in value.items()) + "\n  }")
            for key, value in data.items()) + "\n}\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write_index()}")

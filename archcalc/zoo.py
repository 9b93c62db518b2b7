"""The built-in zoo: spec files shipped inside the package, looked up by forgiving names."""
from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def zoo_dir() -> str:
    """Installed: archcalc/_zoo (package data). Source checkout: the repository's specs/."""
    installed = os.path.join(_HERE, "_zoo")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(_HERE), "specs")


def normalise(name: str) -> str:
    """'VGG-16', 'vgg_16' and 'Vgg.16' all become 'vgg16'."""
    return "".join(ch for ch in name.lower() if ch not in "-_.")


def names() -> list[str]:
    """Built-in network names, sorted the way people read them (vgg16 before vgg19, resnet18 before resnet152)."""
    import re

    try:
        files = os.listdir(zoo_dir())
    except OSError:
        return []
    found = [f[:-5] for f in files if f.endswith(".yaml")]

    def key(name):
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

    return sorted(found, key=key)


def spelled(name: str) -> str:
    """A finer form than normalise(): a `-`, `_` or `.` between two digits stands for a decimal
    point ('regnet_x_1_6gf', 'regnet-x-1.6gf' → 'regnetx1,6gf'), so names that differ only
    there ('regnet_x_16gf' → 'regnetx16gf') stay apart; other separators and case are ignored.
    (The decimal point is written ',' here, as the other separators are dropped.)"""
    import re

    return re.sub(r"(?<=\d)[-_.]+(?=\d)", ",", name.lower()).translate({ord(c): None for c in "-_."})


def find(name: str) -> str | None:
    """The path of a built-in spec, or None. Every spelling of a built-in's name that differs
    in case or in `-`, `_`, `.` finds it ('EfficientNet_B0', 'efficientnet-b0'); where two
    built-ins normalise alike, a separator between digits decides ('regnet-x-1.6gf' is
    regnet_x_1_6gf, 'regnet-x-16gf' and 'regnetx16gf' regnet_x_16gf), and a form that still
    fits several finds none (suggest() names the candidates)."""
    wanted = normalise(name)
    if not wanted:
        return None
    directory = zoo_dir()
    known = names()
    for candidate in known:  # the name as written first
        if candidate.lower() == name.lower():
            return os.path.join(directory, candidate + ".yaml")
    matches = [candidate for candidate in known if normalise(candidate) == wanted]
    if len(matches) > 1:
        matches = [candidate for candidate in matches if spelled(candidate) == spelled(name)]
    if len(matches) == 1:
        return os.path.join(directory, matches[0] + ".yaml")
    return None  # unknown, or ambiguous


def suggest(name: str) -> str:
    import difflib

    by_form: dict[str, list[str]] = {}
    for known in names():
        by_form.setdefault(normalise(known), []).append(known)
    close = difflib.get_close_matches(normalise(name), list(by_form), n=3, cutoff=0.5)
    return ", ".join(known for form in close for known in by_form[form])


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
# archcalc.zoo` (or pytest --update-goldens) rewrites it.
INDEX_FILE = "index.json"


def _digest(path: str) -> str:
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def analyse_row(name: str, seq: int | None = None) -> dict:
    """A built-in's list row, from a fresh analysis (at ``seq`` tokens for a token input)."""
    from .engine import analyze
    from .loading import load_spec

    analysis = analyze(load_spec(name), seq=seq)
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
        with open(os.path.join(zoo_dir(), INDEX_FILE), encoding="utf-8") as handle:
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
    directory = zoo_dir()
    for name in names() if selected is None else selected:
        entry = entries.get(name)
        path = os.path.join(directory, name + ".yaml")
        if isinstance(entry, dict) and isinstance(entry.get("row"), dict) \
                and entry.get("sha256") == _digest(path):
            out.append(entry["row"])
        else:
            out.append(analyse_row(name))
    return out


def build_index() -> dict:
    return {"about": "archcalc list's rows of the built-in specs; rewritten by `python -m archcalc.zoo`",
            "specs": {name: {"sha256": _digest(os.path.join(zoo_dir(), name + ".yaml")),
                             "row": analyse_row(name)} for name in names()}}


def write_index() -> str:
    import json

    path = os.path.join(zoo_dir(), INDEX_FILE)
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

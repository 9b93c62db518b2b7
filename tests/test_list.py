"""`archcalc list`: grouped by family, filtered, sorted; its rows come from specs/index.json
where the spec file is unchanged, and the index is checked here against fresh analyses, so
the list is never stale. `pytest --update-goldens` rewrites the index."""
from __future__ import annotations

import json
import shutil

import pytest

from archcalc import zoo_index
from archcalc.readers import zoo


@pytest.fixture(scope="module")
def fresh():
    return {name: zoo_index.analyse_row(name) for name in zoo.names()}


def test_the_index_holds_every_built_in_as_a_fresh_analysis_gives_it(request, fresh):
    if request.config.getoption("--update-goldens"):
        zoo_index.write_index()
    index = zoo_index._read_index()["specs"]
    missing = sorted(set(fresh) - set(index))
    assert not missing, f"specs/index.json lacks {missing}: run `python -m archcalc.zoo_index` (or pytest --update-goldens)"
    stale = [name for name in fresh if index[name]["row"] != fresh[name]
             or index[name]["sha256"] != zoo_index._digest(zoo.find(name))]
    assert not stale, f"specs/index.json is stale for {stale}: run `python -m archcalc.zoo_index` (or pytest --update-goldens)"
    assert set(index) == set(fresh), "specs/index.json names specs that no longer exist"


def test_list_rows_are_fresh_analyses(fresh):
    assert zoo_index.rows() == [fresh[name] for name in zoo.names()]


def test_an_edited_spec_is_analysed_afresh(tmp_path, monkeypatch):
    # a copy of the zoo with lenet5 edited after the index was written: its row must be the
    # edited network's (one more 10-unit dense: 10·10 + 10 = 110 more params), not the index's
    for name in ("lenet5", "vgg16"):
        shutil.copy(zoo.find(name), tmp_path / f"{name}.yaml")
    monkeypatch.setattr(zoo, "zoo_dir", lambda: str(tmp_path))
    zoo_index.write_index()
    before = {r["name"]: r for r in zoo_index.rows()}
    spec = tmp_path / "lenet5.yaml"
    text = spec.read_text()
    text = text.replace("\nexpect:", "\n  - dense: 10\nexpect:") if "\nexpect:" in text else text + "  - dense: 10\n"
    spec.write_text(text)
    after = {r["name"]: r for r in zoo_index.rows()}
    assert after["lenet5"]["params"] == before["lenet5"]["params"] + 110
    assert after["vgg16"] == before["vgg16"]
    # a broken index is ignored, not trusted
    (tmp_path / "index.json").write_text("{not json")
    assert {r["name"]: r for r in zoo_index.rows()} == after


@pytest.mark.parametrize("name, expected", [
    ("resnet50", "resnet"), ("resnet152-v1", "resnet"), ("resnext50_32x4d", "resnext"),
    ("wide_resnet50_2", "wide_resnet"), ("efficientnet_b0", "efficientnet"), ("vgg-a", "vgg"),
    ("vgg16_bn", "vgg"), ("lenet5-1998", "lenet"), ("alexnet-tv", "alexnet"), ("unet", "unet"),
    ("mobilenet_v3_large", "mobilenet"), ("regnet_x_400mf", "regnet"), ("gpt2", "gpt"),
])
def test_families(name, expected):
    assert zoo_index.family(name) == expected


def test_list_is_grouped_by_family(cli):
    r = cli("list")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    heading = next(i for i, line in enumerate(lines) if line.startswith("resnet "))
    # the heading counts its networks, which follow it, indented
    count = sum(1 for name in zoo.names() if zoo_index.family(name) == "resnet")
    assert f"{count} network" in lines[heading]
    assert all(line.startswith("  resnet") for line in lines[heading + 1:heading + 1 + count])


def test_filter_keeps_names_and_families_that_contain_it(cli):
    r = cli("list", "RESNET", "--format", "json")
    assert r.code == 0, r.err
    names = [row["name"] for row in json.loads(r.out)]
    assert names and all("resnet" in zoo.normalise(name) for name in names)
    assert "vgg16" not in names and "resnext50_32x4d" not in names
    both = [row["name"] for row in json.loads(cli("list", "vgg", "unet", "--format", "json").out)]
    assert "unet" in both and "vgg16" in both and "resnet50" not in both


def test_a_filter_that_matches_nothing_is_a_usage_error(cli):
    r = cli("list", "resnot")
    assert r.code == 2 and r.out == ""
    assert "no built-in network matches 'resnot'" in r.err


@pytest.mark.parametrize("key", ["params", "macs", "depth"])
def test_sort_by_a_number(cli, key, fresh):
    r = cli("list", "--sort", key, "--format", "json")
    values = [row[key] for row in json.loads(r.out)]
    assert values == sorted(fresh[name][key] for name in fresh)
    down = [row[key] for row in json.loads(cli("list", "--sort", key, "--reverse", "--format", "json").out)]
    assert down == sorted(values, reverse=True)


def test_sorted_table_is_one_list(cli):
    r = cli("list", "--sort", "params")
    assert r.code == 0
    first = r.out.splitlines()[2]
    assert not first.startswith("  ")  # no family headings, no indentation
    # the smallest network by params comes first
    assert first.split()[0] == min(zoo_index.rows(), key=lambda row: row["params"])["name"]


@pytest.mark.parametrize("fmt", ["json", "html", "markdown", "csv", "table"])
def test_list_writes_every_format_to_a_file(cli, tmp_path, fmt):
    target = tmp_path / f"zoo.{fmt}"
    code, out, err = cli("list", "--format", fmt, "-o", target)
    assert (code, out, err) == (0, "", "")
    text = target.read_text(encoding="utf-8")
    # the file holds what standard output would have held
    assert text == cli("list", "--format", fmt).out


def test_list_json_to_a_file_is_a_list_of_rows(cli, tmp_path):
    target = tmp_path / "zoo.json"
    assert cli("list", "--format", "json", "-o", target).code == 0
    rows = json.loads(target.read_text(encoding="utf-8"))
    by_name = {row["name"]: row for row in rows}
    # VGG-16: 138,357,544 params and 15,470,264,320 MACs (torchvision's published figures)
    assert (by_name["vgg16"]["params"], by_name["vgg16"]["macs"]) == (138357544, 15470264320)


def test_list_output_refuses_a_directory(cli, tmp_path):
    code, out, err = cli("list", "-o", tmp_path)
    assert code == 2 and out == "" and "Traceback" not in err

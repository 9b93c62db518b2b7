"""Auxiliary heads (`aux`): params and buffers count, MACs, activations and depth stay out of
the forward totals; shown as such in the table and JSON. The head is Inception-v3's
AuxLogits, whose figures come from the recorded torchvision state dict and hand arithmetic."""
from __future__ import annotations

import json
import math
from pathlib import Path

from conftest import analyse_text as analyse
from conftest import codes, locate

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "torchvision" / "inception_v3.json"

HEAD = """\
  - aux:
      name: AuxLogits
      layers:
        - avgpool: {size: 5, stride: 3}
        - conv: {name: conv0, filters: 128, kernel: 1, bias: false}
        - batchnorm
        - relu
        - conv: {name: conv1, filters: 768, kernel: 5, bias: false}
        - batchnorm
        - relu
        - globalavgpool
        - dense: {name: fc, units: 1000}
"""
SPEC = "input: [17, 17, 768]\nlayers:\n" + HEAD + "  - conv: {name: after, filters: 8, kernel: 1}\n"

# Hand arithmetic for the head on 17×17×768 (Inception-v3's Mixed_6e output):
#   avgpool 5/3: ⌊(17 − 5)/3⌋ + 1 = 5 → 5×5×768
#   conv0 1×1, 768 → 128, no bias: 768·128 = 98,304 params; 5·5·128·768 = 2,457,600 MACs
#   batchnorm: 2·128 = 256 params, 256 buffers
#   conv1 5×5, 128 → 768, no bias: 25·128·768 = 2,457,600 params; 1·1·768·(25·128) = 2,457,600 MACs
#   batchnorm: 2·768 = 1,536 params, 1,536 buffers
#   fc: 768·1000 + 1000 = 769,000 params; 768,000 MACs
#   head params 98,304 + 256 + 2,457,600 + 1,536 + 769,000 = 3,326,696 (the figure);
#   head MACs 2,457,600 + 2,457,600 + 768,000 = 5,683,200
# The main path's conv: 768·8 + 8 = 6,152 params, 17·17·8·768 = 1,775,616 MACs.
HEAD_PARAMS, HEAD_MACS, HEAD_BUFFERS = 3_326_696, 5_683_200, 256 + 1_536


def test_the_head_params_are_torchvisions():
    # the recorded state dict's AuxLogits parameters (running statistics are buffers)
    data = json.loads(FIXTURE.read_text())
    recorded = sum(math.prod(shape) for key, shape in data["state_dict"]
                   if key.startswith("AuxLogits.") and "running_" not in key)
    assert recorded == HEAD_PARAMS


def test_params_count_but_macs_stay_out(spec_file):
    a = analyse(spec_file, SPEC)
    assert codes(a) == []
    t = a.totals
    assert t.params == HEAD_PARAMS + 6_152
    assert t.buffers == HEAD_BUFFERS
    assert t.macs == 1_775_616
    assert (t.aux_params, t.aux_macs) == (HEAD_PARAMS, HEAD_MACS)
    # the layers after the head see its input; the network's output is theirs
    assert a.layers[-1].input == (17, 17, 768)
    assert a.output == (17, 17, 8)
    # depth counts the forward path only: the one conv after the head
    assert t.depth == 1
    # activation memory: only `after` stores, 17·17·8 = 2,312 values
    assert t.activations == 2_312
    assert [layer.aux for layer in a.layers] == [True] * 9 + [False]


def test_json_marks_the_head(cli, spec_file):
    r = cli("show", spec_file(SPEC), "--format", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["totals"]["aux_params"] == HEAD_PARAMS
    assert data["totals"]["aux_macs"] == HEAD_MACS
    assert data["totals"]["macs"] == 1_775_616
    heads = [layer for layer in data["layers"] if layer.get("aux")]
    assert [layer["name"] for layer in heads][-1] == "AuxLogits.fc"
    assert sum(layer["macs"] for layer in heads) == HEAD_MACS
    assert all(layer["activations"] == 0 for layer in heads)


def test_table_shows_the_head_apart(cli, spec_file):
    r = cli("show", spec_file(SPEC))
    assert r.code == 0, r.err
    head_row = next(line for line in r.out.splitlines() if "AuxLogits" in line)
    assert "(5.68 M)" in head_row and head_row.rstrip().endswith("aux")
    assert "Aux " in r.out and "not in MACs" in r.out


def test_a_spec_without_heads_has_no_aux_totals(cli, spec_file):
    r = cli("show", spec_file("input: [4, 4, 2]\nlayers:\n  - conv: {filters: 2, kernel: 1}\n"),
            "--format", "json")
    assert "aux_params" not in json.loads(r.out)["totals"]


def test_expect_on_aux_pins_the_heads_output(spec_file):
    text = "input: [8, 8, 4]\nlayers:\n  - aux: {expect: [10], layers: [globalavgpool, dense: 2]}\n  - relu\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["expect-mismatch"]
    assert "outputs 2" in a.diagnostics[0].message
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "[10]")


def test_an_error_in_the_head_is_located(spec_file):
    text = "input: [8, 8, 4]\nlayers:\n  - aux: {layers: [rbf: 2]}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["needs-flat-input"]


def test_batch_scales_aux_macs(cli, spec_file):
    r = cli("show", spec_file(SPEC), "--format", "json", "--batch", "2")
    data = json.loads(r.out)
    assert data["totals"]["aux_macs"] == 2 * HEAD_MACS
    assert data["totals"]["macs"] == 2 * 1_775_616


def test_a_head_may_read_an_earlier_layer(spec_file):
    # the head reads `a` (8×8×4 → pool 1×1×4 → dense 3: 4·3 + 3 = 15 params); the main path goes
    # on from `b` (conv 1×1 4→2: 4·2 + 2 = 10 params)
    text = """\
input: [8, 8, 4]
layers:
  - identity: {name: a}
  - conv: {name: b, filters: 2, kernel: 1}
  - aux: {from: a, layers: [globalavgpool, dense: 3]}
  - relu
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert a.layers[-1].input == (8, 8, 2)
    assert a.totals.aux_params == 15 and a.totals.params == 25
    assert a.output == (8, 8, 2)


def test_diff_keeps_the_head_apart(cli, spec_file):
    # against the same network without the head: params differ by the head's 3,326,696, MACs not
    # at all; the by-kind MACs count only the forward pass (the main conv's 1,775,616)
    plain = spec_file("input: [17, 17, 768]\nlayers:\n  - conv: {name: after, filters: 8, kernel: 1}\n")
    r = cli("diff", spec_file(SPEC), plain, "--format", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["a"]["totals"]["aux_macs"] == HEAD_MACS
    assert data["a"]["totals"]["macs"] == data["b"]["totals"]["macs"] == 1_775_616
    conv = next(row for row in data["breakdown"] if row["group"] == "conv")
    assert conv["a"]["macs"] == 1_775_616 and conv["a"]["params"] == 98_304 + 2_457_600 + 6_152


def test_csv_and_markdown_mark_the_head(cli, spec_file):
    path = spec_file(SPEC)
    csv_text = cli("show", path, "--format", "csv").out
    fc = next(line for line in csv_text.splitlines() if "AuxLogits.fc" in line)
    assert "aux head" in fc
    after = next(line for line in csv_text.splitlines() if ",after," in line)
    assert "aux head" not in after
    assert "aux head" in cli("show", path, "--format", "markdown").out

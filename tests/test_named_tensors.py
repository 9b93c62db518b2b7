"""Named tensors: `from: NAME` on any entry and `join: {from: [...], merge}`.

Figures by hand arithmetic in the comments; one DAG also against PyTorch counting the
same network (parameters and FlopCounterMode MACs)."""
from __future__ import annotations

import json
import os

import pytest

from conftest import analyse_text, codes, locate

DENSE = """\
name: dense-wiring
input: [8, 8, 4]
layers:
  - conv: {name: a, filters: 4, kernel: 3, padding: 1}     # 3·3·4·4 + 4 = 148; 64·4·36 = 9,216 MACs
  - conv: {name: b, filters: 4, kernel: 3, padding: 1}     # 148 params, 9,216 MACs
  - join: {name: ab, from: [a, b]}                          # 8×8×8
  - conv: {name: d, filters: 4, kernel: 1}                  # 8·4 + 4 = 36; 64·4·8 = 2,048 MACs
  - join: {name: abd, from: [a, b, d], merge: concat}       # 8×8×12
  - conv: {name: side, from: input, filters: 12, kernel: 1} # 4·12 + 12 = 60; 64·12·4 = 3,072 MACs
  - join: {from: [abd, side], merge: add}                   # 8×8×12
  - globalavgpool
  - dense: 10                                               # 12·10 + 10 = 130; 120 MACs
"""


def test_dense_wiring_by_hand(spec_file):
    analysis = analyse_text(spec_file, DENSE)
    assert codes(analysis) == []
    assert analysis.output == (10,)
    assert analysis.totals.params == 148 + 148 + 36 + 60 + 130
    assert analysis.totals.macs == 9216 + 9216 + 2048 + 3072 + 120
    # the longest weighted path: a, b, d, dense
    assert analysis.totals.depth == 4
    assert [layer.name for layer in analysis.layers] == ["a", "b", "d", "side", "globalavgpool1", "dense1"]
    assert analysis.layers[2].input == (8, 8, 8)
    assert analysis.layers[3].input == (8, 8, 4)


def test_dense_wiring_against_pytorch(cli, spec_file):
    try:
        import torch
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("torch is required in CI")
        pytest.skip("torch is not installed (pip install torch)")
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(4, 4, 3, padding=1)
            self.b = nn.Conv2d(4, 4, 3, padding=1)
            self.d = nn.Conv2d(8, 4, 1)
            self.side = nn.Conv2d(4, 12, 1)
            self.fc = nn.Linear(12, 10)

        def forward(self, x):
            a = self.a(x)
            b = self.b(a)
            d = self.d(torch.cat([a, b], 1))
            y = torch.cat([a, b, d], 1) + self.side(x)
            return self.fc(y.mean((2, 3)))

    net = Net()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = net(torch.zeros(1, 4, 8, 8))
    data = json.loads(cli("show", spec_file(DENSE), "--format", "json").out)
    assert data["totals"]["params"] == sum(p.numel() for p in net.parameters())
    assert data["totals"]["macs"] == counter.get_total_flops() // 2
    assert data["output"] == list(out.shape[1:])


def test_from_inside_a_block_reads_the_block_scope_first(spec_file):
    text = """\
input: [8, 8, 4]
blocks:
  unit:
    layers:
      - conv: {name: conv1, filters: 4, kernel: 1}
      - conv: {name: conv2, filters: 4, kernel: 3, padding: 1}
      - join: {from: [conv1, conv2]}
layers:
  - conv: {name: conv1, filters: 6, kernel: 1}
  - unit: {name: u1}
  - unit: {name: u2}
"""
    analysis = analyse_text(spec_file, text)
    assert codes(analysis) == []
    # each unit joins its own conv1 (4) and conv2 (4): 8 channels, not the outer conv1's 6
    assert analysis.output == (8, 8, 8)
    assert [g.name for g in analysis.groups if g.kind == "join"] == ["u1.join1", "u2.join1"]


def test_unknown_reference_is_located_with_a_suggestion(spec_file):
    text = DENSE.replace("from: [a, b, d]", "from: [a, b, dd]")
    analysis = analyse_text(spec_file, text)
    problems = [d for d in analysis.diagnostics if d.code == "unknown-reference"]
    assert len(problems) == 1
    assert (problems[0].line, problems[0].column) == locate(text, "dd]")
    assert "did you mean 'd'?" in problems[0].hint
    assert analysis.output is None


def test_a_later_layer_cannot_be_read(spec_file):
    text = """\
input: [4]
layers:
  - dense: {name: a, units: 4, from: b}
  - dense: {name: b, units: 4}
"""
    assert "unknown-reference" in codes(analyse_text(spec_file, text))


@pytest.mark.parametrize("body, code", [
    ("join: {from: a}", "wrong-type"),
    ("join: {from: [a]}", "wrong-type"),
    ("join: {merge: add}", "missing-field"),
    ("join: {from: [a, a], merge: sum}", "bad-value"),
    ("dense: {units: 2, from: [a]}", "wrong-type"),
    ("join: {from: [a, a], size: 2}", "unknown-field"),
])
def test_malformed_references(spec_file, body, code):
    text = f"input: [4]\nlayers:\n  - dense: {{name: a, units: 4}}\n  - {body}\n"
    assert code in codes(analyse_text(spec_file, text))


def test_join_shapes_must_merge(spec_file):
    text = """\
input: [8, 8, 3]
layers:
  - conv: {name: a, filters: 4, kernel: 1}
  - conv: {name: b, filters: 4, kernel: 2, stride: 2}
  - join: {from: [a, b]}
"""
    analysis = analyse_text(spec_file, text)
    assert codes(analysis) == ["merge-mismatch"]
    assert "8×8×4" in analysis.diagnostics[0].message and "4×4×4" in analysis.diagnostics[0].message

"""Non-trainable parameters: the common `frozen: true` field (on a layer, a composite or a
block call) and `trainable_params` in totals, layers, tables, memory and diff.

Every expected number is derived by hand in a comment next to it.
"""
from __future__ import annotations

import json

from conftest import analyse_text as analyse
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import codes, locate

# conv 3×3, 16 filters on 8×8×3: 6×6×16; params 3·3·3·16 + 16 = 448
# flatten: 6·6·16 = 576; dense 10: params 576·10 + 10 = 5,770
# totals: params 448 + 5,770 = 6,218; with the conv frozen, trainable 5,770
FROZEN_CONV = """\
input: [8, 8, 3]
layers:
  - conv: {name: stem, filters: 16, kernel: 3, frozen: true}
  - relu
  - flatten
  - dense: 10
"""


def test_a_frozen_layer_counts_in_params_not_in_trainable_params(spec_file):
    a = analyse(spec_file, FROZEN_CONV)
    assert codes(a) == []
    assert (a.totals.params, a.totals.trainable_params) == (6218, 5770)
    stem = a.layers[0]
    assert (stem.params, stem.trainable, stem.frozen) == (448, 0, True)
    assert (a.layers[3].params, a.layers[3].trainable) == (5770, 5770)


def test_nothing_frozen_means_trainable_equals_params(cli):
    # VGG-16: 138,357,544 parameters (the contract's figure), every one trained
    result = cli("show", "vgg16", "-f", "json")
    totals = json.loads(result.out)["totals"]
    assert result.code == 0
    assert totals["params"] == totals["trainable_params"] == 138357544


def test_json_has_trainable_params_per_layer_and_in_totals(cli, spec_file):
    result = cli("show", spec_file(FROZEN_CONV), "-f", "json")
    data = json.loads(result.out)
    assert result.code == 0 and result.err == ""
    assert data["totals"]["params"] == 6218
    assert data["totals"]["trainable_params"] == 5770
    assert [layer["trainable_params"] for layer in data["layers"]] == [0, 0, 0, 5770]


def test_frozen_on_a_composite_or_block_freezes_every_layer_inside(spec_file):
    # residual on 4×4×8: conv 3×3 pad 1, 8 filters: 3·3·8·8 + 8 = 584; batchnorm 2·8 = 16
    # block `head`: dense 10 on 4·4·8 = 128 features: 128·10 + 10 = 1,290
    # totals 584 + 16 + 1,290 = 1,890; frozen residual leaves 1,290 trainable; frozen block
    # call leaves 600
    spec = """\
input: [4, 4, 8]
blocks:
  head:
    layers: [flatten, dense: 10]
layers:
  - residual: {frozen: %s, layers: [conv: {filters: 8, kernel: 3, padding: 1}, batchnorm]}
  - head: {frozen: %s}
"""
    a = analyse(spec_file, spec % ("true", "false"))
    assert codes(a) == []
    assert (a.totals.params, a.totals.trainable_params) == (1890, 1290)
    b = analyse(spec_file, spec % ("false", "true"))
    assert (b.totals.params, b.totals.trainable_params) == (1890, 600)
    repeat = analyse(spec_file, "input: [10]\nlayers:\n  - repeat: {times: 2, frozen: true, layers: "
                                "[dense: 10]}\n  - dense: 1\n")
    # two dense 10 on 10 features: 2·(10·10 + 10) = 220 frozen; dense 1: 10 + 1 = 11 trained
    assert (repeat.totals.params, repeat.totals.trainable_params) == (231, 11)


def test_frozen_on_a_kind_without_parameters_is_a_located_error(spec_file):
    text = "input: [4]\nlayers:\n  - relu: {frozen: true}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["unknown-field"]
    d = a.diagnostics[0]
    assert (d.line, d.column) == locate(text, "frozen")
    assert "no parameters to freeze" in d.hint


def test_frozen_must_be_a_boolean(spec_file):
    text = "input: [4]\nlayers:\n  - dense: {units: 2, frozen: 1}\n"
    a = analyse(spec_file, text)
    assert codes(a) == ["wrong-type"]
    assert (a.diagnostics[0].line, a.diagnostics[0].column) == locate(text, "1}")


def test_expect_can_pin_trainable_params(spec_file):
    a = analyse(spec_file, FROZEN_CONV + "expect: {params: 6218, trainable_params: 5770}\n")
    assert codes(a) == []
    b = analyse(spec_file, FROZEN_CONV + "expect: {trainable_params: 6218}\n")
    assert codes(b) == ["total-mismatch"]


def test_table_says_frozen_and_gives_the_trainable_total(cli, spec_file):
    result = cli("show", spec_file(FROZEN_CONV))
    assert result.code == 0
    stem_row = next(line for line in result.out.splitlines() if " stem " in line)
    assert "frozen" in stem_row
    assert "trainable 5,770" in result.out
    plain = cli("show", "vgg16")
    assert "trainable" not in plain.out  # nothing frozen: no second figure


def test_training_memory_has_no_gradient_or_optimizer_state_for_frozen_parameters(spec_file):
    from archcalc.metrics import ledger

    frozen = analyse(spec_file, FROZEN_CONV)
    trained = analyse(spec_file, FROZEN_CONV.replace(", frozen: true", ""))
    a, b = ledger(frozen, "adam"), ledger(trained, "adam")
    # 448 frozen fp32 parameters: no gradient (448·4 bytes) and, with Adam, no two state
    # values (2·448·4): 1,792 and 3,584 bytes fewer; the weights stay
    assert b["gradients"] - a["gradients"] == 1792
    assert b["optimizer_state"] - a["optimizer_state"] == 3584
    assert a["weights"] == b["weights"]


def test_diff_shows_trainable_params_only_when_something_is_frozen(cli, spec_file):
    frozen = spec_file(FROZEN_CONV)
    trained = spec_file(FROZEN_CONV.replace(", frozen: true", ""))
    result = cli("diff", trained, frozen, "-f", "json")
    assert result.code == 0
    table = cli("diff", trained, frozen)
    row = next(line for line in table.out.splitlines() if line.strip().startswith("Trainable params"))
    assert row.split()[2:5] == ["6,218", "5,770", "-448"]
    # the layer itself is reported as changed, by its `frozen` field
    changes = json.loads(result.out)["changes"]
    stem = next(c for c in changes if (c.get("a") or {}).get("name") == "stem")
    assert stem["status"] == "changed"
    same = cli("diff", trained, trained)
    assert "Trainable params" not in same.out


@settings(max_examples=25, deadline=None)
@given(frozen=st.lists(st.booleans(), min_size=1, max_size=4), units=st.integers(1, 9))
def test_trainable_is_params_minus_the_frozen_layers(tmp_path_factory, frozen, units):
    import archcalc

    # a chain of dense layers of `units` on a [units] input: each units·units + units params
    layers = "".join(f"  - dense: {{units: {units}, frozen: {str(f).lower()}}}\n" for f in frozen)
    path = tmp_path_factory.mktemp("f") / "spec.yaml"
    path.write_text(f"input: [{units}]\nlayers:\n{layers}")
    a = archcalc.analyze(archcalc.load(str(path)))
    each = units * units + units
    assert a.totals.params == len(frozen) * each
    assert a.totals.trainable_params == frozen.count(False) * each

"""LeNet-5 as published in 1998 and the kinds it needs: a conv connection table, trainable
subsampling, RBF output units with fixed parameters, and the paper's "connections" figure.

Expected figures are the paper's own (LeCun, Bottou, Bengio, Haffner, Proc. IEEE 1998,
section II.B) or hand arithmetic in the comments.
"""
from __future__ import annotations

import json

import pytest
from conftest import analyse_text as analyse
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import codes, locate

# LeCun et al. 1998, section II.B: (params, connections) per layer as the paper states them
PAPER = {"C1": (156, 122304), "S2": (12, 5880), "C3": (1516, 151600), "S4": (32, 2000),
         "C5": (48120, 48120), "F6": (10164, 10164)}


@pytest.fixture(scope="module")
def lenet():
    from archcalc.app import analyse_spec

    return analyse_spec("lenet5-1998")


def test_every_layer_has_the_papers_params_and_connections(lenet):
    assert codes(lenet) == []
    by_name = {layer.name: layer for layer in lenet.layers}
    for name, (params, connections) in PAPER.items():
        assert (by_name[name].params, by_name[name].connections) == (params, connections), name
    # the RBF output: 84 inputs · 10 units = 840 fixed parameters and 840 connections
    output = by_name["OUTPUT"]
    assert (output.params, output.trainable, output.connections) == (840, 0, 840)


def test_totals_are_the_papers(lenet):
    # "340,908 connections" and "60,000 trainable free parameters"; with the 840 fixed RBF
    # centres PyTorch's numel sum is 60,840
    t = lenet.totals
    assert (t.trainable_params, t.params, t.connections) == (60000, 60840, 340908)
    assert [layer.name for layer in lenet.layers] == ["C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"]
    assert lenet.output == (10,)


def test_json_has_connections_for_lenet_1998_but_not_for_others(cli):
    data = json.loads(cli("show", "lenet5-1998", "-f", "json").out)
    assert data["totals"]["connections"] == 340908
    assert data["totals"]["trainable_params"] == 60000 and data["totals"]["params"] == 60840
    assert [layer["connections"] for layer in data["layers"]][:3] == [122304, 5880, 151600]
    plain = json.loads(cli("show", "vgg16", "-f", "json").out)
    assert "connections" not in plain["totals"] and "connections" not in plain["layers"][0]
    # on request: the modern lenet5's c1 conv has the same 28·28·6·(25 + 1) = 122,304
    asked = json.loads(cli("show", "lenet5", "-f", "json", "--connections").out)
    assert asked["layers"][0]["connections"] == 122304


def test_table_shows_connections_on_request(cli):
    result = cli("show", "lenet5-1998", "--connections")
    assert result.code == 0
    header = result.out.splitlines()[1]
    assert "Conn" in header.split()
    c3 = next(line for line in result.out.splitlines() if " C3 " in line)
    assert c3.split()[-1] == "151,600"
    assert "340,908" in result.out and "trainable 60,000" in result.out


def test_explain_c3_writes_out_the_connection_table(cli):
    result = cli("explain", "lenet5-1998", "C3")
    assert result.code == 0
    # Table I: 6 maps see 3 S2 maps, 9 see 4, 1 sees all 6: 6·3 + 9·4 + 1·6 = 60 links
    assert "6·3 + 9·4 + 1·6 = 60 map-to-map links" in result.out
    assert "60·5·5 + 16 = 1,516" in result.out
    assert "10·10·(60·5·5 + 16) = 151,600" in result.out


# --------------------------------------------------------------------------- conv table
TABLE = """\
input: [8, 8, 4]
layers:
  - conv:
      filters: 3
      kernel: 3
      table: [[0], [1, 2], [0, 1, 2, 3]]
"""


def test_a_connection_table_sets_params_macs_and_connections(spec_file):
    # links 1 + 2 + 4 = 7; params 3·3·7 + 3 = 66; output 6×6×3; MACs 6·6·(7·3·3) = 2,268;
    # connections 2,268 + 6·6·3 (biases) = 2,376
    a = analyse(spec_file, TABLE)
    assert codes(a) == []
    layer = a.layers[0]
    assert (layer.output, layer.params, layer.macs, layer.connections) == ((6, 6, 3), 66, 2268, 2376)


def test_a_full_table_equals_a_plain_conv(spec_file):
    full = analyse(spec_file, TABLE.replace("[[0], [1, 2], [0, 1, 2, 3]]",
                                            "[[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]"))
    plain = analyse(spec_file, "input: [8, 8, 4]\nlayers:\n  - conv: {filters: 3, kernel: 3}\n")
    # 3·3·4·3 + 3 = 111 params, 6·6·3·36 = 3,888 MACs either way
    assert (full.totals.params, full.totals.macs) == (plain.totals.params, plain.totals.macs) == (111, 3888)


def test_a_table_naming_a_missing_channel_is_located_at_its_row(spec_file):
    text = TABLE.replace("[0, 1, 2, 3]]", "[0, 1, 2, 4]]")
    a = analyse(spec_file, text)
    assert codes(a) == ["table-mismatch"]
    d = a.diagnostics[0]
    assert (d.line, d.column) == locate(text, "[0, 1, 2, 4]")
    assert "channel 4" in d.message and "4 channels" in d.message


def test_table_rows_must_match_filters_and_exclude_groups(spec_file):
    rows = analyse(spec_file, TABLE.replace("filters: 3", "filters: 4"))
    assert codes(rows) == ["table-mismatch"] and "3 rows" in rows.diagnostics[0].message
    grouped = analyse(spec_file, TABLE.replace("kernel: 3", "kernel: 3\n      groups: 3"))
    assert codes(grouped) == ["table-mismatch"]
    repeated = analyse(spec_file, TABLE.replace("[1, 2]", "[1, 1]"))
    assert codes(repeated) == ["bad-value"]
    wrong = analyse(spec_file, TABLE.replace("[[0], [1, 2], [0, 1, 2, 3]]", "[0, 1, 2]"))
    assert codes(wrong) == ["wrong-type"]


# ------------------------------------------------------------------- subsample and rbf
def test_subsample(spec_file):
    # 28×28×6, 2×2/2: 14×14×6; params 2·6 = 12; MACs 0; connections 14·14·6·(4 + 1) = 5,880
    a = analyse(spec_file, "input: [28, 28, 6]\nlayers:\n  - subsample: {size: 2, activation: tanh}\n")
    assert codes(a) == []
    s = a.layers[0]
    assert (s.output, s.params, s.macs, s.connections) == ((14, 14, 6), 12, 0, 5880)
    # without bias: 6 params; connections 14·14·6·4 = 4,704
    b = analyse(spec_file, "input: [28, 28, 6]\nlayers:\n  - subsample: {size: 2, bias: false}\n")
    assert (b.layers[0].params, b.layers[0].connections) == (6, 4704)
    # the receptive field grows as for a 2×2/2 pool: 2 pixels, jump 2
    assert a.layers[0].receptive_field.size == (2, 2)


def test_rbf(spec_file):
    # 84 inputs, 10 units: 840 params, none trainable; 840 MACs
    a = analyse(spec_file, "input: [84]\nlayers:\n  - rbf: 10\n")
    assert codes(a) == []
    assert (a.totals.params, a.totals.trainable_params, a.totals.macs, a.totals.depth) == (840, 0, 840, 1)
    assert codes(analyse(spec_file, "input: [4, 4, 3]\nlayers:\n  - rbf: 10\n")) == ["needs-flat-input"]
    # frozen is accepted (nothing changes: the centres are fixed anyway)
    assert codes(analyse(spec_file, "input: [84]\nlayers:\n  - rbf: {units: 10, frozen: true}\n")) == []


def test_expect_pins_connections(spec_file):
    text = "input: [84]\nlayers:\n  - dense: 10\nexpect: {connections: %d}\n"
    # 10·(84 + 1) = 850
    assert codes(analyse(spec_file, text % 850)) == []
    assert codes(analyse(spec_file, text % 840)) == ["total-mismatch"]


def test_subsample_hints_no_padding_it_does_not_have(spec_file):
    # 27 is odd: ⌊(27 − 2)/2⌋ + 1 = 13 leaves the last row and column unseen; subsample has
    # no `padding` field, so the hint suggests input sizes only
    a = analyse(spec_file, "input: [27, 27, 6]\nlayers:\n  - subsample: 2\n")
    assert codes(a) == ["window-drops-input"]
    assert "padding" not in a.diagnostics[0].hint and "28×28" in a.diagnostics[0].hint


# ------------------------------------------------------------------ properties (hypothesis)


@settings(max_examples=25, deadline=None)
@given(channels=st.integers(1, 8), filters=st.integers(1, 6), kernel=st.integers(1, 3),
       size=st.integers(3, 9), data=st.data())
def test_table_params_and_macs_follow_the_links(tmp_path_factory, channels, filters, kernel, size, data):
    import archcalc

    rows = [sorted(data.draw(st.sets(st.integers(0, channels - 1), min_size=1))) for _ in range(filters)]
    links = sum(len(row) for row in rows)
    path = tmp_path_factory.mktemp("t") / "spec.yaml"
    path.write_text(f"input: [{size}, {size}, {channels}]\nlayers:\n  - conv: {{filters: {filters}, "
                    f"kernel: {kernel}, table: {rows}}}\n")
    a = archcalc.analyze(archcalc.load(str(path)))
    assert codes(a) == []
    out = size - kernel + 1
    # every link is a k×k kernel; one bias per filter; each output position repeats the links
    assert a.totals.params == kernel * kernel * links + filters
    assert a.totals.macs == out * out * kernel * kernel * links
    assert a.totals.connections == a.totals.macs + out * out * filters

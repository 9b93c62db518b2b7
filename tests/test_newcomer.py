"""What a new user trips over: channels-first inputs, words from PyTorch and Keras, tabs,
a wrong item of `input`, and generated names after kinds that end in a digit. Locations are
found in the spec text with ``locate``, never copied from archcalc's output."""
from __future__ import annotations

import pytest
from conftest import analyse_text as analyse
from conftest import codes, locate


def _only(analysis, code):
    found = [d for d in analysis.diagnostics if d.code == code]
    assert len(found) == 1, [(d.code, d.message) for d in analysis.diagnostics]
    return found[0]


# ------------------------------------------------------------------------ channels-first input
def test_channels_first_input_is_warned_at_the_input_with_the_channels_last_fix(spec_file):
    text = "input: [3, 224, 224]\nlayers:\n  - conv: {filters: 64, kernel: 3}\n"
    d = _only(analyse(spec_file, text), "channels-first-input")
    assert d.severity == "warning"
    assert (d.line, d.column) == locate(text, "[3, 224, 224]")
    assert "`input: [224, 224, 3]`" in d.hint


@pytest.mark.parametrize("shape", ["[224, 224, 3]", "[28, 28, 1]", "[1, 1, 512]", "[7, 7, 512]",
                                   "[4, 4, 256]", "[784]"])
def test_channels_last_inputs_are_not_warned(spec_file, shape):
    assert "channels-first-input" not in codes(analyse(spec_file, f"input: {shape}\nlayers: [relu]\n"))


def test_mnist_channels_first_is_warned_too(spec_file):
    d = _only(analyse(spec_file, "input: [1, 28, 28]\nlayers: [relu]\n"), "channels-first-input")
    assert "`input: [28, 28, 1]`" in d.hint


# ------------------------------------------------------------------------- words from elsewhere
@pytest.mark.parametrize("word, meant", [
    ("linear", "dense"), ("Linear", "dense"), ("fc", "dense"), ("Dense", "dense"),
    ("Conv2d", "conv"), ("conv2d", "conv"), ("nn.Conv2d", "conv"), ("Conv2D", "conv"),
    ("MaxPool2d", "maxpool"), ("MaxPooling2D", "maxpool"), ("Softmax", "softmax"), ("ReLU", "relu"),
    ("BatchNorm2d", "batchnorm"), ("BatchNorm1d", "batchnorm"), ("leaky_relu", "leakyrelu"),
    ("GlobalAveragePooling2D", "globalavgpool"), ("Flatten", "flatten"),
])
def test_foreign_kind_names_suggest_archcalcs(spec_file, word, meant):
    text = f"input: [32, 32, 3]\nlayers:\n  - {word}: 8\n"
    d = _only(analyse(spec_file, text), "unknown-kind")
    assert d.hint.startswith(f"did you mean '{meant}'"), d.hint
    assert (d.line, d.column) == locate(text, word)


@pytest.mark.parametrize("word", ["reshape", "attention", "Reshape", "view"])
def test_words_without_a_counterpart_suggest_no_lookalike(word):
    from archcalc.composites import COMPOSITES
    from archcalc.layers import REGISTRY
    from archcalc.vocabulary import suggest_kind

    # every kind but the word itself (another version may register `attention`)
    options = [k for k in list(REGISTRY) + list(COMPOSITES) if k != word.lower()]
    hint = suggest_kind(word, options)
    assert "repeat" not in hint and "flatten" not in hint and "did you mean" not in hint
    assert hint.startswith(("archcalc has no", "this version of archcalc has no"))


def test_an_unknown_reshape_in_a_spec_gets_the_note(spec_file):
    d = _only(analyse(spec_file, "input: [32, 32, 3]\nlayers:\n  - reshape: [1, 2]\n"), "unknown-kind")
    assert d.hint.startswith("archcalc has no `reshape` kind")


def test_a_mapping_to_a_kind_that_is_not_registered_is_skipped():
    from archcalc.vocabulary import suggest_kind

    # `MultiheadAttention` maps to `attention` only where that kind exists
    assert suggest_kind("MultiheadAttention", ["conv", "dense", "attention"]).startswith(
        "did you mean 'attention'")
    assert "did you mean" not in suggest_kind("MultiheadAttention", ["conv", "dense", "flatten", "repeat"])


@pytest.mark.parametrize("field, meant, kind", [
    ("out_channels", "filters", "conv: {out_channels: 8, kernel: 3}"),
    ("kernel_size", "kernel", "conv: {filters: 8, kernel_size: 3}"),
    ("Filters", "filters", "conv: {Filters: 8, kernel: 3}"),
    ("pool_size", "size", "maxpool: {pool_size: 2}"),
    ("strides", "stride", "maxpool: {size: 2, strides: 2}"),
    ("out_features", "units", "dense: {out_features: 10}"),
])
def test_foreign_field_names_suggest_archcalcs(spec_file, field, meant, kind):
    text = f"input: [32, 32, 3]\nlayers:\n  - {kind}\n"
    d = _only(analyse(spec_file, text), "unknown-field")
    assert d.hint.startswith(f"did you mean '{meant}'"), d.hint
    assert (d.line, d.column) == locate(text, field)


def test_in_channels_is_explained_not_mapped(spec_file):
    d = _only(analyse(spec_file, "input: [32, 32, 3]\nlayers:\n  - conv: {filters: 8, kernel: 3, "
                                 "in_channels: 3}\n"), "unknown-field")
    assert d.hint.startswith("remove it")


@pytest.mark.parametrize("written, listed", [("3x3", "[3, 3]"), ("3×3", "[3, 3]"), ("'(3, 3)'", "[3, 3]"),
                                             ("5 x 1", "[5, 1]")])
def test_kernel_written_as_text_suggests_the_list(spec_file, written, listed):
    text = f"input: [32, 32, 3]\nlayers:\n  - conv:\n      filters: 8\n      kernel: {written}\n"
    d = _only(analyse(spec_file, text), "wrong-type")
    assert f"`{listed}`" in d.hint
    assert (d.line, d.column) == locate(text, written)


def test_input_written_as_text_suggests_the_list(spec_file):
    d = _only(analyse(spec_file, "input: 224x224x3\nlayers: [relu]\n"), "bad-input")
    assert "`input: [224, 224, 3]`" in d.hint


# --------------------------------------------------------------------------- where it is wrong
def test_a_tab_in_the_indentation_says_tab_at_the_tab(spec_file):
    text = "input: [32, 32, 3]\nlayers:\n  - conv:\n  \tfilters: 8\n      kernel: 3\n"
    d = _only(analyse(spec_file, text), "yaml-syntax")
    assert "tab" in d.message
    assert (d.line, d.column) == locate(text, "\t")


def test_a_tab_elsewhere_is_not_blamed(spec_file):
    text = "input: [32, 32, 3\nlayers:\n  - relu  # a\tcomment\n"
    d = _only(analyse(spec_file, text), "yaml-syntax")
    assert "tab" not in d.message


@pytest.mark.parametrize("written, item, hint", [("[1e3, 224, 3]", "1e3", "write 1000"),
                                                 ("[224, 224.0, 3]", "224.0", "write 224")])
def test_a_wrong_input_item_is_pointed_at(spec_file, written, item, hint):
    text = f"input: {written}\nlayers: [relu]\n"
    d = _only(analyse(spec_file, text), "bad-input")
    assert (d.line, d.column) == locate(text, item)
    assert hint in d.hint


def test_a_zero_input_item_is_pointed_at(spec_file):
    text = "input: [224, 0, 3]\nlayers: [relu]\n"
    d = _only(analyse(spec_file, text), "bad-input")
    assert (d.line, d.column) == locate(text, "0,")
    assert "item 2" in d.message


# ------------------------------------------------------------------------------- generated names
def test_generated_names_after_a_digit_use_a_separator(spec_file):
    text = """\
input: [8, 8, 3]
blocks:
  stage2:
    layers: [relu]
layers:
  - relu6
  - relu6
  - relu
  - stage2
  - stage2
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    # relu6 + 1 must not read `relu61`; stage2 block calls likewise; `relu` keeps `relu1`
    assert [layer.name for layer in a.layers] == ["relu6_1", "relu6_2", "relu1", "stage2_1.relu1",
                                                  "stage2_2.relu1"]

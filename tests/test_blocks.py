"""Reusable blocks (SPEC-CONTRACT.md section 4, issue 3): arguments with defaults, `$name`
anywhere a value stands (also `repeat.times` and inside nested blocks), `${expr}` integer
arithmetic, block `name`/`expect`, and every block error with its code and location.

Every expected number is derived by hand in a comment.
"""
from __future__ import annotations

import json

import pytest
from conftest import analyse_text as analyse
from conftest import codes, locate


def errors(analysis) -> list[str]:
    return [d.code for d in analysis.errors]


def where(diagnostic) -> tuple[int, int]:
    return diagnostic.line, diagnostic.column


# ------------------------------------------------------------------------ arguments, defaults
BOTTLENECK = """\
input: [8, 8, 16]
blocks:
  bottleneck:
    args: {width: null, stride: 1}
    layers:
      - residual:
          layers:
            - conv: {filters: $width, kernel: 1, bias: false}
            - conv: {filters: $width, kernel: 3, stride: $stride, padding: 1, bias: false}
            - conv: {filters: "${width * 4}", kernel: 1, bias: false}
          shortcut:
            - conv: {filters: "${width * 4}", kernel: 1, stride: $stride, bias: false}
layers:
  - bottleneck: {name: b1, width: 4, expect: [8, 8, 16]}
  - bottleneck: {name: b2, width: 8, stride: 2, expect: [4, 4, 32]}
"""


def test_block_arguments_defaults_and_expressions(spec_file):
    # b1 (width 4, stride 1 by default) on 8x8x16:
    #   1x1 16→4: 16·4 = 64; 3x3 4→4: 9·4·4 = 144; 1x1 4→16: 4·16 = 64; shortcut 1x1 16→16: 256
    #   → 528 params; output 8x8x16
    # b2 (width 8, stride 2) on 8x8x16:
    #   1x1 16→8: 128; 3x3/2 8→8: 9·8·8 = 576 (⌊(8 + 2 − 3)/2⌋ + 1 = 4); 1x1 8→32: 256;
    #   shortcut 1x1/2 16→32: 512 (⌊(8 − 1)/2⌋ + 1 = 4) → 1,472 params; output 4x4x32
    # total 528 + 1,472 = 2,000; depth 3 + 3 = 6
    a = analyse(spec_file, BOTTLENECK)
    assert codes(a) == []
    assert a.output == (4, 4, 32)
    assert (a.totals.params, a.totals.depth) == (2_000, 6)
    assert [layer.name for layer in a.layers] == [
        "b1.conv1", "b1.conv2", "b1.conv3", "b1.shortcut.conv1",
        "b2.conv1", "b2.conv2", "b2.conv3", "b2.shortcut.conv1"]


def test_block_expect_mismatch_points_at_the_call_expect(spec_file):
    text = BOTTLENECK.replace("expect: [4, 4, 32]", "expect: [8, 8, 32]")
    a = analyse(spec_file, text)
    assert codes(a) == ["expect-mismatch"]
    d = a.diagnostics[0]
    assert where(d) == locate(text, "[8, 8, 32]")
    assert d.layer == "b2"
    assert "4×4×32" in d.message


def test_argument_in_repeat_times_and_in_a_list(spec_file):
    # stack(n: 3, k: 3) = 3 × conv [3, 1] kernel on 9x4: height 9 → 7 → 5 → 3, width 4 kept
    # params 3·(3·1·1·1 + 1) = 12
    text = """\
input: [9, 4, 1]
blocks:
  stack:
    args: {n: null, k: null}
    layers:
      - repeat: {times: $n, layers: [conv: {filters: 1, kernel: [$k, 1]}]}
layers:
  - stack: {n: 3, k: 3}
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert [layer.output for layer in a.layers] == [(7, 4, 1), (5, 4, 1), (3, 4, 1)]
    assert a.totals.params == 12


def test_nested_blocks_with_defaults(spec_file):
    # inner(f = 4, k = 1) is a conv; outer(w, n = 2) calls inner three ways:
    #   inner {f: ${w * 2}}  → 1x1, 10 filters on 8x8x4: params 4·10 + 10 = 50
    #   repeat $n (2) × inner {f: $w, k: [3, 1]}: 3x1 convs with 5 filters, height 8 → 6 → 4;
    #       params 3·1·10·5 + 5 = 155, then 3·1·5·5 + 5 = 80
    #   inner (both defaults): 1x1, 4 filters on 4x8x5: 5·4 + 4 = 24
    #   conv ${(w + 2) // 3 % 4 - -1} = (7 // 3) % 4 + 1 = 2 + 1 = 3 filters: 4·3 + 3 = 15
    # with w = 5: params 50 + 155 + 80 + 24 + 15 = 324; output 4x8x3
    text = """\
input: [8, 8, 4]
blocks:
  inner:
    args: {f: 4, k: 1}
    layers: [conv: {filters: $f, kernel: $k}]
  outer:
    args: {w: null, n: 2}
    layers:
      - inner: {f: "${w * 2}"}
      - repeat: {times: $n, layers: [inner: {f: $w, k: [3, 1]}]}
      - inner
      - conv: {filters: "${(w + 2) // 3 % 4 - -1}", kernel: 1}
layers:
  - outer: {name: o, w: 5}
"""
    a = analyse(spec_file, text)
    assert errors(a) == []
    assert [layer.params for layer in a.layers] == [50, 155, 80, 24, 15]
    assert a.output == (4, 8, 3)
    assert [layer.name for layer in a.layers] == [
        "o.inner1.conv1", "o.inner2.conv1", "o.inner3.conv1", "o.inner4.conv1", "o.conv1"]


@pytest.mark.parametrize("expression, value", [
    ("w * 4", 12),             # 3·4
    ("w*4+1", 13),             # precedence: (3·4) + 1
    ("(w + 1) * 4", 16),       # parentheses: 4·4
    ("w + 1 * 4", 7),          # 3 + 4
    ("17 // w", 5),            # floor division: 17 // 3
    ("17 % w", 2),             # 17 = 5·3 + 2
    ("w - 1 - 1", 1),          # left-associative: (3 − 1) − 1
    ("24 // w // 2", 4),       # left-associative: (24 // 3) // 2
    ("-w + 10", 7),            # unary minus
    ("((w))", 3),
])
def test_expression_arithmetic(spec_file, expression, value):
    text = f"""\
input: [4]
blocks:
  fc:
    args: {{w: 3}}
    layers: [dense: "${{{expression}}}"]
layers: [fc]
"""
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert a.output == (value,)


@pytest.mark.parametrize("expression, message", [
    ("q + 1", "no argument named 'q'"),
    ("w // 0", "division by zero"),
    ("w % (w - 3)", "division by zero"),
    ("w +* 1", "unexpected '*'"),
    ("(w + 1", "not closed"),
    ("w / 2", "cannot read"),
    ("w ** 2", "unexpected '*'"),
    ("1.5 * w", "cannot read"),
    ("__import__('os')", "cannot read"),
    ("", "ends too early"),
    ("w w", "unexpected 'w'"),
    ("s + 1", "not an integer"),
])
def test_expression_errors(spec_file, expression, message):
    text = f"""\
input: [4]
blocks:
  fc:
    args: {{w: 3, s: text}}
    layers: [dense: "${{{expression}}}"]
layers: [fc]
"""
    a = analyse(spec_file, text)
    assert errors(a) == ["bad-expression"]
    d = a.errors[0]
    assert message in d.message
    assert where(d) == locate(text, '"${')


# ------------------------------------------------------------------------------------ errors
def test_unknown_block_suggests_the_nearest(spec_file):
    text = """\
input: [4]
blocks:
  head: {layers: [dense: 2]}
layers:
  - haed
"""
    a = analyse(spec_file, text)
    assert errors(a) == ["unknown-kind"]
    d = a.errors[0]
    assert where(d) == locate(text, "haed")
    assert "did you mean 'head'?" in d.hint


def test_missing_block_argument(spec_file):
    text = """\
input: [4]
blocks:
  head: {args: {units: null, extra: 1}, layers: [dense: $units]}
layers:
  - head: {extra: 2}
"""
    a = analyse(spec_file, text)
    assert errors(a) == ["missing-arg"]
    d = a.errors[0]
    assert "`units`" in d.message
    assert where(d) == locate(text, "head", nth=2)  # the call's kind


def test_unknown_block_argument(spec_file):
    text = """\
input: [4]
blocks:
  head: {args: {units: null}, layers: [dense: $units]}
layers:
  - head: {units: 2, unit: 3}
"""
    a = analyse(spec_file, text)
    assert errors(a) == ["unknown-arg"]
    d = a.errors[0]
    assert "'unit'" in d.message
    assert where(d) == locate(text, "unit: 3")  # the key at the call
    assert "did you mean 'units'?" in d.hint


def test_a_bare_call_of_a_block_with_a_required_argument(spec_file):
    text = "input: [4]\nblocks:\n  head: {args: {units: null}, layers: [dense: $units]}\nlayers: [head]\n"
    assert errors(analyse(spec_file, text)) == ["missing-arg"]


def test_block_that_calls_itself(spec_file):
    text = """\
input: [4]
blocks:
  loop: {layers: [relu, loop]}
layers:
  - loop
"""
    a = analyse(spec_file, text)
    assert errors(a) == ["block-recursion"]
    d = a.errors[0]
    assert "loop -> loop" in d.message
    assert where(d) == locate(text, "loop]")  # the call inside its own body


def test_block_that_reaches_itself_through_another(spec_file):
    text = """\
input: [4]
blocks:
  ping: {layers: [relu, pong]}
  pong: {layers: [relu, ping]}
layers:
  - ping
"""
    a = analyse(spec_file, text)
    assert errors(a) == ["block-recursion"]
    d = a.errors[0]
    assert "ping -> pong -> ping" in d.message
    assert where(d) == locate(text, "ping]")  # pong's call of ping closes the loop


def test_reference_to_no_such_argument(spec_file):
    text = """\
input: [4]
blocks:
  head: {args: {units: 3}, layers: [dense: $unit]}
layers:
  - head
"""
    a = analyse(spec_file, text)
    assert errors(a) == ["undefined-reference"]
    d = a.errors[0]
    assert where(d) == locate(text, "$unit")
    assert "'$unit'" in d.message and "units" in d.message
    assert "did you mean 'units'?" in d.hint


def test_reference_outside_any_block(spec_file):
    text = "input: [4]\nlayers:\n  - dense: $units\n"
    a = analyse(spec_file, text)
    assert errors(a) == ["undefined-reference"]
    assert where(a.errors[0]) == locate(text, "$units")


@pytest.mark.parametrize("blocks, code", [
    ("conv: {layers: [relu]}", "bad-block"),            # shadows a built-in kind
    ("head: [relu]", "bad-block"),                      # not a mapping
    ("head: {args: [units], layers: [relu]}", "bad-block"),
    ("head: {args: {name: 1}, layers: [relu]}", "bad-block"),  # every call accepts `name`
    ("head: {args: {units: 1}}", "missing-field"),      # no layers
])
def test_malformed_block_definitions(spec_file, blocks, code):
    a = analyse(spec_file, f"input: [4]\nblocks:\n  {blocks}\nlayers: [relu]\n")
    assert code in errors(a)
    assert all(d.line == 3 for d in a.errors)


def test_argument_values_are_checked_where_they_are_used(spec_file):
    text = """\
input: [4]
blocks:
  head: {args: {units: null}, layers: [dense: $units]}
layers:
  - head: {units: 0}
"""
    # 0 units is not a positive integer; the message shows where the value came from
    a = analyse(spec_file, text)
    assert errors(a) == ["bad-value"]
    assert "$units" in a.errors[0].message


def test_same_block_called_twice_gets_two_scopes(spec_file):
    # compiled once per argument set, but each call is its own scope with its own leaves
    text = "input: [4]\nblocks:\n  head: {args: {u: 2}, layers: [dense: $u]}\nlayers: [head, head, head: {u: 3}]\n"
    a = analyse(spec_file, text)
    assert codes(a) == []
    assert [(layer.name, layer.output) for layer in a.layers] == [
        ("head1.dense1", (2,)), ("head2.dense1", (2,)), ("head3.dense1", (3,))]


def test_argument_default_derived_from_another_argument(cli, spec_file):
    # c4 defaults to 4·c = 64 filters: 1·1·16·64 + 64 = 1,088 params
    path = spec_file("""input: [8, 8, 16]
blocks:
  widen:
    args: {c: null, c4: "${c * 4}"}
    layers: [conv: {filters: $c4, kernel: 1}]
layers:
  - widen: {c: 16}
""")
    data = json.loads(cli("show", path, "--format", "json").out)
    assert (data["output"], data["totals"]["params"]) == ([8, 8, 64], 1_088)


def test_parallel_add_mismatch_hint_names_the_branch_not_a_shortcut(cli, spec_file):
    # branch1: 3×3/2 conv, 16 → 32 channels: 8×8×16 becomes 4×4×32; branch2 is the identity
    path = spec_file("""input: [8, 8, 16]
layers:
  - parallel:
      merge: add
      branches:
        - [conv: {filters: 32, kernel: 3, stride: 2, padding: 1}]
        - []
""")
    data = json.loads(cli("show", path, "--format", "json").out)
    (d,) = data["diagnostics"]
    assert d["code"] == "merge-mismatch"
    assert "shortcut:" not in d["hint"]
    assert "[conv: {filters: 32, kernel: 1, stride: 2}, batchnorm] as branch2" in d["hint"]


def test_a_bad_argument_is_reported_where_the_call_passes_it(spec_file):
    text = ("input: [8, 8, 3]\nblocks:\n  b:\n    args: {c: null}\n"
            "    layers: [conv: {filters: $c, kernel: 1}]\nlayers:\n  - b: {c: 0}\n")
    analysis = analyse(spec_file, text)
    (d,) = analysis.diagnostics
    # the 0 at `{c: 0}` is the mistake; the message still names where `$c` is used (line 5)
    assert (d.code, (d.line, d.column)) == ("bad-value", locate(text, "0}"))
    assert "(from '$c', line 5)" in d.message

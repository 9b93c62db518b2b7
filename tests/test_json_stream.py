"""`show --format json` is written in pieces (a 300,000-layer network never holds its JSON text
in memory): the pieces make exactly the text render_show builds, and valid JSON."""
from __future__ import annotations

import json

import pytest

from conftest import SPECS


@pytest.mark.parametrize("text", [
    # 4,501 layers: more than two chunks of 2,000 rows, and a partial last chunk
    "input: [4]\nlayers:\n  - repeat: {times: 4500, layers: [relu]}\n  - dense: 2\n",
    # 2,000 rows exactly: one full chunk, nothing after it
    "input: [4]\nlayers:\n  - repeat: {times: 2000, layers: [relu]}\n",
    # no layers at all (an error before the first layer)
    "input: [4]\nlayers: []\n",
])
def test_streamed_json_is_render_show(spec_file, text):
    import archcalc
    from archcalc.render import json_

    analysis = archcalc.analyze(archcalc.load(str(spec_file(text))))
    pieces: list[str] = []
    json_.stream_show(analysis, {}, pieces.append)
    streamed = "".join(pieces)
    assert streamed == json_.render_show(analysis, {})
    data = json.loads(streamed)
    assert len(data["layers"]) == data["totals"]["layers"] == len(analysis.layers)


def test_streamed_builtin_matches(run_process):
    import archcalc
    from archcalc.render import json_

    analysis = archcalc.analyze(archcalc.load(str(SPECS / "resnet50.yaml")))
    result = run_process("show", "resnet50", "--format", "json")
    assert result.code == 0
    assert result.out == json_.render_show(analysis, {})


def _streamed(analysis) -> str:
    from archcalc.render import json_

    pieces: list[str] = []
    json_.stream_show(analysis, {}, pieces.append)
    return "".join(pieces)


def test_formatted_rows_are_the_encoders_for_every_builtin():
    """Streamed rows are formatted, not encoded from a dict: the same text as json's encoder
    (render_show) for every built-in, under another tool's convention (exact_macs), with
    connections shown, and for odd names."""
    import archcalc
    from archcalc.app import analyse_spec
    from archcalc.readers import zoo
    from archcalc.render import json_

    for name in zoo.names():
        analysis = analyse_spec(name)
        assert _streamed(analysis) == json_.render_show(analysis, {}), name
    for name, count_as in (("resnet50", "fvcore"), ("googlenet", "thop"), ("gpt2", "torch")):
        analysis = analyse_spec(name, count_as=count_as)
        assert _streamed(analysis) == json_.render_show(analysis, {}), name
    analysis = analyse_spec("lenet5-1998")
    analysis.totals.show_connections = True
    assert '"connections": ' in _streamed(analysis)
    assert _streamed(analysis) == json_.render_show(analysis, {})
    del archcalc


def test_formatted_rows_escape_names_as_json_does(spec_file):
    import archcalc
    from archcalc.render import json_

    text = ("input: [8]\nlayers:\n  - dense: {units: 4, name: 'q\"uote\\\\back'}\n"
            "  - dense: {units: 4, name: \"tab\\tnew\\nline \\u00e9 \\U0001F600\"}\n  - relu\n")
    analysis = archcalc.analyze(archcalc.load(str(spec_file(text))))
    assert _streamed(analysis) == json_.render_show(analysis, {})
    assert [row["name"] for row in json.loads(_streamed(analysis))["layers"]][:2] == \
        ['q"uote\\\\back', "tab\tnew\nline é \U0001F600"]  # YAML's single quotes keep both backslashes

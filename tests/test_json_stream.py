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

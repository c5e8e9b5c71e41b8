"""`aifactory bench spec`: every hostile document is refused naming its reason (the figures are the bench's)."""

from __future__ import annotations

import json

from aifactory.cli.main import main


def test_bench_spec_refuses_every_hostile_document(capsys):
    assert main(["bench", "spec", "--repeat", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    outcomes = {r["document"]: r["outcome"] for r in rows}
    assert outcomes.pop("yaml, blank lines to the cap") == "read"
    assert all(o.startswith("refused: ") for o in outcomes.values()), outcomes
    assert "resources.time_limit" in outcomes["json, a number of 5,000 digits"]
    assert "commands[0]" in outcomes["json, a lone surrogate"]


def test_bench_spec_refuses_a_bad_repeat(capsys):
    assert main(["bench", "spec", "--repeat", "0"]) == 2

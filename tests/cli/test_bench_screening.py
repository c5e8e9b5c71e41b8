"""`aifactory bench screening` prints precision and recall, and refuses a malformed set."""

from __future__ import annotations

import json

from aifactory.cli.main import main


def test_bench_screening_prints_precision_and_recall(capsys):
    assert main(["bench", "screening"]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "recall" in out and "held_out" in out


def test_bench_screening_json_and_own_set(tmp_path, capsys):
    path = tmp_path / "set.yaml"
    path.write_text(
        "items:\n"
        "- {id: a, lang: en, expect: [social_scoring], title: Social scoring of citizens}\n"
        "- {id: b, lang: en, expect: [], title: Weather forecasting}\n"
        "- {id: c, lang: en, expect: [employment], title: A tool for gardeners}\n",
        encoding="utf-8",
    )
    assert main(["bench", "screening", "--set", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["tp"], out["fp"], out["fn"], out["tn"]) == (1, 0, 1, 1)
    assert out["precision"] == 1.0 and out["recall"] == 0.5
    assert [e["id"] for e in out["errors"]] == ["c"]


def test_bench_screening_refuses_a_malformed_set(tmp_path, capsys):
    path = tmp_path / "set.yaml"
    path.write_text("items: 3\n", encoding="utf-8")
    assert main(["bench", "screening", "--set", str(path)]) == 2
    assert "items" in capsys.readouterr().err

"""`aifactory init`: the files it writes, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aifactory.cli.main import main


def test_init_writes_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["init", "--machine", "leonardo", "--nodes", "4", "--model", "7b", "--tokens", "1e11",
                 "--out", str(out), "--name", "llm", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["job.sbatch", "job.yaml", "launch.sh", "run.json", "train.py"]
    run = json.loads((out / "run.json").read_text())
    assert run["nodes"] == 4 and run["model"]["layers"] == 32 and shown["plan"]["can_run"]
    assert (out / "launch.sh").stat().st_mode & 0o111
    assert "$CINECA_SCRATCH/aifactory/llm" == shown["checkpoint_dir"]


def test_init_from_a_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4,
                                  "vocab_size": 1000, "max_position_embeddings": 128}))
    assert main(["init", "--machine", "lumi", "--nodes", "1", "--model", str(config), "--account", "project_1",
                 "--out", str(tmp_path / "r")]) == 0
    assert "LUMI" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "run.json").read_text())["model"]["hidden"] == 256


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--machine", "frontier"], "--machine"),
        (["--model", "huge"], "--model"),
        (["--name", "a b"], "--name"),
        (["--nodes", "0"], "--nodes"),
        (["--model", "175b"], "no layout"),
    ],
)
def test_init_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    base = {"--machine": "karolina", "--nodes": "1", "--model": "tiny", "--out": str(tmp_path / "r")}
    for i in range(0, len(argv), 2):
        base[argv[i]] = argv[i + 1]
    assert main(["init", *[x for kv in base.items() for x in kv]]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "r").exists()

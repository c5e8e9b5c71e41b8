import json

import pytest

from aifactory.cli import main as cli


@pytest.fixture(autouse=True)
def only_these_commands(monkeypatch):
    # Build the parser with the two commands under test only, so that these tests do not depend on the others.
    monkeypatch.setattr(cli, "COMMANDS", ("catalog", "plan"))


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv):
    """Run a command argparse refuses: it exits 2 with a message on stderr."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert out == ""
    assert "Traceback" not in err
    return err


def _row(out, key):
    return next(line for line in out.splitlines() if line.startswith(key + " "))


def test_catalog_table(capsys):
    code, out, err = run(capsys, "catalog")
    assert code == 0 and err == ""
    leo = _row(out, "leonardo").split()
    assert leo[:5] == ["leonardo", "Leonardo", "Booster", "CINECA", "Bologna"]
    assert "13,824" in leo and "3,456" in leo and "A100" in leo
    jupiter = _row(out, "jupiter")
    assert "~24,000" in jupiter and "~6,000" in jupiter
    mn5 = _row(out, "marenostrum5").split()
    assert mn5.count("?") == 2  # nodes and total GPUs unknown
    assert "23,824" in _row(out, "lumi")  # GCDs
    assert "19 AI Factories" in out
    assert "? = not confirmed" in out


def test_catalog_json(capsys):
    code, out, _ = run(capsys, "catalog", "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data["machines"]) == 11 and len(data["factories"]) == 19
    leo = next(m for m in data["machines"] if m["key"] == "leonardo")
    assert (leo["total_gpus"], leo["gpu_memory_gb"], leo["peak_bf16_tflops"]) == (13824, 64, 312)
    assert leo["sources"]["nodes"]
    mn5 = next(m for m in data["machines"] if m["key"] == "marenostrum5")
    assert mn5["total_gpus"] is None
    assert any("GCD" in note for note in data["notes"])


def test_plan_table(capsys):
    code, out, err = run(capsys, "plan", "--params", "7e9", "--tokens", "2e12", "--gpu", "A100", "--gpus", "512")
    assert code == 0 and err == ""
    assert "8.4e+22 FLOP" in out
    leo = _row(out, "leonardo").split()
    # 186,965.8 GPU-hours; / 512 = 365.2 h = 15.2 days; 112 GB unsharded, 0.22 GB sharded
    assert leo[:6] == ["leonardo", "A100", "312", "186,966", "365.2", "15.2"]
    assert leo[7:] == ["112.0", "0.22", "sharded", "yes"]
    assert _row(out, "vega").split()[-1] == "no"
    assert "vega: 512 GPUs requested but Vega has 240 GPUs in all." in out
    assert "lumi" not in out  # filtered to A100
    assert "Below the AI Act's 10^25 FLOP" in out


def test_plan_systemic_risk_flag(capsys):
    code, out, _ = run(capsys, "plan", "--params", "1e12", "--tokens", "2e13", "--gpus", "4096")
    assert code == 0
    assert "1.2e+26 FLOP" in out
    assert "SYSTEMIC RISK" in out


def test_plan_given_flops_and_mfu(capsys):
    code, out, _ = run(
        capsys, "plan", "--params", "7e9", "--tokens", "2e12", "--flops", "1e23", "--mfu", "0.5", "--gpu", "h100"
    )
    assert code == 0
    # 1e23 / (989e12 x 0.5) / 3600 = 56,172.9 GPU-hours
    assert _row(out, "marenostrum5").split()[3] == "56,173"


def test_plan_json(capsys):
    code, out, _ = run(capsys, "plan", "--params", "7e9", "--tokens", "2e12", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["flops"] == pytest.approx(8.4e22)
    assert data["gpus"] == 8 and data["mfu"] == 0.4
    leo = next(e for e in data["estimates"] if e["machine"] == "leonardo")
    assert leo["gpu_hours"] == pytest.approx(186_965.8, abs=0.1)


def test_plan_no_machine_of_a_model(capsys):
    code, out, _ = run(capsys, "plan", "--params", "7e9", "--tokens", "2e12", "--gpu", "MI430X")
    assert code == 0
    assert "No machine of the catalog has known MI430X GPUs." in out


def test_plan_unknown_gpu_model(capsys):
    code, out, err = run(capsys, "plan", "--params", "7e9", "--tokens", "2e12", "--gpu", "B200")
    assert code == 2 and out == ""
    assert err.startswith("aifactory plan: error: --gpu: unknown GPU model 'B200'")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--params", "abc", "--tokens", "2e12"], "argument --params: 'abc' is not a number"),
        (["--params=-7e9", "--tokens", "2e12"], "argument --params: '-7e9' must be positive"),
        (["--params", "-1", "--tokens", "2e12"], "argument --params: '-1' must be positive"),
        (["--params", "nan", "--tokens", "2e12"], "argument --params: 'nan' is not a finite number"),
        (["--params", "7e9", "--tokens", "0"], "argument --tokens: '0' must be positive"),
        (["--params", "7e9", "--tokens", "2e12", "--mfu", "1.5"], "argument --mfu: '1.5' must be above 0"),
        (["--params", "7e9", "--tokens", "2e12", "--gpus", "0"], "argument --gpus: '0' must be from 1 to 100,000"),
        (["--params", "7e9", "--tokens", "2e12", "--gpus", "8.5"], "argument --gpus: '8.5' is not a whole number"),
        (["--params", "7e9", "--tokens", "2e12", "--flops", "inf"], "argument --flops: 'inf' is not a finite"),
        (["--params", "7e9"], "the following arguments are required: --tokens"),
    ],
)
def test_plan_refuses_bad_input(capsys, argv, message):
    err = refused(capsys, "plan", *argv)
    assert message in err

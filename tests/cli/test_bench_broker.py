"""`aifactory bench broker` on small hand-made traces."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

from aifactory.cli.main import main
from aifactory.core.sim import POLICIES

HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"


def small_trace(tmp_path: Path) -> Path:
    rows = []
    for i in range(60):
        gpus = (1, 1, 2, 4, 8, 16)[i % 6]
        duration = 600 + (i * 379) % 7200
        rows.append(f"2017-10-09 {i // 6:02d}:{(i * 7) % 60:02d}:00,{duration}.0,{gpus},{duration * gpus}.0,vc{i % 3}")
    rows.append("2017-10-09 11:00:00,60.0,100000,6000000.0,vc0")  # wider than every machine
    p = tmp_path / "small.csv"
    p.write_text(HEADER + "\n".join(rows) + "\n")
    return p


def test_json_has_a_row_per_policy_and_estimate(tmp_path, capsys):
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--load", "0.5", "--json", "--seed", "3"])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""  # no progress bar when stderr is not a terminal
    report = json.loads(out)
    assert report["jobs"] == 61
    assert report["too_wide"] == 1
    assert "marenostrum5" in report["left_out"]
    assert {(r["policy"], r["estimates"]) for r in report["rows"]} == {(p, e) for p in POLICIES
                                                                       for e in ("user", "oracle")}
    for row in report["rows"]:
        assert row["jobs"] == 60
        assert row["mean_jct_s"] >= report["lower_bound_mean_jct_s"] - 1e-6
        if row["policy"] == "home-site":
            assert row["jct_vs_home_site"] == 1.0
    assert report["peak_rss_mib"] > 0


def test_same_seed_same_figures(tmp_path, capsys):
    trace = str(small_trace(tmp_path))
    args = ["bench", "broker", "--trace", trace, "--policy", "random", "broker", "--json", "--estimates", "user"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    keep = ("policy", "mean_wait_s", "mean_jct_s", "p99_wait_s", "utilisation")
    assert [{k: r[k] for k in keep} for r in first["rows"]] == [{k: r[k] for k in keep} for r in second["rows"]]
    # home-site is always run as the baseline of the ratio
    assert [r["policy"] for r in first["rows"]] == ["home-site", "random", "broker"]


def test_text_table(tmp_path, capsys):
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--policy", "broker",
                 "--estimates", "oracle", "--limit", "30"])
    out = capsys.readouterr().out
    assert code == 0
    assert "30 jobs" in out
    assert "left out: marenostrum5" in out
    lines = [line for line in out.splitlines() if line.startswith(("broker ", "home-site "))]
    # a metrics row and a utilisation row each, and a prediction error row for the broker, which asks the sites
    assert [line.split()[0] for line in lines] == ["home-site", "broker", "home-site", "broker", "broker"]
    assert "prediction error" in out


@pytest.mark.parametrize("extra, message", [
    (["--load", "0"], "--load must be in (0, 1]"),
    (["--load", "1.5"], "--load must be in (0, 1]"),
    (["--policy", "shortest-queue"], "unknown policy shortest-queue"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--plot", "out.svg"], "--plot needs a .png"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, extra, message):
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_and_malformed_traces_exit_2(tmp_path, capsys):
    assert main(["bench", "broker", "--trace", str(tmp_path / "nope.csv")]) == 2
    assert "no such trace file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "2017-10-09 00:00:00,ten,1,10.0,vc0\n")
    assert main(["bench", "broker", "--trace", str(bad)]) == 2
    assert f"{bad}:2: field 'duration'" in capsys.readouterr().err
    other = tmp_path / "trace.txt"
    other.write_text("x")
    assert main(["bench", "broker", "--trace", str(other)]) == 2
    assert "unknown trace format" in capsys.readouterr().err


def test_unknown_estimates_kind_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--estimates", "perfect"])
    assert err.value.code == 2


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is not None, reason="matplotlib is installed")
def test_plot_without_matplotlib_exits_2(tmp_path, capsys):
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--plot", str(tmp_path / "p.png")])
    assert code == 2
    assert "matplotlib" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_plot_writes_a_png(tmp_path, capsys):
    out = tmp_path / "delay.png"
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--policy", "broker",
                 "--estimates", "user", "--plot", str(out), "--json"])
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(capsys.readouterr().out)["plot"] == str(out)


def test_real_size_raises_the_trace_to_the_load_and_says_how(tmp_path, capsys):
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--federation", "real", "--load", "0.6",
                 "--limit", "3000", "--policy", "broker", "--estimates", "user", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["federation"] == "real" and report["jobs"] == 3000
    assert {m["key"]: m["nodes"] for m in report["machines"]}["jupiter"] == 6000
    assert all(m["nodes"] == m["real_nodes"] for m in report["machines"])
    assert report["achieved_load"] == pytest.approx(0.6)
    assert report["arrivals"]["copies"] > 1
    assert "time-shifted copies" in report["arrivals"]["how"]
    mix = report["job_mix"]
    assert mix["trace"]["jobs"] == 61 and mix["replayed"]["jobs"] == 3000
    assert set(mix["replayed"]["share_by_gpus"]) <= set(mix["trace"]["share_by_gpus"]) | {"100000"}


def test_scaled_run_of_a_trace_that_reaches_its_load_is_not_raised(tmp_path, capsys):
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--load", "0.5", "--policy", "broker",
                 "--estimates", "user", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["arrivals"] == {"copies": 1, "compression": 1.0, "how": "as recorded"}
    assert report["achieved_load"] == pytest.approx(0.5, rel=0.05)


def test_scaled_machines_too_big_for_the_trace_get_it_raised(tmp_path, capsys):
    """Three one-GPU minutes in an hour cannot load even one node per machine to 0.9: raised, and replayed at 0.9."""
    tiny = tmp_path / "tiny.csv"
    tiny.write_text(HEADER + "2017-10-09 00:00:00,60.0,1,60.0,vc0\n2017-10-09 00:30:00,60.0,1,60.0,vc0\n"
                    "2017-10-09 01:00:00,60.0,1,60.0,vc1\n")
    code = main(["bench", "broker", "--trace", str(tiny), "--load", "0.9", "--policy", "broker", "--estimates",
                 "user", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [m["nodes"] for m in report["machines"]] == [1] * len(report["machines"])
    assert report["arrivals"]["copies"] > 100 and report["jobs"] == 3 * report["arrivals"]["copies"]
    assert report["achieved_load"] == pytest.approx(0.9)


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_plot_per_machine_writes_a_png(tmp_path, capsys):
    out = tmp_path / "machines.png"
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--policy", "broker",
                 "--estimates", "user", "--plot-machines", str(out), "--json"])
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(capsys.readouterr().out)["plot_machines"] == str(out)


def test_unknown_federation_is_an_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as err:
        main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--federation", "imaginary"])
    assert err.value.code == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("federation", ["scaled", "real"])
def test_progress_bars_on_a_terminal(tmp_path, capsys, monkeypatch, federation):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    code = main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--federation", federation,
                 "--policy", "broker", "--estimates", "user", "--limit", "600"])
    assert code == 0
    shown = err.getvalue()
    assert "home-site (user)" in shown and "broker (user)" in shown
    jobs = 600 if federation == "real" else 61
    assert f"{jobs}/{jobs}" in shown
    assert "broker" in capsys.readouterr().out


def test_no_progress_bars_with_json_or_off_a_terminal(tmp_path, capsys, monkeypatch):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--policy", "broker", "--json"]) == 0
    assert err.getvalue() == ""
    json.loads(capsys.readouterr().out)
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    assert main(["bench", "broker", "--trace", str(small_trace(tmp_path)), "--policy", "broker"]) == 0
    assert plain.getvalue() == ""

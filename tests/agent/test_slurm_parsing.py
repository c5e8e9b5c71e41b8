"""SlurmBackend without a cluster: recorded squeue/sacct/sacctmgr answers, the commands it builds, refusals."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aifactory.agent.base import BackendError, BatchJob
from aifactory.agent.slurm import (
    CommandResult,
    SlurmBackend,
    batch_script,
    map_state,
    parse_sacct_line,
    parse_squeue_line,
    run_command,
)
from aifactory.core.jobs import JobState

UID = "0123456789abcdef0123456789abcdef"
NAME = f"aif-{UID}"


def ok(stdout: str = "") -> CommandResult:
    return CommandResult(0, stdout, "")


class FakeSlurm:
    """Stands in for Slurm's tools: answers by command, records every call."""

    def __init__(self, answer: Callable[[list[str]], CommandResult]) -> None:
        self.answer = answer
        self.calls: list[tuple[list[str], dict[str, str], float]] = []

    def __call__(self, argv: Sequence[str], env: dict[str, str], timeout_s: float) -> CommandResult:
        assert isinstance(argv, list) and all(isinstance(arg, str) for arg in argv)
        self.calls.append((list(argv), dict(env), timeout_s))
        return self.answer(list(argv))

    def commands(self, tool: str) -> list[list[str]]:
        return [argv for argv, _, _ in self.calls if argv[0] == tool]


def by_tool(**answers: str | CommandResult) -> Callable[[list[str]], CommandResult]:
    def answer(argv: list[str]) -> CommandResult:
        got = answers.get(argv[0], "")
        return got if isinstance(got, CommandResult) else ok(got)

    return answer


def backend(tmp_path: Path, fake: FakeSlurm, **kwargs: object) -> SlurmBackend:
    return SlurmBackend(
        cluster="aif-a", slurm_conf="/etc/aif-a/slurm.conf", workdir=tmp_path / "jobs", user="alice", runner=fake,
        **kwargs,  # type: ignore[arg-type]
    )


def job(**changes: object) -> BatchJob:
    fields: dict[str, object] = {
        "uid": UID, "name": "train", "account": "acme", "gpus": 2, "time_limit_s": 3600, "script": "echo hi\n",
    }
    fields.update(changes)
    return BatchJob(**fields)  # type: ignore[arg-type]


# --- parsing --------------------------------------------------------------------------------------

SACCT_COMPLETED = f"41|{NAME}|COMPLETED|0:0|7|billing=1,cpu=1,gres/gpu=2,node=1|2026-01-05T10:00:00|2026-01-05T10:00:07"
SACCT_FAILED = f"42|{NAME}|FAILED|3:0|1|billing=1,cpu=1,gres/gpu=1,node=1|2026-01-05T10:00:00|2026-01-05T10:00:01"
SACCT_CANCELLED_RUNNING = f"43|{NAME}|CANCELLED by 0|0:15|5|gres/gpu=4,node=1|2026-01-05T10:00:00|2026-01-05T10:00:05"
SACCT_CANCELLED_PENDING = f"44|{NAME}|CANCELLED by 0|0:0|0||2026-01-05T10:00:03|2026-01-05T10:00:03"
SACCT_RUNNING = f"45|{NAME}|RUNNING|0:0|30|billing=8,cpu=8,gres/gpu=8,node=1|2026-01-05T10:00:00|Unknown"
SACCT_PENDING = f"46|{NAME}|PENDING|0:0|0||Unknown|Unknown"


def test_sacct_completed_line() -> None:
    row = parse_sacct_line(SACCT_COMPLETED)
    assert (row.job_id, row.state, row.exit_code, row.elapsed_s, row.gpus) == ("41", JobState.COMPLETED, 0, 7, 2)
    assert row.start is not None and row.end is not None and row.end - row.start == timedelta(seconds=7)
    assert row.start.tzinfo is not None


def test_sacct_variants() -> None:
    failed = parse_sacct_line(SACCT_FAILED)
    assert (failed.state, failed.exit_code, failed.signal) == (JobState.FAILED, 3, 0)
    cancelled = parse_sacct_line(SACCT_CANCELLED_RUNNING)
    assert (cancelled.state, cancelled.raw_state, cancelled.signal, cancelled.gpus) == (
        JobState.CANCELLED, "CANCELLED by 0", 15, 4,
    )
    running = parse_sacct_line(SACCT_RUNNING)
    assert (running.state, running.end, running.gpus) == (JobState.RUNNING, None, 8)
    pending = parse_sacct_line(SACCT_PENDING)
    assert (pending.state, pending.gpus, pending.start, pending.allocated) == (JobState.SUBMITTED, 0, None, False)


def test_sacct_typed_gpus_are_summed_and_other_gres_ignored() -> None:
    line = f"7|{NAME}|COMPLETED|0:0|10|cpu=2,gres/gpu:a100=2,gres/gpu:h100=1,gres/mps=100|2026-01-05T10:00:00|None"
    assert parse_sacct_line(line).gpus == 3
    assert parse_sacct_line(line, gres="mps").gpus == 100


@pytest.mark.parametrize(
    "line",
    [
        "",
        "41",
        f"41|{NAME}|COMPLETED|0:0|7|gres/gpu=2|2026-01-05T10:00:00",  # 7 fields
        f"41|{NAME}|COMPLETED|0:0|7|gres/gpu=2|2026-01-05T10:00:00|2026-01-05T10:00:07|extra",
        f"abc|{NAME}|COMPLETED|0:0|7|gres/gpu=2|2026-01-05T10:00:00|2026-01-05T10:00:07",
        f"41|{NAME}|EXPLODED|0:0|7|gres/gpu=2|2026-01-05T10:00:00|2026-01-05T10:00:07",
        f"41|{NAME}|COMPLETED|zero|7|gres/gpu=2|2026-01-05T10:00:00|2026-01-05T10:00:07",
        f"41|{NAME}|COMPLETED|0:0|-7|gres/gpu=2|2026-01-05T10:00:00|2026-01-05T10:00:07",
        f"41|{NAME}|COMPLETED|0:0|7|gres/gpu=two|2026-01-05T10:00:00|2026-01-05T10:00:07",
        f"41|{NAME}|COMPLETED|0:0|7|gres/gpu|2026-01-05T10:00:00|2026-01-05T10:00:07",
        f"41|{NAME}|COMPLETED|0:0|7|gres/gpu=2|yesterday|2026-01-05T10:00:07",
        "sacct: error: Problem talking to the database: Connection refused",
    ],
)
def test_malformed_sacct_lines_raise_backend_error_with_the_line(line: str) -> None:
    with pytest.raises(BackendError) as caught:
        parse_sacct_line(line)
    assert repr(line) in str(caught.value)


def test_squeue_lines() -> None:
    pending = parse_squeue_line(f"12|{NAME}|PENDING|AssocGrpGRESMinutes|N/A")
    assert (pending.job_id, pending.state, pending.reason, pending.start) == (
        "12", JobState.SUBMITTED, "AssocGrpGRESMinutes", None,
    )
    running = parse_squeue_line(f"13|{NAME}|RUNNING|None|2026-01-05T10:00:00")
    assert running.state is JobState.RUNNING and running.start is not None


@pytest.mark.parametrize(
    "line",
    [
        "12",
        f"12|{NAME}|PENDING|None",
        f"12|{NAME}|PENDING|None|N/A|x",
        f"12|{NAME}|WAITING|None|N/A",
        f"x12|{NAME}|PENDING|None|N/A",
        f"12|{NAME}|RUNNING|None|soon",
    ],
)
def test_malformed_squeue_lines_raise_backend_error(line: str) -> None:
    with pytest.raises(BackendError) as caught:
        parse_squeue_line(line)
    assert repr(line) in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("PENDING", JobState.SUBMITTED),
        ("CONFIGURING", JobState.SUBMITTED),
        ("RUNNING", JobState.RUNNING),
        ("COMPLETING", JobState.RUNNING),
        ("COMPLETED", JobState.COMPLETED),
        ("FAILED", JobState.FAILED),
        ("TIMEOUT", JobState.FAILED),
        ("NODE_FAIL", JobState.FAILED),
        ("OUT_OF_MEMORY", JobState.FAILED),
        ("BOOT_FAIL", JobState.FAILED),
        ("DEADLINE", JobState.FAILED),
        ("CANCELLED", JobState.CANCELLED),
        ("CANCELLED by 1000", JobState.CANCELLED),
    ],
)
def test_state_mapping(raw: str, state: JobState) -> None:
    assert map_state(raw) is state


def test_unknown_state_is_refused() -> None:
    with pytest.raises(BackendError, match="unknown Slurm job state"):
        map_state("HAPPY")


# --- find -----------------------------------------------------------------------------------------


def test_find_unknown_uid_is_none(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool())
    assert backend(tmp_path, fake).find(UID) is None
    assert [argv[0] for argv, _, _ in fake.calls] == ["squeue", "sacct"]
    squeue, sacct = fake.commands("squeue")[0], fake.commands("sacct")[0]
    assert squeue[squeue.index("--name") + 1] == NAME
    assert sacct[sacct.index("--name") + 1] == NAME
    assert "-X" in sacct and "-P" in sacct and sacct[sacct.index("-S") + 1] == "2020-01-01"


def test_find_pending_over_budget(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(squeue=f"12|{NAME}|PENDING|AssocGrpGRESMinutes|N/A\n"))
    report = backend(tmp_path, fake).find(UID)
    assert report is not None
    assert (report.state, report.scheduler_id) == (JobState.SUBMITTED, "12")
    assert "AssocGrpGRESMinutes" in report.message and "GPU-minutes" in report.message
    assert not fake.commands("sacct")


def test_find_completed_from_sacct_takes_newest(tmp_path: Path) -> None:
    older = SACCT_FAILED.replace("42|", "9|", 1)
    fake = FakeSlurm(by_tool(sacct=f"{older}\n{SACCT_COMPLETED}\n"))
    report = backend(tmp_path, fake).find(UID)
    assert report is not None
    assert (report.scheduler_id, report.state, report.exit_code, report.gpu_seconds) == (
        "41", JobState.COMPLETED, 0, 14.0,
    )
    assert report.started_at == datetime(2026, 1, 5, 10, 0, 0).astimezone(UTC)


def test_find_failed_and_cancelled(tmp_path: Path) -> None:
    failed = backend(tmp_path, FakeSlurm(by_tool(sacct=SACCT_FAILED))).find(UID)
    assert failed is not None and (failed.state, failed.exit_code) == (JobState.FAILED, 3)
    assert "exit code 3" in failed.message
    cancelled = backend(tmp_path, FakeSlurm(by_tool(sacct=SACCT_CANCELLED_RUNNING))).find(UID)
    assert cancelled is not None and (cancelled.state, cancelled.exit_code) == (JobState.CANCELLED, 143)
    never_ran = backend(tmp_path, FakeSlurm(by_tool(sacct=SACCT_CANCELLED_PENDING))).find(UID)
    assert never_ran is not None and never_ran.state is JobState.CANCELLED
    assert (never_ran.exit_code, never_ran.started_at, never_ran.gpu_seconds) == (None, None, 0.0)


def test_find_running_prefers_controller_state_over_lagging_accounting(tmp_path: Path) -> None:
    lagging = f"45|{NAME}|PENDING|0:0|0||Unknown|Unknown"
    fake = FakeSlurm(by_tool(squeue=f"45|{NAME}|RUNNING|None|2026-01-05T10:00:00", sacct=lagging))
    report = backend(tmp_path, fake).find(UID)
    assert report is not None and report.state is JobState.RUNNING
    running = FakeSlurm(by_tool(squeue=f"45|{NAME}|RUNNING|None|2026-01-05T10:00:00", sacct=SACCT_RUNNING))
    report = backend(tmp_path, running).find(UID)
    assert report is not None and (report.state, report.gpu_seconds, report.ended_at) == (JobState.RUNNING, 240.0, None)


def test_find_running_known_only_to_controller(tmp_path: Path) -> None:
    report = backend(tmp_path, FakeSlurm(by_tool(squeue=f"45|{NAME}|RUNNING|None|2026-01-05T10:00:00"))).find(UID)
    assert report is not None and report.state is JobState.RUNNING and report.started_at is not None


def test_find_ignores_rows_of_other_names(tmp_path: Path) -> None:
    other = SACCT_COMPLETED.replace(NAME, "aif-ffffffffffffffffffffffffffffffff")
    assert backend(tmp_path, FakeSlurm(by_tool(sacct=other))).find(UID) is None


@pytest.mark.parametrize("tool", ["squeue", "sacct"])
def test_find_with_malformed_output_raises(tmp_path: Path, tool: str) -> None:
    fake = FakeSlurm(by_tool(**{tool: "this is not what was asked for\n"}))
    with pytest.raises(BackendError, match="this is not what was asked for"):
        backend(tmp_path, fake).find(UID)


def test_find_when_the_controller_is_down(tmp_path: Path) -> None:
    down = CommandResult(1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)")
    with pytest.raises(BackendError, match="Unable to contact slurm controller"):
        backend(tmp_path, FakeSlurm(by_tool(squeue=down))).find(UID)


@pytest.mark.parametrize("uid", ["", "../../etc/passwd", UID.upper(), UID + "0", "$(touch x)" + UID[10:]])
def test_bad_uids_are_refused_before_any_command(tmp_path: Path, uid: str) -> None:
    fake = FakeSlurm(by_tool())
    b = backend(tmp_path, fake)
    for call in (b.find, b.cancel, b.logs):
        with pytest.raises(BackendError, match="uid"):
            call(uid)
    assert fake.calls == []


# --- commands and environment -----------------------------------------------------------------------


def test_commands_get_only_their_own_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/other.conf")
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    monkeypatch.setenv("AIFACTORY_AGENT_TOKEN", "secret-token")
    monkeypatch.setenv("SQUEUE_FORMAT", "%all")
    fake = FakeSlurm(by_tool())
    backend(tmp_path, fake).find(UID)
    other = FakeSlurm(by_tool())
    SlurmBackend(cluster="aif-b", slurm_conf="/etc/aif-b/slurm.conf", workdir=tmp_path, runner=other).find(UID)
    for _, env, timeout in fake.calls:
        assert env["SLURM_CONF"] == "/etc/aif-a/slurm.conf" and timeout == 30
        assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "SLURM_CONF"}
    assert {env["SLURM_CONF"] for _, env, _ in other.calls} == {"/etc/aif-b/slurm.conf"}


def test_submit_builds_sbatch_arguments(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(sbatch="77\n"))
    b = backend(tmp_path, fake, partition="gpu")
    assert b.submit(job(time_limit_s=3601)) == "77"
    [argv] = fake.commands("sbatch")
    folder = tmp_path / "jobs" / UID
    assert argv == [
        "sbatch",
        "--parsable",
        f"--job-name={NAME}",
        f"--comment=aif:{UID}",
        "--account=acme",
        "--nodes=1",
        "--time=61",
        f"--output={folder}/output.log",
        f"--chdir={folder}",
        "--no-requeue",
        "--gres=gpu:2",
        "--partition=gpu",
        f"{folder}/batch.sh",
    ]
    assert (folder / "user.sh").read_text() == "echo hi\n"
    assert fake.commands("squeue") and fake.commands("sacct"), "submit first asks whether the uid is known"


def test_submit_spreads_gpus_per_node_and_refuses_uneven(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(sbatch="78;aif-a\n"))
    assert backend(tmp_path, fake).submit(job(gpus=16, nodes=2)) == "78"
    [argv] = fake.commands("sbatch")
    assert "--gres=gpu:8" in argv and "--nodes=2" in argv
    with pytest.raises(BackendError, match="evenly"):
        backend(tmp_path, FakeSlurm(by_tool())).submit(job(gpus=3, nodes=2))
    no_gpus = FakeSlurm(by_tool(sbatch="79"))
    backend(tmp_path, no_gpus).submit(job(gpus=0))
    assert not any(arg.startswith("--gres") for arg in no_gpus.commands("sbatch")[0])


def test_submit_of_a_known_uid_returns_its_id(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(squeue=f"12|{NAME}|RUNNING|None|2026-01-05T10:00:00"))
    assert backend(tmp_path, fake).submit(job()) == "12"
    assert not fake.commands("sbatch")


def test_submit_refusals(tmp_path: Path) -> None:
    refused = CommandResult(1, "", "sbatch: error: Batch job submission failed: Invalid account or account/partition")
    with pytest.raises(BackendError, match="Invalid account"):
        backend(tmp_path, FakeSlurm(by_tool(sbatch=refused))).submit(job())
    with pytest.raises(BackendError, match="not a job id"):
        backend(tmp_path, FakeSlurm(by_tool(sbatch="Submitted batch job 5"))).submit(job())
    with pytest.raises(BackendError, match="NUL"):
        backend(tmp_path, FakeSlurm(by_tool(sbatch="5"))).submit(job(env={"A": "x\x00y"}))


@pytest.mark.parametrize("workdir", ["/srv/jobs%j", "/srv/a\nb", "/srv/a\\b"])
def test_workdirs_sbatch_would_rewrite_are_refused(workdir: str) -> None:
    with pytest.raises(ValueError, match="workdir"):
        SlurmBackend(cluster="aif-a", slurm_conf=None, workdir=Path(workdir), user="alice")


@pytest.mark.parametrize(
    "kwargs",
    [{"cluster": "AIF A"}, {"cluster": "a;b"}, {"partition": "gpu --uid=0"}, {"gres": "gpu:8"}, {"user": "bob;id"}],
)
def test_constructor_refuses_names_that_are_not_slurm_names(tmp_path: Path, kwargs: dict[str, str]) -> None:
    args: dict[str, object] = {"cluster": "aif-a", "slurm_conf": None, "workdir": tmp_path, "user": "alice"}
    args.update(kwargs)
    with pytest.raises(ValueError):
        SlurmBackend(**args)  # type: ignore[arg-type]


# --- injection ------------------------------------------------------------------------------------

def evil_strings(marker: Path) -> list[str]:
    m = str(marker)
    return [
        f"$(touch {m}.1)",
        f"`touch {m}.2`",
        f"; touch {m}.3",
        f"x\ntouch {m}.4\n",
        f"' ; touch {m}.5 ; '",
        f'" ; touch {m}.6 ; "',
        f"${{IFS}}touch${{IFS}}{m}.7",
        f"\\'; touch {m}.8 #",
        f"$'\\n'touch {m}.9",
        "; rm -rf --no-preserve-root /nonexistent-aif-path",
        "trailing backslash \\",
    ]


def test_injection_in_name_env_and_script_runs_nothing_outside_user_script(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = evil_strings(marker)
    env = {f"V{i}": value for i, value in enumerate(evil)}
    script = "env -0 > env.bin\n"
    fake = FakeSlurm(by_tool(sbatch="5"))
    b = backend(tmp_path, fake)
    b.submit(job(name="".join(evil), env=env, script=script))

    [argv] = fake.commands("sbatch")
    joined = "\0".join(arg for call, _, _ in fake.calls for arg in call)
    for value in evil:
        assert value not in joined
    assert "pwned" not in joined

    folder = tmp_path / "jobs" / UID
    batch = (folder / "batch.sh").read_text()
    assert script not in batch and (folder / "user.sh").read_text() == script
    # Run the batch script as slurmd would (bash, the file): nothing may run but user.sh.
    done = subprocess.run(["/bin/bash", argv[-1]], cwd=tmp_path, env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob("pwned*"))
    got = dict(item.split("=", 1) for item in (folder / "env.bin").read_text().split("\0") if "=" in item)
    for key, value in env.items():
        assert got[key] == value
    assert got["AIF_JOB_NAME"] == "".join(evil)
    assert got["AIF_JOB_UID"] == UID


def test_user_script_runs_as_its_own_file(tmp_path: Path) -> None:
    script = 'touch ran-from-user-script\necho "$0"\nexit 7\n'
    b = backend(tmp_path, FakeSlurm(by_tool(sbatch="5")))
    b.submit(job(script=script))
    folder = tmp_path / "jobs" / UID
    done = subprocess.run(["/bin/bash", str(folder / "batch.sh")], cwd=tmp_path, env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 7, "the user's exit status is the job's"
    assert done.stdout.strip() == str(folder / "user.sh")
    assert (folder / "ran-from-user-script").exists() and not (tmp_path / "ran-from-user-script").exists()


def test_batch_script_quotes_every_value(tmp_path: Path) -> None:
    text = batch_script(job(env={"A": "$(id)", "B": "it's"}), tmp_path / "job dir")
    assert "export A='$(id)'" in text
    assert "export B='it'\"'\"'s'" in text
    assert f"exec /bin/bash '{tmp_path}/job dir/user.sh'" in text


def test_run_command_uses_no_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    result = run_command(["printf", "%s", f"$(touch {marker}); `touch {marker}`"], {"PATH": os.environ["PATH"]}, 10)
    assert result.returncode == 0 and result.stdout == f"$(touch {marker}); `touch {marker}`"
    assert not marker.exists()
    with pytest.raises(BackendError, match="cannot run"):
        run_command(["/nonexistent/sbatch"], {}, 10)
    with pytest.raises(BackendError, match="did not answer"):
        run_command(["sleep", "5"], {"PATH": os.environ["PATH"]}, 0.2)


@pytest.mark.parametrize("account", ["Acme", "a", "acme; rm -rf /", "acme\nx", "$(id)", "-acme"])
def test_ensure_account_refuses_bad_names_before_any_command(tmp_path: Path, account: str) -> None:
    fake = FakeSlurm(by_tool())
    with pytest.raises(BackendError):
        backend(tmp_path, fake).ensure_account(account, 60)
    assert fake.calls == []


# --- accounts, cancel, logs, queue ---------------------------------------------------------------------

ASSOC_LOADED = (
    "ClusterName=aif-a Account=acme UserName= Partition= Priority=0 ID=3\n"
    "    GrpTRESMins=cpu=N(0),mem=N(0),gres/gpu=600(0)\n"
    "ClusterName=aif-a Account=acme UserName=alice(1000) Partition= Priority=0 ID=4\n"
    "    GrpTRESMins=cpu=N(0),mem=N(0),gres/gpu=N(0)\n"
)


def test_ensure_account_creates_and_limits(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(sacctmgr="", scontrol=ASSOC_LOADED))
    backend(tmp_path, fake).ensure_account("acme", 600)
    assert fake.commands("sacctmgr") == [
        ["sacctmgr", "-n", "-P", "show", "assoc", "where", "cluster=aif-a", "account=acme", "format=Account,User"],
        ["sacctmgr", "-i", "add", "account", "acme", "cluster=aif-a"],
        ["sacctmgr", "-i", "add", "user", "alice", "account=acme", "cluster=aif-a"],
        ["sacctmgr", "-i", "modify", "account", "where", "name=acme", "cluster=aif-a", "set",
         "GrpTRESMins=gres/gpu=600"],
    ]


def test_ensure_account_existing_is_only_updated(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(sacctmgr="acme|\nacme|alice\n", scontrol=ASSOC_LOADED))
    backend(tmp_path, fake).ensure_account("acme", 600)
    assert [argv[2] for argv in fake.commands("sacctmgr")] == ["-P", "modify"]


def test_ensure_account_tolerates_a_concurrent_creation(tmp_path: Path) -> None:
    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "scontrol":
            return ok(ASSOC_LOADED)
        if argv[2] == "add":
            return CommandResult(1, " Nothing new added.\n", "")
        return ok()

    backend(tmp_path, FakeSlurm(answer)).ensure_account("acme", 600)
    refused = FakeSlurm(by_tool(sacctmgr=CommandResult(1, "", "sacctmgr: error: Problem talking to the database")))
    with pytest.raises(BackendError, match="Problem talking to the database"):
        backend(tmp_path, refused).ensure_account("acme", 600)


def test_ensure_account_waits_for_the_controller(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(sacctmgr="acme|\nacme|alice\n", scontrol="Current Association Manager state\n"))
    b = SlurmBackend(cluster="aif-a", slurm_conf=None, workdir=tmp_path, user="alice", timeout_s=0.5, runner=fake)
    with pytest.raises(BackendError, match="has not loaded account 'acme'"):
        b.ensure_account("acme", 600)
    assert len(fake.commands("scontrol")) > 1


def test_ensure_account_with_unexpected_sacctmgr_output(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool(sacctmgr="other|alice\n"))
    with pytest.raises(BackendError, match="unexpected sacctmgr line"):
        backend(tmp_path, fake).ensure_account("acme", 600)


def test_cancel_by_name(tmp_path: Path) -> None:
    fake = FakeSlurm(by_tool())
    backend(tmp_path, fake).cancel(UID)
    assert fake.commands("scancel") == [["scancel", "--name", NAME]]


def test_logs_tail(tmp_path: Path) -> None:
    b = backend(tmp_path, FakeSlurm(by_tool()))
    assert b.logs(UID) == ""
    folder = tmp_path / "jobs" / UID
    folder.mkdir(parents=True)
    (folder / "output.log").write_bytes(b"a" * 100 + b"tail \xff end")
    assert b.logs(UID, max_bytes=8) == "il \ufffd end"
    assert b.logs(UID, max_bytes=0) == ""


def test_queue_wait(tmp_path: Path) -> None:
    soon = (datetime.now() + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S")
    fake = FakeSlurm(by_tool(squeue=f"N/A\n{soon}\n2020-01-01T00:00:00\n"))
    wait = backend(tmp_path, fake, partition="gpu").queue_wait_s()
    assert 590 <= wait <= 600
    assert fake.commands("squeue") == [["squeue", "-h", "--start", "-t", "PENDING", "-o", "%S", "-p", "gpu"]]
    assert backend(tmp_path, FakeSlurm(by_tool())).queue_wait_s() == 0.0
    with pytest.raises(BackendError):
        backend(tmp_path, FakeSlurm(by_tool(squeue="tomorrow\n"))).queue_wait_s()

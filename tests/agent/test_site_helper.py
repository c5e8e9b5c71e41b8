"""The privileged helper's allow-list, without root: what it checks before it acts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from aifactory.agent import site_helper
from aifactory.agent.base import BackendError, BatchJob
from aifactory.agent.site_helper import HelperConfig, HelperError
from aifactory.agent.slurm import CommandResult, SlurmBackend

UID = "b" * 32


@pytest.fixture
def config(tmp_path: Path) -> HelperConfig:
    path = tmp_path / "helper.json"
    path.write_text(json.dumps({"workdir": "/srv/jobs", "group": "aifusers", "agent_group": "aifagent",
                                "slurm_confs": ["/etc/slurm/slurm.conf"]}))
    return HelperConfig.load(str(path))


def args(**changes: str) -> list[str]:
    base = {"--parsable": "", "--job-name": f"aif-{UID}", "--comment": f"aif:{UID}", "--account": "proj-1",
            "--nodes": "1", "--time": "5", "--output": f"/srv/jobs/{UID}/output.log", "--chdir": f"/srv/jobs/{UID}",
            "--no-requeue": "", "--gres": "gpu:2", "--partition": "main"}
    base.update(changes)
    return [k if not v else f"{k}={v}" for k, v in base.items() if v != "DROP"] + [f"/srv/jobs/{UID}/batch.sh"]


def test_what_the_backend_writes_is_allowed(config: HelperConfig) -> None:
    assert site_helper.check_sbatch_args(config, args()) == Path(f"/srv/jobs/{UID}")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"--wrap": "id"}, "not allowed"),
        ({"--uid": "0"}, "not allowed"),
        ({"--export": "ALL"}, "not allowed"),
        ({"--account": "proj;rm"}, "--account has a value"),
        ({"--job-name": "mine"}, "--job-name has a value"),
        ({"--output": "/etc/cron.d/x"}, "--output must be"),
        ({"--chdir": "/"}, "--chdir must be"),
        ({"--gres": "gpu:2,mps:1"}, "--gres has a value"),
        ({"--account": "DROP"}, "needs --account"),
    ],
)
def test_other_arguments_are_refused(config: HelperConfig, changes: dict[str, str], words: str) -> None:
    with pytest.raises(HelperError, match=words):
        site_helper.check_sbatch_args(config, args(**changes))


@pytest.mark.parametrize("script", ["/srv/jobs/../etc/batch.sh", f"/srv/jobs/{UID}/user.sh", "/tmp/batch.sh",
                                    f"/srv/jobs/{UID}/../{UID}/batch.sh"])
def test_only_a_job_folder_batch_script_runs(config: HelperConfig, script: str) -> None:
    with pytest.raises(HelperError, match="batch script must be"):
        site_helper.check_sbatch_args(config, [*args()[:-1], script])


def test_a_repeated_option_is_refused(config: HelperConfig) -> None:
    with pytest.raises(HelperError, match="given twice"):
        site_helper.check_sbatch_args(config, ["--account=a1", *args()])


@pytest.mark.parametrize("name", ["root", "ab", "Alice", "a-b", "a" * 33, "1abc", "al ice"])
def test_names_outside_the_pattern_or_below_uid_1000_are_refused(config: HelperConfig, name: str) -> None:
    with pytest.raises(HelperError):
        site_helper.managed_user(config, name)


def test_a_bad_configuration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"workdir": "relative", "group": "g", "agent_group": "a"}))
    with pytest.raises(HelperError, match="absolute"):
        HelperConfig.load(str(path))
    path.write_text("[]")
    with pytest.raises(HelperError, match="JSON object"):
        HelperConfig.load(str(path))
    with pytest.raises(HelperError, match="lacks 'workdir'"):
        path.write_text("{}")
        HelperConfig.load(str(path))


def test_a_job_for_a_person_goes_through_the_helper(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def runner(argv: object, env: object, timeout: float) -> CommandResult:
        calls.append(list(argv))  # type: ignore[call-overload]
        if argv[0] == "squeue" or argv[0] == "sacct":  # type: ignore[index]
            return CommandResult(0, "", "")
        return CommandResult(0, "4242\n", "")

    backend = SlurmBackend(cluster="c1", slurm_conf="/etc/slurm/slurm.conf", workdir=tmp_path, user="agent",
                           runner=runner, helper=["sudo", "-n", "/usr/local/bin/aifactory-site-helper"])
    job = BatchJob(uid=uuid.uuid4().hex, name="n", account="proj-1", gpus=1, time_limit_s=60, script="id",
                   user="alice7")
    assert backend.submit(job) == "4242"
    sbatch = calls[-1]
    assert sbatch[:8] == ["sudo", "-n", "/usr/local/bin/aifactory-site-helper", "sbatch", "--slurm-conf",
                          "/etc/slurm/slurm.conf", "alice7", "--"]
    assert sbatch[8] == "--parsable" and "sbatch" not in sbatch[8:]
    own = BatchJob(uid=uuid.uuid4().hex, name="n", account="proj-1", gpus=1, time_limit_s=60, script="id")
    backend.submit(own)
    assert calls[-1][0] == "sbatch"

    bare = SlurmBackend(cluster="c1", slurm_conf=None, workdir=tmp_path, user="agent", runner=runner)
    with pytest.raises(BackendError, match="no privileged helper"):
        bare.submit(BatchJob(uid=uuid.uuid4().hex, name="n", account="proj-1", gpus=1, time_limit_s=60,
                             script="id", user="alice7"))
    with pytest.raises(BackendError, match="not a valid site account"):
        backend.ensure_member("proj-1", "Root")


def test_a_bad_site_user_is_refused_in_the_job() -> None:
    with pytest.raises(ValueError, match="site account name"):
        BatchJob(uid=uuid.uuid4().hex, name="n", account="proj-1", gpus=1, time_limit_s=60, script="id",
                 user="root;id")

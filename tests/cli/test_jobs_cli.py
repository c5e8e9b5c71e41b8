"""`aifactory login | submit | status | logs | cancel | queue | notices` against the portal in this process: what
they print and the exit codes they document."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from aifactory.cli import jobs as cli_jobs
from aifactory.cli.main import main
from aifactory.core.jobs import JobState
from aifactory.portal.allocations.services import allocation_add_usage
from aifactory.portal.federation.services import terms_publish
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.services import job_apply_report
from aifactory.portal.organisations.services import api_token_create
from aifactory.sdk import Client
from tests.conftest import PASSWORD, DjangoTransport, UserFactory
from tests.federation import Federation, make_federation

pytestmark = pytest.mark.django_db

SPEC = """\
name: cli-job
resources:
  gpu: any
  gpus_per_node: 2
  time_limit: 10m
commands:
  - echo hello
"""


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


@pytest.fixture
def env(monkeypatch, tmp_path, transport: DjangoTransport):
    """The CLI's client goes through Django's test client; its config file is under tmp_path."""

    class InProcess(Client):
        def __init__(self, url: str, token: str | None = None, **kwargs: object) -> None:
            kwargs.setdefault("transport", transport)
            super().__init__(url, token, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli_jobs, "Client", InProcess)
    monkeypatch.setenv("AIFACTORY_CONFIG", str(tmp_path / "config" / "aifactory.json"))
    monkeypatch.setenv("AIFACTORY_URL", "http://testserver")
    monkeypatch.delenv("AIFACTORY_TOKEN", raising=False)
    return monkeypatch


@pytest.fixture
def token(env, user):
    value = api_token_create(user=user)
    env.setenv("AIFACTORY_TOKEN", value)
    return value


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(SPEC)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_login_saves_a_token_the_other_commands_use(env, fed, capsys, monkeypatch, spec_file):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, out, _ = run(capsys, "login", "--username", "alice", "--password-stdin")
    assert code == 0 and "logged in to http://testserver as alice" in out
    path = Path(os.environ["AIFACTORY_CONFIG"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["url"] == "http://testserver" and saved["token"].startswith("aifu_")
    code, out, err = run(capsys, "submit", str(spec_file))
    assert code == 0, err


def test_login_with_a_wrong_password(env, fed, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("wrong-password\n"))
    code, _, err = run(capsys, "login", "--username", "alice", "--password-stdin")
    assert code == 3 and "wrong" in err
    assert not Path(os.environ["AIFACTORY_CONFIG"]).exists()


def test_submit_prints_where_and_status_why_prints_why(token, fed, capsys, spec_file):
    code, out, err = run(capsys, "submit", str(spec_file))
    assert code == 0, err
    job = Job.objects.get()
    assert out.startswith(job.uid) and "placed on jupiter-a (jupiter, account" in out
    code, out, _ = run(capsys, "status", job.uid[:8], "--why")
    assert code == 0
    assert f"job {job.uid}  cli-job" in out and "state       pending" in out
    assert "placed" in out and "* jupiter-a" in out and "later: expected completion" in out
    code, out, _ = run(capsys, "status", "--json", job.uid)
    assert json.loads(out)["uid"] == job.uid


def test_submit_json_and_stdin(token, fed, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(SPEC))
    code, out, _ = run(capsys, "submit", "-", "--json", "--allocation", str(fed.on_leonardo.pk))
    assert code == 0 and json.loads(out)["site"] == "leonardo-a"


@pytest.mark.parametrize(("text", "words"), [
    ("name: x\n", "resources: is required"),
    (SPEC.replace("10m", "ten minutes"), "resources.time_limit"),
    (SPEC + "env:\n  LD_PRELOAD: /x.so\n", "env.LD_PRELOAD"),
    ("name: [", "not valid YAML"),
    (SPEC.replace("10m", "9" * 5000), "resources.time_limit"),
    (SPEC.replace("gpus_per_node: 2", "gpus_per_node: " + "9" * 5000), "resources.gpus_per_node"),
    (SPEC.replace("echo hello", '"echo \\ud800"'), "invalid Unicode character"),
    ('{"name": "x", "resources": {"time_limit": ' + "9" * 5000 + '}, "commands": ["a"]}', "resources.time_limit"),
    ('{"name": "x", "resources": {"time_limit": 60}, "commands": ["\\udfff"]}', "commands[0]"),
    (SPEC + "env: " + "[" * 40_000, "nested too deeply"),
])
def test_an_invalid_spec_is_refused_before_anything_is_sent(token, fed, capsys, tmp_path, transport, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, _, err = run(capsys, "submit", str(path))
    assert code == 2 and words in err
    assert transport.requests == [] and not Job.objects.exists()


def test_a_spec_file_that_is_not_there(token, fed, capsys, tmp_path):
    code, _, err = run(capsys, "submit", str(tmp_path / "nope.yaml"))
    assert code == 2 and "cannot read" in err


def test_no_machine_can_take_it(token, fed, capsys, tmp_path):
    path = tmp_path / "h100.yaml"
    path.write_text(SPEC.replace("gpu: any", "gpu: H100"))
    code, _, err = run(capsys, "submit", str(path))
    assert code == 5
    assert "no machine can take this job" in err and "leonardo-a (leonardo" in err and "GPU type GH200" in err


def test_the_sites_terms_not_accepted_are_the_reason(token, fed, capsys, tmp_path):
    terms_publish(site=fed.jupiter.site, text="Version one.", actor=UserFactory(username="staffer", is_staff=True))
    path = tmp_path / "gh200.yaml"
    path.write_text(SPEC.replace("gpu: any", "gpu: GH200"))
    code, _, err = run(capsys, "submit", str(path))
    assert code == 5 and "accept the terms of use of jupiter-a version 1" in err


def test_no_token_and_a_wrong_token(env, fed, capsys, spec_file):
    code, _, err = run(capsys, "queue")
    assert code == 3 and "aifactory login" in err
    env.setenv("AIFACTORY_TOKEN", "aifu_wrong")
    code, _, err = run(capsys, "queue")
    assert code == 3 and "token" in err


def test_not_found_and_not_a_uid(token, fed, capsys):
    assert run(capsys, "status", "0" * 32)[0] == 4
    assert run(capsys, "logs", "abcdef")[0] == 4
    code, _, err = run(capsys, "cancel", "not-a-uid")
    assert code == 2 and "not a job uid" in err


def test_status_watch_ends_with_the_job(token, fed, capsys, spec_file):
    run(capsys, "submit", str(spec_file))
    job = Job.objects.get()
    job_apply_report(site=job.site, uid=job.uid, state=JobState.COMPLETED, exit_code=0, gpu_seconds=10.0,
                     log_tail="hello\n")
    code, out, _ = run(capsys, "status", job.uid, "--watch", "--interval", "0.2")
    assert code == 0 and "completed on jupiter-a" in out
    code, out, _ = run(capsys, "logs", job.uid)
    assert (code, out) == (0, "hello\n")
    code, _, err = run(capsys, "cancel", job.uid)
    assert code == 5 and "completed already" in err


def test_status_watch_of_a_failed_job_exits_1(token, fed, capsys, spec_file):
    run(capsys, "submit", str(spec_file))
    job = Job.objects.get()
    job_apply_report(site=job.site, uid=job.uid, state=JobState.FAILED, exit_code=3, message="exit code 3")
    code, out, _ = run(capsys, "status", job.uid, "--watch")
    assert code == 1 and "failed" in out and "exit code 3" in out


def test_queue_cancel_and_the_list(token, fed, capsys, spec_file):
    run(capsys, "submit", str(spec_file))
    run(capsys, "submit", str(spec_file))
    first, second = Job.objects.order_by("pk")
    code, out, _ = run(capsys, "cancel", first.uid)
    assert code == 0 and out.strip() == f"{first.uid}  cancelled"
    code, out, _ = run(capsys, "queue")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("JOB") and len(lines) == 2 and lines[1].startswith(second.uid[:12])
    code, out, _ = run(capsys, "status")
    assert len(out.splitlines()) == 3


def test_notices(token, fed, capsys):
    assert run(capsys, "notices")[1].strip() == "no notices"
    allocation_add_usage(allocation=fed.on_jupiter, gpu_seconds=85 * 3600)
    code, out, _ = run(capsys, "notices")
    assert code == 0 and "used 80% of its 100 GPU-hours" in out


def test_an_unreachable_portal(env, capsys, monkeypatch):
    monkeypatch.setattr(cli_jobs, "Client", Client)
    env.setenv("AIFACTORY_TOKEN", "aifu_x")
    code, _, err = run(capsys, "queue", "--url", "http://127.0.0.1:9")
    assert code == 6 and "cannot reach the portal" in err


def test_watch_and_why_need_a_job(token, fed, capsys):
    assert run(capsys, "status", "--watch")[0] == 2


def test_managed_runs_from_the_command_line(fed, token, tmp_path, capsys):
    path = tmp_path / "job.yaml"
    path.write_text(SPEC)
    args = ["--steps", "100", "--checkpoint-every", "10", "--checkpoint-dir", "/shared/llm"]
    assert main(["run-submit", str(path), *args]) == 0
    out = capsys.readouterr().out
    run_id = int(out.split()[0])
    assert "running" in out and "step 0/100" in out and "first segment" in out
    assert main(["run-status"]) == 0
    assert f"{run_id:>6}  cli-job" in capsys.readouterr().out
    assert main(["run-status", str(run_id), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint_dir"] == "/shared/llm"
    assert main(["run-cancel", str(run_id)]) == 0
    assert capsys.readouterr().out.strip() == f"run {run_id}  cancelled"
    assert main(["run-status", str(run_id)]) == 1  # cancelled
    assert main(["run-status", "999999"]) == 4
    assert main(["run-submit", str(path), "--steps", "100", "--checkpoint-every", "10", "--checkpoint-dir",
                 "relative"]) == 2
    assert "checkpoint_dir" in capsys.readouterr().err
    path.write_text("name: [")
    assert main(["run-submit", str(path), *args]) == 2

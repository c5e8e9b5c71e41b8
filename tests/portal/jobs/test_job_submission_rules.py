"""One validation for both ways of submitting a job: the script form (API and page) refuses what a job spec refuses,
naming the field in each form's own words."""

from __future__ import annotations

import pytest

from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobspec import RESERVED_ENV, check_script_job
from aifactory.portal.jobs.models import Job
from tests.conftest import assert_refused, login

pytestmark = pytest.mark.django_db

RESERVED = ["PATH", "LD_PRELOAD", "BASH_ENV", "IFS", "HOME", "SLURM_JOB_ID", "SBATCH_ACCOUNT", "AIF_JOB_UID",
            "AIFACTORY_TOKEN", "APPTAINER_BIND", "SINGULARITY_BIND", "BASH_FUNC_x%%"]


def script_body(allocation, **change):
    return {"allocation": allocation.pk, "name": "train-1", "script": "echo hello\n", "gpus": 1, "time_limit_s": 600,
            "env": {"EPOCHS": "3"}, **change}


def spec_body(allocation, **change):
    spec = {"name": "train-1", "resources": {"time_limit": 600}, "commands": ["echo hello"], "env": {"EPOCHS": "3"}}
    spec.update(change)
    return {"spec": spec, "allocation": allocation.pk}


def test_every_reserved_name_is_listed_in_the_check():
    assert {"PATH", "LD_PRELOAD", "BASH_ENV"} <= RESERVED_ENV


@pytest.mark.parametrize("name", RESERVED)
def test_a_reserved_environment_name_is_refused_both_ways(api, allocation, name):
    field = "env" if "%" in name else f"env.{name}"
    for body in (script_body(allocation, env={name: "x"}), spec_body(allocation, env={name: "x"})):
        refusal = assert_refused(api.post("/jobs", body), (400, 422))
        assert refusal["detail"]["field"] == field, refusal
    assert not Job.objects.exists()


@pytest.mark.parametrize(("change", "field"), [
    ({"script": "echo a\rb"}, "script"),
    ({"script": "echo \ud800"}, "script"),
    ({"script": "   \n"}, "script"),
    ({"name": "-rf"}, "name"),
    ({"env": {"A": "x" * 4097}}, "env.A"),
    ({"env": {f"V{i}": "x" for i in range(65)}}, "env"),
    ({"env": {"1A": "x"}}, "env"),
])
def test_the_script_form_refuses_what_a_spec_refuses(api, allocation, change, field):
    refusal = assert_refused(api.post("/jobs", script_body(allocation, **change)), (400, 422))
    detail = refusal["detail"]
    assert (detail["field"] if isinstance(detail, dict) else detail[0]["field"]) == field, refusal


def test_the_script_form_keeps_windows_line_ends_as_unix_ones():
    script, env = check_script_job(name="x", script="echo a\r\necho b\r\n", gpus=1, time_limit_s=60, env={"A": "1"})
    assert script == "echo a\necho b\n" and dict(env) == {"A": "1"}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"gpus": 0}, "gpus"), ({"gpus": 1025}, "gpus"), ({"gpus": True}, "gpus"),
    ({"time_limit_s": 59}, "time_limit_s"), ({"time_limit_s": 7 * 86400 + 1}, "time_limit_s"),
    ({"env": {"LD_PRELOAD": "/x.so"}}, "env.LD_PRELOAD"), ({"script": 3}, "script"),
])
def test_check_script_job_names_the_script_forms_fields(kwargs, field):
    with pytest.raises(InvalidInput) as caught:
        check_script_job(**{"name": "x", "script": "echo", "gpus": 1, "time_limit_s": 60, "env": {}, **kwargs})
    assert caught.value.field == field


def test_the_page_script_form_refuses_next_to_the_script(user, allocation):
    page = login(user).post("/jobs/new/", {"allocation": allocation.pk, "name": "train", "script": "echo a\rb",
                                           "gpus": 1, "time_limit_s": 600})
    assert page.status_code == 200 and "carriage returns" in page.content.decode()
    assert not Job.objects.exists()

"""Shared fixtures: factories for the portal's rows, API clients with tokens, and an httpx transport into Django.

`DjangoTransport` routes httpx requests into Django's test client, so the agent's PortalClient and the people's
sdk.Client talk to the portal in this process, against the test database, with no server and no network.
"""

from __future__ import annotations

import os

# The suite runs the simulator's sources; its compiled build has a tier of its own (AIFACTORY_SIM_COMPILED=1).
os.environ.setdefault("AIFACTORY_SIM_COMPILED", "0")

import json as jsonlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import factory
import httpx
import pytest
from django.conf import settings
from django.db.models import F
from django.test import Client
from django.utils import timezone
from factory.django import DjangoModelFactory
from hypothesis import settings as hypothesis_settings

from aifactory.core.jobs import JobState
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.access.models import Application
from aifactory.portal.allocations.choices import OrderState
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.federation.models import Machine, Site
from aifactory.portal.federation.services import catalog_sync, site_create
from aifactory.portal.jobs.broker import size_limits_forget
from aifactory.portal.jobs.models import Job
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.services import api_token_create

# Examples are judged by their properties, never by how long one took: a loaded machine must not fail them.
hypothesis_settings.register_profile("aifactory", deadline=None)
hypothesis_settings.load_profile("aifactory")

PASSWORD = "correct-horse-battery-staple"
MACHINE = "leonardo"


def pytest_configure(config: pytest.Config) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: tests hash many passwords


@pytest.fixture(autouse=True)
def _fresh_size_limits() -> Iterator[None]:
    """Each test starts without the size limits an earlier test's jobs left in this process's copy."""
    size_limits_forget()
    yield
    size_limits_forget()


@pytest.fixture(autouse=True, scope="session")
def _ssh_ca_key_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The SSH user CA the portal makes on first use goes to a test folder, not var/."""
    settings.SSH_CA_KEY_FILE = str(tmp_path_factory.mktemp("ssh-ca") / "ssh_user_ca")


def machine(key: str = MACHINE) -> Machine:
    """A machine of the catalog, loading the catalog into the database the first time."""
    found = Machine.objects.filter(key=key).first()
    if found is None:
        catalog_sync()
        found = Machine.objects.get(key=key)
    return found


# --- factories ------------------------------------------------------------------------------------------------------


class UserFactory(DjangoModelFactory):
    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password(PASSWORD)


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Lab {n}")
    country = "DE"
    headcount = 12
    turnover_eur = "1500000.00"
    balance_sheet_eur = "900000.00"
    sector = "health"
    sme_category = "small"

    @factory.post_generation
    def members(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            self.members.add(*extracted, through_defaults={"role": "pi"})


class ApplicationFactory(DjangoModelFactory):
    class Meta:
        model = Application

    organisation = factory.SubFactory(OrganisationFactory)
    submitted_by = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Model {n}")
    machine = factory.LazyFunction(machine)
    params = 1e8
    tokens = 2e9
    gpus = 2
    requested_gpu_hours = 100.0
    months = 3
    civil_use = True
    state = ApplicationState.APPROVED.value


class AllocationFactory(DjangoModelFactory):
    """An allocation with one provisioning order per site of its machine, done unless provisioned=False."""

    class Meta:
        model = Allocation
        skip_postgeneration_save = True

    application = factory.SubFactory(ApplicationFactory)
    organisation = factory.SelfAttribute("application.organisation")
    machine = factory.SelfAttribute("application.machine")
    account = factory.LazyAttribute(lambda o: f"{settings.ACCOUNT_PREFIX}-p{o.application.pk}")
    gpu_hours = factory.SelfAttribute("application.requested_gpu_hours")
    starts_on = factory.LazyFunction(timezone.localdate)
    ends_on = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=90))

    @factory.post_generation
    def provisioned(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create:
            return
        state = OrderState.PENDING if extracted is False else OrderState.DONE
        for site in Site.objects.filter(machine=self.machine):
            ProvisioningOrder.objects.create(allocation=self, site=site, state=state)


class JobFactory(DjangoModelFactory):
    """A job row as the services would leave it: an unfinished job holds its GPUs x time limit on its allocation's
    reserved counter."""

    class Meta:
        model = Job

    allocation = factory.SubFactory(AllocationFactory)
    site = factory.LazyAttribute(lambda o: Site.objects.filter(machine=o.allocation.machine).order_by("pk").first())
    submitted_by = factory.LazyAttribute(lambda o: o.allocation.application.submitted_by)
    name = factory.Sequence(lambda n: f"train-{n}")
    script = "echo hello\n"
    env = factory.LazyFunction(dict)
    gpus = 1
    time_limit_s = 600
    state = JobState.PENDING.value

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Job:
        job: Job = super()._create(model_class, *args, **kwargs)
        if not JobState(job.state).terminal:
            Allocation.objects.filter(pk=job.allocation_id).update(
                gpu_seconds_reserved=F("gpu_seconds_reserved") + job.gpus * job.time_limit_s)
            job.allocation.refresh_from_db(fields=["gpu_seconds_reserved"])
        return job


# --- the federation ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteWithToken:
    site: Site
    token: str


@pytest.fixture
def machines(db: None) -> dict[str, Machine]:
    catalog_sync()
    return {m.key: m for m in Machine.objects.all()}


@pytest.fixture
def make_site(machines: dict[str, Machine]) -> Callable[..., SiteWithToken]:
    def make(name: str = "leonardo-a", machine_key: str = MACHINE) -> SiteWithToken:
        site, token = site_create(name=name, machine_key=machine_key, backend="local")
        return SiteWithToken(site=site, token=token)

    return make


@pytest.fixture
def site(make_site: Callable[..., SiteWithToken]) -> SiteWithToken:
    """One site with an agent token, in front of Leonardo."""
    return make_site()


# --- people -------------------------------------------------------------------------------------------------------


@pytest.fixture
def user(db: None) -> Any:
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db: None) -> Any:
    return UserFactory(username="mallory")


@pytest.fixture
def organisation(user: Any, site: SiteWithToken) -> Organisation:
    return OrganisationFactory(name="Alice Lab", members=[user])


@pytest.fixture
def allocation(organisation: Organisation, user: Any) -> Allocation:
    """A provisioned allocation of 100 GPU-hours on Leonardo for alice's organisation."""
    return AllocationFactory(application__organisation=organisation, application__submitted_by=user)


# --- API clients --------------------------------------------------------------------------------------------------


class ApiClient:
    """Django's test client speaking JSON to /api/v1 with a bearer token (or none)."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _path(self, path: str) -> str:
        return path if path.startswith("/api/") else "/api/v1" + path

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(self._path(path), params, headers=self.headers)

    def post(self, path: str, json: Any = None, *, raw: str | bytes | None = None,
             headers: dict[str, str] | None = None) -> Any:
        data = raw if raw is not None else ("" if json is None else jsonlib.dumps(json))
        return self.client.post(self._path(path), data=data, content_type="application/json",
                                headers={**self.headers, **(headers or {})})


@pytest.fixture
def anon() -> ApiClient:
    return ApiClient()


@pytest.fixture
def api_for(db: None) -> Callable[[Any], ApiClient]:
    def make(person: Any) -> ApiClient:
        return ApiClient(api_token_create(user=person))

    return make


@pytest.fixture
def api(api_for: Callable[[Any], ApiClient], user: Any) -> ApiClient:
    """alice's API client."""
    return api_for(user)


@pytest.fixture
def other_api(api_for: Callable[[Any], ApiClient], other_user: Any) -> ApiClient:
    """mallory's API client: she belongs to no organisation of alice's."""
    return api_for(other_user)


@pytest.fixture
def site_api(site: SiteWithToken) -> ApiClient:
    return ApiClient(site.token)


def login(person: Any) -> Client:
    """A page client signed in as the person."""
    client = Client()
    client.force_login(person)
    return client


def text(response: Any) -> str:
    """A page's HTML with runs of white space made one space, to search for sentences."""
    return re.sub(r"\s+", " ", response.content.decode())


def assert_refused(response: Any, status: int | tuple[int, ...] = (400, 404, 409, 422)) -> dict[str, Any]:
    """A 4xx answer with a {message, detail} body and a non-empty message; returns the body."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"message", "detail"}, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    return body


# --- httpx into Django --------------------------------------------------------------------------------------------


class DjangoTransport(httpx.BaseTransport):
    """Answers httpx requests with Django's test client: the whole portal, in process, on the test database."""

    def __init__(self) -> None:
        self.client = Client()
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode("ascii")
        self.requests.append((request.method, path))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length",
                                                                                   "content-type")}
        response = self.client.generic(
            request.method, path, data=request.read(),
            content_type=request.headers.get("content-type", "application/octet-stream"), headers=headers,
        )
        return httpx.Response(response.status_code, headers=list(response.items()), content=response.content,
                              request=request)


@pytest.fixture
def transport(db: None) -> Iterator[DjangoTransport]:
    yield DjangoTransport()


# --- the task runner ----------------------------------------------------------------------------------------------


def run_worker() -> None:
    """Run django-tasks' database worker once over every task that is due (what `aifactory run`'s worker does).

    Inside a test's transaction the worker must not close the connection between tasks, as it does between
    requests: that housekeeping is switched off here."""
    from unittest import mock

    from django.core.management import call_command

    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)

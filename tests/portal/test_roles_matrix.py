"""Every role against every endpoint of access, allocations, calls and reviews (API and pages).

Roles: anonymous; the applicant (member of the organisation); another applicant; the reviewer assigned to the
proposal; a reviewer in conflict with it (same organisation), hence not assigned; a call manager; the operator of
the AI Factory the allocation's machine belongs to (IT4LIA, Leonardo) and the operator of another; an observer;
staff. "allow" means the request is served (2xx, or a 400/409 about the request itself); "deny" means 401, 403 or
404: the row is not the caller's to see or to change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.test import Client
from django.utils import timezone

from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.access.services import application_submit
from aifactory.portal.allocations.models import ProvisioningOrder
from aifactory.portal.federation.models import Site
from aifactory.portal.federation.services import terms_accept, terms_publish
from aifactory.portal.matchmaking.services import challenge_post, interest_express, profile_save
from aifactory.portal.monitoring.services import objectives_sync
from aifactory.portal.obligations.models import Obligation
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.services import CriterionSpec, call_assign, call_close, call_open, reviewer_add
from aifactory.portal.runs.services import run_create
from aifactory.portal.siteaccess.models import SiteAccount
from aifactory.portal.siteaccess.services import (
    site_account_done,
    site_accounts_sync,
    ssh_certificate_issue,
    ssh_key_add,
)
from aifactory.portal.support.services import request_open
from tests.conftest import ApiClient, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

SSH_PUBLIC_KEY = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()

ROLES = ("anonymous", "applicant", "other_applicant", "reviewer", "conflicted_reviewer", "call_manager",
         "operator", "other_operator", "observer", "staff")
AUTHENTICATED = frozenset(ROLES) - {"anonymous"}
MANAGERS = frozenset({"call_manager", "staff"})
DENIED = (401, 403, 404)

# (method, path template, roles allowed)
API = [
    ("GET", "/modes", frozenset(ROLES)),
    ("GET", "/me", AUTHENTICATED),
    ("GET", "/applications/{app}", frozenset({"applicant", "call_manager", "staff", "operator"})),
    ("POST", "/applications/{review_app}/decision", MANAGERS),
    ("GET", "/allocations/{allocation}", frozenset({"applicant", "call_manager", "staff", "operator"})),
    ("GET", "/organisations/{org}", frozenset({"applicant", "staff"})),
    ("GET", "/stats", frozenset({"observer", "call_manager", "staff"})),
    ("GET", "/calls", AUTHENTICATED),
    ("GET", "/calls/{call}", AUTHENTICATED),
    ("POST", "/calls", MANAGERS),
    ("POST", "/calls/{call}/close", MANAGERS),
    ("GET", "/calls/{call}/proposals", MANAGERS),
    ("GET", "/calls/{call}/summary", MANAGERS),
    ("GET", "/calls/{call}/assignments", MANAGERS),
    ("GET", "/calls/{call}/ranking", MANAGERS),
    ("POST", "/calls/{call}/assign", MANAGERS),
    ("POST", "/calls/{call}/select", MANAGERS),
    ("GET", "/calls/{call}/routes", MANAGERS),
    ("POST", "/calls/{call}/routes/{proposal}", MANAGERS),
    ("POST", "/calls/{call}/accept", MANAGERS),
    ("GET", "/reviewers", MANAGERS),
    ("POST", "/reviewers", MANAGERS),
    ("GET", "/reviews", AUTHENTICATED),
    ("GET", "/reviews/{assignment}", frozenset({"reviewer"})),
    ("POST", "/reviews/{assignment}", frozenset({"reviewer"})),
    ("POST", "/roles", frozenset({"staff"})),
    ("GET", "/support/centres", frozenset(ROLES)),
    ("GET", "/support/requests", AUTHENTICATED),
    ("GET", "/support/requests/{support}", frozenset({"applicant", "operator", "staff"})),
    ("POST", "/support/requests/{support}/reply", frozenset({"applicant"})),
    ("POST", "/support/requests/{support}/answer", frozenset({"operator", "staff"})),
    ("GET", "/support/centres/it4lia/requests", frozenset({"operator", "staff"})),
    ("POST", "/support/centres/it4lia/sla", frozenset({"operator", "staff"})),
    ("GET", "/allocations/{allocation}/usage-by-person", frozenset({"applicant", "call_manager", "staff", "operator"})),
    ("GET", "/me/site-accounts", AUTHENTICATED),
    ("GET", "/me/ssh-keys", AUTHENTICATED),
    ("POST", "/me/ssh-keys", AUTHENTICATED),
    ("POST", "/me/ssh-keys/{ssh_key}/revoke", frozenset({"applicant"})),
    ("GET", "/me/ssh-certificates", AUTHENTICATED),
    ("POST", "/me/ssh-certificates", frozenset({"applicant"})),
    ("POST", "/me/ssh-certificates/{ssh_cert}/revoke", frozenset({"applicant"})),
    ("GET", "/ssh/ca.pub", frozenset(ROLES)),
    ("GET", "/ssh/revoked.krl", frozenset(ROLES)),
    ("GET", "/matchmaking/vocabulary", frozenset(ROLES)),
    ("GET", "/matchmaking/challenges", AUTHENTICATED),
    ("GET", "/matchmaking/challenges/{challenge}", AUTHENTICATED),
    ("GET", "/matchmaking/challenges/{challenge}/matches", frozenset()),
    ("POST", "/matchmaking/challenges/{challenge}/close", frozenset()),
    ("GET", "/matchmaking/profiles", AUTHENTICATED),
    ("GET", "/matchmaking/profiles/{profile}/suggestions", frozenset({"applicant"})),
    ("GET", "/matchmaking/matches", AUTHENTICATED),
    ("GET", "/matchmaking/matches/{match}", frozenset({"applicant"})),
    ("POST", "/matchmaking/matches/{match}/decline", frozenset({"applicant"})),
    ("GET", "/call-templates", AUTHENTICATED),
    ("POST", "/call-templates/frontier-ai-grand-challenge/entry-check", AUTHENTICATED),
    ("POST", "/call-templates/large-ai-grand-challenge/open", MANAGERS),
    ("POST", "/licences/check", AUTHENTICATED),
    ("POST", "/calls/{call}/obligations", MANAGERS),
    ("GET", "/obligations", AUTHENTICATED),
    ("GET", "/obligations/{obligation}", frozenset({"applicant", "call_manager", "staff"})),
    ("POST", "/obligations/{obligation}/publication", frozenset({"applicant"})),
    ("GET", "/funding/instruments", frozenset(ROLES)),
    ("GET", "/organisations/{org}/funding", frozenset({"applicant", "staff"})),
    ("POST", "/organisations/{org}/funding/stage", frozenset({"applicant"})),
    ("GET", "/monitoring/objectives", frozenset({"observer", "call_manager", "staff"})),
    ("GET", "/organisations/{org}/members", frozenset({"applicant", "staff"})),
    ("GET", "/organisations/{org}/invitations", frozenset({"applicant", "staff"})),
    ("POST", "/organisations/{org}/invitations", frozenset({"applicant", "staff"})),
    ("GET", "/organisations/{org}/team-log", frozenset({"applicant", "staff"})),
    ("GET", "/sites/{site}/terms", AUTHENTICATED),
    ("POST", "/sites/{site}/terms/accept", AUTHENTICATED),
    ("POST", "/sites/{site}/terms", frozenset({"operator", "staff"})),
    ("GET", "/runs", AUTHENTICATED),
    ("POST", "/runs", frozenset({"applicant"})),
    ("GET", "/runs/{run}", frozenset({"applicant", "staff"})),
    ("POST", "/runs/{run}/cancel", frozenset({"applicant", "staff"})),
]

PAGES = [
    ("GET", "/calls/", AUTHENTICATED),
    ("GET", "/calls/{call}/", AUTHENTICATED),
    ("GET", "/calls/new/", MANAGERS),
    ("POST", "/calls/{call}/assign/", MANAGERS),
    ("GET", "/reviewers/", MANAGERS),
    ("GET", "/reviews/", AUTHENTICATED),
    ("GET", "/reviews/{assignment}/", frozenset({"reviewer"})),
    ("GET", "/applications/{app}/", frozenset({"applicant", "call_manager", "staff", "operator"})),
    ("GET", "/applications/{app}/training/launch.sh", frozenset({"applicant", "call_manager", "staff", "operator"})),
    ("POST", "/applications/{review_app}/decide/", MANAGERS),
    ("GET", "/figures/", frozenset({"observer", "call_manager", "staff"})),
    ("GET", "/operator/", frozenset({"operator", "other_operator"})),
    ("GET", "/support/", AUTHENTICATED),
    ("GET", "/support/new/", AUTHENTICATED),
    ("GET", "/support/requests/{support}/", frozenset({"applicant", "operator", "staff"})),
    ("POST", "/support/requests/{support}/reply/", frozenset({"applicant"})),
    ("GET", "/support/centres/it4lia/", frozenset({"operator", "staff"})),
    ("GET", "/ssh/", AUTHENTICATED),
    ("POST", "/ssh/keys/", AUTHENTICATED),
    # Everyone may ask; the form offers only one's own keys and active accounts, so another's are not a choice.
    ("POST", "/ssh/certificates/", AUTHENTICATED),
    ("POST", "/ssh/keys/{ssh_key}/revoke/", frozenset({"applicant"})),
    ("POST", "/ssh/certificates/{ssh_cert}/revoke/", frozenset({"applicant"})),
    ("GET", "/matchmaking/", AUTHENTICATED),
    ("GET", "/matchmaking/challenges/new/", AUTHENTICATED),
    ("GET", "/matchmaking/profile/", AUTHENTICATED),
    ("GET", "/matchmaking/challenges/{challenge}/", AUTHENTICATED),
    ("GET", "/matchmaking/matches/{match}/", frozenset({"applicant"})),
    ("POST", "/matchmaking/matches/{match}/decline/", frozenset({"applicant"})),
    ("GET", "/obligations/", AUTHENTICATED),
    ("GET", "/obligations/{obligation}/", frozenset({"applicant", "call_manager", "staff"})),
    ("GET", "/calls/templates/", AUTHENTICATED),
    ("GET", "/organisations/{org}/funding/", frozenset({"applicant", "staff"})),
    ("POST", "/organisations/{org}/funding/", frozenset({"applicant"})),
    ("GET", "/monitoring/", frozenset({"observer", "call_manager", "staff"})),
    ("GET", "/monitoring/objectives.csv", frozenset({"observer", "call_manager", "staff"})),
    ("GET", "/monitoring/objectives.json", frozenset({"observer", "call_manager", "staff"})),
    ("GET", "/organisations/{org}/team/", frozenset({"applicant", "staff"})),
    ("POST", "/organisations/{org}/team/invite/", frozenset({"applicant", "staff"})),
    ("GET", "/terms/", AUTHENTICATED),
    ("GET", "/outbox/", frozenset({"staff"})),
    ("GET", "/periodic/", frozenset({"staff"})),
    ("GET", "/sites/{site}/terms/", AUTHENTICATED),
    ("POST", "/sites/{site}/terms/", AUTHENTICATED),
    ("GET", "/runs/", AUTHENTICATED),
    ("GET", "/runs/new/", AUTHENTICATED),
    ("GET", "/runs/{run}/", frozenset({"applicant", "staff"})),
    ("POST", "/runs/{run}/cancel/", frozenset({"applicant", "staff"})),
]

BODIES = {
    "/applications/{review_app}/decision": {"approve": False, "reason": "checked"},
    "/calls": {"title": "Another call", "mode": "grand_challenge", "deadline": "2099-01-01T00:00:00+00:00",
               "decision_by": "2099-02-01", "criteria": [{"name": "a", "weight": 1}], "budgets": {"leonardo": 1}},
    "/calls/{call}/close": {"reason": "r"},
    "/calls/{call}/assign": {},
    "/calls/{call}/routes/{proposal}": {"machine": "leonardo", "reason": "r"},
    "/calls/{call}/accept": {},
    "/reviewers": {"username": "otto", "name": "Otto", "country": "SE"},
    "/reviews/{assignment}": {"marks": {"quality": 4}},
    "/roles": {"username": "otto", "role": "observer"},
    "/applications/{review_app}/decide/": {"approve": "no", "reason": "checked"},
    "/support/requests/{support}/reply": {"body": "more detail"},
    "/support/requests/{support}/answer": {"body": "an answer"},
    "/support/centres/it4lia/sla": {"days": 2},
    "/support/requests/{support}/reply/": {"body": "more detail"},
    "/me/ssh-keys": {"public_key": SSH_PUBLIC_KEY},
    "/me/ssh-certificates": {"key": "{ssh_key}", "account": "{site_account}"},
    "/ssh/keys/": {"public_key": SSH_PUBLIC_KEY},
    "/call-templates/frontier-ai-grand-challenge/entry-check": {"params": 5e11, "lead_eu_established": True},
    "/call-templates/large-ai-grand-challenge/open": {
        "title": "Template call", "deadline": "2099-01-01T00:00:00+00:00", "decision_by": "2099-02-01",
        "criteria": [{"name": "a", "weight": 1}], "budgets": {"leonardo": 1}},
    "/licences/check": {"licence": "MIT", "template": "large-ai-grand-challenge"},
    "/calls/{call}/obligations": {"due_on": "2099-01-01"},
    "/obligations/{obligation}/publication": {"identifier": "2401.01234"},
    "/organisations/{org}/funding/stage": {"trl": 6},
    "/organisations/{org}/funding/": {"trl": "6"},
    "/organisations/{org}/invitations": {"email": "new@example.org"},
    "/organisations/{org}/team/invite/": {"email": "new@example.org", "role": "member"},
    "/sites/{site}/terms/accept": {"version": 1},
    "/sites/{site}/terms": {"text": "Version two."},
    "/sites/{site}/terms/": {"version": "1"},
    "/runs": {"spec": {"name": "llm", "resources": {"time_limit": "10m"}, "commands": ["echo hi"]}, "steps": 10,
              "checkpoint_every": 5, "checkpoint_dir": "/shared/llm", "organisation": "{org}"},
}


@pytest.fixture
def world(site):
    """One applicant with an approved Playground application on Leonardo (IT4LIA) and a Fast Lane one in technical
    review, and a Grand Challenge call in review with the applicant's proposal assigned to one reviewer."""
    applicant = UserFactory(username="alice")
    org = OrganisationFactory(name="Alice Lab", members=[applicant])
    other = UserFactory(username="mallory")
    OrganisationFactory(name="Mallory Lab", members=[other])
    manager = UserFactory(username="maria")
    role_grant(user=manager, role="call_manager", granted_by=None)
    plan = {"machine_key": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 2, "civil_use": True}
    app = application_submit(organisation=org, user=applicant, title="Playground run", requested_gpu_hours=10,
                             months=1, **plan)
    review_app = application_submit(organisation=org, user=applicant, title="Fast Lane run", mode="fast_lane",
                                    requested_gpu_hours=400, months=1, **plan)
    assert (app.state, review_app.state) == ("approved", "technical_review")
    call = call_open(user=manager, title="Grand Challenge", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1), decision_by=timezone.localdate() + timedelta(days=30),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 10_000},
                     reviewers_per_proposal=1)
    proposal = application_submit(organisation=org, user=applicant, title="Challenge entry", mode="grand_challenge",
                                  call=call, requested_gpu_hours=3, months=12, open_science=True,
                                  keywords=["llm"], **plan)
    people = {"applicant": applicant, "other_applicant": other, "call_manager": manager}
    for role, affiliation in (("reviewer", "Uni Bologna"), ("conflicted_reviewer", "Alice Lab")):
        person = UserFactory(username=role.replace("_", "-"))
        reviewer_add(user=manager, person=person, name=role, affiliation=affiliation, country="SE", keywords=["llm"])
        people[role] = person
    call_close(call=call, user=manager, reason="matrix")
    (assignment,) = call_assign(call=call, user=manager)
    assert assignment.reviewer.user == people["reviewer"]
    for role, factory in (("operator", "it4lia"), ("other_operator", "lumi-aif")):
        people[role] = UserFactory(username=role.replace("_", "-"))
        role_grant(user=people[role], role="factory_operator", factory=factory, granted_by=None)
    people["observer"] = UserFactory(username="otto")
    role_grant(user=people["observer"], role="observer", granted_by=None)
    people["staff"] = UserFactory(username="root", is_staff=True)
    support = request_open(user=applicant, organisation=org, topic="porting", title="Slow all-reduce", text="help",
                           machine_key="leonardo")
    assert support.centre.key == "it4lia"
    site.site.personal_accounts = True
    site.site.save()
    site_accounts_sync(site=site.site)
    account = SiteAccount.objects.get(user=applicant)
    site_account_done(site=site.site, account_id=account.pk, ok=True, message="created")
    key = ssh_key_add(user=applicant, public_key=SSH_PUBLIC_KEY)
    cert = ssh_certificate_issue(user=applicant, key_id=key.pk, account_id=account.pk)
    ids = {"support": support.pk, "app": app.pk, "review_app": review_app.pk, "allocation": app.allocation.pk,
           "org": org.pk,
           "call": call.pk, "proposal": proposal.pk, "assignment": assignment.pk, "ssh_key": key.pk,
           "ssh_cert": cert.pk, "site_account": account.pk}
    carla = UserFactory(username="carla")
    company = OrganisationFactory(name="Big Motors", sme_category="large", members=[carla])
    challenge = challenge_post(user=carla, organisation=company, title="Defects", description="paint",
                               sector="manufacturing", model_types=["vision"], data_kinds=["images"])
    profile = profile_save(user=applicant, organisation=org, sectors=["manufacturing"], model_types=["vision"],
                           data_kinds=["images"], team_size=4)
    match = interest_express(user=applicant, challenge=challenge, profile=profile)
    ids.update({"challenge": challenge.pk, "profile": profile.pk, "match": match.pk})
    obligation = Obligation.objects.create(call=call, application=proposal, organisation=org,
                                           template="large-ai-grand-challenge",
                                           due_on=timezone.localdate() + timedelta(days=30))
    objectives_sync()
    ids["obligation"] = obligation.pk
    terms_publish(site=site.site, text="The site's rules.", actor=people["staff"])
    terms_accept(site=site.site, user=applicant, version=1)
    ids["site"] = site.site.name
    Site.objects.filter(pk=site.site.pk).update(last_seen_at=timezone.now())
    ProvisioningOrder.objects.filter(allocation=app.allocation).update(state="done")
    run = run_create(user=applicant, spec=spec_from_dict(BODIES["/runs"]["spec"]), steps=10, checkpoint_every=5,
                     checkpoint_dir="/shared/llm", organisation=org)
    ids["run"] = run.pk
    return people, ids


def _api(world, role):
    people, _ = world
    if role == "anonymous":
        return ApiClient()
    from aifactory.portal.organisations.services import api_token_create

    return ApiClient(api_token_create(user=people[role]))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "allowed"), API, ids=[f"{m} {p}" for m, p, _ in API])
def test_api_matrix(world, role, method, path, allowed):
    _, ids = world
    client = _api(world, role)
    url = path.format(**ids)
    body = {k: int(v.format(**ids)) if isinstance(v, str) and v.startswith("{") else v
            for k, v in BODIES.get(path, {}).items()}
    response = client.get(url) if method == "GET" else client.post(url, body)
    if role in allowed:
        assert response.status_code not in DENIED and response.status_code < 500, (response.status_code,
                                                                                    response.content[:300])
    else:
        assert response.status_code in DENIED, (response.status_code, response.content[:300])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "allowed"), PAGES, ids=[f"{m} {p}" for m, p, _ in PAGES])
def test_page_matrix(world, role, method, path, allowed):
    people, ids = world
    client = Client()
    if role != "anonymous":
        client.force_login(people[role])
    url = path.format(**ids)
    response = client.get(url) if method == "GET" else client.post(url, BODIES.get(path, {}))
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    elif role in allowed:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 302:
            assert not response["Location"].startswith("/login/")
    else:
        assert response.status_code in (403, 404), response.status_code


VISIBLE = {
    "/applications": ("app", frozenset({"applicant", "call_manager", "staff", "operator"})),
    "/allocations": ("allocation", frozenset({"applicant", "call_manager", "staff", "operator"})),
    "/reviews": ("assignment", frozenset({"reviewer"})),
    "/organisations": ("org", frozenset({"applicant", "staff"})),
    "/support/requests": ("support", frozenset({"applicant", "operator", "staff"})),
    "/me/site-accounts": ("site_account", frozenset({"applicant"})),
    "/me/ssh-keys": ("ssh_key", frozenset({"applicant"})),
    "/me/ssh-certificates": ("ssh_cert", frozenset({"applicant"})),
    "/runs": ("run", frozenset({"applicant", "staff"})),
}


@pytest.mark.parametrize("role", sorted(AUTHENTICATED))
@pytest.mark.parametrize("path", sorted(VISIBLE))
def test_lists_show_only_what_the_role_may_see(world, role, path):
    _, ids = world
    key, allowed = VISIBLE[path]
    listed = _api(world, role).get(path).json()
    found = {row.get("id", row.get("assignment")) for row in listed}
    assert (ids[key] in found) == (role in allowed), (role, path, found)


def test_the_conflicted_reviewer_is_never_assigned_and_sees_nothing(world):
    people, ids = world
    client = _api(world, "conflicted_reviewer")
    assert client.get("/reviews").json() == []
    assert client.get(f"/reviews/{ids['assignment']}").status_code == 404
    assert client.get(f"/applications/{ids['proposal']}").status_code == 404

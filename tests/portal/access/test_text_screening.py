"""The gate reads what is written: an application whose text may describe an AI Act practice or high-risk use is
never approved at once; it goes to an ethics review with the passages shown to the reviewer and the applicant."""

from __future__ import annotations

import pytest

from aifactory.portal.access.models import Application
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.organisations.services import role_grant
from tests.conftest import UserFactory, login, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def body(organisation):
    return {
        "organisation": organisation.pk, "title": "Clinical notes model", "machine": "leonardo", "params": 1e8,
        "tokens": 2e9, "gpus": 2, "requested_gpu_hours": 100, "months": 3, "civil_use": True,
    }


@pytest.fixture
def manager():
    person = UserFactory(username="maria")
    role_grant(user=person, role="call_manager", granted_by=None)
    return person


@pytest.mark.parametrize(
    ("change", "key", "field"),
    [
        ({"title": "Social scoring of city residents"}, "social_scoring", "title"),
        ({"summary": "Webcams detect the frustration and boredom of call centre agents during their shifts."},
         "emotion_recognition", "summary"),
        ({"description": "Wir sammeln massenhaft Gesichtsbilder aus dem Internet, um eine Suchmaschine für "
                         "Gesichter aufzubauen."}, "facial_scraping", "description"),
        ({"title": "Bürgerbewertung", "summary": "Einwohner erhalten Punkte für ihr Sozialverhalten."},
         "social_scoring", "title"),
        ({"summary": "Le modèle trie les CV et décide quels candidats sont convoqués pour le recrutement."},
         "employment", "summary"),
    ],
)
def test_text_that_may_describe_a_practice_or_area_goes_to_ethics_review_with_its_passages(
    api, body, change, key, field
):
    response = api.post("/applications", {**body, **change})
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["state"] == "ethics_review"
    assert out["allocation"] is None and not Allocation.objects.exists()
    finding = next(f for f in out["text_findings"] if f["key"] == key)
    assert finding["field"] == field
    assert finding["passages"] and finding["passages"][0] in " ".join(change[field].split())
    assert any(finding["label"] in r and finding["passages"][0] in r for r in out["reasons"])
    assert "ethics review" in out["history"][-1]["reason"]


def test_benign_text_is_approved_at_once(api, body):
    out = api.post("/applications", {
        **body, "summary": "Sentiment of customer product reviews in online shops.",
        "description": "We blur faces in street imagery before publication and train on public-domain text.",
    }).json()
    assert out["state"] == "approved", out["reasons"]
    assert out["text_findings"] == []


def test_a_ticked_practice_is_still_refused_and_the_text_findings_are_kept(api, body):
    out = api.post("/applications", {**body, "practices": ["social_scoring"],
                                     "summary": "Rank citizens by their social behaviour."}).json()
    assert out["state"] == "refused"
    assert [f["key"] for f in out["text_findings"]] == ["social_scoring"]


def test_a_description_beyond_its_limit_is_refused_naming_the_field(api, body):
    response = api.post("/applications", {**body, "description": "x" * 20001})
    assert response.status_code in (400, 422)
    assert "description" in response.content.decode()
    assert not Application.objects.exists()


def test_the_applicant_and_the_reviewer_see_the_passages_and_the_reviewer_decides(api, body, user, manager):
    out = api.post("/applications", {
        **body, "summary": "Kameras im Büro erkennen den Gemütszustand der Mitarbeitenden.",
    }).json()
    passage = "Kameras im Büro erkennen den Gemütszustand der Mitarbeitenden."
    for person in (user, manager):
        page = text(login(person).get(f"/applications/{out['id']}/"))
        assert "What the AI Act screening read in the text" in page
        assert "emotion recognition at the workplace or in education" in page
        assert passage in page
    assert "Record the decision" in text(login(manager).get(f"/applications/{out['id']}/"))
    assert "Record the decision" not in text(login(user).get(f"/applications/{out['id']}/"))
    response = login(manager).post(f"/applications/{out['id']}/decide/",
                                   {"approve": "yes", "reason": "The cameras count people, they read no emotion."})
    assert response.status_code == 302
    app = Application.objects.get(pk=out["id"])
    assert app.state == "approved" and app.allocations.exists()


def test_the_application_form_takes_a_description_and_screens_it(user, organisation, site):
    client = login(user)
    response = client.post("/applications/new/", {
        "organisation": organisation.pk, "mode": "playground", "title": "Hiring helper", "machine": "leonardo",
        "params": "1e8", "tokens": "2e9", "gpus": "2", "requested_gpu_hours": "100", "months": "3",
        "civil_use": "on",
        "description": "Un sistema che assegna ai cittadini un punteggio in base al loro comportamento online.",
    })
    assert response.status_code == 302, text(response)[:2000]
    app = Application.objects.get()
    assert app.state == "ethics_review"
    assert app.description.startswith("Un sistema")
    assert [f["key"] for f in app.text_findings] == ["social_scoring"]

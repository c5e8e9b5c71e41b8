"""Matchmaking: challenges, profiles, ranked proposals, interest of both sides before contact, refusals, access."""

from __future__ import annotations

from itertools import product

import pytest
from django.core import mail

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.matchmaking.choices import MATCH_TRANSITIONS, MatchState, check_match_transition
from tests.conftest import OrganisationFactory, UserFactory, login, run_worker

pytestmark = pytest.mark.django_db

EDGES = {
    ("proposed", "company_interested"), ("proposed", "startup_interested"), ("proposed", "declined"),
    ("company_interested", "mutual"), ("company_interested", "declined"),
    ("startup_interested", "mutual"), ("startup_interested", "declined"),
    ("mutual", "collaboration"), ("mutual", "declined"),
}


def test_the_state_machine_allows_exactly_these_moves():
    for a, b in product(MatchState, MatchState):
        if (a.value, b.value) in EDGES:
            check_match_transition(a.value, b)
        else:
            with pytest.raises(InvalidTransition):
                check_match_transition(a.value, b)
    assert {(a.value, b.value) for a, targets in MATCH_TRANSITIONS.items() for b in targets} == EDGES


@pytest.fixture
def sides(db, api_for):
    carla = UserFactory(username="carla", first_name="Carla", last_name="Rossi")
    company = OrganisationFactory(name="Big Motors SpA", sme_category="large", headcount=5000, members=[carla])
    sam = UserFactory(username="sam")
    startup = OrganisationFactory(name="Tiny Vision", sme_category="micro", members=[sam])
    return {"company": (carla, company, api_for(carla)), "startup": (sam, startup, api_for(sam))}


CHALLENGE = {"title": "Defect detection on the line", "description": "Find paint defects from camera images.",
             "sector": "manufacturing", "model_types": ["vision"], "data_kinds": ["images"], "min_team": 3}
PROFILE = {"sectors": ["manufacturing", "robotics"], "model_types": ["vision", "multimodal"],
           "data_kinds": ["images", "video"], "team_size": 6, "summary": "Visual inspection models."}


def test_from_challenge_to_mutual_interest_and_a_collaboration(sides, django_capture_on_commit_callbacks):
    carla, company, capi = sides["company"]
    sam, startup, sapi = sides["startup"]
    c = capi.post("/matchmaking/challenges", {"organisation": company.pk, **CHALLENGE})
    assert c.status_code == 201, c.content
    cid = c.json()["id"]
    assert c.json() == {"id": cid, **{k: v for k, v in CHALLENGE.items() if k != "min_team"}, "min_team": 3,
                        "state": "open", "company": "Big Motors SpA", "contact": None}  # its own company's name
    assert list(c.json()) == ["id", "title", "description", "sector", "model_types", "data_kinds", "min_team",
                              "state", "company", "contact"]
    p = sapi.post("/matchmaking/profiles", {"organisation": startup.pk, **PROFILE}).json()
    assert list(p.items()) == [("profile", p["profile"]), ("name", f"Startup S-{p['profile']}"),
                               *((k, sorted(PROFILE[k])) for k in ("sectors", "model_types", "data_kinds")),
                               ("team_size", 6), ("summary", PROFILE["summary"]),
                               ("contact", None), ("organisation", startup.pk)]
    assert sapi.get("/matchmaking/profiles").json() == [p]
    ranked = capi.get(f"/matchmaking/challenges/{cid}/matches").json()
    assert [r["profile"] for r in ranked] == [p["profile"]]
    top = ranked[0]
    assert top["name"] == f"Startup S-{p['profile']}" and top["contact"] is None
    assert "works in manufacturing" in top["reasons"]
    assert "Tiny Vision" not in str(ranked) and "sam" not in str(ranked)
    seen = sapi.get(f"/matchmaking/profiles/{p['profile']}/suggestions").json()
    assert [s["id"] for s in seen] == [cid] and seen[0]["company"].startswith("Company C-")
    assert "Big Motors" not in str(seen) and "carla" not in str(seen)
    first = capi.post(f"/matchmaking/challenges/{cid}/interest", {"profile": p["profile"]}).json()
    assert first["state"] == "company_interested" and first["startup"]["contact"] is None
    assert list(first) == ["id", "state", "score", "reasons", "side", "challenge", "startup", "mutual_at",
                           "collaboration_at"]
    assert first["side"] == "company" and first["challenge"]["company"] == "Big Motors SpA"
    assert first["mutual_at"] is None and first["collaboration_at"] is None
    assert first["startup"] == {k: v for k, v in top.items() if k not in ("rank", "score", "reasons", "match",
                                                                          "state")}
    assert "Tiny Vision" not in str(first)
    assert sapi.get(f"/matchmaking/matches/{first['id']}").json()["challenge"]["contact"] is None
    assert capi.post(f"/matchmaking/challenges/{cid}/interest", {"profile": p["profile"]}).status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        mutual = sapi.post(f"/matchmaking/challenges/{cid}/interest", {"profile": p["profile"]}).json()
    assert mutual["state"] == "mutual" and mutual["side"] == "startup" and mutual["mutual_at"]
    assert mutual["startup"]["name"] == "Tiny Vision"
    assert mutual["challenge"]["company"] == "Big Motors SpA"
    assert mutual["challenge"]["contact"] == {"name": "Carla Rossi", "email": "carla@example.org"}
    assert capi.get(f"/matchmaking/matches/{mutual['id']}").json()["startup"]["contact"]["email"] == "sam@example.org"
    run_worker()
    assert sorted(m.to[0] for m in mail.outbox) == ["carla@example.org", "sam@example.org"]
    done = capi.post(f"/matchmaking/matches/{mutual['id']}/collaboration", {"note": "pilot signed"}).json()
    assert done["state"] == "collaboration" and done["collaboration_at"]


def test_refusals(sides, other_api):
    carla, company, capi = sides["company"]
    sam, startup, sapi = sides["startup"]
    bad = capi.post("/matchmaking/challenges", {"organisation": company.pk, **CHALLENGE, "sector": "mining"})
    assert bad.status_code == 400 and bad.json()["detail"] == {"field": "sector"}
    bad = capi.post("/matchmaking/challenges", {"organisation": company.pk, **CHALLENGE, "model_types": ["x"]})
    assert bad.json()["detail"] == {"field": "model_types"}
    as_startup = sapi.post("/matchmaking/challenges", {"organisation": startup.pk, **CHALLENGE})
    assert as_startup.status_code == 400 and as_startup.json()["detail"] == {"field": "organisation"}
    as_company = capi.post("/matchmaking/profiles", {"organisation": company.pk, **PROFILE})
    assert as_company.json()["detail"] == {"field": "organisation"}
    assert sapi.post("/matchmaking/profiles", {"organisation": startup.pk, **PROFILE, "team_size": 0}).status_code \
        == 422
    assert other_api.post("/matchmaking/challenges", {"organisation": company.pk, **CHALLENGE}).status_code == 404
    cid = capi.post("/matchmaking/challenges", {"organisation": company.pk, **CHALLENGE}).json()["id"]
    far = sapi.post("/matchmaking/profiles", {"organisation": startup.pk, **PROFILE, "sectors": ["aerospace"],
                                              "model_types": ["graph"], "data_kinds": []}).json()
    refused = sapi.post(f"/matchmaking/challenges/{cid}/interest", {"profile": far["profile"]})
    assert refused.status_code == 400 and refused.json()["detail"] == {"field": "profile"}
    assert other_api.get(f"/matchmaking/challenges/{cid}/matches").status_code == 404
    assert sapi.get(f"/matchmaking/challenges/{cid}/matches").status_code == 404
    assert other_api.post(f"/matchmaking/challenges/{cid}/interest", {"profile": far["profile"]}).status_code == 403


def test_pages_from_challenge_to_mutual_interest(sides):
    carla, company, _ = sides["company"]
    sam, startup, _ = sides["startup"]
    cc, sc = login(carla), login(sam)
    response = cc.post("/matchmaking/challenges/new/", {"organisation": company.pk, **CHALLENGE})
    assert response.status_code == 302, response.content
    refused = cc.post("/matchmaking/challenges/new/", {"organisation": company.pk, **CHALLENGE, "title": " "})
    assert refused.status_code == 200
    assert sc.post("/matchmaking/profile/", {"organisation": startup.pk, **PROFILE}).status_code == 302
    page = cc.get(response["Location"])
    assert b"Startup S-" in page.content and b"Tiny Vision" not in page.content
    assert b"works in manufacturing" in page.content
    home = sc.get("/matchmaking/")
    assert b"Defect detection" in home.content and b"Big Motors" not in home.content
    cid = int(response["Location"].rstrip("/").split("/")[-1])
    profile = startup.startup_profile
    to_match = sc.post(f"/matchmaking/challenges/{cid}/interest/", {"profile": profile.pk})
    assert to_match.status_code == 302
    assert b"Big Motors" not in sc.get(to_match["Location"]).content
    cc.post(f"/matchmaking/challenges/{cid}/interest/", {"profile": profile.pk})
    assert b"Big Motors SpA" in sc.get(to_match["Location"]).content
    assert b"sam@example.org" in cc.get(to_match["Location"]).content


def test_a_side_declines_and_the_company_closes_its_challenge(sides):
    carla, company, capi = sides["company"]
    sam, startup, sapi = sides["startup"]
    cid = capi.post("/matchmaking/challenges", {"organisation": company.pk, **CHALLENGE}).json()["id"]
    pid = sapi.post("/matchmaking/profiles", {"organisation": startup.pk, **PROFILE}).json()["profile"]
    interest = sapi.post(f"/matchmaking/challenges/{cid}/interest", {"profile": pid}).json()
    assert interest["state"] == "startup_interested" and interest["side"] == "startup"
    assert interest["challenge"]["company"] == f"Company C-{company.pk}" and interest["challenge"]["contact"] is None
    declined = capi.post(f"/matchmaking/matches/{interest['id']}/decline", {"note": "not now"})
    assert declined.status_code == 200, declined.content
    assert declined.json() == {**interest, "state": "declined", "side": "company",
                               "challenge": {**interest["challenge"], "company": "Big Motors SpA"}}
    assert sapi.post(f"/matchmaking/challenges/{cid}/close").status_code == 403  # not its company's
    closed = capi.post(f"/matchmaking/challenges/{cid}/close")
    assert closed.status_code == 200, closed.content
    assert closed.json() == {**interest["challenge"], "state": "closed", "company": "Big Motors SpA"}

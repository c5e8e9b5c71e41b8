"""Terms of use per site: versioned, accepted by who/which version/when, a new version asks again."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.portal.common.errors import Conflict, Forbidden
from aifactory.portal.federation.models import TermsAcceptance
from aifactory.portal.federation.selectors import has_accepted_current_terms
from aifactory.portal.federation.services import terms_accept, terms_publish
from aifactory.portal.organisations.services import role_grant
from tests.conftest import UserFactory, assert_refused, login, text

pytestmark = pytest.mark.django_db


def test_a_site_without_terms_asks_nothing(site: Any, user: Any) -> None:
    assert has_accepted_current_terms(user, site.site)


def test_accept_and_a_new_version_asks_again(site: Any, user: Any) -> None:
    staff = UserFactory(username="root", is_staff=True)
    v1 = terms_publish(site=site.site, text="Be nice.", actor=staff)
    assert v1.version == 1
    assert not has_accepted_current_terms(user, site.site)
    with pytest.raises(Conflict, match="current terms are version 1"):
        terms_accept(site=site.site, user=user, version=2)
    accepted = terms_accept(site=site.site, user=user, version=1)
    assert (accepted.user, accepted.terms.version, accepted.accepted_at is not None) == (user, 1, True)
    assert terms_accept(site=site.site, user=user, version=1) == accepted  # harmless twice
    assert has_accepted_current_terms(user, site.site)
    terms_publish(site=site.site, text="Be nicer.", actor=staff)
    assert not has_accepted_current_terms(user, site.site)
    with pytest.raises(Conflict):
        terms_accept(site=site.site, user=user, version=1)  # they read the old text
    terms_accept(site=site.site, user=user, version=2)
    assert has_accepted_current_terms(user, site.site)
    assert sorted(TermsAcceptance.objects.filter(user=user).values_list("terms__version", flat=True)) == [1, 2]


def test_who_publishes(site: Any, user: Any, make_site: Any) -> None:
    with pytest.raises(Forbidden):
        terms_publish(site=site.site, text="x", actor=user)
    operator = UserFactory(username="op")
    role_grant(user=operator, role="factory_operator", factory=site.site.machine.factory, granted_by=None)
    assert terms_publish(site=site.site, text="ok", actor=operator).version == 1
    other = make_site(name="lumi-a", machine_key="lumi")
    with pytest.raises(Forbidden):
        terms_publish(site=other.site, text="x", actor=operator)


def test_terms_api(site: Any, user: Any, api: Any, api_for: Any) -> None:
    name = site.site.name
    staff_api = api_for(UserFactory(username="root", is_staff=True))
    assert_refused(api.get(f"/sites/{name}/terms"), 404)
    assert_refused(api.get("/sites/nowhere/terms"), 404)
    assert_refused(api.post(f"/sites/{name}/terms", {"text": "mine"}), 403)
    assert_refused(staff_api.post(f"/sites/{name}/terms", {"text": ""}), 422)
    assert_refused(staff_api.post(f"/sites/{name}/terms", {"text": "t", "url": "javascript:alert(1)"}), 422)
    published = staff_api.post(f"/sites/{name}/terms", {"text": "Rules.", "url": "https://example.org/rules"})
    assert published.status_code == 201
    body = published.json()
    assert list(body) == ["site", "version", "text", "url", "published_at", "accepted_at"]
    assert {k: v for k, v in body.items() if k != "published_at"} == {
        "site": name, "version": 1, "text": "Rules.", "url": "https://example.org/rules", "accepted_at": None}
    assert body["published_at"]
    got = api.get(f"/sites/{name}/terms").json()
    assert got == {**body, "accepted_at": None}
    assert_refused(api.post(f"/sites/{name}/terms/accept", {"version": 7}), 409)
    assert_refused(api.post(f"/sites/{name}/terms/accept", {"version": "one"}), 422)
    done = api.post(f"/sites/{name}/terms/accept", {"version": 1})
    assert done.status_code == 201 and done.json()["accepted_at"]
    assert {k: v for k, v in done.json().items() if k != "accepted_at"} == {k: v for k, v in body.items()
                                                                           if k != "accepted_at"}
    assert api.get(f"/sites/{name}/terms").json()["accepted_at"] == done.json()["accepted_at"]
    assert staff_api.get(f"/sites/{name}/terms").json()["accepted_at"] is None  # the caller's own acceptance
    assert_refused(api.__class__().get(f"/sites/{name}/terms"), 401)


def test_terms_pages(site: Any, user: Any) -> None:
    name = site.site.name
    staff = login(UserFactory(username="root", is_staff=True))
    assert staff.post(f"/sites/{name}/terms/", {"publish": "1", "text": "Rule one."}).status_code == 302
    person = login(user)
    assert "not accepted" in text(person.get("/terms/"))
    page = person.get(f"/sites/{name}/terms/")
    assert "Rule one." in text(page) and "I accept version 1" in text(page)
    assert "Publish a new version" not in text(page)
    stale = person.post(f"/sites/{name}/terms/", {"version": "3"})
    assert stale.status_code == 409 and "current terms are version 1" in text(stale)
    assert person.post(f"/sites/{name}/terms/?next=https://evil.example/", {"version": "1"})["Location"] == "/terms/"
    assert "You accepted version 1" in text(person.get(f"/sites/{name}/terms/"))
    assert person.post(f"/sites/{name}/terms/", {"publish": "1", "text": "mine"}).status_code == 400
    assert has_accepted_current_terms(user, site.site)

"""The pages of the site operator and the observer, and every role's pages refused to the others: a page for a
role answers 403 to a person without it (404 for a row that is not theirs), and sends an anonymous visitor to the
login page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from aifactory.core.jobs import JobState
from aifactory.portal.allocations.services import allocation_charge
from aifactory.portal.federation.models import Site
from aifactory.portal.organisations.services import role_grant
from tests.conftest import AllocationFactory, JobFactory, OrganisationFactory, UserFactory, login, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def federation(site, make_site):
    """Leonardo (IT4LIA) with a reporting site and a lost one, LUMI with its own; allocations and jobs on both."""
    lost = make_site(name="leonardo-b").site
    lumi = make_site(name="lumi-a", machine_key="lumi").site
    Site.objects.filter(pk=site.site.pk).update(last_seen_at=timezone.now(), queue_wait_s=42)
    Site.objects.filter(pk=lost.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    health = AllocationFactory(application__organisation=OrganisationFactory(name="Cura AI", sector="Health"),
                               gpu_hours=500)
    AllocationFactory(application__organisation=OrganisationFactory(name="Wattson", sector="energy"),
                      application__machine=lumi.machine, gpu_hours=300, provisioned=False)
    done = JobFactory(allocation=health, name="finished", state=JobState.COMPLETED.value)
    allocation_charge(allocation=health, job=done, gpu_seconds=3600 * 12)
    JobFactory(allocation=health, name="waiting-train", state=JobState.SUBMITTED.value)
    people = {name: UserFactory(username=name) for name in ("operator", "lumi_operator", "observer", "nobody")}
    role_grant(user=people["operator"], role="factory_operator", factory="it4lia", granted_by=None)
    role_grant(user=people["lumi_operator"], role="factory_operator", factory="lumi-aif", granted_by=None)
    role_grant(user=people["observer"], role="observer", granted_by=None)
    return people


def test_operator_sees_agents_orders_queue_and_allocations_of_their_sites(federation):
    page = text(login(federation["operator"]).get("/operator/"))
    assert re.search(r'data-testid="site-leonardo-a">.*?reporting', page)
    assert re.search(r'data-testid="site-leonardo-b">.*?lost', page)
    assert "lumi-a" not in page and "Wattson" not in page  # another factory's
    assert "waiting-train" in page and "submitted" in page
    assert "None: every account is provisioned." in page
    assert "Cura AI" in page and "2.4 %" in page
    assert 'hx-get="/operator/live/" hx-trigger="every 5s"' in page


def test_operator_sees_pending_orders_and_the_live_part_alone(federation):
    page = text(login(federation["lumi_operator"]).get("/operator/live/"))
    assert "Wattson" in page and "lumi-a" in page and "never reported" in page
    assert "<html" not in page  # a fragment for HTMX


def test_observer_figures_chart_machines_sectors_and_modes(federation):
    response = login(federation["observer"]).get("/figures/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg class="chart"') == 4
    for ident in ("chart-machines", "chart-sectors", "chart-applications", "chart-decisions"):
        assert f'aria-labelledby="{ident}-title {ident}-desc"' in html
    page = text(response)
    assert "Cura AI" not in page  # aggregates only
    cells = r'<th scope="row">health</th><td class="num">1</td><td class="num">500</td><td class="num">12</td>'
    assert re.search(cells, page)


@pytest.mark.parametrize("table", ["machines", "sectors", "modes"])
def test_observer_csv(federation, table):
    response = login(federation["observer"]).get(f"/figures/{table}.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f'filename="aifactory-{table}.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) >= 2
    if table == "machines":
        assert rows[0] == ["machine", "allocations", "gpu_hours_granted", "gpu_hours_used"]
        assert ["leonardo", "1", "500.0", "12.0"] in rows and ["lumi", "1", "300.0", "0.0"] in rows
    if table == "modes":
        assert rows[0][:4] == ["mode", "name", "promised", "promised_working_days"]


def test_unknown_csv_is_404(federation):
    assert login(federation["observer"]).get("/figures/people.csv").status_code == 404


# --- every role's pages refused to the others ------------------------------------------------------------------------

ROLE_PAGES = {
    "operator": ["/operator/", "/operator/live/"],
    "observer": ["/figures/", "/figures/machines.csv", "/figures/sectors.csv", "/figures/modes.csv"],
    "call_manager": ["/calls/new/", "/reviewers/"],
}


@pytest.mark.parametrize("role", sorted(ROLE_PAGES))
def test_role_pages_refused_to_people_without_the_role(federation, role):
    for path in ROLE_PAGES[role]:
        assert login(federation["nobody"]).get(path).status_code == 403, path
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path
    others = {"operator": "observer", "observer": "operator", "call_manager": "observer"}
    for path in ROLE_PAGES[role]:
        assert login(federation[others[role]]).get(path).status_code == 403, path


def test_navigation_offers_each_role_page_to_its_holders_only(federation):
    links = {"operator": 'href="/operator/"', "observer": 'href="/figures/"'}
    for person, own in links.items():
        page = login(federation[person]).get("/dashboard/").content.decode()
        assert own in page
        other = links["observer" if person == "operator" else "operator"]
        assert other not in page
    nobody = login(federation["nobody"]).get("/plan/").content.decode()
    assert all(link not in nobody for link in links.values()) and 'href="/reviews/"' not in nobody
    assert 'aria-current="page">Planner' in nobody and 'class="skip-link" href="#main"' in nobody


def test_navigation_offers_the_runs_to_people_who_log_in(federation):
    runs = login(federation["nobody"]).get("/runs/").content.decode()
    assert 'href="/runs/" aria-current="page">Runs' in runs
    assert 'href="/runs/"' not in Client().get("/plan/").content.decode()

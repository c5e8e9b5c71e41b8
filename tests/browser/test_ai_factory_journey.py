"""The AI Factory around the machines, in a real browser, each person on a page of their own: a support request
from opening (routed with its reasons and its service clock) to the centre's answer within its clock, mailed to the
person; a match from a company's challenge to mutual interest, names and contacts shown only then; a winner's
release refused under a proprietary licence and accepted under a non-commercial one, as the call's rule says; the
observer seeing every objective's KPI move as those records come in."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, assert_accessible, log_in


def _founder(portal, username, org_name, sector="agrifood"):
    token = portal.sign_up(username)
    with portal.api(token) as api:
        org = api.post("/organisations", json={"name": org_name, "country": "IT", "headcount": 9,
                                               "turnover_eur": "800000", "balance_sheet_eur": "500000",
                                               "sector": sector})
        assert org.status_code == 201, org.text
    return token, org.json()["id"]


def test_support_request_from_opening_to_answer_within_its_clock(portal, person_page) -> None:
    _support_journey(portal, person_page)


def _support_journey(portal, person_page) -> None:
    url = portal.url
    n = time.time_ns() % 10**8
    founder, staff = f"giulia{n}", f"sofia{n}"
    _founder(portal, founder, f"Campo AI {n}")
    portal.sign_up(staff)
    assert "granted" in portal.manage("grant_role", staff, "factory_operator", "--factory", "it4lia")

    f = person_page("founder")
    log_in(f, url, founder, PASSWORD)
    page = f.page
    page.get_by_role("link", name="Support", exact=True).click()
    page.get_by_role("link", name="Open a support request").click()
    expect(page.get_by_role("heading", name="Open a support request")).to_be_visible()
    assert_accessible(f)
    page.get_by_label("Topic").select_option("porting")
    page.get_by_label("Machine").select_option("leonardo")
    page.get_by_label("AI Factory").select_option("lumi-aif")
    page.get_by_label("Title").fill(f"All-reduce stalls on 64 nodes {n}")
    page.get_by_label("Your question").fill("NCCL hangs after ten minutes on the Booster partition.")
    page.get_by_role("button", name="Send to the single point of contact").click()
    expect(page.locator(".form-errors, .errorlist, [id$='_error']").first).to_contain_text("belongs to")
    f.shot("01-request-refused")
    page.get_by_label("AI Factory").select_option("")
    page.get_by_role("button", name="Send to the single point of contact").click()
    expect(page.locator("h1 .state")).to_have_text("Assigned")
    expect(page.locator("#route-reasons")).to_contain_text("Leonardo")
    expect(page.locator("#sla")).to_contain_text("3 working days")
    request_id = int(re.search(r"/support/requests/(\d+)/", page.url).group(1))
    f.shot("02-request-routed")

    s = person_page("staff")
    log_in(s, url, staff, PASSWORD)
    sp = s.page
    sp.get_by_role("link", name="Support", exact=True).click()
    sp.get_by_role("link", name="IT4LIA support centre").click()
    expect(sp.locator("tbody")).to_contain_text(f"All-reduce stalls on 64 nodes {n}")
    assert_accessible(s)
    sp.get_by_role("link", name=f"All-reduce stalls on 64 nodes {n}").click()
    sp.get_by_role("button", name="Answer").click()  # empty: refused
    expect(sp.locator(".messages")).to_contain_text("body")
    sp.get_by_label("Message").fill("Set NCCL_IB_TIMEOUT=22 and retry.")
    sp.get_by_role("button", name="Answer").click()
    expect(sp.locator("h1 .state")).to_have_text("Answered")
    expect(sp.locator("#sla")).to_contain_text("met")
    s.shot("03-answered")

    page.reload()
    expect(page.locator("h1 .state")).to_have_text("Answered")
    expect(page.locator(".thread")).to_contain_text("NCCL_IB_TIMEOUT=22")
    expect(page.locator(".thread")).to_contain_text(f"mailed to {founder}@example.org")
    mail = _mail_containing(portal.data_dir / "mail", f"Support request #{request_id}")
    assert "NCCL_IB_TIMEOUT=22" in mail
    page.get_by_label("Reason").fill("solved")
    page.get_by_role("button", name="Close the request").click()
    expect(page.locator("h1 .state")).to_have_text("Closed")
    f.shot("04-closed")


def _mail_containing(folder, text: str, timeout_s: float = 60.0) -> str:
    """The message the portal's mail worker wrote into its mail folder (`make run`'s default) that contains text."""
    deadline = time.monotonic() + timeout_s
    while True:
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            content = path.read_text(errors="replace")
            if text in content:
                return content
        assert time.monotonic() < deadline, f"no mail in {folder} contains {text!r}"
        time.sleep(0.5)


def test_match_from_challenge_to_mutual_interest(portal, person_page) -> None:
    _match_journey(portal, person_page)


def _match_journey(portal, person_page) -> str:
    """Returns the company's token."""
    url = portal.url
    n = time.time_ns() % 10**8
    carla, sam = f"carla{n}", f"sam{n}"
    token = portal.sign_up(carla)
    with portal.api(token) as api:
        big = api.post("/organisations", json={"name": f"Big Motors {n}", "country": "DE", "headcount": 5000,
                                               "turnover_eur": "2000000000", "balance_sheet_eur": "1500000000",
                                               "sector": "manufacturing"})
        assert big.status_code == 201 and big.json()["sme_category"] == "large", big.text
    sam_token, _ = _founder(portal, sam, f"Tiny Vision {n}", sector="manufacturing")

    s = person_page("startup")
    log_in(s, url, sam, PASSWORD)
    sp = s.page
    sp.get_by_role("link", name="Matchmaking", exact=True).click()
    sp.get_by_role("link", name="Your startup's profile").click()
    sp.get_by_label("manufacturing").first.check()
    sp.get_by_label("vision", exact=True).first.check()
    sp.get_by_label("images", exact=True).last.check()
    sp.get_by_role("button", name="Save the profile").click()
    expect(sp.locator("#id_team_size_error, .errorlist").first).to_be_visible()  # team size missing: refused
    sp.get_by_label("Team size").fill("6")
    sp.get_by_role("button", name="Save the profile").click()
    expect(sp.locator(".messages")).to_contain_text("Profile saved")
    s.shot("05-profile")

    c = person_page("company")
    log_in(c, url, carla, PASSWORD)
    cp = c.page
    cp.get_by_role("link", name="Matchmaking", exact=True).click()
    cp.get_by_role("link", name="Post a challenge").click()
    expect(cp.get_by_role("heading", name="Post a challenge")).to_be_visible()
    assert_accessible(c)
    cp.get_by_label("Title").fill(f"Paint defects {n}")
    cp.get_by_label("The problem").fill("Find paint defects in camera images of the line.")
    cp.get_by_label("Strategic sector").select_option("manufacturing")
    cp.get_by_label("vision", exact=True).check()
    cp.get_by_label("images", exact=True).check()
    cp.get_by_label("Smallest team").fill("3")
    cp.get_by_role("button", name="Post the challenge").click()
    with portal.api(sam_token) as api:  # which pseudonym is sam's (the company cannot know it)
        (profile,) = api.get("/matchmaking/profiles").json()
    ranked = cp.locator(".shortlist li").filter(has_text=f"{profile['name']} ").first
    expect(ranked).to_contain_text("works in manufacturing")
    expect(cp.locator("main")).not_to_contain_text(f"Tiny Vision {n}")
    c.shot("06-ranked")
    ranked.get_by_role("button").click()
    expect(cp.locator("#match-state")).to_have_text("Company interested")
    expect(cp.locator("#startup")).not_to_contain_text("Tiny Vision")

    sp.get_by_role("link", name="Matchmaking", exact=True).click()
    sp.get_by_role("link", name=f"Paint defects {n}").first.click()
    expect(sp.locator("main")).not_to_contain_text(f"Big Motors {n}")
    sp.get_by_role("button", name="We are interested").click()
    expect(sp.locator("#match-state")).to_have_text("Mutual")
    expect(sp.locator("#company")).to_contain_text(f"Big Motors {n}")
    expect(sp.locator("#company")).to_contain_text(f"{carla}@example.org")
    s.shot("07-mutual")
    cp.reload()
    expect(cp.locator("#startup")).to_contain_text(f"{sam}@example.org")
    return token


PLAN = {"machine": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 1, "civil_use": True}


def _won_call(portal, n):
    """Through the API, as a call manager and a reviewer would: a Large AI Grand Challenge opened from its template,
    one founder's proposal reviewed, selected and accepted, and the winners' obligation set."""
    manager, rita, founder = f"mara{n}", f"rita{n}", f"lea{n}"
    mtoken = portal.sign_up(manager)
    rtoken = portal.sign_up(rita)
    assert "granted" in portal.manage("grant_role", manager, "call_manager")
    ftoken, org = _founder(portal, founder, f"Open Lab {n}", sector="health")
    with portal.api(mtoken) as m, portal.api(ftoken) as f, portal.api(rtoken) as r:
        call = m.post("/call-templates/large-ai-grand-challenge/open", json={
            "title": f"Grand Challenge {n}", "deadline": "2099-01-01T12:00:00+00:00", "decision_by": "2099-02-01",
            "criteria": [{"name": "quality", "weight": 1}], "budgets": {"leonardo": 50}, "reviewers_per_proposal": 1})
        assert call.status_code == 201, call.text
        cid = call.json()["id"]
        entry = f.post("/applications", json={"organisation": org, "title": "Open clinical model",
                                              "mode": "grand_challenge", "call": cid, "requested_gpu_hours": 3,
                                              "months": 12, "open_science": True, "keywords": ["llm"], **PLAN})
        assert entry.status_code == 201, entry.text
        assert m.post("/reviewers", json={"username": rita, "name": "Rita", "country": "SE",
                                          "keywords": ["llm"]}).status_code < 300
        assert m.post(f"/calls/{cid}/close", json={"reason": "journey"}).status_code == 200
        assert m.post(f"/calls/{cid}/assign", json={}).status_code == 200
        (assignment,) = r.get("/reviews").json()
        assert r.post(f"/reviews/{assignment['assignment']}", json={"marks": {"quality": 4}}).status_code < 300
        assert m.post(f"/calls/{cid}/select", json={}).status_code == 200
        assert m.post(f"/calls/{cid}/accept", json={}).status_code == 200
        due = m.post(f"/calls/{cid}/obligations", json={"due_on": "2099-01-01"})
        assert due.status_code == 201, due.text
    return manager, (founder, ftoken), due.json()[0]["id"]


def test_a_winners_release_checked_against_the_calls_licence_rule(portal, person_page) -> None:
    url = portal.url
    n = time.time_ns() % 10**8
    manager, (founder, _), obligation = _won_call(portal, n)

    f = person_page("winner")
    log_in(f, url, founder, PASSWORD)
    page = f.page
    page.get_by_role("link", name="Open science", exact=True).click()
    page.get_by_role("link", name=f"Open Lab {n}").click()
    expect(page.locator("main")).to_contain_text("open-source licence for non-commercial use, or publish")
    assert_accessible(f)
    page.get_by_label("Licence (SPDX expression)").fill("LicenseRef-scancode-proprietary-license")
    page.get_by_label("Where the model is released").fill("https://models.example.org/open-clinical")
    page.get_by_role("button", name="Check and report the release").click()
    expect(page.locator("main")).to_contain_text("does not meet the call's rule")
    f.shot("08-release-refused")
    page.get_by_label("Licence (SPDX expression)").fill("CC-BY-NC-4.0")
    page.get_by_role("button", name="Check and report the release").click()
    expect(page.locator("#obligation-state")).to_have_text("Met")
    expect(page.locator("#licence-reasons")).to_contain_text("CC-BY-NC-4.0 is accepted by the call's rule")
    f.shot("09-release-met")

    m = person_page("manager")
    log_in(m, url, manager, PASSWORD)
    m.page.get_by_role("link", name="Open science", exact=True).click()
    expect(m.page.locator("tbody")).to_contain_text(f"Open Lab {n}")
    expect(m.page.locator("#overdue-count")).to_be_visible()
    m.shot("10-obligations")


def _values(page, url):
    data = page.request.get(url + "/monitoring/objectives.json").json()
    return {o["kpi"]: (o["value"], o["basis"]) for o in data["objectives"]}


def test_the_observer_sees_every_objective_move(portal, person_page) -> None:
    url = portal.url
    n = time.time_ns() % 10**8
    otto = f"otto{n}"
    portal.sign_up(otto)
    assert "granted" in portal.manage("grant_role", otto, "observer")
    o = person_page("observer")
    log_in(o, url, otto, PASSWORD)
    page = o.page
    page.get_by_role("link", name="Objectives", exact=True).click()
    expect(page.locator("#objectives-table tbody tr")).to_have_count(6)
    assert page.locator("svg").count() >= 6
    assert_accessible(o)
    before = _values(page, url)
    o.shot("11-objectives-before")

    # A startup served, its first job, GPU-hours charged for it.
    token, org = _founder(portal, f"pia{n}", f"Pia Robotics {n}", sector="robotics")
    with portal.api(token) as api:
        app = api.post("/applications", json={"organisation": org, "title": "Grasping", "requested_gpu_hours": 5,
                                              "months": 1, **PLAN})
        assert app.status_code == 201 and app.json()["allocation"], app.text
        deadline = time.monotonic() + 90
        while True:  # the site's agent provisions the account first
            job = api.post("/jobs", json={"allocation": app.json()["allocation"], "name": "train",
                                          "script": "sleep 1", "gpus": 1, "time_limit_s": 60})
            if job.status_code != 409:
                break
            assert time.monotonic() < deadline, job.text
            time.sleep(0.5)
        assert job.status_code == 201, job.text
        while api.get(f"/jobs/{job.json()['uid']}").json()["state"] != "completed":
            assert time.monotonic() < deadline, "the job did not complete"
            time.sleep(0.5)
    # A support request answered within its clock, a match that led to a collaboration, an obligation met.
    _support_journey(portal, person_page)
    company = _match_journey(portal, person_page)
    _, (_, ftoken), obligation = _won_call(portal, n + 1)
    with portal.api(ftoken) as api:
        assert api.post(f"/obligations/{obligation}/publication",
                        json={"identifier": "arXiv:2401.01234"}).json()["state"] == "met"
    with portal.api(company) as api:
        (match,) = [m for m in api.get("/matchmaking/matches").json() if m["state"] == "mutual"]
        assert api.post(f"/matchmaking/matches/{match['id']}/collaboration", json={"note": "pilot"}).status_code == 200

    page.reload()
    after = _values(page, url)
    moved = {k for k in before if before[k] != after[k]}
    assert moved == set(before), (before, after)
    for row in page.locator("#objectives-table tbody tr").all():
        expect(row.locator(".status")).not_to_have_text("no data")
    o.shot("12-objectives-after")

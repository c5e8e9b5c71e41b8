"""A Grand Challenge round in a real browser, each person on a page of their own: the call manager opens the call
(a refused budget first), keeps the reviewer pool (an unknown person refused), closes the call (refused without a
reason), assigns reviewers, selects the winners (the optimum next to the greedy, with totals) and accepts them,
which creates the allocations; a reviewer declares a conflict (refused without a reason) and marks a proposal
(a mark off the scale refused); the manager decides a Fast Lane technical review (refused without a choice).
Founders submit their proposals through the API, as the CLI does; roles come from the operators' command."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, assert_accessible, log_in

PLAN = {"machine": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 2, "civil_use": True}


def _founder(portal, username, org_name, country):
    token = portal.sign_up(username)
    with portal.api(token) as api:
        org = api.post("/organisations", json={"name": org_name, "country": country, "headcount": 9,
                                               "turnover_eur": "800000", "balance_sheet_eur": "500000",
                                               "sector": "media"})
        assert org.status_code == 201, org.text
    return token, org.json()["id"]


def test_grand_challenge_round(portal, person_page) -> None:
    url = portal.url
    n = time.time_ns() % 10**8
    manager, rita, sven = f"maria{n}", f"rita{n}", f"sven{n}"
    for person in (manager, rita, sven):
        portal.sign_up(person)
    assert "granted call_manager" in portal.manage("grant_role", manager, "call_manager")
    founders = [_founder(portal, f"founder{i}{n}", name, country)
                for i, (name, country) in enumerate([("Nordlicht AI", "DE"), ("Pixel Farm", "IT")])]

    m = person_page("manager")
    log_in(m, url, manager, PASSWORD)
    page = m.page
    page.get_by_role("link", name="Calls", exact=True).click()
    page.get_by_role("link", name="Open a call").click()
    page.get_by_label("Title").fill(f"Grand Challenge {n}")
    page.get_by_label("Kind of call").select_option("grand_challenge")
    page.get_by_label("Deadline or cut-off (UTC)").fill("2099-01-01T12:00")
    page.get_by_label("Decisions promised by").fill("2099-02-01")
    page.get_by_label("Reviewers per proposal").fill("1")
    page.get_by_label("GPU-hour budgets").fill("leonardo: twenty thousand")
    page.get_by_role("button", name="Open the call").click()
    expect(page.locator("#id_budgets_error")).to_contain_text("write 'machine: GPU-hours'")
    m.shot("01-call-refused")
    assert_accessible(m)
    page.get_by_label("GPU-hour budgets").fill("leonardo: 200")
    page.get_by_role("button", name="Open the call").click()
    expect(page.locator("h1 .state")).to_have_text("Open")
    call_id = int(re.search(r"/calls/(\d+)/", page.url).group(1))

    proposals = []
    for i, (token, org) in enumerate(founders):
        with portal.api(token) as api:
            answer = api.post("/applications", json={
                "organisation": org, "title": ["Open speech model", "Crop vision"][i], "mode": "grand_challenge",
                "call": call_id, "requested_gpu_hours": 3 + i, "months": 12, "open_science": True,
                "keywords": ["speech"] if i == 0 else ["vision"], **PLAN})
            assert answer.status_code == 201, answer.text
            proposals.append(answer.json()["id"])

    page.get_by_role("link", name="Reviewers", exact=True).click()
    page.get_by_label("Username of the person").fill("nobody-here")
    page.get_by_label("Name:", exact=True).fill("Nobody")
    page.get_by_label("Country").fill("SE")
    page.get_by_role("button", name="Add to the pool").click()
    expect(page.locator("#id_username_error")).to_contain_text("signs up first")
    m.shot("02-reviewer-refused")
    for username, name, country, words in ((rita, "Rita", "SE", "speech, llm"), (sven, "Sven", "FI", "vision")):
        page.get_by_label("Username of the person").fill(username)
        page.get_by_label("Name:", exact=True).fill(name)
        page.get_by_label("Country").fill(country)
        page.get_by_label("Expertise keywords").fill(words)
        page.get_by_role("button", name="Add to the pool").click()
        expect(page.get_by_text(f"{name} is in the reviewer pool.")).to_be_visible()
    m.shot("03-reviewer-pool")

    r = person_page("reviewer")
    log_in(r, url, rita, PASSWORD)
    r.page.get_by_role("link", name="Reviews", exact=True).click()
    r.page.get_by_label("Proposal:", exact=True).select_option(str(proposals[1]))
    r.page.get_by_role("button", name="Declare the conflict").click()
    expect(r.page.locator("#id_reason_error")).to_contain_text("required")
    r.shot("01-conflict-refused")
    assert_accessible(r)
    r.page.get_by_label("Proposal:", exact=True).select_option(str(proposals[1]))
    r.page.get_by_label("Why you are in conflict").fill("I advise Pixel Farm's founders")
    r.page.get_by_role("button", name="Declare the conflict").click()
    expect(r.page.get_by_text("Conflict with 'Crop vision' declared")).to_be_visible()
    expect(r.page.locator("table", has_text="Declared by you")).to_contain_text("I advise Pixel Farm's founders")
    r.shot("02-conflict-declared")

    page.goto(f"{url}/calls/{call_id}/")
    page.get_by_role("button", name="Close the call: start the review").click()
    expect(page.locator("#id_reason_error")).to_contain_text("needs a reason")
    m.shot("04-close-refused")
    page.get_by_label("Reason").fill("both proposals are in; closing early to decide sooner")
    page.get_by_role("button", name="Close the call: start the review").click()
    expect(page.get_by_text("The call is closed: review starts.")).to_be_visible()
    expect(page.get_by_role("heading", name="Conflicts declared by reviewers")).to_be_visible()
    page.get_by_role("button", name="Assign reviewers").click()
    expect(page.get_by_text("2 reviews assigned.")).to_be_visible()
    expect(page.locator("section", has_text="Reviewer assignment")).to_contain_text("Rita")
    m.shot("05-assigned")

    r.page.get_by_role("link", name="Reviews", exact=True).click()
    r.page.get_by_role("link", name="Open speech model").click()
    r.page.get_by_label("excellence").fill("9")
    r.page.get_by_label("impact").fill("4")
    r.page.get_by_label("feasibility").fill("4")
    r.page.get_by_role("button", name="Submit the review").click()
    expect(r.page.locator("#id_mark_excellence_error")).to_contain_text("less than or equal to 5")
    r.shot("03-marks-refused")
    assert_accessible(r)
    r.page.get_by_label("excellence").fill("4.5")
    r.page.get_by_role("button", name="Submit the review").click()
    expect(r.page.get_by_text("Review recorded.")).to_be_visible()
    r.shot("04-queue")

    s = person_page("reviewer2")
    log_in(s, url, sven, PASSWORD)
    s.page.get_by_role("link", name="Reviews", exact=True).click()
    s.page.get_by_role("link", name="Crop vision").click()
    for criterion, mark in (("excellence", "3.5"), ("impact", "4"), ("feasibility", "3")):
        s.page.get_by_label(criterion).fill(mark)
    s.page.get_by_role("button", name="Submit the review").click()
    expect(s.page.get_by_text("Review recorded.")).to_be_visible()

    page.reload()
    page.get_by_role("button", name="Select the winners").click()
    expect(page.get_by_text("2 winners selected.")).to_be_visible()
    expect(page.get_by_role("heading", name="Ranking")).to_be_visible()
    selection = page.locator("section", has=page.get_by_role("heading", name="Selection", exact=True))
    expect(selection).to_contain_text("Optimum (integer program, HiGHS)")
    expect(selection).to_contain_text("Rank-order greedy (baseline)")
    m.shot("06-selected")
    assert_accessible(m)
    page.get_by_role("button", name="Override").first.click()
    expect(page.locator(f"#id_app{proposals[0]}-reason_error")).to_contain_text("required")
    m.shot("07-override-refused")
    page.get_by_role("button", name="Accept the winners: create allocations").click()
    expect(page.get_by_text("Winners accepted: 2 allocations and their provisioning orders.")).to_be_visible()
    expect(page.locator("h1 .state")).to_have_text("Closed")
    m.shot("08-accepted")

    token, org = founders[0]
    with portal.api(token) as api:
        answer = api.post("/applications", json={"organisation": org, "title": "Fast Lane speech", "mode": "fast_lane",
                                                 "requested_gpu_hours": 400, "months": 1, **PLAN})
        assert answer.status_code == 201 and answer.json()["state"] == "technical_review", answer.text
    page.goto(f"{url}/applications/{answer.json()['id']}/")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("#id_approve_error")).to_be_visible()
    expect(page.locator("#id_reason_error")).to_be_visible()
    m.shot("09-decision-refused")
    page.get_by_label("Refuse").check()
    page.get_by_label("Reason (shown to the applicant)").fill("400 GPU-hours is four times what the plan needs")
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_text("Decision recorded.")).to_be_visible()
    expect(page.locator("h1 .state")).to_have_text("Refused")
    m.shot("10-decision-recorded")

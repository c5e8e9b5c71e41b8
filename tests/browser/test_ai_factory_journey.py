"""The AI Factory around the machines, in a real browser, each person on a page of their own: a support request
from opening (routed with its reasons and its service clock) to the centre's answer within its clock, mailed to the
person."""

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
    assert_accessible(f)
    page.get_by_label("Topic").select_option("porting")
    page.get_by_label("Machine").select_option("leonardo")
    page.get_by_label("AI Factory").select_option("lumi-aif")
    page.get_by_label("Title").fill("All-reduce stalls on 64 nodes")
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
    expect(sp.locator("tbody")).to_contain_text("All-reduce stalls on 64 nodes")
    assert_accessible(s)
    sp.get_by_role("link", name="All-reduce stalls on 64 nodes").click()
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
    log = (portal.data_dir / "run.log").read_text(errors="replace")
    assert f"Support request #{request_id}" in log and "NCCL_IB_TIMEOUT=22" in log
    page.get_by_label("Reason").fill("solved")
    page.get_by_role("button", name="Close the request").click()
    expect(page.locator("h1 .state")).to_have_text("Closed")
    f.shot("04-closed")


def test_match_from_challenge_to_mutual_interest(portal, person_page) -> None:
    url = portal.url
    n = time.time_ns() % 10**8
    carla, sam = f"carla{n}", f"sam{n}"
    token = portal.sign_up(carla)
    with portal.api(token) as api:
        big = api.post("/organisations", json={"name": f"Big Motors {n}", "country": "DE", "headcount": 5000,
                                               "turnover_eur": "2000000000", "balance_sheet_eur": "1500000000",
                                               "sector": "manufacturing"})
        assert big.status_code == 201 and big.json()["sme_category"] == "large", big.text
    _founder(portal, sam, f"Tiny Vision {n}", sector="manufacturing")

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
    assert_accessible(c)
    cp.get_by_label("Title").fill(f"Paint defects {n}")
    cp.get_by_label("The problem").fill("Find paint defects in camera images of the line.")
    cp.get_by_label("Strategic sector").select_option("manufacturing")
    cp.get_by_label("vision", exact=True).check()
    cp.get_by_label("images", exact=True).check()
    cp.get_by_label("Smallest team").fill("3")
    cp.get_by_role("button", name="Post the challenge").click()
    ranked = cp.locator(".shortlist li").filter(has_text="works in manufacturing").first
    expect(ranked).to_contain_text("Startup S-")
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

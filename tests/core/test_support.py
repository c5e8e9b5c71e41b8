from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.core.exceptions import InvalidInput
from aifactory.core.support import Ask, load_centres, parse_centres, route, sla


def test_every_factory_has_a_centre_and_unknowns_stay_null():
    from aifactory.core.catalog import load_catalog

    centres = load_centres()
    assert {c.factory for c in centres} == {f.key for f in load_catalog().factories}
    for c in centres:
        for offer in c.offers.values():
            assert (offer.offered is None) == (offer.source is None)
        assert c.first_answer_working_days is None  # no source gives one
    lumi = next(c for c in centres if c.key == "lumi-aif")
    assert lumi.domains is None and lumi.offer("ai_act").offered is None


def test_a_known_value_without_its_source_is_refused():
    doc = {"centres": [{"key": "x", "factory": "x", "name": "X", "offers": {"porting": {"offered": True}}}]}
    with pytest.raises(InvalidInput, match="source"):
        parse_centres(doc)
    doc["centres"][0]["offers"] = {"teleport": {"offered": None, "source": None}}
    with pytest.raises(InvalidInput, match="unknown kind"):
        parse_centres(doc)


def test_the_machine_named_decides_between_equal_centres_and_the_reason_says_so():
    result = route(Ask(topic="porting", factory="it4lia", machine="Leonardo"), load_centres(), {})
    assert result.chosen is not None and result.chosen.centre == "it4lia"
    assert any("Leonardo" in r for r in result.chosen.reasons)
    assert any("offers porting" in r for r in result.chosen.reasons)


def test_a_domain_question_goes_to_a_factory_that_names_the_sector():
    result = route(Ask(topic="domain", sector="agrifood"), load_centres(), {})
    assert result.chosen is not None
    assert result.chosen.centre in {"it4lia", "bsc-aif", "1healthai"}
    assert any("agrifood" in r or "agri" in r for r in result.chosen.reasons)
    refused = {r.centre for r in result.refused}
    assert "hammerhai" in refused  # names mobility, mechanical engineering, manufacturing only


def test_load_moves_a_request_to_an_equal_centre_with_fewer_open_requests():
    ask = Ask(topic="domain", sector="manufacturing")
    first = route(ask, load_centres(), {})
    assert first.chosen is not None
    busy = route(ask, load_centres(), {first.chosen.centre: 8})
    assert busy.chosen is not None and busy.chosen.centre != first.chosen.centre
    loaded = next(c for c in busy.ranked if c.centre == first.chosen.centre)
    assert any("8 request(s) open there" in r for r in loaded.reasons)


def test_unknown_topic_is_refused_naming_the_field():
    with pytest.raises(InvalidInput) as exc:
        Ask(topic="teleport")
    assert exc.value.field == "topic"


def test_the_service_clock():
    friday = date(2026, 11, 27)
    assert sla(friday, 2, None, friday).due == date(2026, 12, 1)  # over the weekend
    assert sla(friday, 2, None, friday).state == "ok"
    assert sla(friday, 2, None, date(2026, 11, 30)).state == "near"
    assert sla(friday, 2, None, date(2026, 12, 2)).state == "overdue"
    assert sla(friday, 2, date(2026, 12, 1), date(2026, 12, 9)).state == "met"
    assert sla(friday, 2, date(2026, 12, 2), date(2026, 12, 9)).state == "missed"
    with pytest.raises(InvalidInput):
        sla(friday, 0, None, friday)


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)), st.integers(1, 30),
       st.integers(0, 60))
def test_an_answer_on_or_before_the_due_day_always_meets_the_clock(opened, days, after):
    from datetime import timedelta

    due = sla(opened, days, None, opened).due
    assert due.weekday() < 5 and due > opened
    answered = opened + timedelta(days=after)
    assert (sla(opened, days, answered, answered).state == "met") == (answered <= due)

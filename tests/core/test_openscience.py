from __future__ import annotations

import pytest

from aifactory.core.call_templates import capacity_prize, check_entry, load_templates, template
from aifactory.core.catalog import load_catalog
from aifactory.core.exceptions import InvalidInput
from aifactory.core.openscience import check_licence, check_publication

GC = template("large-ai-grand-challenge").rule


@pytest.mark.parametrize(("expression", "accepted"), [
    ("Apache-2.0", True), ("CC-BY-NC-4.0", True), ("cc-by-nc-sa-4.0", True), ("GPL-3.0-only", True),
    ("LicenseRef-scancode-proprietary-license", False), ("MIT OR LicenseRef-scancode-proprietary-license", True),
    ("MIT AND LicenseRef-scancode-proprietary-license", False), ("GPL-2.0-only WITH Classpath-exception-2.0", True),
])
def test_the_first_grand_challenge_accepts_open_and_non_commercial_licences(expression, accepted):
    result = check_licence(expression, GC)
    assert result.accepted is accepted and result.reasons


@pytest.mark.parametrize("expression", ["", "Foo-1.0", "MIT AND", "(MIT", "MIT OR OR Apache-2.0", "x" * 600])
def test_malformed_or_unknown_licences_are_refused_naming_the_field(expression):
    with pytest.raises(InvalidInput) as exc:
        check_licence(expression, GC)
    assert exc.value.field == "licence"


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("10.1000/xyz123", "doi", "10.1000/xyz123"), ("https://doi.org/10.48550/arXiv.2401.01234", "doi",
                                                  "10.48550/arXiv.2401.01234"),
    ("arXiv:2401.01234v2", "arxiv", "2401.01234v2"), ("hep-th/9901001", "arxiv", "hep-th/9901001"),
])
def test_publication_ids_are_normalised(text, kind, value):
    pub = check_publication(text)
    assert (pub.kind, pub.value) == (kind, value)


@pytest.mark.parametrize("text", ["", "doi", "10.1/x", "2413.01234", "arxiv:12345", "11.1000/x"])
def test_publication_ids_of_the_wrong_form_are_refused(text):
    with pytest.raises(InvalidInput):
        check_publication(text)


def test_the_frontier_template_from_the_facts():
    t = template("frontier-ai-grand-challenge")
    assert t.winner_limit == 1 and t.entry.min_params == 4e11 and t.entry.record_min_params == 1e11
    assert t.rule.release_required and t.capacity_share == 0.025
    assert check_entry(t, params=4e11, lead_eu_established=True, lead_eu_controlled=True, record_params=1e11) == ()
    prize = capacity_prize(t, load_catalog().machines)
    assert prize is not None and set(prize.machines_left_out) == {"marenostrum5", "alice-recoque", "daedalus"}
    assert len(load_templates()) == 2
    with pytest.raises(InvalidInput):
        template("nope")

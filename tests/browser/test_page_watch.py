"""The browser tier's watch: which failed requests count as a page's fault."""

from __future__ import annotations

import pytest

from tests.browser.conftest import request_failure


@pytest.mark.parametrize(("resource_type", "failure", "counts"), [
    ("fetch", "net::ERR_ABORTED", False),  # a live estimate abandoned by navigation or a newer estimate
    ("xhr", "net::ERR_ABORTED", False),
    ("document", "net::ERR_ABORTED", True),
    ("script", "net::ERR_ABORTED", True),
    ("stylesheet", "net::ERR_ABORTED", True),
    ("fetch", "net::ERR_CONNECTION_REFUSED", True),
    ("xhr", "net::ERR_EMPTY_RESPONSE", True),
    ("fetch", None, True),
])
def test_only_an_abandoned_background_request_is_forgiven(resource_type, failure, counts):
    assert request_failure(resource_type, failure) is counts

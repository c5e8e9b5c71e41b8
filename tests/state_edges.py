"""The expected moves of every state machine, written out: the tests check the tables and the services against
these, never against the tables themselves (a wrong edge added to a table must fail a test)."""

from __future__ import annotations

JOB_EDGES = frozenset({
    ("pending", "submitted"), ("pending", "cancelled"),
    ("submitted", "pending"), ("submitted", "running"), ("submitted", "completed"), ("submitted", "failed"),
    ("submitted", "cancelled"),
    ("running", "completed"), ("running", "failed"), ("running", "cancelled"),
})

APPLICATION_EDGES = frozenset({
    ("submitted", "ethics_review"), ("submitted", "technical_review"), ("submitted", "in_review"),
    ("submitted", "approved"), ("submitted", "refused"),
    ("ethics_review", "technical_review"), ("ethics_review", "in_review"), ("ethics_review", "approved"),
    ("ethics_review", "refused"),
    ("technical_review", "in_review"), ("technical_review", "approved"), ("technical_review", "refused"),
    ("in_review", "selected"), ("in_review", "not_selected"),
    ("selected", "approved"),
})

CALL_EDGES = frozenset({("open", "review"), ("review", "selected"), ("selected", "closed")})

ORDER_EDGES = frozenset({("pending", "done"), ("pending", "failed")})

SITE_ACCOUNT_EDGES = frozenset({
    ("requested", "active"), ("requested", "closing"),
    ("active", "closing"),
    ("closing", "closed"), ("closing", "requested"),
    ("closed", "requested"),
})


def allowed(edges: frozenset[tuple[str, str]], current: str, target: str) -> bool:
    return (str(current), str(target)) in edges

RUN_EDGES = frozenset({
    ("running", "waiting"), ("running", "completed"), ("running", "failed"), ("running", "cancelled"),
    ("waiting", "running"), ("waiting", "failed"), ("waiting", "cancelled"),
})

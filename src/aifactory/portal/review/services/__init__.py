"""Writes of the review context: calls, the reviewer pool, assignment, scores, selection, routing and acceptance.

A call moves open -> review -> selected -> closed (choices.CALL_TRANSITIONS), each move a CallStateChange row
(calls.call_move):
    call_open     a call manager opens it with its rubric, budgets per machine, winner limit, threshold, objective
    call_close    the deadline has passed (or the manager closes it early, with a reason): review starts
    call_assign   k reviewers per proposal, free of conflict, load balanced and matched by expertise: one integer
                  program (core/review.assign), run once per call
    review_submit a reviewer marks an assigned proposal on the call's rubric (core/review.score_review)
    conflict_declare  a reviewer declares a conflict with a proposal of an open call or one in review: the assignment
                  keeps the pair apart, and the reviewer may not mark it
    call_select   the ranking (ties explained), the selection as an integer program and the rank-order greedy on the
                  same proposals (core/selection.compare); winners are routed within the call's budgets
                  (core/routing.route): the selection's own funding is one feasible routing, so every winner is
                  routed. Funded sets of equal value are told apart by the ranking (TIE_EPSILON)
    route_override  staff move a winner to another machine of the call, with a recorded reason
    call_accept   every winner accepted: allocations per machine, from the call's start date, and provisioning orders
Only a call manager (or staff) calls these, except review_submit (the assigned reviewer only) and
conflict_declare (a reviewer in the pool).
"""

from aifactory.portal.review.services.assignment import call_assign, review_submit
from aifactory.portal.review.services.calls import CriterionSpec, call_close, call_move, call_open
from aifactory.portal.review.services.reviewers import conflict_declare, reviewer_add
from aifactory.portal.review.services.selection import TIE_EPSILON, call_accept, call_select, route_override

__all__ = [
    "TIE_EPSILON",
    "CriterionSpec",
    "call_accept",
    "call_assign",
    "call_close",
    "call_move",
    "call_open",
    "call_select",
    "conflict_declare",
    "review_submit",
    "reviewer_add",
    "route_override",
]

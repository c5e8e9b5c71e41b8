from __future__ import annotations

from enum import StrEnum

from aifactory.core.states import Transitions


class OrderState(StrEnum):
    """A provisioning order: the site's agent creates the allocation's account, or reports why it could not."""

    PENDING = "pending"  # waiting for the site's agent
    DONE = "done"  # the account exists at the site, with its GPU-minutes limit
    FAILED = "failed"  # the agent could not create it (its message says why)


ORDER_STATE_CHOICES = [(s.value, s.value.capitalize()) for s in OrderState]

ORDER_TRANSITIONS: Transitions[OrderState] = Transitions("provisioning order", {
    OrderState.PENDING: {OrderState.DONE, OrderState.FAILED},
    OrderState.DONE: set(),
    OrderState.FAILED: set(),
})

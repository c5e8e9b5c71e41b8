"""The provisioning order's state machine: its table against the edges written out, and every move through the one
service that makes it (order_complete, the agent's report), with its audit row."""

from __future__ import annotations

import itertools

import pytest

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.allocations.choices import ORDER_TRANSITIONS, OrderState
from aifactory.portal.allocations.models import OrderStateChange, ProvisioningOrder
from aifactory.portal.allocations.services import order_complete
from aifactory.portal.common.errors import Conflict
from tests.conftest import AllocationFactory
from tests.state_edges import ORDER_EDGES, allowed

pytestmark = pytest.mark.django_db


def test_the_table_holds_exactly_the_expected_edges():
    assert ORDER_TRANSITIONS.edges() == ORDER_EDGES


@pytest.mark.parametrize(("current", "target"), list(itertools.product(OrderState, OrderState)),
                         ids=lambda s: s.value)
def test_every_pair_follows_the_expected_edges(current, target):
    if allowed(ORDER_EDGES, current, target):
        ORDER_TRANSITIONS.check(current, target)
    else:
        with pytest.raises(InvalidTransition):
            ORDER_TRANSITIONS.check(current, target)


@pytest.mark.parametrize("current", list(OrderState), ids=lambda s: s.value)
@pytest.mark.parametrize("target", [OrderState.DONE, OrderState.FAILED], ids=lambda s: s.value)
def test_every_move_through_the_agents_report(organisation, site, current, target):
    allocation = AllocationFactory(application__organisation=organisation, provisioned=False)
    order = ProvisioningOrder.objects.get(allocation=allocation, site=site.site)
    ProvisioningOrder.objects.filter(pk=order.pk).update(state=current.value)
    report = {"site": site.site, "order_id": order.pk, "ok": target == OrderState.DONE, "message": "sacctmgr said"}
    if current == target:
        order_complete(**report)  # the agent repeats itself after a crash: nothing changes, nothing is recorded
        assert not OrderStateChange.objects.filter(order=order).exists()
    elif allowed(ORDER_EDGES, current, target):
        order_complete(**report)
        (change,) = OrderStateChange.objects.filter(order=order)
        assert (change.from_state, change.to_state, change.reason) == (current.value, target.value, "sacctmgr said")
    else:
        with pytest.raises(Conflict):
            order_complete(**report)
        assert not OrderStateChange.objects.filter(order=order).exists()
    order.refresh_from_db()
    expected = target if current == target or allowed(ORDER_EDGES, current, target) else current
    assert order.state == expected.value

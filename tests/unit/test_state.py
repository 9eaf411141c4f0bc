"""The order state machine."""

from __future__ import annotations

import pytest

from orderhub.errors import InvalidTransition
from orderhub.orders.state import TRANSITIONS, OrderStatus, ensure_transition

S = OrderStatus


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.RECEIVED, S.VALIDATED),
        (S.VALIDATED, S.RESERVED),
        (S.RESERVED, S.READY),
        (S.READY, S.PICKING),
        (S.PICKING, S.PACKED),
        (S.PACKED, S.SHIPPED),
        (S.SHIPPED, S.DELIVERED),
        (S.EXCEPTION, S.RECEIVED),
        (S.HELD, S.CANCELLED),
    ],
)
def test_allowed(src: OrderStatus, dst: OrderStatus) -> None:
    ensure_transition(src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.RECEIVED, S.READY),
        (S.READY, S.DELIVERED),  # (ready → shipped is allowed: shipped by hand)
        (S.SHIPPED, S.CANCELLED),
        (S.CANCELLED, S.RECEIVED),
        (S.DELIVERED, S.EXCEPTION),
        (S.PACKED, S.CANCELLED),
    ],
)
def test_refused_with_a_clear_error(src: OrderStatus, dst: OrderStatus) -> None:
    with pytest.raises(InvalidTransition) as info:
        ensure_transition(src, dst)
    assert info.value.code == "invalid_transition"
    assert info.value.extra == {"from": src.value, "to": dst.value}
    assert "订单状态不能从" in info.value.message


def test_every_status_has_a_row_and_final_ones_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    assert TRANSITIONS[S.CANCELLED] == TRANSITIONS[S.DELIVERED] == frozenset()

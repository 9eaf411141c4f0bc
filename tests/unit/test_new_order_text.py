"""An order's text may not hold NUL (PostgreSQL text cannot store it): the check names the field, on every back end,
and lets through text that merely looks like an escape."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from orderhub.errors import ValidationFailed
from orderhub.orders.commands import NewOrder, NewOrderLine, Receiver
from orderhub.orders.service import check_new_order


def _order(**changes: object) -> NewOrder:
    now = datetime.now(UTC)
    order = NewOrder(
        external_id="T-1",
        placed_at=now,
        paid_at=now,
        buyer_nick="买家",
        buyer_phone="",
        receiver=Receiver(name="王小明", phone="13800138000", address="上海市浦东新区世纪大道100号"),
        lines=(NewOrderLine(sku="SKU-1", qty=1, unit_price=1990),),
        shipping_fee=0,
        discount=0,
        paid_amount=1990,
        buyer_memo="",
        seller_memo="",
        raw={},
    )
    return msgspec.structs.replace(order, **changes)


def test_nul_is_refused_naming_its_field() -> None:
    with pytest.raises(ValidationFailed) as memo:
        check_new_order(_order(buyer_memo="快\x00递"))
    assert memo.value.field == "buyer_memo"
    receiver = Receiver(name="王\x00", phone="13800138000", address="上海市浦东新区世纪大道100号")
    with pytest.raises(ValidationFailed) as name:
        check_new_order(_order(receiver=receiver))
    assert name.value.field == "receiver.name"
    with pytest.raises(ValidationFailed) as sku:
        check_new_order(_order(lines=(NewOrderLine(sku="SKU\x00", qty=1, unit_price=1),)))
    assert sku.value.field == "lines[0].sku"


def test_text_that_looks_like_an_escape_passes() -> None:
    check_new_order(_order(buyer_memo="备注里写着 \\u0000 和 \\x00"))
    check_new_order(_order(raw={"anything": "\x00"}))  # the platform's raw payload is stored as JSON, escaped

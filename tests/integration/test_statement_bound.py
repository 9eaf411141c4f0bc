"""The engine refuses any statement with more than ``db.MAX_PARAMS`` bind parameters (issue 22, part 3), on both
back ends, before it reaches the database: query builder and raw SQL alike, in a transaction or not. The list goes
``db.chunks()`` at a time instead."""

from __future__ import annotations

import pytest

from orderhub import db
from orderhub.orders.tables import Order
from tests.support.hub import Hub

TOO_MANY = rf"{db.MAX_PARAMS + 1} bind parameters in one statement \(at most {db.MAX_PARAMS}\).*db\.chunks"


async def test_the_engine_is_the_bounded_one(store: Hub) -> None:
    engine = db.get_engine()
    assert isinstance(engine, db.BoundedPostgresEngine | db.BoundedSQLiteEngine)
    assert isinstance(engine, db.BoundedSQLiteEngine) == (store.backend == "sqlite")


async def test_an_in_list_past_the_bound_is_refused_and_chunks_pass(store: Hub) -> None:
    ids = list(range(-(db.MAX_PARAMS + 1), 0))  # no order has a negative id
    with pytest.raises(db.TooManyParameters, match=TOO_MANY):
        await Order.select(Order.id).where(Order.id.is_in(ids))
    with pytest.raises(db.TooManyParameters, match=TOO_MANY):
        await Order.select(Order.id).where(Order.id.not_in(ids))
    with pytest.raises(db.TooManyParameters, match=rf"{db.MAX_PARAMS + 2} bind parameters"):  # the memo and the ids
        async with db.transaction():  # the transaction's connection is guarded too; nothing was sent
            await Order.update({Order.seller_memo: "x"}).where(Order.id.is_in(ids))

    found = []
    for part in db.chunks(ids):
        found += await Order.select(Order.id).where(Order.id.is_in(list(part)))
    assert found == []
    # exactly the bound is allowed
    assert await Order.select(Order.id).where(Order.id.is_in(ids[: db.MAX_PARAMS])) == []


async def test_raw_sql_past_the_bound_is_refused(store: Hub) -> None:
    ids = list(range(-(db.MAX_PARAMS + 1), 0))
    marks = ", ".join(["{}"] * len(ids))  # what db.placeholders() refuses to build
    with pytest.raises(db.TooManyParameters, match=TOO_MANY):
        await db.fetch_as(db.IdRow, f"SELECT id FROM sales_order WHERE id IN ({marks})", *ids)
    assert await db.fetch_as(db.IdRow, f"SELECT id FROM sales_order WHERE id IN ({marks[3:]})", *ids[1:]) == []

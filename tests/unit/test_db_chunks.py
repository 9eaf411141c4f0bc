"""Statements built from a list stay within the bound-parameter limits (issue 15, item 10)."""

from __future__ import annotations

import pytest

from orderhub import db
from orderhub.orders.tables import OrderEvent


def test_chunks_cover_the_sequence_in_order_without_overlap() -> None:
    items = list(range(25))
    parts = list(db.chunks(items, 10))
    assert [len(p) for p in parts] == [10, 10, 5]
    assert [x for p in parts for x in p] == items
    assert list(db.chunks(items, 25)) == [items]
    assert list(db.chunks(items, 100)) == [items]
    assert list(db.chunks([], 10)) == []
    assert list(db.chunks((1, 2, 3), 1)) == [(1,), (2,), (3,)]


def test_chunks_default_to_the_parameter_bound() -> None:
    parts = list(db.chunks(range(db.MAX_PARAMS * 2 + 1)))
    assert [len(p) for p in parts] == [db.MAX_PARAMS, db.MAX_PARAMS, 1]


@pytest.mark.parametrize("size", [0, -1])
def test_chunk_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError):
        list(db.chunks([1, 2], size))


def test_the_bound_is_well_under_both_back_ends_limits() -> None:
    assert db.MAX_PARAMS <= 32_766 // 2  # SQLite ≥ 3.32: 32,766; PostgreSQL: 32,767


def test_rows_per_statement_keeps_a_multi_row_insert_within_the_bound() -> None:
    columns = len(OrderEvent._meta.columns)
    rows = db.rows_per_statement(columns)
    assert rows * columns <= db.MAX_PARAMS < (rows + 1) * columns
    assert db.rows_per_statement(db.MAX_PARAMS * 3) == 1  # a very wide row still goes, one per statement
    assert db.rows_per_statement(0) == db.MAX_PARAMS


def test_placeholders_refuse_an_unbounded_in_list() -> None:
    assert db.placeholders(3) == "{}, {}, {}"
    assert db.placeholders(db.MAX_PARAMS).count("{}") == db.MAX_PARAMS
    with pytest.raises(ValueError, match=r"db\.chunks"):
        db.placeholders(db.MAX_PARAMS + 1)

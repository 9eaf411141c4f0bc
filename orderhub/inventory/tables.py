"""Warehouses, their locations, stock levels and the stock audit trail."""

from __future__ import annotations

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from orderhub.catalog.tables import Sku

__all__ = ["Location", "StockAdjustment", "StockLevel", "Warehouse"]


class Warehouse(Table, tablename="warehouse"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    code = Varchar(length=32, unique=True, index=True)
    name = Varchar(length=100)
    region = Varchar(length=32, default="")
    # JSON array of province names this warehouse serves (e.g. ["上海市", "江苏省"]).
    provinces = Text(default="[]")
    address = Varchar(length=255, default="")
    active = Boolean(default=True)
    daily_capacity = Integer(default=0)  # orders it can ship per day (dashboards); 0 = not set
    created_at = Timestamptz()


class Location(Table, tablename="location"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    warehouse = ForeignKey(references=Warehouse, index=True)
    code = Varchar(length=32)
    zone = Varchar(length=16, default="")
    aisle = Varchar(length=16, default="")
    bay = Varchar(length=16, default="")
    level = Varchar(length=16, default="")
    # Walk order inside the warehouse; pick paths sort by it.
    sequence = Integer(default=0)
    active = Boolean(default=True)
    created_at = Timestamptz()


class StockLevel(Table, tablename="stock_level"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    sku = ForeignKey(references=Sku)  # indexed by the unique (sku, warehouse)
    warehouse = ForeignKey(references=Warehouse, index=True)
    on_hand = Integer(default=0)
    reserved = Integer(default=0)
    updated_at = Timestamptz()


class StockAdjustment(Table, tablename="stock_adjustment"):
    id: Serial  # the primary key piccolo adds; declared for type checkers
    sku = ForeignKey(references=Sku, index=True)
    warehouse = ForeignKey(references=Warehouse)
    delta = Integer()
    on_hand_after = Integer()
    reason = Varchar(length=255)
    actor = Varchar(length=64)
    created_at = Timestamptz()

"""The order state machine, in one place."""

from __future__ import annotations

from enum import StrEnum

from orderhub.errors import InvalidTransition

__all__ = [
    "FINAL",
    "PROCESSING",
    "RELEASABLE",
    "TRANSITIONS",
    "ExceptionReason",
    "OrderStatus",
    "ensure_transition",
]


class OrderStatus(StrEnum):
    RECEIVED = "received"
    VALIDATED = "validated"
    RESERVED = "reserved"
    READY = "ready"
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    HELD = "held"
    EXCEPTION = "exception"
    CANCELLED = "cancelled"


class ExceptionReason(StrEnum):
    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_SKU = "unknown_sku"
    NO_WAREHOUSE = "no_warehouse"
    BAD_ADDRESS = "bad_address"
    BAD_PHONE = "bad_phone"
    # A cross-border order lacks what its destination's rule pack requires (docs/customs.md): fill in the SKUs'
    # customs data, then retry.
    CUSTOMS_DATA_MISSING = "customs_data_missing"


S = OrderStatus

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.RECEIVED: frozenset({S.VALIDATED, S.HELD, S.EXCEPTION, S.CANCELLED}),
    S.VALIDATED: frozenset({S.READY, S.RESERVED, S.HELD, S.EXCEPTION, S.CANCELLED, S.RECEIVED}),
    S.RESERVED: frozenset({S.READY, S.HELD, S.EXCEPTION, S.CANCELLED, S.RECEIVED}),
    # READY → SHIPPED: shipped by hand outside the hub's pick/pack flow (手工发货).
    S.READY: frozenset({S.PICKING, S.HELD, S.EXCEPTION, S.CANCELLED, S.RECEIVED, S.SHIPPED}),
    S.PICKING: frozenset({S.PACKED, S.READY, S.EXCEPTION}),
    S.PACKED: frozenset({S.SHIPPED, S.EXCEPTION}),
    S.SHIPPED: frozenset({S.DELIVERED, S.EXCEPTION}),
    S.DELIVERED: frozenset(),
    # Held and exception orders re-enter the pipeline from the start once resolved; so does an order not yet
    # picked whose receiver the platform changed (validated / ready → received).
    S.HELD: frozenset({S.RECEIVED, S.CANCELLED}),
    S.EXCEPTION: frozenset({S.RECEIVED, S.HELD, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}

# Statuses the worker is still moving an order through; the sweeper re-enqueues orders stuck in them.
PROCESSING: frozenset[OrderStatus] = frozenset({S.RECEIVED, S.VALIDATED, S.RESERVED})
FINAL: frozenset[OrderStatus] = frozenset({S.DELIVERED, S.CANCELLED})
# Statuses in which an order may hold reserved stock that cancellation must give back.
RELEASABLE: frozenset[OrderStatus] = frozenset({S.RESERVED, S.READY, S.HELD, S.EXCEPTION})

_LABELS = {
    S.RECEIVED: "已接收",
    S.VALIDATED: "已校验",
    S.RESERVED: "已占库存",
    S.READY: "待拣货",
    S.PICKING: "拣货中",
    S.PACKED: "已打包",
    S.SHIPPED: "已发货",
    S.DELIVERED: "已签收",
    S.HELD: "已挂起",
    S.EXCEPTION: "异常",
    S.CANCELLED: "已取消",
}


def label(status: OrderStatus) -> str:
    return _LABELS[status]


def ensure_transition(current: OrderStatus | str, target: OrderStatus | str) -> None:
    src, dst = OrderStatus(current), OrderStatus(target)
    if dst not in TRANSITIONS[src]:
        raise InvalidTransition(
            f"订单状态不能从「{label(src)}」变为「{label(dst)}」",
            field="status",
            extra={"from": src.value, "to": dst.value},
        )

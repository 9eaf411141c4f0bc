"""Events the orders context publishes after commit (also the ``order_event.type`` values it writes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

__all__ = ["OrderAtRisk", "OrderEventType", "OrderReceived", "OrderShipped", "OrderStatusChanged"]


class OrderEventType(StrEnum):
    RECEIVED = "order.received"
    STATUS_CHANGED = "order.status_changed"
    STOCK_RESERVED = "order.stock_reserved"
    ROUTED = "order.routed"  # the warehouse ranking, each one's reasons, and the decision (routing.explain)
    STOCK_RELEASED = "order.stock_released"
    RULE_FIRED = "order.rule_fired"
    HOLD_RELEASED = "order.hold_released"
    RETRIED = "order.retried"
    RECEIVER_CHANGED = "order.receiver_changed"
    AT_RISK = "order.at_risk"
    MERGED = "order.merged"
    BACKFILLED = "order.backfilled"
    PLATFORM_CHANGED = "order.platform_changed"
    SHIPPED = "order.shipped"
    WRITTEN_BACK = "order.written_back"
    WAVED = "order.waved"
    PICK_WITHDRAWN = "order.pick_withdrawn"
    SHORT_PICKED = "order.short_picked"
    PACKED = "order.packed"
    WAYBILL_ISSUED = "order.waybill_issued"
    WAYBILL_CHOICE_RELEASED = "order.waybill_choice_released"  # a request without an answer, freed by a manager
    PARCEL_UPDATED = "order.parcel_updated"  # the parcel's tracking state changed (collected, out for delivery …)
    PARCEL_STALLED = "order.parcel_stalled"  # no movement for 48 h: an exception on the parcel
    STAFF_NOT_ALERTED = "order.staff_not_alerted"  # a staff alert about the order found nobody to tell
    WRITEBACK_FAILED = "order.writeback_failed"  # the platform refused the shipment for good: a person must act
    APPROVAL_REQUESTED = "order.approval_requested"  # an approval request about the order was opened (approvals)
    APPROVAL_DECIDED = "order.approval_decided"  # … approved or rejected: who, when, why, and what was done
    APPROVAL_NOT_STARTED = "order.approval_not_started"  # held for a flow that could not start: released by hand
    REFUND_RECORDED = "order.refund_recorded"  # an approved refund (fen, reason, request id): finance reads it
    RESHIP_CREATED = "order.reship_created"  # a replacement order (补发单) was made for this one
    CREATED_AS_RESHIP = "order.created_as_reship"  # this order is a 补发单: of which order, why, on whose approval
    PUTBACK_CREATED = "order.putback_created"  # picked units of an order that will not ship must go back (返架)
    PUTBACK_DONE = "order.putback_done"  # … and were put back (what was missing written off)
    WAYBILL_VOIDED = "order.waybill_voided"  # the hub stopped using the waybill (receiver changed after packing)
    WAYBILL_CANCELLED = "order.waybill_cancelled"  # … and the carrier cancelled it
    WAYBILL_CANCEL_FAILED = "order.waybill_cancel_failed"  # … the carrier refused to cancel it: a person checks


class OrderReceived(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=OrderEventType.RECEIVED.value):
    order_id: int
    channel: str
    external_id: str
    at: datetime


class OrderStatusChanged(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=OrderEventType.STATUS_CHANGED.value
):
    order_id: int
    from_status: str
    to_status: str
    reason: str | None
    at: datetime


class OrderAtRisk(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=OrderEventType.AT_RISK.value):
    """The order will miss ``ship_by`` at the current pace unless someone acts (for notifications later)."""

    order_id: int
    channel: str
    external_id: str
    status: str
    ship_by: datetime
    at: datetime


class OrderShipped(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=OrderEventType.SHIPPED.value):
    """The order left the warehouse with this waybill (for platform write-back and customer notifications)."""

    order_id: int
    channel: str
    external_id: str
    carrier: str
    waybill_no: str
    at: datetime

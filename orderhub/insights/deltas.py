"""Events → counter deltas: the one mapping both the incremental upkeep and the rebuild use (pure, no database).

Order events (``order_event``) count into the order-flow rollups; PDA scans (``pda_scan``) into the operators'.
Which warehouse an order event counts for is decided from the event log alone, so a rebuild gives what the
incremental upkeep wrote (docs/insights.md#which-warehouse):

* an order's warehouse is the single warehouse named by its latest ``→ ready`` status change carrying
  ``warehouse_ids`` (0 before that, and 0 when the order was split over several warehouses);
* ``order.received`` and the status changes out of a not-yet-routed status (received, validated, reserved) count for
  warehouse 0, unless the change itself routes the order;
* the status counts keep received / validated / reserved orders under warehouse 0.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from orderhub import clock
from orderhub.insights.tables import CYCLE_EDGES_MIN
from orderhub.orders.events import OrderEventType
from orderhub.orders.state import OrderStatus
from orderhub.picking.errors import ScanRefusal

__all__ = [
    "BUCKET_SECONDS",
    "COUNTED_EVENTS",
    "MISTAKES",
    "PRE_ROUTING",
    "SHARDS",
    "Deltas",
    "EventIn",
    "OrderFacts",
    "ScanIn",
    "apply_order_event",
    "apply_scan",
    "bucket_of",
    "cycle_column",
    "needs_warehouse",
    "routed_to",
    "shanghai_day",
]

BUCKET_SECONDS = 15 * 60
# order id % SHARDS. One: the catch-up job is the only writer of the order tables (a batch at a time), so rows need
# not be split to spare concurrent writers a queue, and the dashboards read 8x fewer rows than with 8.
SHARDS = 1

S = OrderStatus
PRE_ROUTING: frozenset[str] = frozenset({S.RECEIVED.value, S.VALIDATED.value, S.RESERVED.value})
_STATUS_COUNTER: dict[str, str] = {
    S.PACKED.value: "packed",
    S.SHIPPED.value: "shipped",
    S.DELIVERED.value: "delivered",
    S.CANCELLED.value: "cancelled",
    S.EXCEPTION.value: "exceptions",
    S.HELD.value: "held",
}
_REASON_KIND: dict[str, str] = {S.EXCEPTION.value: "exception", S.HELD.value: "held", S.CANCELLED.value: "cancelled"}
_RECEIVED = OrderEventType.RECEIVED.value
_STATUS_CHANGED = OrderEventType.STATUS_CHANGED.value
_AT_RISK = OrderEventType.AT_RISK.value
_SHORT_PICKED = OrderEventType.SHORT_PICKED.value
COUNTED_EVENTS = frozenset({_RECEIVED, _STATUS_CHANGED, _AT_RISK, _SHORT_PICKED})

# Refused scans that were the operator's mistake (a refusal such as "task not yours" is not counted).
MISTAKES: frozenset[str] = frozenset(
    {
        ScanRefusal.WRONG_LOCATION.value,
        ScanRefusal.LOCATION_NOT_SCANNED.value,
        ScanRefusal.WRONG_ITEM.value,
        ScanRefusal.OVER_PICK.value,
        ScanRefusal.EXTRA_ITEM.value,
        ScanRefusal.ITEMS_MISSING.value,
    }
)
_PACK_KINDS = frozenset({"pack_item", "weigh"})


class EventIn(msgspec.Struct, frozen=True, kw_only=True):
    """What the rollups need of one ``order_event`` row."""

    order_id: int
    type: str
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    warehouse_ids: tuple[int, ...] | None = None  # a status change that routed the order (→ ready)
    queue: str | None = None  # the hold queue of a → held change
    at: datetime


class OrderFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the rollups need of the order itself (columns that never change once the order exists)."""

    channel: int
    paid_fen: int = 0
    paid_at: datetime | None = None
    ship_by: datetime | None = None


class ScanIn(msgspec.Struct, frozen=True, kw_only=True):
    """What the rollups need of one ``pda_scan`` row."""

    user_id: int
    warehouse_id: int
    kind: str
    ok: bool
    error: str = ""
    qty: int = 0
    order_id: int | None = None
    at: datetime  # received by the hub


BucketKey = tuple[datetime, int, int, int]  # bucket_start, channel, warehouse, shard
ReasonKey = tuple[datetime, int, int, int, str, str]  # … kind, reason
StatusKey = tuple[int, int, int, str]  # channel, warehouse, shard, status
OperatorKey = tuple[date, int, int, str]  # day, warehouse, user id, role


class Deltas:
    """Counter increments, summed per row key (one UPSERT row each when written)."""

    __slots__ = ("buckets", "first_last", "operators", "quality", "reasons", "statuses")

    def __init__(self) -> None:
        self.buckets: defaultdict[BucketKey, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.reasons: defaultdict[ReasonKey, int] = defaultdict(int)
        self.statuses: defaultdict[StatusKey, int] = defaultdict(int)
        self.operators: defaultdict[OperatorKey, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.first_last: dict[OperatorKey, tuple[int, int]] = {}
        self.quality: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0])  # order id → [errors, packs]

    def __bool__(self) -> bool:
        return bool(self.buckets or self.reasons or self.statuses or self.operators or self.quality)

    def as_dict(self) -> dict[str, Any]:
        """Everything, without zero counters (to compare two of them in tests)."""
        return {
            "buckets": {k: {n: v for n, v in c.items() if v} for k, c in self.buckets.items() if any(c.values())},
            "reasons": {k: v for k, v in self.reasons.items() if v},
            "statuses": {k: v for k, v in self.statuses.items() if v},
            "operators": {k: dict(c) for k, c in self.operators.items()},
            "first_last": dict(self.first_last),
            "quality": {k: tuple(v) for k, v in self.quality.items()},
        }


def bucket_of(at: datetime) -> datetime:
    """The start (UTC) of the 15-minute bucket ``at`` falls in."""
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % BUCKET_SECONDS, UTC)


def shanghai_day(at: datetime) -> date:
    return clock.to_shanghai(at).date()


def cycle_column(seconds: int) -> str:
    """The histogram column a paid → shipped cycle of ``seconds`` counts in."""
    for edge in CYCLE_EDGES_MIN:
        if seconds <= edge * 60:
            return f"cycle_le_{edge}"
    return f"cycle_gt_{CYCLE_EDGES_MIN[-1]}"


def routed_to(event: EventIn) -> int | None:
    """The warehouse this event routes the order to (0: split), or None when it does not route it."""
    ids = event.warehouse_ids
    if ids is None:
        return None
    return ids[0] if len(ids) == 1 else 0


def _cell(status: str, warehouse: int) -> int:
    return 0 if status in PRE_ROUTING else warehouse


def needs_warehouse(event: EventIn) -> bool:
    """Whether counting this event needs the order's warehouse before it (else it counts for 0 or routes)."""
    if event.type in (_AT_RISK, _SHORT_PICKED):
        return True
    if event.type != _STATUS_CHANGED or event.warehouse_ids is not None:
        return False
    return (event.from_status or "") not in PRE_ROUTING or (event.to_status or "") not in PRE_ROUTING


def apply_order_event(deltas: Deltas, facts: OrderFacts, event: EventIn, warehouse: int) -> int:
    """Add what ``event`` counts to ``deltas``; ``warehouse`` is the order's before it. Returns the order's warehouse
    after it."""
    kind = event.type
    if kind not in COUNTED_EVENTS:
        return warehouse
    shard = event.order_id % SHARDS
    bucket = bucket_of(event.at)
    channel = facts.channel
    if kind == _RECEIVED:
        counters = deltas.buckets[(bucket, channel, 0, shard)]
        counters["received"] += 1
        counters["received_fen"] += facts.paid_fen
        deltas.statuses[(channel, 0, shard, S.RECEIVED.value)] += 1
        return warehouse
    if kind == _AT_RISK or kind == _SHORT_PICKED:
        deltas.buckets[(bucket, channel, warehouse, shard)]["at_risk" if kind == _AT_RISK else "short_picked"] += 1
        return warehouse
    source = event.from_status or ""
    target = event.to_status or ""
    routed = routed_to(event)
    after = warehouse if routed is None else routed
    if source:
        deltas.statuses[(channel, _cell(source, warehouse), shard, source)] -= 1
    if target:
        deltas.statuses[(channel, _cell(target, after), shard, target)] += 1
    counted = after if routed is not None or source not in PRE_ROUTING else 0
    name = _STATUS_COUNTER.get(target)
    if routed is not None and target == S.READY.value:
        name = "routed"
    if name is None:
        return after
    counters = deltas.buckets[(bucket, channel, counted, shard)]
    counters[name] += 1
    if target == S.SHIPPED.value:
        if facts.ship_by is not None:
            counters["shipped_with_sla"] += 1
            if event.at <= facts.ship_by:
                counters["shipped_on_time"] += 1
        if facts.paid_at is not None:
            seconds = max(0, int((event.at - facts.paid_at).total_seconds()))
            counters["cycle_count"] += 1
            counters["cycle_seconds"] += seconds
            counters[cycle_column(seconds)] += 1
    elif target == S.CANCELLED.value:
        counters["cancelled_fen"] += facts.paid_fen
    reason_kind = _REASON_KIND.get(target)
    if reason_kind is not None:
        reason = (event.queue if target == S.HELD.value and event.queue else event.reason) or ""
        deltas.reasons[(bucket, channel, counted, shard, reason_kind, reason[:32])] += 1
    return after


def apply_scan(deltas: Deltas, scan: ScanIn, quality: dict[int, list[int]]) -> None:
    """Add what one PDA scan counts to ``deltas``. ``quality`` holds, per order, [errors, packs] before this scan
    (what is known of the orders this scan may be about); it is updated, and the change added to ``deltas``."""
    role = "pack" if scan.kind in _PACK_KINDS else "pick"
    key = (shanghai_day(scan.at), scan.warehouse_id, scan.user_id, role)
    counters = deltas.operators[key]
    counters["scans"] += 1
    second = int(scan.at.timestamp())
    first, last = deltas.first_last.get(key, (second, second))
    deltas.first_last[key] = (min(first, second), max(last, second))
    mistake = False
    if scan.ok:
        if scan.kind == "item":
            counters["item_scans"] += 1
            counters["units"] += scan.qty
        elif scan.kind == "pack_item":
            counters["item_scans"] += 1
            counters["units"] += 1
        elif scan.kind == "short":
            counters["short_picks"] += 1
            mistake = True
        elif scan.kind == "weigh":
            counters["orders_packed"] += 1
            if scan.order_id is not None:
                state = quality.setdefault(scan.order_id, [0, 0])
                if state[0] == 0 and state[1] == 0:
                    counters["first_pass_ok"] += 1
                state[1] += 1
                deltas.quality[scan.order_id][1] += 1
    elif scan.error == ScanRefusal.WEIGHT_MISMATCH.value:
        counters["weight_mismatches"] += 1
        mistake = True
    elif scan.error in MISTAKES:
        counters["wrong_scans"] += 1
        mistake = True
    if mistake and scan.order_id is not None:
        quality.setdefault(scan.order_id, [0, 0])[0] += 1
        deltas.quality[scan.order_id][0] += 1

"""The set-based pipeline (PostgreSQL): a batch of newly received orders, RECEIVED → READY in one transaction with a
fixed number of statements, whatever the batch's size.

The worker's batch job (``process_orders``) comes here first. Reads, one query each for the whole batch: the orders
(with their channels' terms), their lines, the duplicate candidates, the SKUs, and the stock of every warehouse they
may ship from. Then every decision is taken in Python by the very functions the per-order path uses — receiver
standardisation (:func:`~.validation.check_receiver`), the duplicate check's rule, the rules
(:func:`~.validation.rule_outcome`, :func:`~.validation.rule_values`), warehouse ranking, :func:`plan` and
:func:`explain` — against a running copy of the stock the batch has taken so far. Writes, one statement each: the
orders' status and what validation learned, the shipments, the lines (SKU, warehouse, shipment, reserved), the
events; then, last before COMMIT, the stock rows locked in id order and reserved by one conditional UPDATE
(:func:`orderhub.inventory.service.reserve_many`).

An order is made ready here when its way through is the plain one: domestic, receiver understood, no duplicate
suspicion, no hold and no gift from the rules, every SKU known, a warehouse plan that covers it, and nothing to merge
with (合单: no open shipment for its receiver, and no earlier order of the batch to the same receiver — or the
channel's merge is off, or a surge deferred it). An order that the per-order path would end held or in exception
without reserving anything — a receiver nobody can read, a suspected duplicate, a rule's hold, an unknown SKU, short
stock (out_of_stock, or ``awaiting_stock`` under the wait policy), no warehouse — is written here too, with the same
columns, events (and their order) and status hooks as :func:`~orderhub.orders.service.transition` gives it: one
UPDATE for all of them. Every other order (gift lines to add, a merge, abroad, already validated) — and every order
of a batch
whose stock ran short under it (another worker took the last units) or whose row changed meanwhile — is handed back
to the per-order path (:func:`~.steps.process_order`), which decides exactly as before. That path takes them after
this batch commits, yet each comes before the batch's later orders: so a later order is handed back too when an
earlier one handed back may still reserve one of its SKUs (gifts, a merge, an order already validated …) or ship to
its receiver — the stock and the shipments go in id order, as the per-order path alone would give them.

SQLite (the embedded default, one writer at a time) keeps the per-order path.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.address.international import DOMESTIC
from orderhub.events import Topic, order_topic, publish_after_commit
from orderhub.inventory.service import Shortfall, reserve_many
from orderhub.orders import pii
from orderhub.orders.events import OrderEventType, OrderStatusChanged
from orderhub.orders.pipeline.reservation import AWAITING_STOCK, _merge_mode, _ranked, _receiver_key_of
from orderhub.orders.pipeline.rows import ORDER_SELECT, SEALED_FIELDS, LineRow, OrderRow, SkuRow
from orderhub.orders.pipeline.validation import (
    DUPLICATE_WINDOW,
    check_receiver,
    record_fired,
    rule_outcome,
    rule_values,
)
from orderhub.orders.service import STATUS_CHANGE_HOOKS, StatusChange, record_event
from orderhub.orders.state import ExceptionReason, OrderStatus
from orderhub.routing.service import (
    Allocation,
    RoutingDecision,
    SplitPolicy,
    explain,
    packing_line,
    plan,
)
from orderhub.rules.service import HoldRequest, RuleOutcome, memo_gift_candidates
from orderhub.settings import get_settings

__all__ = ["MAX_BATCH", "BatchResult", "process_batch"]

log = logging.getLogger("orderhub.pipeline.batch")

S = OrderStatus
# Orders one batch takes at most (the job's batches are ``pipeline_batch_size``, 25 by default): every statement
# binds one array per column, and its rows stay bounded.
MAX_BATCH = 500


class BatchResult(msgspec.Struct, kw_only=True):
    """What the set-based pass did: the orders it made ready (id → when each was received), the orders it ended
    held or in exception (id → status), and the orders it left for the per-order path (in the order given)."""

    ready: dict[int, datetime]
    rest: list[int]
    settled: dict[int, str] = {}


class _Order(OrderRow, kw_only=True):
    id: int
    warehouse: int | None
    # as stored (sealed): what the UPDATE requires still to be there
    guard_name: str
    guard_phone: str
    guard_address: str


class _Line(msgspec.Struct, kw_only=True):
    id: int
    order: int
    sku: int | None
    sku_code: str
    is_gift: bool
    qty: int
    line_no: int
    unit_price: int


class _Candidate(msgspec.Struct, kw_only=True):
    id: int
    fingerprint: str
    received_at: datetime


class _Level(msgspec.Struct, kw_only=True):
    warehouse: int
    sku: int
    available: int


class _Planned(msgspec.Struct, kw_only=True):
    order: _Order
    lines: list[_Line]
    skus: dict[str, SkuRow]
    values: dict[str, Any]  # sales_order column → value
    outcome: RuleOutcome | None  # None: not the first pass (the rules ran before)
    allocation: Allocation
    routing: RoutingDecision
    deferred: tuple[str, ...]
    receiver_key: str  # 合单's key, as validation left the receiver


class _Sku(SkuRow, kw_only=True):
    active: bool


class _Ready(msgspec.Struct):
    """Validation passed: the columns it learned and the rules' outcome (None: not the first pass)."""

    values: dict[str, Any]
    outcome: RuleOutcome | None


class _Settle(msgspec.Struct, kw_only=True):
    """An order the per-order path ends held or in exception without reserving: what its ``transition`` writes."""

    status: OrderStatus  # HELD or EXCEPTION
    reason: str
    data: dict[str, Any]
    hold_queue: str | None = None
    values: dict[str, Any] = {}  # sales_order column → value
    pending_holds: str | None = None  # None: keep the stored value
    outcome: RuleOutcome | None = None
    via_validated: bool = False  # reservation's decision: RECEIVED → VALIDATED first, then (routed) on to status
    routing: RoutingDecision | None = None
    sku_fixes: list[tuple[int, int]] = []  # (line, SKU id) the per-order path sets (a line the intake left)


class _Settled(msgspec.Struct):
    order: _Order
    settle: _Settle


class _Lost(Exception):
    """The batch's writes cannot all stand (stock went, an order changed): the transaction is undone."""


_ORDERS_SQL = (
    "SELECT o.id, o.warehouse, "
    "o.receiver_name AS guard_name, o.receiver_phone AS guard_phone, o.receiver_address AS guard_address, "
    f"{ORDER_SELECT} FROM sales_order o JOIN channel c ON c.id = o.channel WHERE o.id = ANY({{}}::bigint[]) "
    "AND o.status = ANY({}::varchar[]) ORDER BY o.id"
)
_LINES_SQL = (
    'SELECT id, "order", sku, sku_code, is_gift, qty, line_no, unit_price FROM order_line '
    'WHERE "order" = ANY({}::bigint[]) ORDER BY id'
)
# The duplicate check's candidates for the whole batch: the per-order rule (same fingerprint, not cancelled, within
# the window, received earlier — or at the same instant with a smaller id) is applied to them in Python.
_DUPLICATES_SQL = (
    "SELECT id, fingerprint, received_at FROM sales_order "
    "WHERE fingerprint = ANY({}::varchar[]) AND status <> {} AND received_at >= {} ORDER BY id"
)
# Inactive ones too: a memo's gift is added for any SKU code that exists (validation._apply_rules), and a line of an
# inactive one is an unknown SKU.
_SKUS_SQL = "SELECT id, code, weight_g, volume_cm3, active FROM sku WHERE code = ANY({}::varchar[])"
_STOCK_SQL = (
    "SELECT warehouse, sku, on_hand - reserved AS available FROM stock_level "
    "WHERE warehouse = ANY({}::bigint[]) AND sku = ANY({}::bigint[])"
)

# What validation and reservation learned, one array per column; NULL keeps the stored value.
_KEPT = (
    ("receiver_province", "varchar"),
    ("receiver_city", "varchar"),
    ("receiver_district", "varchar"),
    ("receiver_detail", "text"),
    ("receiver_division_code", "varchar"),
    ("receiver_phone", "text"),
    ("receiver_phone_ext", "varchar"),
    ("ship_by", "timestamptz"),
    ("tags", "text"),
    ("priority", "varchar"),
    ("rules_applied_at", "timestamptz"),
    ("preferred_carrier", "varchar"),
    ("preferred_warehouse", "bigint"),
)
_KEPT_NAMES = frozenset(name for name, _ in _KEPT)
_READY_SQL = (
    "UPDATE sales_order AS o SET status = {}, exception_reason = NULL, hold_queue = NULL, hold_reason = NULL, "
    "updated_at = {}, warehouse = v.warehouse, needs_backfill = v.needs_backfill, "
    + ", ".join(f"{name} = COALESCE(v.{name}, o.{name})" for name, _ in _KEPT)
    + " FROM unnest({}::bigint[], {}::text[], {}::text[], {}::text[], {}::bigint[], {}::boolean[], "
    + ", ".join(f"{{}}::{kind}[]" for _, kind in _KEPT)
    + ") AS v(id, guard_name, guard_phone, guard_address, warehouse, needs_backfill, "
    + ", ".join(name for name, _ in _KEPT)
    + ") WHERE o.id = v.id AND o.status = {} AND o.receiver_name = v.guard_name "
    "AND o.receiver_phone = v.guard_phone AND o.receiver_address = v.guard_address RETURNING o.id"
)
# New shipments with their ids drawn first, so each comes back with the key of the (order, warehouse) it is for.
_SHIPMENTS_SQL = (
    "WITH v AS (SELECT nextval(pg_get_serial_sequence('shipment', 'id')) AS id, u.* FROM unnest({}::integer[], "
    "{}::bigint[], {}::varchar[], {}::varchar[], {}::integer[], {}::integer[], {}::varchar[]) "
    "AS u(k, warehouse, receiver_key, channel, weight_g, volume_cm3, packing_line)), "
    "made AS (INSERT INTO shipment (id, warehouse, status, receiver_key, channel, created_at, weight_g, volume_cm3, "
    "packing_line) SELECT id, warehouse, 'open', receiver_key, channel, {}, weight_g, volume_cm3, packing_line "
    "FROM v RETURNING id) "
    "SELECT v.id, v.k FROM v JOIN made ON made.id = v.id"
)
_LINES_UPDATE_SQL = (
    "UPDATE order_line AS l SET sku = v.sku, warehouse = v.warehouse, shipment = v.shipment, reserved_qty = l.qty "
    "FROM unnest({}::bigint[], {}::bigint[], {}::bigint[], {}::bigint[]) AS v(id, sku, warehouse, shipment) "
    "WHERE l.id = v.id"
)

# Orders ended held or in exception: transition()'s columns (status, the reason where it is kept, the hold queue),
# what validation learned (NULL keeps the stored value) and the holds still to come.
_SETTLE_SQL = (
    "UPDATE sales_order AS o SET status = v.status, exception_reason = v.exception_reason, "
    "hold_queue = v.hold_queue, hold_reason = v.hold_reason, updated_at = {}, "
    "pending_holds = COALESCE(v.pending_holds, o.pending_holds), "
    + ", ".join(f"{name} = COALESCE(v.{name}, o.{name})" for name, _ in _KEPT)
    + " FROM unnest({}::bigint[], {}::text[], {}::text[], {}::text[], {}::varchar[], {}::varchar[], {}::varchar[], "
    "{}::varchar[], {}::text[], "
    + ", ".join(f"{{}}::{kind}[]" for _, kind in _KEPT)
    + ") AS v(id, guard_name, guard_phone, guard_address, status, exception_reason, hold_queue, hold_reason, "
    "pending_holds, "
    + ", ".join(name for name, _ in _KEPT)
    + ") WHERE o.id = v.id AND o.status = {} AND o.receiver_name = v.guard_name "
    "AND o.receiver_phone = v.guard_phone AND o.receiver_address = v.guard_address RETURNING o.id, o.warehouse"
)
_SKU_FIX_SQL = (
    "UPDATE order_line AS l SET sku = v.sku FROM unnest({}::bigint[], {}::bigint[]) AS v(id, sku) WHERE l.id = v.id"
)

_OPEN_SHIPMENTS_SQL = (
    "SELECT DISTINCT receiver_key FROM shipment WHERE receiver_key = ANY({}::varchar[]) AND status = 'open' "
    "AND created_at >= {}"
)


class _Key(msgspec.Struct):
    receiver_key: str


class _ShipmentKey(msgspec.Struct):
    id: int
    k: int


class _Updated(msgspec.Struct):
    id: int
    warehouse: int | None


async def process_batch(order_ids: list[int]) -> BatchResult:
    """Make ready (or end held or in exception), set-based, the orders of ``order_ids`` whose way the set-based pass
    knows (see the module); the rest (and all of them on SQLite, or when the batch's writes could not stand) are
    returned for the per-order path. Call within :func:`~.cache.batch_scope` (rules and warehouse rankings read
    once)."""
    ids = sorted(set(order_ids))
    if db.is_sqlite() or len(ids) < 2:
        return BatchResult(ready={}, rest=list(order_ids))
    ready: dict[int, datetime] = {}
    settled: dict[int, str] = {}
    behind = _Behind(codes=set(), keys=set())
    for chunk in db.chunks(ids, MAX_BATCH):
        for _attempt in range(2):  # stock taken by another worker between our read and our UPDATE: read again once
            attempt = _Behind(codes=set(behind.codes), keys=set(behind.keys))
            try:
                made, ended = await _run(list(chunk), attempt)
            except _Lost as lost:
                log.info("batch lost a race; planning again", extra={"orders": len(chunk), "why": str(lost)})
                continue
            ready.update(made)
            settled.update(ended)
            behind = attempt
            break
        else:  # every order of this chunk goes the per-order way, before the later chunks' orders: so do those
            break
    return BatchResult(
        ready=ready, settled=settled, rest=[i for i in order_ids if i not in ready and i not in settled]
    )


class _Behind(msgspec.Struct):
    """What the orders handed back so far may still take when the per-order path makes them ready after this batch
    (it takes them in id order, so they come before every later order of the batch): their SKU codes, and the
    receivers of theirs and of the orders made ready here (a later order to one of them may merge with it: 合单)."""

    codes: set[str]
    keys: set[str]


class _Back(msgspec.Struct, frozen=True):
    """An order :func:`_validate` hands back to the per-order path, with the SKU codes it may still reserve there
    (none when that path ends it held or in exception)."""

    takes: frozenset[str]


_STOPS = _Back(takes=frozenset())


async def _run(ids: list[int], behind: _Behind) -> tuple[dict[int, datetime], dict[int, str]]:
    # Validated orders too: the per-order path reserves them (in id order), so they come before the later orders.
    orders = await db.fetch_as(_Order, _ORDERS_SQL, ids, [S.RECEIVED.value, S.VALIDATED.value])
    if not orders:
        return {}, {}
    lines_of: dict[int, list[_Line]] = defaultdict(list)
    for line in await db.fetch_as(_Line, _LINES_SQL, [o.id for o in orders]):
        lines_of[line.order].append(line)
    duplicates = await _duplicate_candidates([o for o in orders if o.status == S.RECEIVED.value])
    memo_gifts = {
        o.id: memo_gift_candidates(f"{o.seller_memo}\n{o.buyer_memo}")
        for o in orders
        if o.status == S.RECEIVED.value and o.rules_applied_at is None and (o.seller_memo or o.buyer_memo)
    }
    codes = sorted(
        {line.sku_code for lines in lines_of.values() for line in lines}
        | {code for found in memo_gifts.values() for code, _ in found}
    )
    every_sku = await db.fetch_as(_Sku, _SKUS_SQL, codes)
    skus: dict[str, SkuRow] = {sku.code: sku for sku in every_sku if sku.active}
    existing = {sku.code for sku in every_sku}

    verdicts: dict[int, _Ready | _Settle | _Back] = {}
    key_of: dict[int, str] = {}  # the receiver (合单) as validation leaves it
    for order in orders:
        lines = lines_of.get(order.id, [])
        try:
            for name in SEALED_FIELDS:  # the customer's sealed fields, opened for the steps (as load_order does)
                setattr(order, name, pii.open_(getattr(order, name)))
            if order.status == S.RECEIVED.value:
                verdicts[order.id] = await _validate(
                    order, lines, skus, duplicates, memo_gifts=memo_gifts.get(order.id, []), existing=existing
                )
            else:  # validated: the per-order path reserves it
                verdicts[order.id] = _Back(takes=frozenset(line.sku_code for line in lines))
            key_of[order.id] = _receiver_key_of(order)
        except Exception:  # an order the steps fail on fails alone, on the per-order path (its job retried)
            log.exception(
                "set-based path cannot decide an order; the per-order path takes it", extra={"order": order.id}
            )
            verdicts[order.id] = _Back(takes=frozenset(line.sku_code for line in lines))
            key_of[order.id] = ""  # no receiver key: no later order's
    decided = [order for order in orders if isinstance(verdicts[order.id], _Ready)]
    ranked_of = {order.id: await _ranked(order) for order in decided}
    warehouse_ids = sorted({c.id for ranked in ranked_of.values() for c in ranked})
    sku_ids = sorted({skus[line.sku_code].id for order in decided for line in lines_of[order.id]})
    available: dict[tuple[int, int], int] = {
        (r.warehouse, r.sku): r.available
        for r in (await db.fetch_as(_Level, _STOCK_SQL, warehouse_ids, sku_ids) if warehouse_ids and sku_ids else [])
    }

    merge_of = {order.id: await _merge_mode(order) for order in decided}
    open_keys = await _open_shipment_keys(sorted({key_of[i] for i, (merge, _) in merge_of.items() if merge}))
    planned: list[_Planned] = []
    settled: list[_Settled] = []
    for order in orders:  # in id order, as the per-order path would take them
        verdict = verdicts[order.id]
        lines = lines_of.get(order.id, [])
        if isinstance(verdict, _Back):
            _hand_back(behind, verdict.takes, key_of[order.id])
            continue
        if isinstance(verdict, _Settle):  # ends without reserving, whatever the orders before it take
            settled.append(_Settled(order=order, settle=verdict))
            continue
        takes = frozenset(line.sku_code for line in lines)
        if takes & behind.codes:
            # An order handed back before this one may take these SKUs first: so does the per-order path.
            _hand_back(behind, takes, key_of[order.id])
            continue
        ranked = ranked_of[order.id]
        fixes = _sku_fixes(lines, skus)
        if not ranked:  # reservation's exception (reserve_order), after validation's step
            no_warehouse = _Settle(
                status=S.EXCEPTION, reason=ExceptionReason.NO_WAREHOUSE.value, data={"message": "没有可用的发货仓"},
                values=verdict.values, outcome=verdict.outcome, via_validated=True, sku_fixes=fixes,
            )  # fmt: skip
            settled.append(_Settled(order=order, settle=no_warehouse))
            continue
        merge, deferred = merge_of[order.id]
        if merge is not None and (key_of[order.id] in open_keys or key_of[order.id] in behind.keys):
            # Merge detection (合单): an open shipment for the receiver exists, or an earlier order of this batch
            # goes to the same receiver (made ready here, or by the per-order path before this one) — the
            # per-order path merges it (after this batch commits); else it would find nothing to merge with and make
            # a new shipment, as here.
            _hand_back(behind, takes, key_of[order.id])
            continue
        wanted: dict[int, int] = defaultdict(int)
        codes_of: dict[int, str] = {}
        for line in lines:
            sku = skus[line.sku_code]
            wanted[sku.id] += line.qty
            codes_of[sku.id] = line.sku_code
        policy = SplitPolicy(order.channel_split_policy or SplitPolicy.EXCEPTION.value)
        chosen = plan(wanted, ranked, available, allow_split=policy == SplitPolicy.SPLIT, codes=codes_of)
        why = explain(
            wanted, ranked, available, chosen, province=order.receiver_province, policy=policy, codes=codes_of
        )
        if not isinstance(chosen, Allocation):  # short: reservation's _short, after validation's step
            settled.append(_Settled(order=order, settle=_short(chosen, policy, why, verdict, fixes)))
            continue
        for warehouse_id, taken in chosen.by_warehouse.items():  # what this batch has taken so far
            for sku_id, qty in taken.items():
                available[(warehouse_id, sku_id)] -= qty
        behind.keys.add(key_of[order.id])
        planned.append(
            _Planned(
                order=order, lines=lines, skus=skus, values=verdict.values, outcome=verdict.outcome,
                allocation=chosen, routing=why, deferred=deferred, receiver_key=key_of[order.id],
            )
        )  # fmt: skip
    if not planned and not settled:
        return {}, {}
    await _write(planned, settled)
    return (
        {p.order.id: p.order.received_at for p in planned},
        {s.order.id: s.settle.status.value for s in settled},
    )


def _short(
    shortfalls: list[Shortfall], policy: SplitPolicy, routing: RoutingDecision, ready: _Ready, fixes: list[Any]
) -> _Settle:
    """reservation._short's decision: wait for stock (held, ``awaiting_stock``) or the exception out_of_stock."""
    data = {
        "shortfalls": msgspec.to_builtins(shortfalls),
        "message": "库存不足：" + "，".join(f"{s.sku} 需要 {s.requested} 可用 {s.available}" for s in shortfalls),
    }
    wait = policy == SplitPolicy.WAIT
    return _Settle(
        status=S.HELD if wait else S.EXCEPTION, reason=ExceptionReason.OUT_OF_STOCK.value, data=data,
        hold_queue=AWAITING_STOCK if wait else None, values=ready.values, outcome=ready.outcome, via_validated=True,
        routing=routing, sku_fixes=fixes,
    )  # fmt: skip


def _sku_fixes(lines: list[_Line], skus: dict[str, SkuRow]) -> list[tuple[int, int]]:
    """The lines whose SKU validation sets (the intake resolves them; a line it left, or a SKU replaced since)."""
    return [(line.id, skus[line.sku_code].id) for line in lines if line.sku != skus[line.sku_code].id]


def _hand_back(behind: _Behind, takes: frozenset[str], key: str) -> None:
    if takes:  # it may be made ready by the per-order path: its stock and its shipment come first
        behind.codes |= takes
        behind.keys.add(key)


async def _open_shipment_keys(keys: list[str]) -> set[str]:
    """The receivers among ``keys`` with an open shipment within the merge window, in any warehouse or channel (the
    per-order path then looks closer: warehouse, scope, the row lock)."""
    if not keys:
        return set()
    cutoff = clock.now() - timedelta(minutes=get_settings().merge_window_minutes)
    rows = await db.fetch_as(_Key, _OPEN_SHIPMENTS_SQL, keys, cutoff)
    return {row.receiver_key for row in rows}


async def _duplicate_candidates(orders: list[_Order]) -> dict[str, list[_Candidate]]:
    first = [o for o in orders if o.rules_applied_at is None and o.fingerprint]
    if not first:
        return {}
    since = min(o.received_at for o in first) - DUPLICATE_WINDOW
    fingerprints = sorted({o.fingerprint for o in first})
    found: dict[str, list[_Candidate]] = defaultdict(list)
    for row in await db.fetch_as(_Candidate, _DUPLICATES_SQL, fingerprints, S.CANCELLED.value, since):
        found[row.fingerprint].append(row)
    return found


def _suspected(order: _Order, candidates: dict[str, list[_Candidate]]) -> int | None:
    """The per-order check's rule (validation._suspected_duplicate): the first earlier order with the same content."""
    for other in candidates.get(order.fingerprint, ()):  # in id order
        if other.id == order.id or other.received_at < order.received_at - DUPLICATE_WINDOW:
            continue
        if other.received_at < order.received_at or (other.received_at == order.received_at and other.id < order.id):
            return other.id
    return None


async def _validate(
    order: _Order,
    lines: list[_Line],
    skus: dict[str, SkuRow],
    duplicates: dict[str, list[_Candidate]],
    *,
    memo_gifts: list[tuple[str, int]],
    existing: set[str],
) -> _Ready | _Settle | _Back:
    """Validation's decision (:func:`~.validation.validate`, step by step in its order) for an order: passed
    (:class:`_Ready`), ended held or in exception (:class:`_Settle`), or :class:`_Back` when this path does not
    know the way (the per-order path takes it). Nothing is written here: what would be is returned."""
    takes = frozenset(line.sku_code for line in lines)
    if not lines:
        return _Back(takes=takes)
    if order.receiver_country != DOMESTIC:  # customs: the per-order path's, where the rules may add gifts first
        return _Back(takes=takes | await _gifts_abroad(order, lines, memo_gifts))
    values: dict[Any, Any] = {}
    if not order.receiver_division_code:
        problem = check_receiver(order, values)
        if problem is not None:  # written without what the check learned, as validate() does
            reason, data = problem
            return _Settle(status=S.EXCEPTION, reason=reason, data=data)
    outcome: RuleOutcome | None = None
    holds: list[HoldRequest] = []
    if order.rules_applied_at is None:
        duplicate_of = _suspected(order, duplicates)
        if duplicate_of is not None:
            holds.append(
                HoldRequest(queue="duplicate", reason="suspected_duplicate", data={"duplicate_of": duplicate_of})
            )
        outcome = await rule_outcome(order, _rule_lines(lines))
        memo = {code for code, _ in memo_gifts} if outcome.memo_gift_rules else set()
        if outcome.gifts or memo & existing:  # gift lines to add (the rules' and the memo's): the per-order path's
            return _Back(takes=takes | {gift.sku for gift in outcome.gifts} | memo)
        await rule_values(order, outcome, values)
        holds += outcome.holds
    columns = {column._meta.db_column_name: value for column, value in values.items()}
    if not columns.keys() <= _KEPT_NAMES:  # a column validation learned to write that this path does not know yet
        log.warning("set-based path cannot write %s", sorted(columns.keys() - _KEPT_NAMES))
        return _Back(takes=takes)
    if any(value is None for value in columns.values()):  # the UPDATE reads NULL as "keep": the per-order path clears
        return _Back(takes=takes)
    codes = sorted(takes)
    unknown = [code for code in codes if code not in skus]
    if unknown:
        gifts = sorted({line.sku_code for line in lines if line.is_gift and line.sku_code in unknown})
        data = {"skus": unknown, "gift_skus": gifts, "message": f"未知商品编码：{'、'.join(unknown)}"}
        return _Settle(
            status=S.EXCEPTION, reason=ExceptionReason.UNKNOWN_SKU.value, data=data, values=columns, outcome=outcome
        )
    if holds:
        first, rest = holds[0], holds[1:]
        return _Settle(
            status=S.HELD, reason=first.reason, data=first.data, hold_queue=first.queue, values=columns,
            pending_holds=msgspec.json.encode(rest).decode(), outcome=outcome, sku_fixes=_sku_fixes(lines, skus),
        )  # fmt: skip
    return _Ready(values=columns, outcome=outcome)


def _rule_lines(lines: list[_Line]) -> list[LineRow]:
    return [
        LineRow(id=line.id, sku_code=line.sku_code, is_gift=line.is_gift, qty=line.qty, line_no=line.line_no)
        for line in lines
    ]


async def _gifts_abroad(order: _Order, lines: list[_Line], memo_gifts: list[tuple[str, int]]) -> frozenset[str]:
    """The SKU codes of the gift lines the per-order path may add to an order abroad (its first pass: the rules'
    gifts, and every code its memo names when a rule takes gifts from it), which it then reserves before the later
    orders. The receiver is checked first, as validate() does: the rules see the region it leaves."""
    if order.rules_applied_at is not None:
        return frozenset()
    if not order.receiver_division_code and check_receiver(order, {}) is not None:
        return frozenset()  # an exception before the rules run: no gifts
    outcome = await rule_outcome(order, _rule_lines(lines))
    memo = {code for code, _ in memo_gifts} if outcome.memo_gift_rules else set()
    return frozenset({gift.sku for gift in outcome.gifts} | memo)


async def _write(planned: list[_Planned], settled: list[_Settled]) -> None:
    settings = get_settings()
    now = clock.now()
    singles = {p.order.id: next(iter(p.allocation.by_warehouse)) if not p.allocation.split else None for p in planned}
    wanted: dict[tuple[int, int], int] = defaultdict(int)
    for p in planned:
        for warehouse_id, taken in p.allocation.by_warehouse.items():
            for sku_id, qty in taken.items():
                wanted[(warehouse_id, sku_id)] += qty
    try:
        async with db.transaction():
            # The status first: it takes the orders' row locks (a second runner finds nothing to do).
            if settled:
                await _settle(settled, now)
            if not planned:
                return
            columns: list[list[Any]] = [
                [p.order.id for p in planned],
                [p.order.guard_name for p in planned],
                [p.order.guard_phone for p in planned],
                [p.order.guard_address for p in planned],
                [singles[p.order.id] for p in planned],
                [bool(p.deferred) for p in planned],
            ]
            columns += [[p.values.get(name) for p in planned] for name, _ in _KEPT]
            updated = await db.execute_returning(db.IdRow, _READY_SQL, S.READY.value, now, *columns, S.RECEIVED.value)
            if len(updated) != len(planned):
                raise _Lost(f"{len(planned) - len(updated)} orders changed meanwhile")
            shipment_of = await _make_shipments(planned, now, settings)
            line_rows = [
                (line.id, p.skus[line.sku_code].id, wh, shipment_of[(p.order.id, wh)])
                for p in planned
                for line in p.lines
                for wh in [_home(p.allocation, p.skus[line.sku_code].id)]
            ]
            await db.execute(_LINES_UPDATE_SQL, *[list(col) for col in zip(*line_rows, strict=True)])
            for p in planned:
                await _record(p, singles[p.order.id], shipment_of, now)

            async def reserve_last() -> None:
                short = await reserve_many(wanted)
                if short:
                    raise _Lost(f"stock short for {len(short)} rows")

            # Stock last, after the events' INSERT: the hot rows stay locked until the COMMIT right after only.
            db.last_before_commit(reserve_last)
    except _Lost:
        raise
    except Exception:
        log.exception("set-based batch failed; the per-order path takes its orders")
        raise _Lost("the batch failed") from None


async def _settle(settled: list[_Settled], now: datetime) -> None:
    """The orders ended held or in exception: one UPDATE, their lines' SKUs, then each order's events, live
    messages and status hooks as transition() records them (a decision of reservation's after validation's step,
    as its two transactions do)."""
    columns: list[list[Any]] = [
        [x.order.id for x in settled],
        [x.order.guard_name for x in settled],
        [x.order.guard_phone for x in settled],
        [x.order.guard_address for x in settled],
        [x.settle.status.value for x in settled],
        [x.settle.reason if x.settle.status == S.EXCEPTION else None for x in settled],
        [(x.settle.hold_queue or "default") if x.settle.status == S.HELD else None for x in settled],
        [x.settle.reason if x.settle.status == S.HELD else None for x in settled],
        [x.settle.pending_holds for x in settled],
    ]
    columns += [[x.settle.values.get(name) for x in settled] for name, _ in _KEPT]
    updated = await db.execute_returning(_Updated, _SETTLE_SQL, now, *columns, S.RECEIVED.value)
    if len(updated) != len(settled):
        raise _Lost(f"{len(settled) - len(updated)} orders changed meanwhile")
    warehouse_of = {row.id: row.warehouse for row in updated}
    fixes = [fix for x in settled for fix in x.settle.sku_fixes]
    if fixes:
        await db.execute(_SKU_FIX_SQL, [line for line, _ in fixes], [sku for _, sku in fixes])
    for x in settled:
        order_id, settle = x.order.id, x.settle
        if settle.outcome is not None:
            await record_fired(order_id, settle.outcome, [])
        start = S.RECEIVED
        if settle.via_validated:
            await _changed(order_id, S.RECEIVED, S.VALIDATED, None, {}, warehouse_of[order_id], now)
            if settle.routing is not None:
                await record_event(
                    order_id,
                    OrderEventType.ROUTED,
                    reason=settle.routing.reason.value,
                    data=msgspec.to_builtins(settle.routing),
                )
            start = S.VALIDATED
        data = {**settle.data, **({"queue": settle.hold_queue} if settle.status == S.HELD else {})}
        await _changed(order_id, start, settle.status, settle.reason, data, warehouse_of[order_id], now)


async def _changed(
    order_id: int,
    src: OrderStatus,
    dst: OrderStatus,
    reason: str | None,
    data: dict[str, Any],
    warehouse: int | None,
    now: datetime,
) -> None:
    """One status change as transition() records it: the event, the live message, the hooks."""
    await _step(order_id, src, dst, reason, data, now)
    await _hooks(StatusChange(
        order_id=order_id, from_status=src.value, to_status=dst.value, warehouse_id=warehouse,
        previous_warehouse_id=warehouse,
    ))  # fmt: skip


async def _step(
    order_id: int, src: OrderStatus, dst: OrderStatus, reason: str | None, data: dict[str, Any], now: datetime
) -> None:
    """A status step's event and live message (transition() records one per step, a ``via`` step too)."""
    await record_event(
        order_id, OrderEventType.STATUS_CHANGED, from_status=src.value, to_status=dst.value, reason=reason, data=data
    )
    publish_after_commit(
        OrderStatusChanged(order_id=order_id, from_status=src.value, to_status=dst.value, reason=reason, at=now),
        Topic.ORDERS,
        order_topic(order_id),
    )


async def _hooks(change: StatusChange) -> None:
    for hook in STATUS_CHANGE_HOOKS:
        await hook(change)


def _home(allocation: Allocation, sku_id: int) -> int:
    return next(wh for wh, taken in allocation.by_warehouse.items() if sku_id in taken)


async def _make_shipments(planned: list[_Planned], now: datetime, settings: Any) -> dict[tuple[int, int], int]:
    rows: list[tuple[int, int, str, str, int, int, str]] = []
    keys: list[tuple[int, int]] = []
    for p in planned:
        for warehouse_id in sorted(p.allocation.by_warehouse):
            mine = [line for line in p.lines if _home(p.allocation, p.skus[line.sku_code].id) == warehouse_id]
            weight = sum(line.qty * p.skus[line.sku_code].weight_g for line in mine)
            volume = sum(line.qty * p.skus[line.sku_code].volume_cm3 for line in mine)
            biggest = max(p.skus[line.sku_code].volume_cm3 for line in mine)
            line_kind = packing_line(
                weight_g=weight,
                volume_cm3=volume,
                max_item_volume_cm3=biggest,
                b_weight_g=settings.packing_b_weight_g,
                b_volume_cm3=settings.packing_b_volume_cm3,
            )
            rows.append((len(keys), warehouse_id, p.receiver_key, p.order.channel_code, weight, volume, line_kind))
            keys.append((p.order.id, warehouse_id))
    made = await db.fetch_as(_ShipmentKey, _SHIPMENTS_SQL, *[list(col) for col in zip(*rows, strict=True)], now)
    if len(made) != len(keys):
        raise _Lost("shipments not all made")
    return {keys[row.k]: row.id for row in made}


async def _record(p: _Planned, single: int | None, shipment_of: dict[tuple[int, int], int], now: datetime) -> None:
    """The order's events, hooks and live messages, as the per-order path records them (in the same order)."""
    order_id = p.order.id
    if p.outcome is not None:
        await record_fired(order_id, p.outcome, [])
    warehouse_ids = sorted(p.allocation.by_warehouse)
    await _step(order_id, S.RECEIVED, S.VALIDATED, None, {}, now)
    await _step(order_id, S.VALIDATED, S.READY, None, {"warehouse_ids": warehouse_ids}, now)
    await _hooks(StatusChange(
        order_id=order_id, from_status=S.RECEIVED.value, to_status=S.READY.value, warehouse_id=single,
        previous_warehouse_id=p.order.warehouse,
    ))  # fmt: skip
    await record_event(
        order_id, OrderEventType.ROUTED, reason=p.routing.reason.value, data=msgspec.to_builtins(p.routing)
    )
    codes = {p.skus[line.sku_code].id: line.sku_code for line in p.lines}
    await record_event(
        order_id,
        OrderEventType.STOCK_RESERVED,
        data={
            "deferred": list(p.deferred),
            "split": p.allocation.split,
            "warehouses": {
                str(wh): {codes[sku]: qty for sku, qty in taken.items()}
                for wh, taken in sorted(p.allocation.by_warehouse.items())
            },
            "shipments": sorted(shipment_of[(order_id, wh)] for wh in warehouse_ids),
        },
    )

"""Voiding an order's waybill before it ships (the receiver changed after packing, or the packed order was cancelled):
the hub stops using it at once, and the carrier is asked to cancel it after commit.

:func:`void_issued` (inside the caller's transaction) moves the order's issued waybill to ``cancelling`` — it is
no longer the order's waybill: no label, no handover; the pack station's next waybill request gets a new one
(:func:`orderhub.logistics.waybills.request_waybill` asks under a new ``order_ref`` once a waybill was voided, since
the carriers deduplicate on it) — records ``order.waybill_voided`` and queues the ``cancel_waybill`` job.
:func:`cancel_at_carrier` (the job) calls the carrier port's ``cancel_waybill``: ``cancelled`` when it accepts;
``cancel_failed`` with the carrier's own code when it refuses for good (``order.waybill_cancel_failed``: a person
checks at the carrier); an outage is raised so the job is retried with backoff.
"""

from __future__ import annotations

import logging

import httpx
import msgspec

from orderhub import clock, db, httpclient
from orderhub.carriers.port import CarrierError
from orderhub.carriers.port import Waybill as CarrierWaybill
from orderhub.errors import Conflict
from orderhub.logistics.adapters import account_carrier
from orderhub.logistics.errors import LogisticsError
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event
from orderhub.queue import JobName, enqueue

__all__ = ["VOIDED", "Voided", "cancel_at_carrier", "cancel_key", "void_issued"]

log = logging.getLogger("orderhub.logistics")

# The statuses of a waybill the hub voided: the carrier still to be told, told, or refusing.
CANCELLING, CANCELLED, CANCEL_FAILED = "cancelling", "cancelled", "cancel_failed"
VOIDED = (CANCELLING, CANCELLED, CANCEL_FAILED)


class Voided(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    carrier: str
    waybill_no: str


def cancel_key(waybill_id: int) -> str:
    return f"waybill:{waybill_id}:cancel"


async def void_issued(order_id: int, *, why: str, actor: str) -> Voided | None:
    """Void the order's issued waybill that has not been handed over (None: it has none). Refused while a waybill
    request for the order is in flight (its answer could issue one for the old receiver). Call inside a transaction
    that holds the order."""
    pending = await db.fetch_as(
        db.IdRow, "SELECT id FROM waybill WHERE \"order\" = {} AND status = 'requesting'", order_id
    )
    if pending:
        raise Conflict(LogisticsError.WAYBILL_REQUEST_PENDING, field="order_id")
    # Raw SQL: a conditional UPDATE … RETURNING (exactly one voiding per waybill) filtered by a correlated subquery.
    # NOT EXISTS, not NOT IN: one parcel row without a waybill (NULL) would make NOT IN match no waybill at all.
    voided = await db.execute_returning(
        Voided,
        "UPDATE waybill SET status = {} WHERE \"order\" = {} AND status = 'issued' "
        "AND NOT EXISTS (SELECT 1 FROM parcel_tracking t WHERE t.waybill = waybill.id) "
        "RETURNING id, carrier, waybill_no",
        CANCELLING,
        order_id,
    )
    for waybill in voided:
        await record_event(
            order_id,
            OrderEventType.WAYBILL_VOIDED,
            data={"carrier": waybill.carrier, "waybill_no": waybill.waybill_no, "why": why},
            actor=actor,
        )
        waybill_id = waybill.id

        async def _cancel(waybill_id: int = waybill_id) -> None:
            await enqueue(JobName.CANCEL_WAYBILL, key=cancel_key(waybill_id), timeout=120, waybill_id=waybill_id)

        db.after_commit(_cancel)
    return voided[0] if voided else None


class _ToCancel(msgspec.Struct, kw_only=True):
    order: int
    carrier: str
    waybill_no: str
    order_ref: str
    sort_code: str
    destination_code: str
    status: str
    credentials: str
    via: str
    channel: int | None


async def cancel_at_carrier(waybill_id: int, *, http: httpx.AsyncClient | None = None) -> str:
    """Ask the carrier to cancel a voided waybill; returns its status afterwards. A carrier outage is raised (the
    job retries it); a refusal is recorded on the order."""
    row = await db.fetch_one_as(  # raw: a join (the waybill with its account's sealed credentials)
        _ToCancel,
        'SELECT w."order", w.carrier, w.waybill_no, w.order_ref, w.sort_code, w.destination_code, w.status, '
        "a.credentials, a.via, a.channel FROM waybill w JOIN carrier_account a ON a.id = w.account WHERE w.id = {}",
        waybill_id,
    )
    if row is None:
        return "missing"
    if row.status != CANCELLING:
        return row.status
    waybill = CarrierWaybill(
        carrier=row.carrier,
        waybill_no=row.waybill_no,
        order_ref=row.order_ref,
        sort_code=row.sort_code,
        destination_code=row.destination_code,
    )
    own_http = http is None
    client = http or httpclient.client(timeout=httpx.Timeout(15.0, connect=5.0))
    try:
        adapter = await account_carrier(row.carrier, row.via, row.channel, row.credentials, client)
        await adapter.cancel_waybill(waybill)
    except CarrierError as exc:
        if exc.retryable:
            log.warning("waybill cancel failed; retried", extra={"waybill": waybill_id, "error": exc.message})
            raise
        return await _settle(waybill_id, row, CANCEL_FAILED, exc)
    finally:
        if own_http:
            await client.aclose()
    return await _settle(waybill_id, row, CANCELLED, None)


async def _settle(waybill_id: int, row: _ToCancel, status: str, refusal: CarrierError | None) -> str:
    async with db.transaction():
        settled = await db.execute_returning(
            db.IdRow,
            "UPDATE waybill SET status = {} WHERE id = {} AND status = {} RETURNING id",
            status,
            waybill_id,
            CANCELLING,
        )
        if not settled:
            return status
        data: dict[str, str] = {"carrier": row.carrier, "waybill_no": row.waybill_no, "at": clock.now().isoformat()}
        if refusal is not None:
            data.update(
                carrier_code=refusal.carrier_code,
                carrier_message=refusal.carrier_message or refusal.message,
                message="快递公司拒绝取消该运单，请到快递后台确认作废（旧面单勿用）",
            )
        await record_event(
            row.order,
            OrderEventType.WAYBILL_CANCEL_FAILED if refusal is not None else OrderEventType.WAYBILL_CANCELLED,
            reason=refusal.carrier_code[:64] if refusal is not None and refusal.carrier_code else None,
            data=data,
        )
    return status

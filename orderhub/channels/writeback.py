"""Shipment write-back: tell the order's platform it shipped (carrier + waybill), until the platform accepts.

One ``platform_writeback`` row per shipped platform order, written with the ``shipped`` status. A job sends it;
rate limits and outages are retried within the call, an expired session is refreshed once; a transient failure
(or a credentials problem someone will fix) leaves the row pending with the error, the attempt count and a next
attempt time (backing off from 30 s to an hour) — the sweeper re-sends due rows, so it is retried until it
succeeds, and the failures stay visible. The platform answering "already shipped" counts as done (someone shipped
it in the platform's back office).

A permanent refusal (:class:`~orderhub.channels.port.InvalidRequest`: the order does not exist on the platform,
its state allows no shipment, the carrier is not one the platform knows) is not retried: the row turns
``failed`` with the platform's code and message, the order records ``order.writeback_failed`` (its managers hear
it in WeCom: ``staff_writeback_failed``), and the row waits in the queue (:func:`list_queue`) until a person
retries it (:func:`retry`) after fixing the cause, or settles it on the platform.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import msgspec

from orderhub import clock, db, httpclient
from orderhub.channels.errors import ChannelError
from orderhub.channels.port import AlreadyShipped, InvalidRequest, PlatformError, ShipmentConfirmation, connector_for
from orderhub.channels.pull import channel_row
from orderhub.channels.service import call_platform, connector_credentials
from orderhub.errors import NotFound
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event
from orderhub.orders.shipping import writeback_key
from orderhub.orders.tables import Order, PlatformWriteback
from orderhub.queue import JobName, enqueue

__all__ = [
    "STATUSES",
    "WritebackView",
    "enqueue_due_writebacks",
    "list_queue",
    "list_writebacks",
    "retry",
    "retry_writeback",
    "write_back",
]

log = logging.getLogger("orderhub.writeback")
MAX_BACKOFF = timedelta(hours=1)
# pending: being sent / retried; done: the platform has it; failed: refused for good, waiting for a person
STATUSES = ("pending", "done", "failed")


class WritebackView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    order_id: int
    external_id: str
    carrier: str
    waybill_no: str
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    created_at: datetime
    done_at: datetime | None
    channel: str = ""  # the channel's code
    platform: str = ""


async def write_back(writeback_id: int, *, http: httpx.AsyncClient | None = None) -> str:
    """Send one write-back; returns its status afterwards ("done", "pending" or "failed")."""
    row = (
        await PlatformWriteback.select(
            *PlatformWriteback.all_columns(), PlatformWriteback.channel.platform, PlatformWriteback.channel.credentials
        )
        .where(PlatformWriteback.id == writeback_id)
        .first()
    )
    if row is None or row["status"] == "done":
        return "done"
    if row["status"] == "failed":  # refused for good: only a person's retry sends it again
        return "failed"
    shipment = ShipmentConfirmation(
        external_id=row["external_id"], carrier=row["carrier"], waybill_no=row["waybill_no"]
    )
    # Claim the attempt first: if the job dies or times out mid-call, the backoff and the count still hold.
    attempts = int(row["attempts"]) + 1
    await PlatformWriteback.update(
        {PlatformWriteback.attempts: attempts, PlatformWriteback.next_attempt_at: clock.now() + _backoff(attempts)}
    ).where(PlatformWriteback.id == writeback_id)
    row["attempts"] = attempts
    note = ""
    own_http = http is None
    client = http or httpclient.client(timeout=httpx.Timeout(30.0, connect=10.0))
    try:
        creds = connector_credentials(row["channel.credentials"])
        connector = connector_for(row["channel.platform"], creds, client)
        await call_platform(connector, int(row["channel"]), partial(connector.confirm_shipment, shipment))
    except AlreadyShipped as exc:
        note = f"平台已显示发货：{exc.platform_message or exc.message}"
    except InvalidRequest as exc:  # permanent: retrying the same request cannot succeed
        return await _refused(row, exc)
    except PlatformError as exc:
        return await _failed(row, f"{exc.code}: {exc.platform_code} {exc.platform_message or exc.message}".strip())
    except Exception as exc:  # a bug or a surprise: stays pending, visible, retried
        log.exception("write-back crashed", extra={"writeback": writeback_id})
        return await _failed(row, f"internal_error: {exc!r}"[:500])
    finally:
        if own_http:
            await client.aclose()
    now = clock.now()
    await PlatformWriteback.update(
        {
            PlatformWriteback.status: "done",
            PlatformWriteback.last_error: note,
            PlatformWriteback.done_at: now,
        }
    ).where(PlatformWriteback.id == writeback_id)
    await record_event(
        int(row["order"]),
        OrderEventType.WRITTEN_BACK,
        data={"carrier": row["carrier"], "waybill_no": row["waybill_no"], "note": note},
    )
    return "done"


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** (attempts - 1)), MAX_BACKOFF)


async def _failed(row: dict[str, Any], error: str) -> str:
    attempts = int(row["attempts"])
    await PlatformWriteback.update({PlatformWriteback.last_error: error[:1000]}).where(
        PlatformWriteback.id == row["id"]
    )
    log.warning("write-back failed", extra={"writeback": row["id"], "attempts": attempts, "error": error[:200]})
    return "pending"


async def _refused(row: dict[str, Any], exc: PlatformError) -> str:
    """The platform refused the shipment for good: stop retrying, flag it on the order (its managers hear it) and
    keep it in the failed queue."""
    platform_message = exc.platform_message or exc.message
    error = f"{exc.code}: {exc.platform_code} {platform_message}".strip()
    async with db.transaction():
        await PlatformWriteback.update(
            {PlatformWriteback.status: "failed", PlatformWriteback.last_error: error[:1000]}
        ).where(PlatformWriteback.id == row["id"])
        await record_event(
            int(row["order"]),
            OrderEventType.WRITEBACK_FAILED,
            reason="platform_refused",
            data={
                "writeback_id": int(row["id"]),
                "platform": row["channel.platform"],
                "carrier": row["carrier"],
                "waybill_no": row["waybill_no"],
                "code": str(exc.code),
                "platform_code": exc.platform_code,
                "platform_message": platform_message[:200],
                "message": f"平台拒绝了发货回传（{platform_message[:100]}），已停止重试，需人工处理",
            },
        )
    log.warning(
        "write-back refused by the platform; needs a person",
        extra={"writeback": row["id"], "order_id": row["order"], "error": error[:200]},
    )
    return "failed"


async def enqueue_due_writebacks(limit: int = 500) -> int:
    """The sweeper's part: re-send pending write-backs whose next attempt is due."""
    rows = await (
        PlatformWriteback.select(PlatformWriteback.id)
        .where((PlatformWriteback.status == "pending") & (PlatformWriteback.next_attempt_at <= clock.now()))
        .order_by(PlatformWriteback.next_attempt_at)
        .limit(limit)
    )
    for row in rows:
        await _enqueue(int(row["id"]))
    return len(rows)


async def _enqueue(writeback_id: int) -> None:
    await enqueue(JobName.WRITE_BACK_SHIPMENT, key=writeback_key(writeback_id), timeout=300, writeback_id=writeback_id)


async def retry_writeback(code: str, writeback_id: int) -> None:
    """Send a pending or failed write-back of this channel now (after fixing the shop's credentials, say)."""
    channel = await channel_row(code)
    await _reopen(writeback_id, PlatformWriteback.channel == channel["id"])


async def retry(writeback_id: int, *, warehouse_id: int | None = None, actor: str = "system") -> WritebackView:
    """A person sends a failed (or pending) write-back again, after fixing its cause; ``warehouse_id``: a manager
    bound to one warehouse retries only its orders' write-backs."""
    scope: Any = PlatformWriteback.id == writeback_id
    if warehouse_id is not None:
        scope = scope & PlatformWriteback.order.is_in(Order.select(Order.id).where(Order.warehouse == warehouse_id))
    await _reopen(writeback_id, scope)
    log.info("write-back retried by a person", extra={"writeback": writeback_id, "actor": actor})
    (view,) = await _views(PlatformWriteback.id == writeback_id, limit=1)
    return view


async def _reopen(writeback_id: int, scope: Any) -> None:
    updated = (
        await PlatformWriteback.update(
            {PlatformWriteback.status: "pending", PlatformWriteback.next_attempt_at: clock.now()}
        )
        .where(
            (PlatformWriteback.id == writeback_id)
            & scope
            & PlatformWriteback.status.is_in(["pending", "failed"])
        )
        .returning(PlatformWriteback.id)
    )
    if not updated:
        raise NotFound(ChannelError.WRITEBACK_NOT_FOUND, field="writeback_id")
    await _enqueue(writeback_id)


async def list_queue(
    *, status: str | None = None, warehouse_id: int | None = None, limit: int = 100
) -> list[WritebackView]:
    """Write-backs of every channel, newest first (``status="failed"``: the ones waiting for a person);
    ``warehouse_id``: only that warehouse's orders."""
    where: Any = PlatformWriteback.id > 0
    if status is not None:
        where = where & (PlatformWriteback.status == status)
    if warehouse_id is not None:
        where = where & PlatformWriteback.order.is_in(Order.select(Order.id).where(Order.warehouse == warehouse_id))
    return await _views(where, limit=limit)


async def _views(where: Any, *, limit: int) -> list[WritebackView]:
    rows = await (
        PlatformWriteback.select(
            *PlatformWriteback.all_columns(), PlatformWriteback.channel.code, PlatformWriteback.channel.platform
        )
        .where(where)
        .order_by(PlatformWriteback.id, ascending=False)
        .limit(limit)
    )
    return [_view(r) for r in rows]


def _view(r: dict[str, Any]) -> WritebackView:
    return WritebackView(
        id=r["id"],
        order_id=r["order"],
        external_id=r["external_id"],
        carrier=r["carrier"],
        waybill_no=r["waybill_no"],
        status=r["status"],
        attempts=r["attempts"],
        last_error=r["last_error"],
        next_attempt_at=r["next_attempt_at"],
        created_at=r["created_at"],
        done_at=r["done_at"],
        channel=r.get("channel.code", ""),
        platform=r.get("channel.platform", ""),
    )


async def list_writebacks(code: str, *, status: str | None = None, limit: int = 100) -> list[WritebackView]:
    channel = await channel_row(code)
    where: Any = PlatformWriteback.channel == channel["id"]
    if status is not None:
        where = where & (PlatformWriteback.status == status)
    return await _views(where, limit=limit)

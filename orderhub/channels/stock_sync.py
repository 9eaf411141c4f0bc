"""Stock sync back to the platforms: each channel shows what we can actually ship, so nobody oversells.

The quantity pushed for a SKU is its available stock (on hand − reserved) summed over the active warehouses.
Which platform listing shows which of our SKUs is the channel's SKU mapping (``channel_sku``: platform item id +
platform SKU id ↔ our SKU). Changes are pushed debounced and batched (see :mod:`orderhub.inventory.dirty`);
``resync`` pushes every mapped SKU of a channel (or of all channels) at once. What was last pushed, when, and
the last error are kept on each mapping row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any

import httpx
import msgspec

from orderhub import clock, db, httpclient
from orderhub import redis as redis_mod
from orderhub.catalog.tables import Sku
from orderhub.channels.port import PlatformError, StockUpdate, connector_for, registered_platforms
from orderhub.channels.service import call_platform, connector_credentials
from orderhub.channels.tables import Channel, ChannelSku
from orderhub.errors import NotFound, ValidationFailed
from orderhub.inventory import dirty

__all__ = [
    "ChannelSkuView",
    "NewChannelSku",
    "delete_mapping",
    "list_mappings",
    "push_stock",
    "resync",
    "sync_dirty",
    "upsert_mappings",
]

log = logging.getLogger("orderhub.stock_sync")
BATCH = 50


class NewChannelSku(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    platform_item_id: str
    platform_sku_id: str


class ChannelSkuView(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    platform_item_id: str
    platform_sku_id: str
    synced_qty: int | None
    synced_at: Any
    sync_error: str


async def _channel_id(code: str) -> int:
    row = await Channel.select(Channel.id).where(Channel.code == code).first()
    if row is None:
        raise NotFound(f"渠道 {code} 不存在", field="channel")
    return int(row["id"])


async def upsert_mappings(code: str, items: Sequence[NewChannelSku]) -> list[ChannelSkuView]:
    """Create or update mappings (keyed by the platform SKU id within the channel)."""
    channel_id = await _channel_id(code)
    for index, item in enumerate(items):
        for name in ("sku", "platform_item_id", "platform_sku_id"):
            value = getattr(item, name)
            if not value.strip() or len(value) > 64:
                raise ValidationFailed("编码为 1–64 个字符", field=f"items[{index}].{name}")
    codes = sorted({item.sku for item in items})
    skus = {
        row["code"]: int(row["id"])
        for row in await Sku.select(Sku.id, Sku.code).where(
            Sku.code.is_in(codes)  # bounded: one request's mappings (≤ 1000, api/channels ChannelSkusIn)
        )
    }
    for index, item in enumerate(items):
        if item.sku not in skus:
            raise ValidationFailed(f"商品编码 {item.sku} 不存在", field=f"items[{index}].sku")
    async with db.transaction():
        for item in sorted(items, key=lambda i: i.platform_sku_id):
            updated = (
                await ChannelSku.update(
                    {ChannelSku.sku: skus[item.sku], ChannelSku.platform_item_id: item.platform_item_id.strip()}
                )
                .where(
                    (ChannelSku.channel == channel_id) & (ChannelSku.platform_sku_id == item.platform_sku_id.strip())
                )
                .returning(ChannelSku.id)
            )
            if not updated:
                await ChannelSku.insert(
                    ChannelSku(
                        channel=channel_id,
                        sku=skus[item.sku],
                        platform_item_id=item.platform_item_id.strip(),
                        platform_sku_id=item.platform_sku_id.strip(),
                        created_at=clock.now(),
                    )
                )
        dirty.mark_dirty_after_commit(skus[item.sku] for item in items)  # the platform learns the quantity now
    return await list_mappings(code)


async def delete_mapping(code: str, platform_sku_id: str) -> None:
    channel_id = await _channel_id(code)
    deleted = (
        await ChannelSku.delete()
        .where((ChannelSku.channel == channel_id) & (ChannelSku.platform_sku_id == platform_sku_id))
        .returning(ChannelSku.id)
    )
    if not deleted:
        raise NotFound("没有这个平台 SKU 的映射", field="platform_sku_id")


async def list_mappings(code: str) -> list[ChannelSkuView]:
    channel_id = await _channel_id(code)
    rows = await (
        ChannelSku.select(
            ChannelSku.sku.code,
            ChannelSku.platform_item_id,
            ChannelSku.platform_sku_id,
            ChannelSku.synced_qty,
            ChannelSku.synced_at,
            ChannelSku.sync_error,
        )
        .where(ChannelSku.channel == channel_id)
        .order_by(ChannelSku.id)
    )
    return [
        ChannelSkuView(
            sku=row["sku.code"],
            platform_item_id=row["platform_item_id"],
            platform_sku_id=row["platform_sku_id"],
            synced_qty=row["synced_qty"],
            synced_at=row["synced_at"],
            sync_error=row["sync_error"],
        )
        for row in rows
    ]


async def _available(sku_ids: Sequence[int]) -> dict[int, int]:
    available: dict[int, int] = {}
    # A resync pushes every mapped SKU: the IN list goes in chunks (one more parameter: the active flag).
    for part in db.chunks(sku_ids, db.MAX_PARAMS - 1):
        # Raw SQL: a grouped SUM over active warehouses' stock rows.
        rows = await db.fetch_as(
            _Available,
            "SELECT s.sku, SUM(s.on_hand - s.reserved) AS available FROM stock_level s "
            "JOIN warehouse w ON w.id = s.warehouse "
            f"WHERE w.active = {{}} AND s.sku IN ({db.placeholders(len(part))}) GROUP BY s.sku",
            True,
            *part,
        )
        available.update((r.sku, max(0, r.available or 0)) for r in rows)
    return available


class _Available(msgspec.Struct):
    sku: int
    available: int | None


async def push_stock(
    sku_ids: Sequence[int] | None, *, channel_code: str | None = None, http: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    """Push the available quantity of these SKUs (None = every mapped SKU) to every channel that lists them.

    Returns what was done per channel; SKUs of a channel whose push failed are marked dirty again (and the
    error kept on the mapping rows), so the next pass retries them."""

    def mappings_query() -> Any:
        query = ChannelSku.select(
            ChannelSku.id,
            ChannelSku.sku,
            ChannelSku.platform_item_id,
            ChannelSku.platform_sku_id,
            ChannelSku.channel,
            ChannelSku.channel.code,
            ChannelSku.channel.platform,
            ChannelSku.channel.credentials,
        ).where(
            (ChannelSku.channel.active == True)  # noqa: E712
            & ChannelSku.channel.platform.is_in(registered_platforms())  # bounded: the registered platforms
        )
        if channel_code is not None:
            query = query.where(ChannelSku.channel.code == channel_code)
        return query

    if sku_ids is None:
        rows = await mappings_query()
    elif not sku_ids:
        return {}
    else:  # every SKU marked since the last pass (a stock import marks thousands): the IN list goes in chunks
        rows = [
            row
            for part in db.chunks(list(sku_ids))
            for row in await mappings_query().where(ChannelSku.sku.is_in(list(part)))
        ]
    available = await _available(sorted({int(r["sku"]) for r in rows}))
    by_channel: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_channel[int(row["channel"])].append(row)
    report: dict[str, Any] = {}
    own_http = http is None
    client = http or httpclient.client(timeout=httpx.Timeout(30.0, connect=10.0))
    try:
        for mappings in by_channel.values():
            first = mappings[0]
            code = first["channel.code"]
            pushed = 0
            error = ""
            try:
                creds = connector_credentials(first["channel.credentials"])
                connector = connector_for(first["channel.platform"], creds, client)
            except Exception as exc:  # unreadable credentials, no connector: this channel only
                await dirty.put_back(int(m["sku"]) for m in mappings)
                report[code] = {"pushed": 0, "error": f"internal_error: {exc!r}"[:500]}
                continue
            if await _backing_off(code) and channel_code is None:  # a failing channel waits its turn
                await dirty.put_back(int(m["sku"]) for m in mappings)
                report[code] = {"pushed": 0, "error": "backing_off"}
                continue
            for start in range(0, len(mappings), BATCH):
                chunk = mappings[start : start + BATCH]
                updates = [
                    StockUpdate(
                        platform_item_id=m["platform_item_id"],
                        platform_sku_id=m["platform_sku_id"],
                        quantity=available.get(int(m["sku"]), 0),
                    )
                    for m in chunk
                ]
                try:  # rate limits / outages retried, an expired token refreshed once (as for pulls)
                    await call_platform(connector, int(first["channel"]), partial(connector.update_stock, updates))
                except PlatformError as exc:
                    await _back_off(code)
                    error = f"{exc.code}: {exc.platform_code} {exc.platform_message}".strip()
                    await dirty.put_back(int(m["sku"]) for m in mappings[start:])
                    for part in db.chunks([int(m["id"]) for m in mappings[start:]]):  # the rest of the channel
                        await ChannelSku.update({ChannelSku.sync_error: error[:500]}).where(
                            ChannelSku.id.is_in(list(part))
                        )
                    log.warning("stock push failed", extra={"channel": code, "error": exc.code})
                    break
                now = clock.now()
                by_qty: dict[int, list[int]] = defaultdict(list)  # one UPDATE per pushed quantity, not per row
                for m, update in zip(chunk, updates, strict=True):
                    by_qty[update.quantity].append(int(m["id"]))
                for qty, ids in by_qty.items():
                    await ChannelSku.update(
                        {ChannelSku.synced_qty: qty, ChannelSku.synced_at: now, ChannelSku.sync_error: ""}
                    ).where(ChannelSku.id.is_in(ids))  # bounded: one pushed chunk (≤ BATCH mappings)
                pushed += len(chunk)
            if not error:
                await redis_mod.awaited(redis_mod.get_client().delete(_FAILURES.format(code)))
            report[code] = {"pushed": pushed, "error": error}
    finally:
        if own_http:
            await client.aclose()
    return report


_FAILURES = "orderhub:stock:failures:{}"
_BACKOFF = "orderhub:stock:backoff:{}"
_LOCK = "orderhub:stock:sync-lock"


async def _backing_off(code: str) -> bool:
    return bool(await redis_mod.awaited(redis_mod.get_client().exists(_BACKOFF.format(code))))


async def _back_off(code: str) -> None:
    """A channel whose push failed is left alone for 30 s, doubling up to 10 minutes while it keeps failing."""
    client = redis_mod.get_client()
    failures = int(await redis_mod.awaited(client.incr(_FAILURES.format(code))))
    await redis_mod.awaited(client.expire(_FAILURES.format(code), 3600))
    await redis_mod.awaited(client.set(_BACKOFF.format(code), b"1", ex=min(30 * 2 ** (failures - 1), 600)))


async def sync_dirty() -> dict[str, Any]:
    """The debounced job: push every SKU marked since the last pass; schedule another pass if any failed.

    One pass at a time (a Redis lock): two overlapping passes could land an older quantity after a newer one."""
    client = redis_mod.get_client()
    if not await redis_mod.awaited(client.set(_LOCK, b"1", nx=True, ex=600)):
        await dirty.schedule_sync()  # the running pass may have read its quantities already: come back
        return {}
    try:
        return await _sync_dirty()
    finally:
        await redis_mod.awaited(client.delete(_LOCK))


async def _sync_dirty() -> dict[str, Any]:
    sku_ids = await dirty.take_dirty()
    try:
        report = await push_stock(sku_ids)
    except BaseException:  # crash, timeout, cancellation: the marks go back, another pass is scheduled
        await dirty.put_back(sku_ids)
        await dirty.schedule_sync()
        raise
    if any(item["error"] for item in report.values()):
        await dirty.schedule_sync()
    return report


async def resync(channel_code: str | None = None) -> dict[str, Any]:
    """Push every mapped SKU (of one channel, or of all)."""
    if channel_code is not None:
        await _channel_id(channel_code)
    return await push_stock(None, channel_code=channel_code)

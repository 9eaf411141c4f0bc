"""Decrypting an order's encrypted receiver through its platform, only where a step needs it.

抖店, 拼多多 and 淘宝/天猫 send receivers as ciphertext with masked forms (:class:`~orderhub.orders.commands.
ReceiverCipher`); they decrypt through their APIs only (拼多多 ``pdd.open.decrypt.batch``, 抖店 ``order.batchDecrypt``,
淘宝 ``top.oaid.decrypt``), under a daily quota, and expect an app to decrypt only when it must. The hub decrypts at
two steps and nowhere else:

* ``waybill`` — a carrier's own API needs the clear receiver (the platform's own e-waybill service, which takes the
  ciphertext, is preferred: :mod:`orderhub.logistics.waybills`);
* ``view`` — a person with the right asked to see it (``POST /api/v1/orders/{id}/receiver/decrypt``, with a reason).

Every decrypt is recorded (``receiver_decrypt``: order, shop, scene, reason, who, when, what the platform said) in
its own transaction, whatever happens after. The clear values are returned to the caller and never stored, logged
or put in an event. A shop's decrypts per day (Asia/Shanghai) are capped by ``ORDERHUB_DECRYPT_DAILY_LIMIT``, below
the platform's quota, so that people looking never use up what the waybills need.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, time

import httpx
import msgspec

from orderhub import clock, db, httpclient
from orderhub.channels.port import (
    DecryptRefused,
    EncryptedReceiver,
    PlatformError,
    ReceiverDecryptor,
    connector_for,
)
from orderhub.channels.service import call_platform, connector_credentials
from orderhub.channels.tables import ReceiverDecrypt
from orderhub.errors import NotFound
from orderhub.orders import pii
from orderhub.orders.commands import Receiver
from orderhub.orders.service import decode_cipher
from orderhub.settings import get_settings

__all__ = ["SCENES", "DecryptView", "decrypt_receiver", "decrypts_of_order", "decrypts_today"]

log = logging.getLogger(__name__)

SCENES = ("waybill", "view")


class _OrderRow(msgspec.Struct, kw_only=True):
    id: int
    external_id: str
    channel: int
    platform: str
    credentials: str
    receiver_name: str
    receiver_phone: str
    receiver_province: str
    receiver_city: str
    receiver_district: str
    receiver_detail: str
    receiver_address: str
    receiver_cipher: str


class _Count(msgspec.Struct):
    n: int


class DecryptView(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded decrypt (never the clear values)."""

    id: int
    order_id: int
    platform: str
    scene: str
    reason: str
    actor: str
    outcome: str
    platform_code: str
    created_at: datetime


def _today_start() -> datetime:
    local = clock.to_shanghai(clock.now())
    return datetime.combine(local.date(), time(0), tzinfo=clock.SHANGHAI)


async def decrypts_today(channel_id: int) -> int:
    """The shop's decrypts asked of its platform since midnight (Asia/Shanghai), refused ones included (the
    platforms count calls)."""
    row = await db.fetch_one_as(
        _Count,
        "SELECT COUNT(*) AS n FROM receiver_decrypt WHERE channel = {} AND created_at >= {} AND outcome <> 'budget'",
        channel_id,
        _today_start(),
    )
    return row.n if row else 0


async def _record(
    order: _OrderRow, *, scene: str, reason: str, actor: str, outcome: str, platform_code: str = ""
) -> None:
    async with db.transaction():  # its own: the audit stays whatever the caller does next
        await ReceiverDecrypt.insert(
            ReceiverDecrypt(
                order=order.id,
                channel=order.channel,
                platform=order.platform,
                scene=scene.partition(":")[0],
                reason=reason[:255],
                actor=actor[:64],
                outcome=outcome,
                platform_code=platform_code[:64],
                created_at=clock.now(),
            )
        )


async def decrypt_receiver(
    order_id: int, *, scene: str, actor: str, reason: str, http: httpx.AsyncClient | None = None
) -> Receiver:
    """The order's receiver in clear, decrypted through its platform (recorded); an order the hub holds in clear
    is returned as it is (nothing to ask). Raises :class:`DecryptRefused` when the platform (or the shop's daily
    budget) refuses, and the platform's other typed errors as they come."""
    if scene.partition(":")[0] not in SCENES:  # "waybill:<carrier>" names the carrier (TOP has a scene per one)
        raise ValueError(f"unknown decrypt scene {scene!r}")
    order = await db.fetch_one_as(
        _OrderRow,
        "SELECT o.id, o.external_id, o.channel, c.platform, c.credentials, o.receiver_name, o.receiver_phone, "
        "o.receiver_province, o.receiver_city, o.receiver_district, o.receiver_detail, o.receiver_address, "
        "o.receiver_cipher FROM sales_order o JOIN channel c ON c.id = o.channel WHERE o.id = {}",
        order_id,
    )
    if order is None:
        raise NotFound("订单不存在", field="order_id")
    cipher = decode_cipher(order.receiver_cipher)
    held = Receiver(
        name=pii.open_(order.receiver_name),
        phone=pii.open_(order.receiver_phone),
        province=order.receiver_province,
        city=order.receiver_city,
        district=order.receiver_district,
        detail=pii.open_(order.receiver_detail),
        address=pii.open_(order.receiver_address),
        cipher=cipher,
    )
    if cipher is None:
        return held
    record = functools.partial(_record, order, scene=scene, reason=reason, actor=actor)
    if await decrypts_today(order.channel) >= get_settings().decrypt_daily_limit:
        await record(outcome="budget")
        raise DecryptRefused(
            f"本店今日解密次数已达上限（{get_settings().decrypt_daily_limit} 次，ORDERHUB_DECRYPT_DAILY_LIMIT），"
            "请改用平台电子面单打印，或明天再试",
            platform_code="hub_daily_limit",
        )
    own_http = http is None
    client = http or httpclient.client(timeout=httpx.Timeout(20.0, connect=5.0))
    try:
        connector = connector_for(order.platform, connector_credentials(order.credentials), client)
        if not isinstance(connector, ReceiverDecryptor):
            await record(outcome="refused", platform_code="unsupported")
            raise DecryptRefused("该平台不提供收件人解密接口，请使用平台电子面单", platform_code="unsupported")
        # the platform order the ciphertext belongs to (a reship carries its original's)
        item = EncryptedReceiver(external_id=cipher.order_id or order.external_id, cipher=cipher)
        try:
            results = await call_platform(
                connector, order.channel, lambda: connector.decrypt_receivers([item], scene=scene)
            )
        except DecryptRefused as exc:
            await record(outcome="refused", platform_code=exc.platform_code)
            raise
        except PlatformError as exc:
            await record(outcome="failed", platform_code=exc.platform_code)
            raise
    finally:
        if own_http:
            await client.aclose()
    result = results[0] if results else None
    if result is None or result.error_code or not (result.name or result.phone or result.detail):
        code = result.error_code if result is not None else "empty"
        await record(outcome="refused", platform_code=code)
        raise DecryptRefused(
            f"平台未能解密该订单的收件人：{result.error_message if result is not None else '没有结果'}",
            platform_code=code,
            platform_message=result.error_message if result is not None else "",
        )
    await record(outcome="ok")
    log.info("receiver decrypted", extra={"order_id": order_id, "scene": scene, "platform": order.platform})
    detail = result.detail or held.detail
    place = "".join(p for p in (held.province, held.city, held.district) if p)
    return msgspec.structs.replace(
        held,
        name=result.name or held.name,
        phone=result.phone or held.phone,
        detail=detail,
        address=place + detail,
    )


async def decrypts_of_order(order_id: int, *, limit: int = 100) -> list[DecryptView]:
    """The order's recorded decrypts, newest first."""
    rows = await (
        ReceiverDecrypt.select()
        .where(ReceiverDecrypt.order == order_id)
        .order_by(ReceiverDecrypt.id, ascending=False)
        .limit(limit)
    )
    return [
        DecryptView(
            id=r["id"],
            order_id=r["order"],
            platform=r["platform"],
            scene=r["scene"],
            reason=r["reason"],
            actor=r["actor"],
            outcome=r["outcome"],
            platform_code=r["platform_code"],
            created_at=r["created_at"],
        )
        for r in rows
    ]


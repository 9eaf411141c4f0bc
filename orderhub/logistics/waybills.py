"""Carrier accounts and electronic waybills for packed orders.

Requesting a waybill is idempotent: the request carries ``order_ref = OH{order}-W{warehouse}``, the carriers
deduplicate on it (SF answers 8016 and the adapter returns the existing waybill; ZTO and J&T return the same
number), and the hub stores one waybill per order_ref — so pressing the button twice, two pack stations at
once, or a retried job all end with one waybill. The carrier is the customer's (or a rule's) preferred one when
the warehouse has an account for it, else the account with the highest priority; the reason is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, crypto, db, httpclient
from orderhub.address.international import format_lines
from orderhub.address.parser import standardise
from orderhub.carriers.errors import CarrierErrorCode
from orderhub.carriers.port import PLATFORM_WAYBILLS, CarrierError, Party, WaybillItem, WaybillRequest
from orderhub.channels.decrypt import decrypt_receiver
from orderhub.channels.port import PlatformError
from orderhub.channels.tables import Channel
from orderhub.errors import Conflict, NotFound, OrderHubError, ValidationFailed
from orderhub.inventory.tables import Warehouse
from orderhub.logistics import rates
from orderhub.logistics.adapters import account_carrier, unseal
from orderhub.logistics.choice import NoCarrier
from orderhub.logistics.errors import LogisticsError
from orderhub.logistics.international import INTERNATIONAL_CARRIERS, declaration_of_order, is_foreign
from orderhub.logistics.labels import LabelData, address_line
from orderhub.logistics.tables import CarrierAccount, ParcelTracking, Waybill
from orderhub.logistics.tracking import start_tracking
from orderhub.logistics.voids import VOIDED
from orderhub.orders.commands import ReceiverCipher
from orderhub.orders.errors import OrderError
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import decode_cipher, ensure_in_scope, record_event
from orderhub.orders.state import OrderStatus
from orderhub.picking.tables import PackRecord
from orderhub.picking.wave_views import find_wave
from orderhub.settings import get_settings

__all__ = [
    "AccountChanges",
    "BatchError",
    "BatchResult",
    "CarrierAccountView",
    "NewCarrierAccount",
    "WaybillRow",
    "WaybillView",
    "create_account",
    "hand_over",
    "label_data",
    "list_accounts",
    "order_weight",
    "release_choice",
    "request_waybill",
    "request_waybills",
    "set_account_credentials",
    "update_account",
    "wave_labels",
    "wave_orders",
]

CARRIERS = rates.CARRIERS
_CREDENTIAL_KEYS = ("partner_id", "secret", "customer_code", "customer_password", "base_url", "sender_postcode")


class NewCarrierAccount(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    carrier: str
    credentials: dict[str, str]
    warehouse: str | None = None
    sender_name: str = ""
    sender_phone: str = ""
    priority: int = 0
    via: str = ""  # a sales platform's e-waybill service (PLATFORM_WAYBILLS code), "" for the carrier's own API
    channel: str | None = None  # with ``via``: the shop (channel code) whose platform authorisation it uses


class CarrierAccountView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str
    carrier: str
    warehouse: str | None
    credential_keys: list[str]  # which credentials are set (never their values)
    sender_name: str
    sender_phone: str
    priority: int
    active: bool
    via: str = ""
    channel_id: int | None = None


class WaybillView(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    carrier: str
    waybill_no: str
    sort_code: str
    reason: str
    price_fen: int | None
    weight_g: int
    status: str  # issued (not yet handed over), handed_over (with the courier: the order shipped), cancelled
    created_at: datetime
    handed_over_at: datetime | None = None
    parcel_state: str | None = None  # after handover: pending, or the tracking state (in_transit, delivered, …)
    # Issued through a platform's e-waybill service for an encrypted receiver: print with the platform's print
    # component from ``print_data`` (it holds the clear address, encrypted); the hub's label shows it masked.
    privacy: bool = False
    print_data: str = ""


class WaybillRow(msgspec.Struct, kw_only=True):
    """A ``waybill`` row."""

    id: int
    order: int
    warehouse: int
    account: int
    carrier: str
    waybill_no: str
    sort_code: str
    reason: str
    price_fen: int | None
    weight_g: int
    status: str
    created_at: datetime
    privacy: str = ""
    print_data: str = ""


class _Account(msgspec.Struct, kw_only=True):
    """A ``carrier_account`` row as a waybill request uses it (credentials still sealed)."""

    id: int
    carrier: str
    credentials: str
    sender_name: str
    sender_phone: str
    active: bool
    via: str = ""
    channel: int | None = None


class _HeldChoice(_Account, kw_only=True):
    """The account of a choice already written down, with the choice's reason and price."""

    reason: str
    price_fen: int | None


class _Item(msgspec.Struct):
    name: str
    qty: int


class _Grams(msgspec.Struct):
    g: int


class _WaveOrder(msgspec.Struct):
    order_id: int


def _seal(values: Mapping[str, str]) -> str:
    return crypto.encrypt(get_settings().secret_key, msgspec.json.encode(dict(values)))


async def create_account(cmd: NewCarrierAccount) -> CarrierAccountView:
    code = cmd.code.strip()
    if not code or len(code) > 32:
        raise ValidationFailed("账号编码不能为空，且不超过 32 个字符", field="code")
    if cmd.carrier not in CARRIERS:
        raise ValidationFailed(f"快递公司只能是 {'、'.join(CARRIERS)}", field="carrier")
    channel_id = await _platform_channel(cmd.via, cmd.channel) if cmd.via else None
    if not cmd.via:
        _check_credentials(cmd.credentials)
    warehouse_id = None
    if cmd.warehouse:
        row = await Warehouse.select(Warehouse.id).where(Warehouse.code == cmd.warehouse).first()
        if row is None:
            raise NotFound(f"仓库 {cmd.warehouse} 不存在", field="warehouse")
        warehouse_id = int(row["id"])
    async with db.transaction():
        if await CarrierAccount.exists().where(CarrierAccount.code == code):
            raise Conflict(f"快递账号 {code} 已存在", code=LogisticsError.DUPLICATE_CARRIER_ACCOUNT, field="code")
        await CarrierAccount.insert(
            CarrierAccount(
                code=code,
                carrier=cmd.carrier,
                warehouse=warehouse_id,
                credentials=_seal(cmd.credentials),
                sender_name=cmd.sender_name.strip(),
                sender_phone=cmd.sender_phone.strip(),
                priority=cmd.priority,
                active=True,
                via=cmd.via,
                channel=channel_id,
                created_at=clock.now(),
            )
        )
    return next(a for a in await list_accounts() if a.code == code)


def _check_credentials(credentials: Mapping[str, str]) -> None:
    unknown = sorted(set(credentials) - set(_CREDENTIAL_KEYS))
    if unknown:
        raise ValidationFailed(f"未知的凭证字段：{'、'.join(unknown)}", field="credentials")
    if not credentials.get("partner_id") or not credentials.get("secret"):
        raise ValidationFailed("partner_id 与 secret 必填", field="credentials")


async def _platform_channel(via: str, channel: str | None) -> int:
    """The shop a platform e-waybill account uses: it must exist and be on that platform."""
    if via not in PLATFORM_WAYBILLS:
        known = "、".join(PLATFORM_WAYBILLS.codes()) or "无"
        raise ValidationFailed(f"不支持的平台电子面单服务 {via}（可用：{known}）", field="via")
    if not channel:
        raise ValidationFailed("平台电子面单账号需要指定店铺（channel）", field="channel")
    row = await Channel.select(Channel.id, Channel.platform).where(Channel.code == channel).first()
    if row is None:
        raise NotFound(f"渠道 {channel} 不存在", field="channel")
    if row["platform"] != via:
        raise ValidationFailed(f"渠道 {channel} 不是 {via} 平台的店铺", field="channel")
    return int(row["id"])


async def set_account_credentials(code: str, credentials: Mapping[str, str]) -> None:
    """Replace an account's credentials (the carrier issued new keys; a platform account's settings)."""
    row = await CarrierAccount.select(CarrierAccount.via).where(CarrierAccount.code == code).first()
    if row is not None and not row["via"]:
        _check_credentials(credentials)
    updated = await CarrierAccount.update({CarrierAccount.credentials: _seal(credentials)}).where(
        CarrierAccount.code == code
    ).returning(CarrierAccount.id)
    if not updated:
        raise NotFound(f"快递账号 {code} 不存在", code=LogisticsError.CARRIER_ACCOUNT_NOT_FOUND, field="code")


class AccountChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change on a carrier account (None: keep)."""

    active: bool | None = None
    priority: int | None = None
    sender_name: str | None = None
    sender_phone: str | None = None
    credentials: dict[str, str] | None = None


async def update_account(code: str, changes: AccountChanges) -> CarrierAccountView:
    """Stop or resume an account, reorder it, fix its sender, or give it the carrier's new keys. A stopped account
    gets no new waybills; a request already made with it is not moved elsewhere (see :func:`release_choice`)."""
    async with db.transaction():
        if not await CarrierAccount.exists().where(CarrierAccount.code == code):
            raise NotFound(f"快递账号 {code} 不存在", code=LogisticsError.CARRIER_ACCOUNT_NOT_FOUND, field="code")
        if changes.credentials is not None:
            await set_account_credentials(code, changes.credentials)
        values: dict[Any, Any] = {}
        if changes.active is not None:
            values[CarrierAccount.active] = changes.active
        if changes.priority is not None:
            values[CarrierAccount.priority] = changes.priority
        if changes.sender_name is not None:
            values[CarrierAccount.sender_name] = changes.sender_name.strip()
        if changes.sender_phone is not None:
            values[CarrierAccount.sender_phone] = changes.sender_phone.strip()
        if values:
            await CarrierAccount.update(values).where(CarrierAccount.code == code)
    return next(a for a in await list_accounts() if a.code == code)


async def list_accounts() -> list[CarrierAccountView]:
    rows = await CarrierAccount.select(*CarrierAccount.all_columns(), CarrierAccount.warehouse.code).order_by(
        CarrierAccount.id
    )
    return [
        CarrierAccountView(
            id=int(r["id"]),
            code=r["code"],
            carrier=r["carrier"],
            warehouse=r["warehouse.code"],
            credential_keys=sorted(unseal(r["credentials"])),
            sender_name=r["sender_name"],
            sender_phone=r["sender_phone"],
            priority=int(r["priority"]),
            active=bool(r["active"]),
            via=r["via"] or "",
            channel_id=r["channel"],
        )
        for r in rows
    ]


class _Parcel(msgspec.Struct):
    state: str
    created_at: datetime


async def _parcel(waybill_id: int) -> _Parcel | None:
    """The parcel's tracking row: made at handover (its created_at is when), so it says the parcel left."""
    rows = await ParcelTracking.select(ParcelTracking.state, ParcelTracking.created_at).where(
        ParcelTracking.waybill == waybill_id
    )
    return db.rows_as(_Parcel, rows)[0] if rows else None


def _view(row: WaybillRow, parcel: _Parcel | None = None) -> WaybillView:
    handed_over = parcel is not None and row.status == "issued"
    return WaybillView(
        order_id=row.order,
        carrier=row.carrier,
        waybill_no=row.waybill_no,
        sort_code=row.sort_code,
        reason=row.reason,
        price_fen=row.price_fen,
        weight_g=row.weight_g,
        status="handed_over" if handed_over else row.status,
        created_at=clock.to_shanghai(row.created_at),
        handed_over_at=clock.to_shanghai(parcel.created_at) if parcel is not None else None,
        parcel_state=parcel.state if parcel is not None else None,
        privacy=bool(row.privacy),
        print_data=row.print_data,
    )


async def _issued(order_id: int) -> WaybillRow | None:
    rows = await (
        Waybill.select().where(Waybill.order == order_id, Waybill.status == "issued").order_by(Waybill.id).limit(1)
    )
    return db.rows_as(WaybillRow, rows)[0] if rows else None


class _Pick(msgspec.Struct, frozen=True, kw_only=True):
    account: _Account
    reason: str
    price_fen: int | None = None


async def _choose_account(order: rates.ShippingOrder, weight_g: int) -> _Pick:
    """The carrier account for the order: carrier choice over the warehouse's rate cards (customer's carrier if it
    makes ship-by, else the cheapest in time), or — when the warehouse has no rate cards — the customer's carrier
    if the warehouse has its account, else the account with the highest priority."""
    rows = db.rows_as(
        _Account,
        await CarrierAccount.select()
        .where(
            CarrierAccount.active.eq(True),
            (CarrierAccount.warehouse == order.warehouse) | CarrierAccount.warehouse.is_null(),
        )
        .order_by(CarrierAccount.priority, ascending=False)
        .order_by(CarrierAccount.id),
    )
    rows = _accounts_for(order, rows)
    if not rows and is_foreign(order.receiver_country):
        raise Conflict(
            f"该承运商不支持国际件：本仓没有可寄往 {order.receiver_country} 的快递账号"
            f"（可寄国际件：{'、'.join(INTERNATIONAL_CARRIERS)}）",
            code=CarrierErrorCode.INTERNATIONAL_UNSUPPORTED,
            field="order_id",
        )
    if not rows:
        raise Conflict(LogisticsError.NO_CARRIER_ACCOUNT, field="order_id")
    if is_foreign(order.receiver_country):  # rate cards price 省/市 zones: abroad, the customer's carrier or priority
        chosen = next((r for r in rows if order.preferred_carrier and r.carrier == order.preferred_carrier), rows[0])
        return _Pick(account=chosen, reason=f"国际件（寄往 {order.receiver_country}）：{chosen.carrier}")
    try:
        choice = await rates.choice_for_order(order, weight_g, sorted({r.carrier for r in rows}))
    except NoCarrier as exc:
        raise Conflict(str(exc), code=LogisticsError.NO_CARRIER, field="order_id") from exc
    if choice is not None:
        account = next(r for r in rows if r.carrier == choice.carrier)
        return _Pick(account=account, reason=choice.reason, price_fen=choice.price_fen)
    wanted = order.preferred_carrier
    preferred = next((r for r in rows if wanted and r.carrier == wanted), None)
    if preferred is not None:
        return _Pick(account=preferred, reason=f"客户指定 {wanted}")
    note = f"（客户指定的 {wanted} 本仓没有账号）" if wanted else ""
    return _Pick(account=rows[0], reason=f"本仓默认快递 {rows[0].carrier}（未配置价目表）{note}")


def _accounts_for(order: rates.ShippingOrder, rows: list[_Account]) -> list[_Account]:
    """The accounts that can print this order's receiver. An encrypted receiver: the accounts at its platform's
    e-waybill service (for its shop, or for any shop of the platform) — they take the ciphertext — else the
    carriers' own accounts, which need a decrypt through the platform. A clear receiver: the carriers' own. A
    receiver outside China: the carriers' own accounts of carriers with an international service."""
    own = [r for r in rows if not r.via]
    if is_foreign(order.receiver_country):
        return [r for r in own if r.carrier in INTERNATIONAL_CARRIERS]
    cipher = decode_cipher(order.receiver_cipher)
    if cipher is None:
        return own
    platform = [r for r in rows if _prints(r.via, cipher) and r.channel in (None, order.channel)]
    return platform or own


def _prints(via: str, cipher: ReceiverCipher | None) -> bool:
    """Whether a platform e-waybill service takes this ciphertext (Tmall shops are on TOP: 菜鸟 prints both)."""
    family = {"tmall": "taobao"}
    return bool(via) and cipher is not None and family.get(via, via) == family.get(cipher.platform, cipher.platform)


async def _receiver(order: rates.ShippingOrder, account: _Account, actor: str) -> Party:
    """The receiver as the account's service takes it: the platform's ciphertext for its own e-waybill service;
    the clear receiver for a carrier's API — decrypted through the platform (recorded) when the platform keeps
    it encrypted, never stored."""
    cipher = decode_cipher(order.receiver_cipher)
    if _prints(account.via, cipher):
        assert cipher is not None
        return Party(
            name=cipher.name_masked or order.receiver_name,
            phone=cipher.phone_masked or order.receiver_phone,
            province=order.receiver_province,
            city=order.receiver_city,
            district=order.receiver_district,
            detail=cipher.detail_masked or order.receiver_detail,
            cipher=cipher,
        )
    if cipher is not None:
        clear = await decrypt_receiver(
            order.id, scene=f"waybill:{account.carrier}", actor=actor, reason=f"{account.carrier} 电子面单"
        )
        return Party(
            name=clear.name,
            phone=clear.phone.replace("转", "-"),  # a privacy number's extension as carriers write it
            province=clear.province,
            city=clear.city,
            district=clear.district,
            detail=clear.detail,
        )
    return Party(
        name=order.receiver_name,
        phone=order.receiver_phone,
        province=order.receiver_province,
        city=order.receiver_city,
        district=order.receiver_district,
        detail=order.receiver_detail,
        country=(order.receiver_country or "CN").strip().upper(),
        postcode=order.receiver_postcode or "",
    )


def _platform_ref(order: rates.ShippingOrder, order_ref: str) -> str:
    """``<platform order id>/<parcel>`` for a platform e-waybill service: the platform order the ciphertext belongs
    to (a reship's is its original's) and the hub's parcel, letters and digits only — ``OH12-W3`` → ``<id>/12W3``,
    ``OH12-W3-R1`` → ``<id>/12W3R1`` — so every hub parcel is its own waybill and a repeat gets the same one."""
    cipher = decode_cipher(order.receiver_cipher)
    platform_order = cipher.order_id if cipher is not None and cipher.order_id else order.external_id
    return f"{platform_order}/{order_ref.removeprefix('OH').replace('-', '')}"


async def order_weight(order_id: int, warehouse_id: int) -> int:
    """The parcel's weight: as weighed at the pack station, else the sum of its SKUs' weights."""
    measured: list[int | None] = await (
        PackRecord.select(PackRecord.measured_g)
        .where(PackRecord.order == order_id, PackRecord.warehouse == warehouse_id, PackRecord.status == "packed")
        .order_by(PackRecord.id, ascending=False)
        .limit(1)
        .output(as_list=True)
    )
    if measured and measured[0]:
        return measured[0]
    lines = await db.fetch_one_as(  # raw: a SUM over a join (the lines' SKU weights)
        _Grams,
        "SELECT COALESCE(SUM(l.qty * s.weight_g), 0) AS g FROM order_line l JOIN sku s ON s.id = l.sku "
        "WHERE l.\"order\" = {} AND l.warehouse = {}",
        order_id,
        warehouse_id,
    )
    return max(1, lines.g if lines is not None else 0)


async def _sender(account: _Account, warehouse_id: int) -> Party:
    wh = await Warehouse.select(Warehouse.name, Warehouse.address).where(Warehouse.id == warehouse_id).first()
    assert wh is not None
    place = standardise(address=wh["address"] or "")
    if not place.ok:
        raise ValidationFailed(
            f"仓库地址无法识别，请在仓库设置中填写完整地址：{place.message or ''}",
            code=LogisticsError.BAD_SENDER_ADDRESS,
            field="address",
        )
    return Party(
        name=account.sender_name or wh["name"],
        phone=account.sender_phone,
        province=place.province,
        city=place.city,
        district=place.district,
        detail=place.detail,
    )


async def _held_pick(order_ref: str) -> _Pick | None:
    """The carrier choice already written down for this parcel (a request in flight or whose answer was lost)."""
    row = await db.fetch_one_as(  # raw: a join (the choice with its account's row)
        _HeldChoice,
        "SELECT w.reason, w.price_fen, a.* FROM waybill w JOIN carrier_account a ON a.id = w.account "
        "WHERE w.order_ref = {} AND w.status = 'requesting'",
        order_ref,
    )
    if row is None:
        return None
    return _Pick(account=row, reason=row.reason, price_fen=row.price_fen)


async def _order_ref(order_id: int, warehouse_id: int) -> str:
    """``OH{order}-W{warehouse}``; once the order's waybill there was voided (its receiver changed after packing:
    :mod:`orderhub.logistics.voids`), ``-R{n}`` after it — the carriers deduplicate on it and would answer with
    the voided waybill."""
    voided = await Waybill.count().where(
        Waybill.order == order_id, Waybill.warehouse == warehouse_id, Waybill.status.is_in(list(VOIDED))
    )
    base = f"OH{order_id}-W{warehouse_id}"
    return f"{base}-R{voided}" if voided else base


async def _lock_order(order_id: int) -> None:
    """The order's row lock (PostgreSQL) for the rest of the transaction; SQLite's BEGIN IMMEDIATE already
    serialises writers. ``FOR NO KEY UPDATE``: it excludes another request and an address change (an UPDATE of the
    order's receiver takes the same mode) but not the key-share locks of rows that merely reference the order — an
    event recorded for it by another transaction. With ``FOR UPDATE`` two batch requests for the same wave deadlocked
    (one holding order 1 and recording order 2's event, the other the reverse)."""
    # Raw SQL: a row lock.
    lock = "" if db.is_sqlite() else " FOR NO KEY UPDATE"
    await db.fetch_as(db.IdRow, "SELECT id FROM sales_order WHERE id = {}" + lock, order_id)


async def request_waybill(order_id: int, *, actor: str) -> WaybillView:
    """The packed order's waybill: the one already issued, or a new one from the chosen carrier."""
    existing = await _issued(order_id)
    if existing is not None:
        return _view(existing, await _parcel(existing.id))
    # The choice is written down under the order's row lock, and the receiver read after taking it. An approved
    # address change takes the same lock to void the waybill and replace the receiver (orderhub.logistics.voids):
    # either it committed first and this request carries the new receiver, or it finds this request in flight and is
    # refused (waybill_request_pending) — the carrier never gets a receiver the order no longer has.
    async with db.transaction():
        await _lock_order(order_id)
        order = await rates.shipping_order(order_id)
        if order.status not in (OrderStatus.PACKED.value, OrderStatus.SHIPPED.value):
            raise Conflict("订单打包完成后才能取运单号", code=OrderError.NOT_PACKED, field="order_id")
        warehouse_id = order.warehouse
        if warehouse_id is None:  # a packed order has its warehouse
            raise ValidationFailed("订单还没有分配仓库", code=LogisticsError.NO_WAREHOUSE, field="order_id")
        order_ref = await _order_ref(order_id, warehouse_id)
        weight = await order_weight(order_id, warehouse_id)
        held = await _held_pick(order_ref)
        if held is not None and not held.account.active:
            raise Conflict(
                f"该订单已向 {held.account.carrier} 请求过运单号（结果未知），但该快递账号已停用："
                "请在快递后台确认没有出单后解除该选择，再重新取号",
                code=LogisticsError.HELD_CARRIER_INACTIVE,
                field="order_id",
            )
        pick = held or await _choose_account(order, weight)
        # The choice is written down before the carrier is asked: a retry after a lost answer (or a second press at
        # the same moment) asks the same carrier with the same order_ref, and gets the same waybill back — never a
        # second live waybill at another carrier because the clock, a rule or a rate card moved in between.
        created = await db.execute_returning(  # raw: INSERT … ON CONFLICT DO NOTHING RETURNING id (this press's?)
            db.IdRow,
            "INSERT INTO waybill (order_ref, \"order\", warehouse, account, carrier, waybill_no, reason, price_fen, "
            "weight_g, status, created_by, created_at) "
            "VALUES ({}, {}, {}, {}, {}, '', {}, {}, {}, 'requesting', {}, {}) "
            "ON CONFLICT (order_ref) DO NOTHING RETURNING id",
            order_ref, order_id, warehouse_id, pick.account.id, pick.account.carrier, pick.reason[:255],
            pick.price_fen, weight, actor[:64], clock.now(),
        )
        if not created:  # another press holds a choice (use it), or has just got the waybill (answer it)
            held = await _held_pick(order_ref)
            if held is None and (issued := await _issued(order_id)) is not None:
                return _view(issued)
            pick = held or pick
    account, reason = pick.account, pick.reason
    lines = await db.fetch_as(  # raw: a join (each line's SKU name)
        _Item,
        "SELECT s.name, l.qty FROM order_line l JOIN sku s ON s.id = l.sku WHERE l.\"order\" = {} "
        "AND l.warehouse = {} ORDER BY l.line_no",
        order_id,
        warehouse_id,
    )
    try:
        request = WaybillRequest(
            # A platform's e-waybill service binds the waybill to the platform's order: its id, and a parcel id
            # unique per hub parcel (warehouse, re-issue) so a repeat asks for the same waybill.
            order_ref=_platform_ref(order, order_ref) if account.via else order_ref,
            sender=await _sender(account, warehouse_id),
            receiver=await _receiver(order, account, actor),
            weight_g=weight,
            declared_value_fen=order.paid_amount,
            items=[WaybillItem(name=r.name[:60], qty=r.qty) for r in lines],
            # A receiver outside China: the declaration the customs context drew up for the order.
            customs=await declaration_of_order(order_id, warehouse_id) if is_foreign(order.receiver_country) else None,
        )
        async with httpclient.client(timeout=15) as http:
            adapter = await account_carrier(account.carrier, account.via, account.channel, account.credentials, http)
            waybill = await adapter.create_waybill(request)
    except (CarrierError, PlatformError) as exc:
        # The carrier refused a first ask: nothing was issued, so the next press may choose again. A refusal of a
        # repeated ask frees nothing — an earlier ask whose answer was lost may have issued a waybill.
        if not exc.retryable and created:
            await Waybill.delete().where(Waybill.id == created[0].id, Waybill.status == "requesting")
        raise
    async with db.transaction():
        # raw: an upsert (the choice row may have been freed meanwhile: a parallel press was refused)
        inserted = await db.execute_returning(
            db.IdRow,
            "INSERT INTO waybill (order_ref, \"order\", warehouse, account, carrier, waybill_no, sort_code, "
            "destination_code, reason, price_fen, weight_g, status, privacy, print_data, created_by, created_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'issued', {}, {}, {}, {}) "
            "ON CONFLICT (order_ref) DO UPDATE SET waybill_no = EXCLUDED.waybill_no, carrier = EXCLUDED.carrier, "
            "sort_code = EXCLUDED.sort_code, destination_code = EXCLUDED.destination_code, status = 'issued', "
            "privacy = EXCLUDED.privacy, print_data = EXCLUDED.print_data, "
            "created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at WHERE waybill.status = 'requesting' "
            "RETURNING id",
            order_ref,
            order_id,
            warehouse_id,
            account.id,
            waybill.carrier,
            waybill.waybill_no,
            waybill.sort_code,
            waybill.destination_code,
            reason[:255],
            pick.price_fen,
            weight,
            "privacy" if waybill.privacy else "",
            waybill.print_data,
            actor[:64],
            clock.now(),
        )
        if inserted:
            await record_event(
                order_id,
                OrderEventType.WAYBILL_ISSUED,
                data={
                    "carrier": waybill.carrier,
                    "waybill_no": waybill.waybill_no,
                    "reason": reason,
                    "price_fen": pick.price_fen,
                },
                actor=actor,
            )
    stored = await _issued(order_id)
    if stored is None:  # the order's waybill was cancelled meanwhile
        raise Conflict("该订单的运单已作废，请重新取号", code=LogisticsError.WAYBILL_CANCELLED, field="order_id")
    return _view(stored)


async def release_choice(order_id: int, *, actor: str) -> None:
    """Free a carrier choice whose request never got an answer (the carrier kept failing, or its account was
    stopped), so the next press chooses again. Only once someone has checked at the carrier that no waybill was
    issued for the order — the hub cannot know."""
    async with db.transaction():
        released = db.rows_as(
            _Released,
            await Waybill.delete()
            .where(Waybill.order == order_id, Waybill.status == "requesting")
            .returning(Waybill.carrier, Waybill.order_ref),
        )
        if not released:
            raise NotFound("该订单没有待定的取号请求", code=LogisticsError.NO_PENDING_REQUEST, field="order_id")
        await record_event(
            order_id,
            OrderEventType.WAYBILL_CHOICE_RELEASED,
            data={"carrier": released[0].carrier, "order_ref": released[0].order_ref},
            actor=actor,
        )


class _Released(msgspec.Struct):
    carrier: str
    order_ref: str


async def hand_over(order_id: int, *, actor: str) -> WaybillView:
    """The labelled parcel was handed to the courier: the order ships with its waybill (stock consumed, the
    platform write-back queued, the ``order.shipped`` event published — :func:`orderhub.orders.shipping.ship_order`).
    Handing over an order already shipped with this waybill answers the same. The answer says where the parcel is
    now: ``handed_over`` (with when, and its tracking state), never the ``issued`` of a waybill still on the bench."""
    from orderhub.orders.shipping import ship_order

    waybill = await _issued(order_id)
    if waybill is None:
        raise Conflict("请先取运单号并打印面单", code=LogisticsError.NO_WAYBILL, field="order_id")
    order = await rates.shipping_order(order_id)
    async with db.transaction():  # one transaction: the shipped message is written with its tracking link ready
        if order.status != OrderStatus.SHIPPED.value:
            await ship_order(order_id, carrier=waybill.carrier, waybill_no=waybill.waybill_no, actor=actor)
        await start_tracking(order_id, waybill.id, waybill.carrier, waybill.waybill_no)
        parcel = await _parcel(waybill.id)
    return _view(waybill, parcel)  # handed_over: the parcel is with the courier (not "issued")


async def label_data(order_id: int, *, actor: str = "system:label") -> LabelData:
    """What the order's label prints. A waybill from a platform's e-waybill service: the privacy layout with the
    platform's masked receiver (its print component prints the clear address from the waybill's print data). A
    carrier's own waybill for an encrypted receiver: the street decrypted through the platform for this print
    (recorded, never stored); name and phone are masked on every label."""
    waybill = await _issued(order_id)
    if waybill is None:
        raise NotFound("该订单还没有运单号", code=LogisticsError.NO_WAYBILL, field="order_id")
    order = await rates.shipping_order(order_id)
    account = db.rows_as(_Account, await CarrierAccount.select().where(CarrierAccount.id == waybill.account))[0]
    sender = await _sender(account, waybill.warehouse)
    cipher = decode_cipher(order.receiver_cipher)
    privacy = account.via if waybill.privacy else ""
    detail = order.receiver_detail
    if cipher is not None and not waybill.privacy:
        detail = (await decrypt_receiver(order_id, scene="waybill", actor=actor, reason="打印面单")).detail
    receiver = address_line(order.receiver_province, order.receiver_city, order.receiver_district, detail)
    if is_foreign(order.receiver_country):  # lines, city, region, postcode, country — as the destination's post reads
        receiver = format_lines(
            order.receiver_country, detail.splitlines(), order.receiver_city, order.receiver_province,
            order.receiver_postcode,
        )  # fmt: skip
    return LabelData(
        privacy=privacy,
        carrier=waybill.carrier,
        waybill_no=waybill.waybill_no,
        sort_code=waybill.sort_code,
        receiver_name=order.receiver_name,
        receiver_phone=order.receiver_phone,
        receiver_address=receiver or order.receiver_address,
        sender_name=sender.name,
        sender_phone=sender.phone,
        sender_address=address_line(sender.province, sender.city, sender.district, sender.detail),  # 上海市 once
        weight_g=waybill.weight_g,
        order_ref=order.external_id,
    )


class BatchError(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str  # zh-CN, shown to the packer
    field: str | None = None
    carrier_code: str = ""  # the carrier's own error code, when the carrier refused


class BatchResult(msgspec.Struct, frozen=True, kw_only=True):
    order_id: int
    waybill: WaybillView | None = None
    error: BatchError | None = None


_BATCH_CONCURRENCY = 4


async def request_waybills(
    order_ids: Sequence[int], *, actor: str, warehouse_id: int | None = None
) -> list[BatchResult]:
    """Waybills for many packed orders at once (a wave, a selection): each order alone is idempotent, a refusal
    of one (not packed, out of the carrier's area, quota …, or another warehouse's order for a user bound to one)
    is reported for that order and the others go on."""
    gate = asyncio.Semaphore(_BATCH_CONCURRENCY)

    async def one(order_id: int) -> BatchResult:
        async with gate:
            try:
                await ensure_in_scope(order_id, warehouse_id)
                return BatchResult(order_id=order_id, waybill=await request_waybill(order_id, actor=actor))
            except OrderHubError as exc:
                return BatchResult(
                    order_id=order_id,
                    error=BatchError(
                        code=exc.code,
                        message=exc.message,
                        field=exc.field,
                        carrier_code=str(getattr(exc, "carrier_code", "") or ""),
                    ),
                )

    unique = list(dict.fromkeys(order_ids))
    return list(await asyncio.gather(*(one(order_id) for order_id in unique)))


async def wave_orders(wave: int | str, *, warehouse_id: int | None = None) -> list[int]:
    """The orders still in the wave (by id or code; not withdrawn), in id order."""
    wave_id = (await find_wave(wave, warehouse_id=warehouse_id)).id
    rows = await db.fetch_as(  # raw: a DISTINCT over a join (the wave's tasks' orders still in it)
        _WaveOrder,
        "SELECT DISTINCT o.\"order\" AS order_id FROM pick_task_order o JOIN pick_task t ON t.id = o.task "
        "WHERE t.wave = {} AND o.status = 'active' ORDER BY o.\"order\"",
        wave_id,
    )
    return [r.order_id for r in rows]


async def wave_labels(wave: int | str, *, warehouse_id: int | None = None) -> tuple[list[LabelData], list[int]]:
    """Every label of the wave (by id or code) in order-id order (one PDF prints the wave), and the orders without
    a waybill."""
    labels: list[LabelData] = []
    missing: list[int] = []
    for order_id in await wave_orders(wave, warehouse_id=warehouse_id):
        if await _issued(order_id) is None:
            missing.append(order_id)
        else:
            labels.append(await label_data(order_id))
    return labels, missing

"""Add-on offers: drafts (from a mined co-purchase pattern or by hand), review, enabling and disabling (audited),
the storefront's answer for one cart and buyer, and the order rule an offer can become.

An offer says: when a cart or order has at least ``min_qty`` (N) of each SKU of ``trigger_skus`` (X), offer
``offer_sku`` (Y) at ``price`` fen. draft → enabled ⇄ disabled. Buyers whose stable hash falls below
``holdout_share`` are the control group: the storefront shows them nothing (``orderhub.offers.effect``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.catalog.tables import Sku
from orderhub.errors import Conflict, NotFound, ValidationFailed
from orderhub.insights import copurchase
from orderhub.offers.errors import OfferError
from orderhub.offers.model import derive_holdout_key, in_holdout, qualifies
from orderhub.offers.tables import Offer, OfferLog
from orderhub.rules import service as rules
from orderhub.rules.service import NewRule, RuleView
from orderhub.settings import get_settings

__all__ = [
    "DEFAULT_HOLDOUT",
    "MAX_CART_ITEMS",
    "MAX_TRIGGER",
    "NewOffer",
    "OfferLogEntry",
    "OfferView",
    "PatternRef",
    "ServedOffer",
    "create_from_pattern",
    "create_offer",
    "disable_offer",
    "enable_offer",
    "get_offer",
    "gift_rule_conditions",
    "holdout_key",
    "list_offers",
    "make_gift_rule",
    "offer_log",
    "parse_cart",
    "storefront_offers",
    "update_offer",
]

DEFAULT_HOLDOUT = 0.10
MAX_HOLDOUT = 0.5
MAX_TRIGGER = 10  # SKUs in one trigger (a mined set is 1–3)
MAX_CART_ITEMS = 100
STATUSES = ("draft", "enabled", "disabled")
# Only a draft's condition, offered SKU and hold-out share change: once buyers were served, changing them would mix
# two offers in one measurement. Name and price change at any time.
DRAFT_ONLY = ("trigger_skus", "min_qty", "offer_sku", "holdout_share")
CLAIMING = -1  # gift_rule_id while a gift rule is being made (inside the transaction that makes it)


def holdout_key() -> bytes:
    """The key of the hold-out hash (``orderhub.offers.model.holdout_point``), derived from ORDERHUB_SECRET_KEY: the
    storefront and the measurement both use this one."""
    return derive_holdout_key(get_settings().secret_key)


class PatternRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """What an offer keeps of a mined co-purchase pattern (``orderhub.insights.copurchase.Pattern``)."""

    id: int
    antecedent: list[str]
    min_qty: int
    consequent: str
    support: float
    confidence: float
    lift: float
    orders: int


class NewOffer(msgspec.Struct, frozen=True, kw_only=True):
    trigger_skus: list[str]
    offer_sku: str
    price: int  # fen
    min_qty: int = 1
    name: str = ""
    holdout_share: float = DEFAULT_HOLDOUT


class OfferView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    status: str
    trigger_skus: list[str]
    min_qty: int
    offer_sku: str
    price: int
    holdout_share: float
    pattern_id: int | None
    pattern_support: float | None
    pattern_confidence: float | None
    pattern_lift: float | None
    pattern_orders: int | None
    created_by: str
    reviewed_by: str
    enabled_by: str
    enabled_at: datetime | None
    disabled_by: str
    disabled_at: datetime | None
    gift_rule_id: int | None
    created_at: datetime
    updated_at: datetime


class OfferLogEntry(msgspec.Struct, frozen=True, kw_only=True):
    action: str  # created | edited | enabled | disabled | gift_rule
    actor: str
    data: dict[str, Any]
    at: datetime


class ServedOffer(msgspec.Struct, frozen=True, kw_only=True):
    """What the storefront shows: nothing about the hold-out, the pattern or who reviewed it."""

    id: int
    name: str
    sku: str
    price: int
    trigger_skus: list[str]
    min_qty: int


# -- reads -------------------------------------------------------------------------------------------------------------


def _view(row: Mapping[str, Any]) -> OfferView:
    return OfferView(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        trigger_skus=list(msgspec.json.decode(row["trigger_skus"] or "[]")),
        min_qty=row["min_qty"],
        offer_sku=row["offer_sku"],
        price=row["price"],
        holdout_share=float(row["holdout_share"]),
        pattern_id=row["pattern_id"] or None,
        pattern_support=row["pattern_support"],
        pattern_confidence=row["pattern_confidence"],
        pattern_lift=row["pattern_lift"],
        pattern_orders=row["pattern_orders"],
        created_by=row["created_by"],
        reviewed_by=row["reviewed_by"],
        enabled_by=row["enabled_by"],
        enabled_at=clock.from_db(row["enabled_at"]),
        disabled_by=row["disabled_by"],
        disabled_at=clock.from_db(row["disabled_at"]),
        gift_rule_id=row["gift_rule_id"] if (row["gift_rule_id"] or 0) > 0 else None,
        created_at=clock.from_db(row["created_at"]),
        updated_at=clock.from_db(row["updated_at"]),
    )


async def get_offer(offer_id: int) -> OfferView:
    row = await Offer.select().where(Offer.id == offer_id).first()
    if row is None:
        raise NotFound(OfferError.OFFER_NOT_FOUND, field="id")
    return _view(row)


async def list_offers(status: str | None = None) -> list[OfferView]:
    """Offers, newest first (at most a few hundred exist: they are made by people)."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"状态只能是 {'、'.join(STATUSES)}", field="status")
    query = Offer.select().order_by(Offer.id, ascending=False)
    if status is not None:
        query = query.where(Offer.status == status)
    return [_view(row) for row in await query]


async def offer_log(offer_id: int) -> list[OfferLogEntry]:
    await get_offer(offer_id)
    rows = await OfferLog.select().where(OfferLog.offer == offer_id).order_by(OfferLog.id)
    return [
        OfferLogEntry(
            action=r["action"], actor=r["actor"], data=msgspec.json.decode(r["data"]), at=clock.from_db(r["created_at"])
        )
        for r in rows
    ]


# -- validation --------------------------------------------------------------------------------------------------------


def _trigger(skus: Sequence[str]) -> list[str]:
    cleaned = sorted({s.strip() for s in skus if s.strip()})
    if not 1 <= len(cleaned) <= MAX_TRIGGER:
        raise ValidationFailed(f"触发商品需要 1–{MAX_TRIGGER} 个 SKU", field="trigger_skus")
    return cleaned


def _check(trigger: list[str], offer_sku: str, min_qty: int, price: int, holdout: float) -> None:
    if not offer_sku.strip():
        raise ValidationFailed("加购商品不能为空", field="offer_sku")
    if offer_sku in trigger:
        raise ValidationFailed("加购商品不能同时是触发商品", field="offer_sku")
    if not 1 <= min_qty <= 999:
        raise ValidationFailed("起购件数应为 1–999", field="min_qty")
    if not 0 <= price <= 100_000_000:
        raise ValidationFailed("加购价（分）应为 0–100000000", field="price")
    if not 0 <= holdout <= MAX_HOLDOUT:
        raise ValidationFailed(f"对照组比例应在 0–{MAX_HOLDOUT} 之间", field="holdout_share")


async def _check_skus(trigger: list[str], offer_sku: str) -> None:
    wanted = [*trigger, offer_sku]
    rows = await Sku.select(Sku.code).where(Sku.code.is_in(wanted))  # bounded: at most MAX_TRIGGER + 1 codes
    known = {r["code"] for r in rows}
    unknown = [s for s in trigger if s not in known]
    if unknown:
        raise ValidationFailed(f"未知的 SKU：{'、'.join(unknown)}", field="trigger_skus")
    if offer_sku not in known:
        raise ValidationFailed(f"未知的 SKU：{offer_sku}", field="offer_sku")


def _default_name(trigger: Sequence[str], min_qty: int, offer_sku: str, price: int) -> str:
    return f"满 {min_qty} 件 {'+'.join(trigger)} 加购 {offer_sku} {price / 100:.2f} 元"[:100]


async def _log(
    offer_id: int, action: str, actor: str, data: Mapping[str, Any] | None = None, *, at: datetime | None = None
) -> None:
    await OfferLog.insert(
        OfferLog(
            offer=offer_id,
            action=action,
            actor=actor,
            data=msgspec.json.encode(dict(data or {})).decode(),
            created_at=at or clock.now(),
        )
    )


# -- writes ------------------------------------------------------------------------------------------------------------


async def create_offer(cmd: NewOffer, *, actor: str, pattern: PatternRef | None = None) -> OfferView:
    """A draft, by hand or from ``pattern`` (whose figures it keeps)."""
    trigger = _trigger(cmd.trigger_skus)
    offer_sku = cmd.offer_sku.strip()
    _check(trigger, offer_sku, cmd.min_qty, cmd.price, cmd.holdout_share)
    await _check_skus(trigger, offer_sku)
    name = cmd.name.strip() or _default_name(trigger, cmd.min_qty, offer_sku, cmd.price)
    now = clock.now()
    async with db.transaction():
        inserted = await Offer.insert(
            Offer(
                name=name[:100],
                status="draft",
                trigger_skus=msgspec.json.encode(trigger).decode(),
                min_qty=cmd.min_qty,
                offer_sku=offer_sku,
                price=cmd.price,
                holdout_share=cmd.holdout_share,
                pattern_id=pattern.id if pattern else 0,
                pattern_support=pattern.support if pattern else None,
                pattern_confidence=pattern.confidence if pattern else None,
                pattern_lift=pattern.lift if pattern else None,
                pattern_orders=pattern.orders if pattern else None,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
        ).returning(Offer.id)
        offer_id = int(inserted[0]["id"])
        await _log(offer_id, "created", actor, {"pattern_id": pattern.id} if pattern else {})
    return await get_offer(offer_id)


async def create_from_pattern(
    pattern_id: int,
    *,
    actor: str,
    price: int,
    min_qty: int | None = None,
    name: str = "",
    holdout_share: float | None = None,
) -> OfferView:
    """A draft from a mined pattern: X = its antecedent, N = its min_qty (unless given), Y = its consequent."""
    pattern = msgspec.convert(msgspec.to_builtins(await copurchase.get_pattern(pattern_id)), PatternRef)
    cmd = NewOffer(
        trigger_skus=list(pattern.antecedent),
        offer_sku=pattern.consequent,
        price=price,
        min_qty=min_qty if min_qty is not None else max(1, pattern.min_qty),
        name=name,
        holdout_share=DEFAULT_HOLDOUT if holdout_share is None else holdout_share,
    )
    return await create_offer(cmd, actor=actor, pattern=pattern)


async def update_offer(offer_id: int, changes: Mapping[str, Any], *, actor: str) -> OfferView:
    """A manager's review: name and price at any time; the condition (X, N), Y and the hold-out share in a draft."""
    current = await get_offer(offer_id)
    if current.status != "draft" and (late := [k for k in DRAFT_ONLY if k in changes]):
        raise Conflict(
            f"只有草稿可以修改 {'、'.join(late)}（已上线的优惠请停用后另建）",
            code=OfferError.OFFER_BAD_STATUS,
            field=late[0],
        )
    trigger = _trigger(changes["trigger_skus"]) if "trigger_skus" in changes else current.trigger_skus
    offer_sku = str(changes.get("offer_sku", current.offer_sku)).strip()
    min_qty = int(changes.get("min_qty", current.min_qty))
    price = int(changes.get("price", current.price))
    holdout = float(changes.get("holdout_share", current.holdout_share))
    _check(trigger, offer_sku, min_qty, price, holdout)
    if "trigger_skus" in changes or "offer_sku" in changes:
        await _check_skus(trigger, offer_sku)
    name = str(changes.get("name", current.name)).strip()
    if not name:
        raise ValidationFailed("名称不能为空", field="name")
    values: dict[Any, Any] = {Offer.reviewed_by: actor, Offer.updated_at: clock.now()}
    if "name" in changes:
        values[Offer.name] = name[:100]
    if "price" in changes:
        values[Offer.price] = price
    if "trigger_skus" in changes:
        values[Offer.trigger_skus] = msgspec.json.encode(trigger).decode()
    if "offer_sku" in changes:
        values[Offer.offer_sku] = offer_sku
    if "min_qty" in changes:
        values[Offer.min_qty] = min_qty
    if "holdout_share" in changes:
        values[Offer.holdout_share] = holdout
    # The status read above may be stale by now (a parallel enable): a draft-only change is written only if the row
    # is still a draft, in the same statement — otherwise nothing is written and the caller gets the 409.
    where: Any = Offer.id == offer_id
    if late := [k for k in DRAFT_ONLY if k in changes]:
        where = where & (Offer.status == "draft")
    async with db.transaction():
        updated = await Offer.update(values).where(where).returning(Offer.id)
        if not updated:
            raise Conflict(
                f"只有草稿可以修改 {'、'.join(late)}（已上线的优惠请停用后另建）",
                code=OfferError.OFFER_BAD_STATUS,
                field=late[0] if late else "status",
            )
        await _log(offer_id, "edited", actor, dict(changes))
    return await get_offer(offer_id)


async def enable_offer(offer_id: int, *, actor: str) -> OfferView:
    """Switch on (from draft or disabled): the storefront serves it from now; ``enabled_at`` starts a new
    measurement window."""
    async with db.transaction():
        now = clock.now()
        updated = (
            await Offer.update(
                {
                    Offer.status: "enabled",
                    Offer.enabled_by: actor,
                    Offer.enabled_at: now,
                    Offer.reviewed_by: actor,
                    Offer.disabled_by: "",
                    Offer.disabled_at: None,
                    Offer.updated_at: now,
                }
            )
            .where((Offer.id == offer_id) & (Offer.status != "enabled"))
            .returning(Offer.id)
        )
        if not updated:
            current = await get_offer(offer_id)  # 404 when there is none
            raise Conflict(
                f"优惠当前状态为 {current.status}，无法上线", code=OfferError.OFFER_BAD_STATUS, field="status"
            )
        await _log(offer_id, "enabled", actor)
    return await get_offer(offer_id)


async def disable_offer(offer_id: int, *, actor: str) -> OfferView:
    async with db.transaction():
        now = clock.now()
        updated = (
            await Offer.update(
                {Offer.status: "disabled", Offer.disabled_by: actor, Offer.disabled_at: now, Offer.updated_at: now}
            )
            .where((Offer.id == offer_id) & (Offer.status == "enabled"))
            .returning(Offer.id)
        )
        if not updated:
            current = await get_offer(offer_id)
            raise Conflict(
                f"优惠当前状态为 {current.status}，无法停用", code=OfferError.OFFER_BAD_STATUS, field="status"
            )
        await _log(offer_id, "disabled", actor, at=now)  # the same instant: the next run's before window starts here
    return await get_offer(offer_id)


# -- the storefront ----------------------------------------------------------------------------------------------------


def parse_cart(raw: str) -> dict[str, int]:
    """``SKU:qty,SKU:qty…`` → {sku: qty} (a SKU named twice: summed). Empty → {}."""
    cart: dict[str, int] = {}
    items = [item for item in raw.split(",") if item.strip()]
    if len(items) > MAX_CART_ITEMS:
        raise ValidationFailed(OfferError.OFFER_BAD_CART, field="cart")
    for item in items:
        sku, sep, qty = item.strip().rpartition(":")
        if not sep or not sku.strip() or not qty.isdigit() or not 0 < int(qty) <= 99_999:
            raise ValidationFailed(OfferError.OFFER_BAD_CART, field="cart")
        cart[sku.strip()] = cart.get(sku.strip(), 0) + int(qty)
    return cart


def cart_meets(offer: OfferView, cart: Mapping[str, int]) -> bool:
    """At least ``min_qty`` of each trigger SKU in the cart."""
    return qualifies(cart, offer.trigger_skus, offer.min_qty)


async def storefront_offers(channel: str, buyer: str, cart: Mapping[str, int]) -> list[ServedOffer]:
    """The enabled offers whose condition ``cart`` meets, except those that hold ``buyer`` out (for a buyer in an
    offer's hold-out the answer is as if the offer did not exist)."""
    if not buyer.strip() or len(buyer) > 100:
        raise ValidationFailed("buyer 为买家标识（1–100 个字符）", field="buyer")
    if not cart:
        return []
    rows = await Offer.select().where(Offer.status == "enabled").order_by(Offer.id)
    key = holdout_key()
    served: list[ServedOffer] = []
    for offer in (_view(r) for r in rows):
        if not cart_meets(offer, cart) or in_holdout(key, channel, buyer, offer.id, offer.holdout_share):
            continue
        served.append(
            ServedOffer(
                id=offer.id,
                name=offer.name,
                sku=offer.offer_sku,
                price=offer.price,
                trigger_skus=offer.trigger_skus,
                min_qty=offer.min_qty,
            )
        )
    return served


# -- the gift rule -----------------------------------------------------------------------------------------------------


def gift_rule_conditions(offer: OfferView) -> list[dict[str, Any]]:
    """The offer's condition in the rules engine's terms: ``sku_qty >= N`` for each trigger SKU (all must match)."""
    return [{"field": "sku_qty", "sku": sku, "op": ">=", "value": offer.min_qty} for sku in offer.trigger_skus]


GIFT_RULE_HELD_OFF = (
    "该优惠正在上线测量中，赠品规则已创建为停用状态：启用它会让对照组买家也收到赠品，本优惠的效果测量随之失效"
    "（效果中 contaminated 为 true）。"
)


async def make_gift_rule(
    offer_id: int,
    *,
    actor: str,
    enabled: bool = False,
    channels: Sequence[str] | None = None,
    priority: int = 100,
) -> tuple[OfferView, RuleView, str]:
    """An order rule "≥ N of X → add Y as a gift" through the rules service; switched off for review unless
    ``enabled``; limited to ``channels`` when given. One rule per offer (a deleted rule may be made again).

    While the offer is enabled (being measured) the rule is always made switched off, whatever ``enabled`` says: a
    gift rule gives Y free to hold-out buyers too, which ends the measurement — the returned note (zh-CN) says so,
    and the effect flags ``contaminated`` once someone switches it on.

    Parallel calls make one rule: the offer row is claimed first (``gift_rule_id`` NULL, or the id of a deleted rule
    → :data:`CLAIMING`, a conditional UPDATE that locks the row on PostgreSQL and runs under SQLite's write lock), then
    the rule is created and its id stored, all in one transaction; a caller that loses the claim gets 409."""
    offer = await get_offer(offer_id)
    stale = offer.gift_rule_id
    if stale is not None:
        try:
            await rules.get_rule(stale)
        except NotFound:
            pass  # deleted: another may be made
        else:
            raise Conflict(OfferError.OFFER_GIFT_RULE_EXISTS, field="id")
    conditions = gift_rule_conditions(offer)
    if channels:
        conditions = [{"field": "channel", "op": "in", "value": list(channels)}, *conditions]
    name = f"加购优惠 #{offer.id} 转赠品：满 {offer.min_qty} 件 {'+'.join(offer.trigger_skus)} 送 {offer.offer_sku}"
    note = ""
    async with db.transaction():
        free = Offer.gift_rule_id.is_null() if stale is None else Offer.gift_rule_id == stale
        claimed = (
            await Offer.update({Offer.gift_rule_id: CLAIMING, Offer.updated_at: clock.now()})
            .where((Offer.id == offer_id) & free)
            .returning(Offer.id, Offer.status)
        )
        if not claimed:
            raise Conflict(OfferError.OFFER_GIFT_RULE_EXISTS, field="id")
        if enabled and claimed[0]["status"] == "enabled":
            enabled, note = False, GIFT_RULE_HELD_OFF
        rule = await rules.create_rule(
            NewRule(
                name=name[:100],
                conditions=conditions,
                actions=[{"type": "add_gift", "sku": offer.offer_sku, "qty": 1}],
                priority=priority,
                enabled=enabled,
            )
        )
        await Offer.update({Offer.gift_rule_id: rule.id, Offer.updated_at: clock.now()}).where(Offer.id == offer_id)
        await _log(offer_id, "gift_rule", actor, {"rule_id": rule.id, "enabled": enabled})
    return await get_offer(offer_id), rule, note

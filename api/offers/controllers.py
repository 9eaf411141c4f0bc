"""Add-on offers (加购优惠): the managers' drafts, review, enabling, the gift rule and the measured effect; and the
seller's storefront asking which offers a cart gets (signed with the channel's key, like order ingest)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter

from api.common import MAX_INT, changes_of, present
from orderhub.auth.service import UserView
from orderhub.channels.service import release_signature, settle_signature, verify_signature
from orderhub.offers import effect, service
from orderhub.offers.effect import OfferEffect
from orderhub.offers.service import NewOffer

__all__ = ["STOREFRONT_SIGNED_PREFIX", "OfferController"]

# What the storefront signs in place of a body: the method and path, then the raw query string. The same
# verification code as ingest (timestamp + "\n" + these bytes): the prefix only binds the signature to this request,
# so a signed query can never stand for another endpoint's body.
STOREFRONT_SIGNED_PREFIX = b"GET\n/api/v1/offers\n"

OfferId = Annotated[int, Parameter(ge=1, le=MAX_INT)]
Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Price = Annotated[int, msgspec.Meta(ge=0, le=100_000_000, description="fen")]
MinQty = Annotated[int, msgspec.Meta(ge=1, le=999)]
Share = Annotated[float, msgspec.Meta(ge=0, le=0.5, description="share of buyers held out (shown nothing)")]
Name = Annotated[str, msgspec.Meta(max_length=100)]


def _actor(request: Request[UserView, Any, Any]) -> str:
    return f"user:{request.user.username}"


class OfferIn(msgspec.Struct, kw_only=True):
    """When a cart has at least `min_qty` of each SKU of `trigger_skus`, offer `offer_sku` at `price` fen."""

    trigger_skus: Annotated[list[Sku], msgspec.Meta(min_length=1, max_length=service.MAX_TRIGGER)]
    offer_sku: Sku
    price: Price
    min_qty: MinQty = 1
    name: Name = ""
    holdout_share: Share = service.DEFAULT_HOLDOUT


class FromPatternIn(msgspec.Struct, kw_only=True):
    pattern_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
    price: Price
    min_qty: MinQty | None = None
    name: Name = ""
    holdout_share: Share | None = None


class OfferPatch(msgspec.Struct, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    price: Price | msgspec.UnsetType = msgspec.UNSET
    trigger_skus: (
        Annotated[list[Sku], msgspec.Meta(min_length=1, max_length=service.MAX_TRIGGER)] | msgspec.UnsetType
    ) = msgspec.UNSET
    min_qty: MinQty | msgspec.UnsetType = msgspec.UNSET
    offer_sku: Sku | msgspec.UnsetType = msgspec.UNSET
    holdout_share: Share | msgspec.UnsetType = msgspec.UNSET


class GiftRuleIn(msgspec.Struct, kw_only=True):
    enabled: bool = False
    channels: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]], msgspec.Meta(max_length=50)
    ] = []
    priority: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)] = 100


class OfferOut(msgspec.Struct, kw_only=True):
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


class OfferLogOut(msgspec.Struct, kw_only=True):
    action: str
    actor: str
    data: dict[str, Any]
    at: datetime


class GiftRuleOut(msgspec.Struct, kw_only=True):
    offer: OfferOut
    rule_id: int
    rule_enabled: bool
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    note: str = ""  # zh-CN: why the rule was made switched off although `enabled: true` was asked


class ServedOfferOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    sku: str
    price: int
    trigger_skus: list[str]
    min_qty: int


class StorefrontOut(msgspec.Struct, kw_only=True):
    offers: list[ServedOfferOut]


class OfferController(Controller):
    path = "/api/v1/offers"
    tags = ["offers"]

    @get(
        "/",
        opt={"public": True},
        summary="Storefront: the add-on offers a cart gets (signed with the channel's key)",
        description=(
            "For the seller's own storefront. `cart` = `SKU:qty,SKU:qty…` (at most 100 items), `buyer` = the "
            "storefront's stable buyer id (the same id the orders carry as `buyer.nick`). Signed like "
            "`POST /api/v1/orders/ingest`: headers `X-OrderHub-Channel`, `X-OrderHub-Timestamp` (unix seconds) and "
            '`X-OrderHub-Signature` = hex HMAC-SHA256(channel secret, timestamp + "\\n" + "GET\\n/api/v1/offers\\n" + '
            "the raw query string as sent, without the `?`), accepted within 5 minutes and once only (add any extra "
            "parameter, e.g. `nonce`, to ask the same question twice in one second). A bad signature answers 401 as "
            "ingest does (`signature_missing`, `signature_invalid`, `signature_expired`, `signature_replayed`). "
            "Answers the enabled offers whose condition the cart meets (at least `min_qty` of each trigger SKU); "
            "a buyer in an offer's hold-out gets the answer as if that offer did not exist."
        ),
    )
    async def storefront(
        self,
        request: Request[Any, Any, Any],
        cart: Annotated[str, Parameter(max_length=4000, description="SKU:qty,SKU:qty…")],
        buyer: Annotated[str, Parameter(min_length=1, max_length=100, description="the buyer's stable id")],
    ) -> StorefrontOut:
        headers = request.headers
        signature = headers.get("x-orderhub-signature")
        query = request.scope.get("query_string", b"")
        channel = await verify_signature(
            channel_code=headers.get("x-orderhub-channel"),
            timestamp=headers.get("x-orderhub-timestamp"),
            signature=signature,
            body=STOREFRONT_SIGNED_PREFIX + (query if isinstance(query, bytes) else str(query).encode()),
        )
        assert signature is not None  # verify_signature refuses a request without one
        try:
            served = await service.storefront_offers(channel.code, buyer, service.parse_cart(cart))
        except BaseException:
            await release_signature(channel.code, signature)
            raise
        await settle_signature(channel.code, signature)
        return present({"offers": served}, StorefrontOut)

    @get(
        "/manage",
        summary="List add-on offers (drafts, enabled, disabled), newest first",
        description="Every offer with its condition, price, hold-out share, the mined pattern it came from (support, "
        "confidence, lift) and who created, reviewed, enabled or disabled it. `status` filters: draft | enabled | "
        "disabled.",
    )
    async def list_all(
        self, status: Annotated[str | None, Parameter(description="draft | enabled | disabled")] = None
    ) -> list[OfferOut]:
        return present(await service.list_offers(status), list[OfferOut])

    @post(
        "/",
        summary="Create a draft add-on offer by hand",
        description="A draft: when a cart or order has at least `min_qty` of each SKU of `trigger_skus`, offer "
        "`offer_sku` at `price` fen. SKUs must exist (422 `validation_error`, `field` `trigger_skus` or "
        "`offer_sku`); `holdout_share` (default 0.1, at most 0.5) of buyers are held out as the control group. "
        "The storefront shows it only once enabled.",
    )
    async def create(self, request: Request[UserView, Any, Any], data: OfferIn) -> OfferOut:
        cmd = msgspec.convert(msgspec.to_builtins(data), NewOffer)
        return present(await service.create_offer(cmd, actor=_actor(request)), OfferOut)

    @post(
        "/from-pattern",
        summary="Draft an add-on offer from a mined co-purchase pattern",
        description="X = the pattern's antecedent, N = its `min_qty` (unless given), Y = its consequent, at `price` "
        "fen; the draft keeps the pattern's id, support, confidence, lift and order count. 404 "
        "`copurchase_pattern_not_found` when the miner has no such pattern (docs/insights-mining.md).",
    )
    async def create_from_pattern(self, request: Request[UserView, Any, Any], data: FromPatternIn) -> OfferOut:
        view = await service.create_from_pattern(
            data.pattern_id,
            actor=_actor(request),
            price=data.price,
            min_qty=data.min_qty,
            name=data.name,
            holdout_share=data.holdout_share,
        )
        return present(view, OfferOut)

    @get(
        "/{offer_id:int}",
        summary="One add-on offer",
        description="The offer with its condition, price, status, pattern figures and who reviewed and enabled it. "
        "404 `offer_not_found`.",
    )
    async def get_one(self, offer_id: OfferId) -> OfferOut:
        return present(await service.get_offer(offer_id), OfferOut)

    @patch(
        "/{offer_id:int}",
        summary="Review an add-on offer: change its name, price, condition or offered SKU",
        description="Only the fields sent change. `name` and `price` change at any time; `trigger_skus`, `min_qty`, "
        "`offer_sku` and `holdout_share` only in a draft (409 `offer_bad_status`: an offer buyers were served is "
        "measured as it was; disable it and draft another). The reviewer is recorded.",
    )
    async def update(self, request: Request[UserView, Any, Any], offer_id: OfferId, data: OfferPatch) -> OfferOut:
        return present(await service.update_offer(offer_id, changes_of(data), actor=_actor(request)), OfferOut)

    @post(
        "/{offer_id:int}/enable",
        status_code=200,
        summary="Enable an add-on offer: the storefront serves it from now",
        description="From draft or disabled (409 `offer_bad_status` when already enabled). Records who and when "
        "(`enabled_by`, `enabled_at`, and the offer's log); `enabled_at` starts the effect's measurement window.",
    )
    async def enable(self, request: Request[UserView, Any, Any], offer_id: OfferId) -> OfferOut:
        return present(await service.enable_offer(offer_id, actor=_actor(request)), OfferOut)

    @post(
        "/{offer_id:int}/disable",
        status_code=200,
        summary="Disable an add-on offer: the storefront stops serving it",
        description="From enabled only (409 `offer_bad_status`). Records who and when; its effect stays measurable "
        "over the window it ran.",
    )
    async def disable(self, request: Request[UserView, Any, Any], offer_id: OfferId) -> OfferOut:
        return present(await service.disable_offer(offer_id, actor=_actor(request)), OfferOut)

    @get(
        "/{offer_id:int}/log",
        summary="An add-on offer's audit log",
        description="Who created, edited (with the changes), enabled, disabled it or made its gift rule, and when.",
    )
    async def log(self, offer_id: OfferId) -> list[OfferLogOut]:
        return present(await service.offer_log(offer_id), list[OfferLogOut])

    @post(
        "/{offer_id:int}/gift-rule",
        summary="Turn an add-on offer into an order rule: ≥ N of X → add Y as a gift",
        description="Creates an order rule (`/api/v1/rules`) whose conditions are the offer's — `sku_qty >= N` for "
        "each trigger SKU — and whose action is `add_gift` Y × 1. Switched off for review unless `enabled: true`; "
        "`channels` limits it to those channel codes. One rule per offer (409 `offer_gift_rule_exists`, also to "
        "parallel requests: exactly one makes it; a deleted rule may be made again). While the offer is enabled it "
        "is always made switched off (`rule_enabled` false, `note` says why): a gift rule gives Y to hold-out buyers "
        "too, so switching it on ends the measurement (the effect then says `contaminated`).",
    )
    async def gift_rule(self, request: Request[UserView, Any, Any], offer_id: OfferId, data: GiftRuleIn) -> GiftRuleOut:
        view, rule, note = await service.make_gift_rule(
            offer_id, actor=_actor(request), enabled=data.enabled, channels=data.channels, priority=data.priority
        )
        return GiftRuleOut(
            offer=present(view, OfferOut),
            rule_id=rule.id,
            rule_enabled=rule.enabled,
            conditions=msgspec.to_builtins(rule.conditions),
            actions=msgspec.to_builtins(rule.actions),
            note=note,
        )

    @get(
        "/{offer_id:int}/effect",
        summary="Did the offer work: Y's attach rate before/after and against the hold-out, with 95 % intervals",
        description="Over buyers with an order of ≥ N of each trigger SKU (non-gift lines): the attach rate of Y (the "
        "share of those buyers with such an order that has a non-gift line of Y) in `[enabled_at, until)` (`until` = "
        "when disabled, or now; at most 90 days) and in the same-length window before, each with a Wilson 95 % "
        "interval; after enabling, buyers "
        "shown the offer (`treatment`) against buyers held out (`holdout`, the storefront's own stable hash of "
        "channel + buyer + offer). `effect` = treatment − hold-out and `change` = after − before, with Newcombe's "
        "hybrid score 95 % interval (docs/offers.md says why). `change` is uncontrolled (seasons move it). The unit "
        "is the buyer (hits / n count buyers; `orders` their qualifying orders): buyers, not orders, are randomised. "
        "Cancelled orders and replacements (补发单) are not counted. `contaminated`: a gift rule made from the offer "
        "is switched on, so hold-out buyers get Y too.",
    )
    async def measured_effect(self, offer_id: OfferId) -> OfferEffect:
        return await effect.offer_effect(offer_id)

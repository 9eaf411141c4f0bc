"""The add-on offers' error codes (see :class:`orderhub.errors.ErrorCode`)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["OfferError"]


class OfferError(ErrorCode):
    """Add-on offers (``/api/v1/offers``, docs/offers.md)."""

    OFFER_NOT_FOUND = "offer_not_found", "加购优惠不存在", "No offer with that id."
    OFFER_BAD_STATUS = (
        "offer_bad_status",
        "当前状态不允许该操作",
        "The offer's status does not allow this (e.g. disabling a draft, editing the trigger of an enabled offer).",
    )
    OFFER_BAD_CART = (
        "offer_bad_cart",
        "购物车格式应为 SKU:数量,SKU:数量（数量为正整数，最多 100 项）",
        "`cart` is not `SKU:qty,SKU:qty…` with positive integer quantities (at most 100 items).",
    )
    OFFER_GIFT_RULE_EXISTS = (
        "offer_gift_rule_exists",
        "该优惠已生成过赠品规则",
        "The offer already made a gift rule (`gift_rule_id`); change or delete that rule instead.",
    )

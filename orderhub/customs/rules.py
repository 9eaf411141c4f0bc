"""Evaluating a destination's rule pack against an order, purely: what each SKU lacks for the border, and the duty
and VAT estimate in the destination's currency. Also: which version of a destination's packs is in force on a date,
and whether a new pack version is sound.

No database, no I/O (the shipped default packs are read once from ``packs/`` by :mod:`orderhub.customs.packs_data`).

Money: order prices are fen (CNY); a SKU declares ``unit_value`` in minor units of its own ``currency``; the
estimate is in minor units of the pack's currency. A conversion goes through ``Decimal`` and rounds half up once
per converted amount (a unit value, the shipping); duty and VAT are summed exactly in basis points and rounded half
up once each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from orderhub.customs.codes import LANGUAGE_NAMES, is_country, is_currency, minor_exponent, to_major
from orderhub.customs.errors import CustomsError
from orderhub.customs.model import (
    CheckLine,
    DutyEstimate,
    MissingField,
    RulePack,
    SkuCustoms,
)
from orderhub.errors import ValidationFailed

__all__ = [
    "DEFAULT_CN22_MAX_CNY_FEN",
    "DOCUMENTS",
    "FIELD_VOCABULARY",
    "HS_CODE",
    "check",
    "cn22_limit",
    "convert",
    "convert_from_cny",
    "declared_unit_value",
    "duty_rate_bp",
    "field_label",
    "missing_fields",
    "needs_certificate",
    "pack_for",
    "validate_pack",
]

HS_CODE: Final = re.compile(r"[0-9]{6,10}")
FIELD_VOCABULARY: Final = (
    "hs_code",
    "name_en",
    "name_local",
    "material",
    "usage",
    "origin_country",
    "unit_value",
)
# The document kinds the hub produces (orderhub.customs.documents): a pack may list only these.
DOCUMENTS: Final = frozenset({"packing_list", "cn22", "cn23"})
# UPU: a CN 22 covers contents worth up to 300 SDR, a CN 23 above. The limit for a destination without a pack (or a
# pack without ``cn22_max_value``), in fen: the IMF's currency values in terms of SDR of 2025-12-22 give 1 CNY =
# 0.103929 SDR (https://www.brecorder.com/news/amp/40398902, "Currency values in terms of Special Drawing Rights",
# dated 2025-12-23, read 2026-12-07), so 300 SDR ≈ CNY 2,887; CNY 2,700 (≈ 281 SDR) is a little below, as the
# packs' own limits are, so a parcel near the limit gets a CN 23. Converted to a destination's currency as the
# estimate converts (:func:`cn22_limit`).
DEFAULT_CN22_MAX_CNY_FEN: Final = 270_000
_MAX_RATE_BP: Final = 50_000  # 500 %: no duty or VAT rate in the packs comes near it
_MAX_FX: Final = 1_000_000.0
_BP: Final = 10_000

_LABELS: Final = {
    "hs_code": "HS编码",
    "name_en": "英文品名",
    "material": "材质",
    "usage": "用途",
    "origin_country": "原产国",
    "unit_value": "申报单价",
}


def field_label(field: str, local_language: str = "") -> str:
    """The zh-CN name of a required field: ``name_local`` with ``th`` → 泰文品名."""
    if field == "name_local":
        return f"{LANGUAGE_NAMES.get(local_language, local_language or '当地语言')}品名"
    return _LABELS.get(field, field)


# --------------------------------------------------------------------------------------------------------------
# Which version is in force
# --------------------------------------------------------------------------------------------------------------


def pack_for(destination: str, on_date: date, packs: Iterable[RulePack] | None = None) -> RulePack | None:
    """The destination's pack in force on ``on_date`` (the order's Asia/Shanghai placing date): the latest
    ``effective_from`` on or before it, the highest version among equal dates. ``packs`` defaults to the shipped
    defaults (:func:`orderhub.customs.packs_data.default_packs`); ``None`` when no version is in force yet."""
    if packs is None:
        from orderhub.customs.packs_data import default_packs

        packs = default_packs()
    best: RulePack | None = None
    for pack in packs:
        if pack.destination != destination or pack.effective_from > on_date:
            continue
        if best is None or (pack.effective_from, pack.version) > (best.effective_from, best.version):
            best = pack
    return best


# --------------------------------------------------------------------------------------------------------------
# A new version's soundness
# --------------------------------------------------------------------------------------------------------------


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=CustomsError.INVALID_RULE_PACK, field=field)


def validate_pack(pack: RulePack) -> None:
    """Raise :class:`~orderhub.errors.ValidationFailed` (``invalid_rule_pack`` / ``invalid_country`` /
    ``invalid_currency``, ``field`` = the part) unless the pack is sound: known country, currency and language;
    required fields from :data:`FIELD_VOCABULARY`; a postcode pattern that compiles; rates within 0–500 %;
    thresholds and limits not negative; ``threshold_on_cif`` only with a threshold; HS prefixes of digits; document
    kinds the hub produces (:data:`DOCUMENTS`)."""
    if not is_country(pack.destination):
        raise ValidationFailed(CustomsError.INVALID_COUNTRY, field="destination")
    if not is_currency(pack.currency):
        raise ValidationFailed(CustomsError.INVALID_CURRENCY, field="currency")
    if not (0 < pack.fx_per_cny < _MAX_FX):
        raise _bad("fx_per_cny", f"汇率 fx_per_cny 应大于 0 且小于 {_MAX_FX:,.0f}（每 1 元人民币兑目的国货币）")
    if pack.local_language and pack.local_language not in LANGUAGE_NAMES:
        raise ValidationFailed(CustomsError.INVALID_LANGUAGE, field="local_language")
    for i, name in enumerate(pack.required_fields):
        if name not in FIELD_VOCABULARY:
            raise _bad(f"required_fields[{i}]", f"未知的必填字段「{name}」，可用：{'、'.join(FIELD_VOCABULARY)}")
    if "name_local" in pack.required_fields and not pack.local_language:
        raise _bad("local_language", "要求当地语言品名（name_local）时须指定 local_language")
    if len(pack.postcode_pattern) > 200:
        raise _bad("postcode_pattern", "邮编正则表达式过长（最多 200 个字符）")
    try:
        re.compile(pack.postcode_pattern)
    except re.error as exc:
        raise _bad("postcode_pattern", f"邮编正则表达式无法编译：{exc}") from exc
    for name in ("duty_free_threshold", "vat_free_threshold", "cn22_max_value"):
        value = getattr(pack, name)
        if value is not None and value < 0:
            raise _bad(name, f"{name} 不能为负数")
    if pack.threshold_on_cif and pack.duty_free_threshold is None and pack.vat_free_threshold is None:
        raise _bad("threshold_on_cif", "threshold_on_cif 须配合免关税额或增值税起征额使用")
    if not 0 <= pack.vat_rate_bp <= _MAX_RATE_BP:
        raise _bad("vat_rate_bp", "增值税率应在 0–50000 基点（0–500%）之间")
    seen: set[str] = set()
    for i, rate in enumerate(pack.duty_rates):
        if (rate.hs_prefix and not rate.hs_prefix.isdigit()) or len(rate.hs_prefix) > 10:
            raise _bad(f"duty_rates[{i}].hs_prefix", "HS 前缀只能是 0–10 位数字（空 = 所有商品）")
        if rate.hs_prefix in seen:
            raise _bad(f"duty_rates[{i}].hs_prefix", f"HS 前缀「{rate.hs_prefix}」重复")
        seen.add(rate.hs_prefix)
        if not 0 <= rate.rate_bp <= _MAX_RATE_BP:
            raise _bad(f"duty_rates[{i}].rate_bp", "关税率应在 0–50000 基点（0–500%）之间")
    for i, rule in enumerate(pack.certificates):
        if not re.fullmatch(r"[A-Za-z0-9_\-]{1,32}", rule.scheme):
            raise _bad(f"certificates[{i}].scheme", "认证体系代码应为 1–32 位字母、数字、- 或 _（如 TISI）")
        if not rule.hs_prefixes and not rule.skus:
            raise _bad(f"certificates[{i}]", "认证规则须列出 HS 前缀或商品编码")
        for j, prefix in enumerate(rule.hs_prefixes):
            if not re.fullmatch(r"[0-9]{2,10}", prefix):
                raise _bad(f"certificates[{i}].hs_prefixes[{j}]", "HS 前缀应为 2–10 位数字")
    for i, kind in enumerate(pack.documents):
        if kind not in DOCUMENTS:
            raise _bad(f"documents[{i}]", f"系统无法生成单证「{kind}」，可用：{'、'.join(sorted(DOCUMENTS))}")


# --------------------------------------------------------------------------------------------------------------
# Missing fields
# --------------------------------------------------------------------------------------------------------------


def needs_certificate(sku: SkuCustoms, scheme_rule_prefixes: Sequence[str], scheme_rule_skus: Sequence[str]) -> bool:
    return sku.sku in scheme_rule_skus or bool(
        sku.hs_code and any(sku.hs_code.startswith(prefix) for prefix in scheme_rule_prefixes)
    )


def _has(sku: SkuCustoms, field: str, local_language: str) -> bool:
    if field == "hs_code":
        return bool(HS_CODE.fullmatch(sku.hs_code))
    if field == "name_local":
        return bool(sku.names.get(local_language, "").strip())
    if field == "unit_value":
        return sku.unit_value > 0
    if field == "origin_country":
        return is_country(sku.origin_country)
    return bool(str(getattr(sku, field, "")).strip())


def missing_fields(
    pack: RulePack, sku_codes: Iterable[str], skus: Mapping[str, SkuCustoms], receiver_postcode: str
) -> list[MissingField]:
    """Each SKU's missing required fields and certificates (in the order the SKUs come, each SKU once), then the
    receiver's postcode when it does not match the pack's pattern."""
    missing: list[MissingField] = []
    seen: set[str] = set()
    for code in sku_codes:
        if code in seen:
            continue
        seen.add(code)
        sku = skus.get(code) or SkuCustoms(sku=code)
        for field in pack.required_fields:
            if not _has(sku, field, pack.local_language):
                label = field_label(field, pack.local_language)
                message = f"缺少{label}" if field != "hs_code" or not sku.hs_code else f"{label}「{sku.hs_code}」无效"
                missing.append(MissingField(sku=code, field=field, message=message))
        if sku.unit_value > 0 and convert(sku.unit_value, sku.currency, pack) is None:
            # Required or not: a declared value the estimate cannot use would otherwise fall back to the price paid
            # (0 for a gift) and under-declare the parcel.
            usable = "CNY" if pack.currency == "CNY" else f"CNY 或 {pack.currency}"
            message = f"申报币种 {sku.currency} 无法换算为 {pack.currency}，请改用 {usable}"
            missing.append(MissingField(sku=code, field="unit_value", message=message))
        for rule in pack.certificates:
            if (
                needs_certificate(sku, rule.hs_prefixes, rule.skus)
                and not sku.certificates.get(rule.scheme, "").strip()
            ):
                note = f"（{rule.note}）" if rule.note else ""
                missing.append(
                    MissingField(
                        sku=code, field=f"certificate:{rule.scheme}", message=f"缺少 {rule.scheme} 认证编号{note}"
                    )
                )
    if pack.postcode_pattern:
        postcode = receiver_postcode.strip()
        if not postcode:
            missing.append(MissingField(sku="", field="receiver.postcode", message="缺少收件人邮编"))
        elif not re.fullmatch(pack.postcode_pattern, postcode):
            missing.append(
                MissingField(
                    sku="",
                    field="receiver.postcode",
                    message=f"收件人邮编「{postcode[:16]}」不符合 {pack.destination} 的邮编格式",
                )
            )
    return missing


# --------------------------------------------------------------------------------------------------------------
# Money
# --------------------------------------------------------------------------------------------------------------


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def convert_from_cny(amount_fen: int, currency: str, fx_per_cny: float) -> int:
    """Fen in minor units of ``currency`` at ``fx_per_cny`` (its units per 1 CNY), rounded half up once."""
    if currency == "CNY":
        return amount_fen
    # fx_per_cny is a float in the data: its shortest repr (4.8851) is the figure the source gave.
    major = Decimal(amount_fen) / (10 ** minor_exponent("CNY")) * Decimal(repr(fx_per_cny))
    return _half_up(major * (10 ** minor_exponent(currency)))


def convert(amount: int, currency: str, pack: RulePack) -> int | None:
    """``amount`` minor units of ``currency`` in minor units of the pack's currency, rounded half up; ``None`` when
    the pack has no rate for ``currency`` (only CNY and the pack's own currency convert)."""
    if currency == pack.currency:
        return amount
    if currency != "CNY":
        return None
    return convert_from_cny(amount, pack.currency, pack.fx_per_cny)


def cn22_limit(pack: RulePack | None) -> int:
    """Above this goods value a CN 23 replaces the CN 22: the pack's ``cn22_max_value`` (its currency's minor
    units), else :data:`DEFAULT_CN22_MAX_CNY_FEN` converted to the pack's currency as the estimate converts; without
    a pack, the default in fen (the declaration of an order to a destination without a pack is in CNY)."""
    if pack is None:
        return DEFAULT_CN22_MAX_CNY_FEN
    if pack.cn22_max_value is not None:
        return pack.cn22_max_value
    return convert_from_cny(DEFAULT_CN22_MAX_CNY_FEN, pack.currency, pack.fx_per_cny)


def declared_unit_value(line: CheckLine, sku: SkuCustoms | None, pack: RulePack) -> int:
    """One unit's declared value in the pack's currency: the SKU's declared ``unit_value`` when it has one (a gift
    line too — a gift still crosses the border at its value), else the unit price paid (fen, converted); 0 for a
    gift whose SKU declares nothing."""
    if sku is not None and sku.unit_value > 0:
        value = convert(sku.unit_value, sku.currency, pack)
        if value is not None:
            return value
    if line.is_gift or line.unit_price <= 0:
        return 0
    return convert(line.unit_price, "CNY", pack) or 0


def duty_rate_bp(hs_code: str, pack: RulePack) -> int:
    """The rate of the longest HS prefix the code starts with ("" matches every code); 0 when none matches."""
    best: tuple[int, int] | None = None
    for rate in pack.duty_rates:
        if hs_code.startswith(rate.hs_prefix) and (best is None or len(rate.hs_prefix) > best[0]):
            best = (len(rate.hs_prefix), rate.rate_bp)
    return best[1] if best is not None else 0


def _bp_of(total_bp_units: int) -> int:
    """``Σ value × rate_bp`` → minor units, rounded half up (values are never negative)."""
    return (total_bp_units + _BP // 2) // _BP


def _money(amount: int, currency: str) -> str:
    return f"{to_major(amount, currency):,f} {currency}"


def estimate(
    pack: RulePack, lines: Sequence[CheckLine], skus: Mapping[str, SkuCustoms], shipping_fen: int
) -> DutyEstimate:
    """Duty and VAT in the pack's currency. Goods value = Σ qty × declared unit value (gift lines included).
    Duty: none at or below ``duty_free_threshold``; else Σ line value × the line's HS rate (longest prefix).
    VAT: none at or below ``vat_free_threshold``; else rate × (goods + duty when ``vat_on_duty`` + shipping when
    ``vat_on_shipping``). The thresholds compare the goods value, or goods + shipping (CIF, no insurance figure)
    when ``threshold_on_cif``."""
    notes: list[str] = []
    goods = 0
    duty_units = 0
    for line in lines:
        sku = skus.get(line.sku)
        value = line.qty * declared_unit_value(line, sku, pack)
        goods += value
        duty_units += value * duty_rate_bp(sku.hs_code if sku is not None else "", pack)
        if sku is not None and sku.unit_value > 0 and convert(sku.unit_value, sku.currency, pack) is None:
            notes.append(f"商品 {line.sku} 的申报币种 {sku.currency} 无法换算，按实付单价估算")
    shipping = convert(max(shipping_fen, 0), "CNY", pack) or 0
    # the value the thresholds are on: the goods, or CIF (goods + shipping) where the destination's law says so
    compared, what = (goods + shipping, "CIF 货值（货值+运费）") if pack.threshold_on_cif else (goods, "货值")
    if pack.duty_free_threshold is not None and compared <= pack.duty_free_threshold:
        duty = 0
        notes.append(
            f"{what} {_money(compared, pack.currency)} 未超过免关税额 "
            f"{_money(pack.duty_free_threshold, pack.currency)}，免关税"
        )
    else:
        duty = _bp_of(duty_units)
        if pack.duty_free_threshold is None:
            notes.append("无免关税额，按 HS 编码税率计关税")
        else:
            notes.append(
                f"{what} {_money(compared, pack.currency)} 超过免关税额 "
                f"{_money(pack.duty_free_threshold, pack.currency)}，按 HS 编码税率计关税"
            )
    vat = 0
    if pack.vat_rate_bp > 0:
        if pack.vat_free_threshold is not None and compared <= pack.vat_free_threshold:
            notes.append(f"{what}未超过增值税起征额 {_money(pack.vat_free_threshold, pack.currency)}，免增值税")
        else:
            base = goods + (duty if pack.vat_on_duty else 0) + (shipping if pack.vat_on_shipping else 0)
            vat = _bp_of(base * pack.vat_rate_bp)
            parts = "货值" + ("+关税" if pack.vat_on_duty else "") + ("+运费" if pack.vat_on_shipping else "")
            notes.append(f"增值税 {pack.vat_rate_bp / 100:g}%，计税基础为{parts}")
    return DutyEstimate(
        currency=pack.currency,
        fx_per_cny=pack.fx_per_cny,
        goods_value=goods,
        shipping=shipping,
        duty=duty,
        vat=vat,
        total=duty + vat,
        notes=notes,
    )


def check(
    pack: RulePack,
    lines: list[CheckLine],
    skus: dict[str, SkuCustoms],
    receiver_postcode: str,
    shipping_fen: int,
) -> tuple[list[MissingField], DutyEstimate]:
    """What the order lacks for its destination (per SKU, then the postcode) and its duty and VAT estimate."""
    missing = missing_fields(pack, (line.sku for line in lines), skus, receiver_postcode)
    return missing, estimate(pack, lines, skus, shipping_fen)

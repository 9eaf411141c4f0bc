"""The customs context's shared terms: a SKU's declaration data, a destination's rule pack, what an order lacks
for its destination, the duty and VAT estimate, and the declaration the documents and the carrier are drawn from.

Pure data (frozen msgspec Structs). Money is integer minor units of the named currency (fen for CNY, satang for
THB, sen for MYR, đồng for VND — VND has no minor unit, so 1); rates are basis points (1 % = 100 bp).
"""

from __future__ import annotations

from datetime import date

import msgspec

__all__ = [
    "CertificateRule",
    "CheckLine",
    "CustomsCheck",
    "Declaration",
    "DeclarationLine",
    "DutyEstimate",
    "DutyRate",
    "MissingField",
    "RulePack",
    "SkuCustoms",
]


class SkuCustoms(msgspec.Struct, frozen=True, kw_only=True):
    """What a SKU declares at a border. ``names`` maps a language (ISO 639-1: ``th``, ``ms``, ``vi`` …) to the
    product's name in it; ``certificates`` maps a scheme (``TISI``, ``SIRIM``, ``CR`` …) to the SKU's number."""

    sku: str
    hs_code: str = ""  # 6–10 digits, no dots
    name_en: str = ""
    name_zh: str = ""  # the declared Chinese name; defaults to the SKU's own name where empty
    names: dict[str, str] = {}
    material: str = ""
    usage: str = ""
    origin_country: str = ""  # ISO 3166-1 alpha-2
    unit_value: int = 0  # declared value of one unit, minor units of ``currency``
    currency: str = "CNY"  # ISO 4217
    certificates: dict[str, str] = {}


class DutyRate(msgspec.Struct, frozen=True, kw_only=True):
    hs_prefix: str  # "" = every HS code; longest prefix wins
    rate_bp: int


class CertificateRule(msgspec.Struct, frozen=True, kw_only=True):
    """SKUs that need a certificate of ``scheme``: by HS prefix (chapter "85", heading "8516" …) or by SKU code."""

    scheme: str
    hs_prefixes: list[str] = []
    skus: list[str] = []
    note: str = ""  # zh-CN: what the certificate is (e.g. 泰国工业标准 TIS 强制认证)


class RulePack(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a destination's rules, in force from ``effective_from`` (inclusive, Asia/Shanghai date of the
    order's placing) until the next version's date. Data, managed through the API; defaults ship with sources."""

    destination: str  # ISO 3166-1 alpha-2
    effective_from: date
    version: int = 1
    name: str = ""  # zh-CN, e.g. 泰国 2026-01-01 起
    currency: str  # the destination's currency the estimate is in (THB, MYR, VND)
    fx_per_cny: float  # destination currency units per 1 CNY (data, with its source and date)
    local_language: str = ""  # the language the declaration needs besides English ("th")
    # Required per SKU, from this vocabulary: hs_code, name_en, name_local, material, usage, origin_country,
    # unit_value; certificates are required through ``certificates`` below.
    required_fields: list[str] = []
    postcode_pattern: str = ""  # a full-match regular expression; "" = no postcode check
    duty_free_threshold: int | None = None  # order goods value at or below which no duty (dest minor units)
    vat_rate_bp: int = 0
    vat_free_threshold: int | None = None  # goods value at or below which no VAT (dest minor units)
    # The thresholds above are on the CIF value (goods + shipping; the hub has no insurance figure) rather than
    # the goods alone — as the destination's law words them (Thailand: "CIF > THB 1 and <= THB 1,500").
    threshold_on_cif: bool = False
    vat_on_duty: bool = True  # VAT base includes the duty (and shipping when ``vat_on_shipping``)
    vat_on_shipping: bool = True
    duty_rates: list[DutyRate] = []
    certificates: list[CertificateRule] = []
    documents: list[str] = []  # packing_list, cn22, cn23 (what the hub can produce)
    cn22_max_value: int | None = None  # above this (dest minor units) a CN23 replaces the CN22
    sources: list[str] = []  # where each figure comes from (URLs, gazette numbers, dates read)


class MissingField(msgspec.Struct, frozen=True, kw_only=True):
    sku: str  # "" for an order-level field (the receiver's postcode …)
    field: str  # hs_code, name_en, name_local, …, certificate:TISI, receiver.postcode
    message: str  # zh-CN


class DutyEstimate(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    fx_per_cny: float
    goods_value: int  # dest minor units
    shipping: int
    duty: int
    vat: int
    total: int  # duty + vat
    notes: list[str] = []  # zh-CN: which thresholds applied


class CheckLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    qty: int
    unit_price: int  # fen paid
    is_gift: bool = False


class CustomsCheck(msgspec.Struct, frozen=True, kw_only=True):
    destination: str
    pack: RulePack | None  # None: no pack for this destination and date (nothing required, no estimate)
    missing: list[MissingField] = []
    estimate: DutyEstimate | None = None
    documents: list[str] = []


class DeclarationLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    name_zh: str
    name_en: str
    name_local: str
    hs_code: str
    material: str
    usage: str
    origin_country: str
    qty: int
    unit_weight_g: int
    unit_value: int  # minor units of the declaration's currency
    certificates: dict[str, str] = {}
    is_gift: bool = False


class Declaration(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the documents and the carrier's declaration are drawn from, for one order."""

    order_id: int
    external_id: str
    destination: str
    local_language: str
    currency: str  # of ``unit_value`` (the declared currency, usually the SKUs' own)
    sender_name: str
    sender_phone: str
    sender_address: str
    sender_country: str
    receiver_name: str
    receiver_phone: str
    receiver_address: str  # formatted, lines joined
    receiver_city: str
    receiver_region: str
    receiver_postcode: str
    receiver_country: str
    lines: list[DeclarationLine]
    total_weight_g: int
    total_value: int
    shipping: int
    # the CN22/CN23 box: gift, documents, commercial_sample, returned_goods, sale_of_goods, other
    category: str = "sale_of_goods"
    documents: list[str] = []
    estimate: DutyEstimate | None = None
    placed_on: date | None = None

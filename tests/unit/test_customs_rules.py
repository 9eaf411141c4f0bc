"""Customs rule packs, purely: which version is in force on a date (Thailand before and after 2026-01-01), what an
order lacks for its destination (a Thai name, a TISI number, the postcode), the duty and VAT estimate (thresholds,
longest HS prefix, conversion and rounding, gifts at their declared value), a new version's validation, the SKU
data's cleaning and the spreadsheet's column names."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from orderhub.customs import codes, rules
from orderhub.customs.errors import CustomsError
from orderhub.customs.imports import column_fields
from orderhub.customs.model import CertificateRule, CheckLine, DutyRate, RulePack, SkuCustoms
from orderhub.customs.packs_data import default_packs, defaults_for
from orderhub.customs.service import documents_for
from orderhub.customs.skus import clean
from orderhub.errors import CommonError, ValidationFailed


def _thai_sku(**changes: Any) -> SkuCustoms:
    base = SkuCustoms(
        sku="FEEDER-1",
        hs_code="85166000",  # rice cookers / ovens: a TIS-mandatory group
        name_en="Automatic pet feeder",
        name_zh="自动喂食器",
        names={"th": "เครื่องให้อาหารสัตว์เลี้ยงอัตโนมัติ"},
        material="ABS plastic",
        usage="feeding pets",
        origin_country="CN",
        unit_value=100_000,  # 1,000.00 THB
        currency="THB",
        certificates={"TISI": "TIS 1039-2547/123"},
    )
    return msgspec.structs.replace(base, **changes)


def _pack(**changes: Any) -> RulePack:
    base = RulePack(
        destination="TH",
        effective_from=date(2026, 1, 1),
        currency="THB",
        fx_per_cny=5.0,
        local_language="th",
        required_fields=["hs_code", "name_en", "name_local"],
        postcode_pattern="[0-9]{5}",
        vat_rate_bp=700,
    )
    return msgspec.structs.replace(base, **changes)


# ---- the shipped defaults ---------------------------------------------------------------------------------------


def test_every_shipped_pack_is_valid_and_cites_its_sources() -> None:
    packs = default_packs()
    assert {p.destination for p in packs} >= {"TH", "MY", "VN"}
    for pack in packs:
        rules.validate_pack(pack)
        assert pack.sources and all(s.strip() for s in pack.sources), (pack.destination, pack.version)
        assert pack.fx_per_cny > 0
        assert any("fx_per_cny" in s for s in pack.sources) or pack.destination == "VN"
    thai = defaults_for("TH")
    assert [p.version for p in thai] == [1, 2]
    assert all(any(rule.scheme == "TISI" and rule.hs_prefixes for rule in p.certificates) for p in thai)
    assert all(p.local_language == "th" and "name_local" in p.required_fields for p in thai)


def test_thailand_before_and_after_2026_01_01() -> None:
    before = rules.pack_for("TH", date(2025, 12, 31))
    after = rules.pack_for("TH", date(2026, 1, 2))
    assert before is not None and after is not None
    assert before.version == 1 and before.duty_free_threshold == 150_000  # THB 1,500
    assert after.version == 2 and after.duty_free_threshold == 100  # only THB 1: the threshold is gone
    assert rules.pack_for("TH", date(2026, 1, 1)) == after  # effective_from is inclusive
    assert rules.pack_for("TH", date(2024, 7, 4)) is None  # before the first version
    assert rules.pack_for("CN", date(2026, 1, 2)) is None
    assert rules.pack_for("FR", date(2026, 1, 2)) is None


def test_a_thai_order_of_1000_baht_pays_vat_only_before_2026_and_duty_too_after() -> None:
    sku = _thai_sku()
    lines = [CheckLine(sku=sku.sku, qty=1, unit_price=20_000)]
    before = rules.pack_for("TH", date(2025, 12, 31))
    after = rules.pack_for("TH", date(2026, 1, 2))
    assert before is not None and after is not None

    missing, estimate = rules.check(before, lines, {sku.sku: sku}, "10110", 0)
    assert missing == []
    assert (estimate.currency, estimate.goods_value, estimate.duty, estimate.vat) == ("THB", 100_000, 0, 7_000)
    assert any("免关税" in note for note in estimate.notes)

    missing, estimate = rules.check(after, lines, {sku.sku: sku}, "10110", 0)
    assert missing == []
    # duty 10 % (the pack's indicative default rate) of 1,000 THB; VAT 7 % of goods + duty = 77 THB
    assert (estimate.goods_value, estimate.duty, estimate.vat, estimate.total) == (100_000, 10_000, 7_700, 17_700)


def test_the_same_order_placed_a_day_apart_gets_its_own_pack_version() -> None:
    # 1,600 THB > 1,500: duty on both sides; 1,400 THB: duty only from 2026.
    sku = _thai_sku(unit_value=140_000)
    lines = [CheckLine(sku=sku.sku, qty=1, unit_price=0)]
    packs = [rules.pack_for("TH", date(2025, 12, 31)), rules.pack_for("TH", date(2026, 1, 2))]
    duties = [rules.check(p, lines, {sku.sku: sku}, "10110", 0)[1].duty for p in packs if p is not None]
    assert duties == [0, 14_000]


def test_a_tisi_listed_hs_code_without_a_number_is_missing_certificate_tisi() -> None:
    pack = rules.pack_for("TH", date(2026, 3, 1))
    assert pack is not None
    sku = _thai_sku(certificates={})
    missing, _ = rules.check(pack, [CheckLine(sku=sku.sku, qty=2, unit_price=10_000)], {sku.sku: sku}, "10110", 0)
    assert [(m.sku, m.field) for m in missing] == [("FEEDER-1", "certificate:TISI")]
    assert "缺少 TISI 认证编号" in missing[0].message
    # An HS code outside the TIS groups needs no number.
    plain = _thai_sku(hs_code="42010000", certificates={})  # saddlery and harness for animals
    missing, _ = rules.check(pack, [CheckLine(sku=plain.sku, qty=1, unit_price=1)], {plain.sku: plain}, "10110", 0)
    assert missing == []


def test_each_missing_field_is_named_per_sku_in_chinese() -> None:
    pack = rules.pack_for("TH", date(2026, 3, 1))
    assert pack is not None
    bare = SkuCustoms(sku="BARE")
    no_thai = _thai_sku(names={}, material="")
    lines = [
        CheckLine(sku="BARE", qty=1, unit_price=100),
        CheckLine(sku="FEEDER-1", qty=1, unit_price=100),
        CheckLine(sku="UNKNOWN", qty=1, unit_price=100),
        CheckLine(sku="FEEDER-1", qty=1, unit_price=0, is_gift=True),  # listed once
    ]
    missing, _ = rules.check(pack, lines, {"BARE": bare, "FEEDER-1": no_thai}, "1011", 0)
    by_sku: dict[str, list[str]] = {}
    for item in missing:
        by_sku.setdefault(item.sku, []).append(item.field)
    assert by_sku["FEEDER-1"] == ["name_local", "material"]
    assert by_sku["BARE"] == by_sku["UNKNOWN"] == list(pack.required_fields)
    assert by_sku[""] == ["receiver.postcode"]
    messages = {(m.sku, m.field): m.message for m in missing}
    assert messages[("FEEDER-1", "name_local")] == "缺少泰文品名"
    assert messages[("BARE", "hs_code")] == "缺少HS编码"
    assert "邮编" in messages[("", "receiver.postcode")]


def test_postcode_patterns() -> None:
    thai = rules.pack_for("TH", date(2026, 3, 1))
    vietnam = rules.pack_for("VN", date(2026, 3, 1))
    malaysia = rules.pack_for("MY", date(2026, 3, 1))
    assert thai is not None and vietnam is not None and malaysia is not None
    for pack, good, bad in ((thai, "10110", "01011"), (vietnam, "100000", "1000"), (malaysia, "50450", "5045a")):
        assert not rules.missing_fields(pack, [], {}, good)
        assert [m.field for m in rules.missing_fields(pack, [], {}, bad)] == ["receiver.postcode"]
    assert not rules.missing_fields(vietnam, [], {}, "10000")  # the 5-digit codes of 2018
    assert rules.missing_fields(thai, [], {}, "")[0].message == "缺少收件人邮编"


def test_duty_takes_the_longest_hs_prefix() -> None:
    pack = _pack(
        duty_rates=[
            DutyRate(hs_prefix="", rate_bp=1000),
            DutyRate(hs_prefix="85", rate_bp=500),
            DutyRate(hs_prefix="8516", rate_bp=2000),
            DutyRate(hs_prefix="851660", rate_bp=3000),
        ]
    )
    assert rules.duty_rate_bp("85166000", pack) == 3000
    assert rules.duty_rate_bp("85167100", pack) == 2000
    assert rules.duty_rate_bp("85011000", pack) == 500
    assert rules.duty_rate_bp("95030000", pack) == 1000
    assert rules.duty_rate_bp("95030000", _pack(duty_rates=[DutyRate(hs_prefix="85", rate_bp=500)])) == 0
    skus = {
        "A": SkuCustoms(sku="A", hs_code="85166000", unit_value=10_000, currency="THB"),
        "B": SkuCustoms(sku="B", hs_code="95030000", unit_value=10_000, currency="THB"),
    }
    lines = [CheckLine(sku="A", qty=1, unit_price=0), CheckLine(sku="B", qty=3, unit_price=0)]
    estimate = rules.estimate(pack, lines, skus, 0)
    assert estimate.duty == 10_000 * 3000 // 10_000 + 30_000 * 1000 // 10_000  # 3,000 + 3,000 satang


def test_conversion_from_fen_rounds_half_up_and_gifts_are_declared_at_their_value() -> None:
    pack = _pack(fx_per_cny=4.8851, duty_rates=[], vat_rate_bp=0)
    assert rules.convert(1, "CNY", pack) == 5  # 0.01 CNY = 4.8851 satang
    assert rules.convert(10_000, "CNY", pack) == 48_851
    assert rules.convert(999, "THB", pack) == 999
    assert rules.convert(100, "USD", pack) is None
    vnd = _pack(currency="VND", fx_per_cny=3574.0)
    assert rules.convert(150, "CNY", vnd) == 5_361  # 1.50 CNY = 5,361 đồng, no minor unit
    skus = {
        "PAID": SkuCustoms(sku="PAID"),  # no declared value: the price paid
        "GIFT": SkuCustoms(sku="GIFT", unit_value=5_000, currency="CNY"),  # 50 CNY
        "FREE": SkuCustoms(sku="FREE"),  # a gift declaring nothing: 0
    }
    lines = [
        CheckLine(sku="PAID", qty=2, unit_price=10_000),
        CheckLine(sku="GIFT", qty=1, unit_price=0, is_gift=True),
        CheckLine(sku="FREE", qty=1, unit_price=0, is_gift=True),
    ]
    estimate = rules.estimate(pack, lines, skus, 1_000)
    assert estimate.goods_value == 2 * 48_851 + 24_426  # the gift crosses the border at 50 CNY = 244.255 → 244.26
    assert estimate.shipping == 4_885


def test_vat_base_and_thresholds() -> None:
    sku = SkuCustoms(sku="A", hs_code="95030000", unit_value=10_000, currency="THB")
    lines = [CheckLine(sku="A", qty=1, unit_price=0)]
    rated = [DutyRate(hs_prefix="", rate_bp=1000)]
    base = _pack(duty_rates=rated, fx_per_cny=5.0)
    # VAT on goods + duty + shipping (1 CNY = 5 THB = 500 satang)
    assert rules.estimate(base, lines, {"A": sku}, 100).vat == (10_000 + 1_000 + 500) * 700 // 10_000
    no_ship = msgspec.structs.replace(base, vat_on_shipping=False, vat_on_duty=False)
    assert rules.estimate(no_ship, lines, {"A": sku}, 100).vat == 700
    at_threshold = msgspec.structs.replace(base, duty_free_threshold=10_000, vat_free_threshold=10_000)
    estimate = rules.estimate(at_threshold, lines, {"A": sku}, 100)
    assert (estimate.duty, estimate.vat) == (0, 0)  # "at or below" the threshold
    above = msgspec.structs.replace(at_threshold, duty_free_threshold=9_999, vat_free_threshold=9_999)
    assert rules.estimate(above, lines, {"A": sku}, 0).duty == 1_000


def test_vietnam_lost_its_de_minimis_on_2025_02_18() -> None:
    sku = SkuCustoms(sku="A", hs_code="95030000", unit_value=500_000, currency="VND")
    lines = [CheckLine(sku="A", qty=1, unit_price=0)]
    old = rules.pack_for("VN", date(2025, 2, 17))
    new = rules.pack_for("VN", date(2025, 2, 18))
    assert old is not None and new is not None
    assert rules.estimate(old, lines, {"A": sku}, 0).total == 0
    assert rules.estimate(new, lines, {"A": sku}, 0).vat == 55_000  # 10 % of 500,000 + 50,000 duty


def test_malaysia_low_value_goods_pay_sales_tax_on_the_goods_only() -> None:
    pack = rules.pack_for("MY", date(2026, 3, 1))
    assert pack is not None
    sku = SkuCustoms(sku="A", hs_code="42010000", unit_value=20_000, currency="MYR")  # RM200
    estimate = rules.estimate(pack, [CheckLine(sku="A", qty=1, unit_price=0)], {"A": sku}, 5_000)
    assert (estimate.duty, estimate.vat) == (0, 2_000)


def test_cn23_replaces_cn22_above_its_limit() -> None:
    pack = _pack(documents=["packing_list", "cn22"], cn22_max_value=1_000)
    assert documents_for(pack, 1_000) == ["packing_list", "cn22"]
    assert documents_for(pack, 1_001) == ["packing_list", "cn23"]


def test_the_upu_limit_holds_without_a_packs_own() -> None:
    """300 SDR ≈ CNY 2,887 (IMF, 2025-12-22): CNY 2,700 by default, converted as the estimate converts."""
    assert rules.DEFAULT_CN22_MAX_CNY_FEN == 270_000
    assert rules.cn22_limit(None) == 270_000  # no pack: the declaration is in CNY
    assert rules.cn22_limit(_pack(cn22_max_value=1_000)) == 1_000
    assert rules.cn22_limit(_pack(fx_per_cny=4.8851)) == 1_318_977  # THB 13,189.77
    assert rules.cn22_limit(_pack(currency="VND", fx_per_cny=3574.0)) == 9_649_800  # đồng, no minor unit
    assert rules.cn22_limit(_pack(currency="KWD", fx_per_cny=0.0431)) == 116_370  # KWD 116.370, 3 digits


def test_no_shipped_pack_lists_a_document_the_hub_cannot_produce() -> None:
    for pack in default_packs():
        assert set(pack.documents) <= {"packing_list", "cn22", "cn23"}, (pack.destination, pack.version)


# ---- a declared value in a currency the pack cannot convert ---------------------------------------------------


def test_a_value_declared_in_a_currency_the_pack_cannot_convert_is_missing_not_ignored() -> None:
    """A SKU declared in USD going to Thailand: the estimate would fall back to the price paid (0 for a gift) and
    under-declare; the check names it instead, so the order stops at customs_data_missing."""
    pack = rules.pack_for("TH", date(2026, 1, 2))
    assert pack is not None
    usd = _thai_sku(sku="USD-1", unit_value=2_000, currency="USD")  # USD 20.00
    lines = [CheckLine(sku="USD-1", qty=1, unit_price=0, is_gift=True)]
    missing, _ = rules.check(pack, lines, {"USD-1": usd}, "10110", 0)
    assert [(m.sku, m.field, m.message) for m in missing] == [
        ("USD-1", "unit_value", "申报币种 USD 无法换算为 THB，请改用 CNY 或 THB")
    ]
    # once, though unit_value is required too; and whether the pack requires it or not
    lax = msgspec.structs.replace(pack, required_fields=["hs_code"])
    assert [m.field for m in rules.missing_fields(lax, ["USD-1"], {"USD-1": usd}, "10110")] == ["unit_value"]
    # CNY and the pack's own currency convert: nothing missing
    for currency in ("CNY", "THB"):
        fine = msgspec.structs.replace(usd, currency=currency)
        assert rules.missing_fields(pack, ["USD-1"], {"USD-1": fine}, "10110") == []
    # a SKU declaring no value at all is the required field's ordinary message
    empty = msgspec.structs.replace(usd, unit_value=0)
    assert [(m.field, m.message) for m in rules.missing_fields(pack, ["USD-1"], {"USD-1": empty}, "10110")] == [
        ("unit_value", "缺少申报单价")
    ]


# ---- thresholds on the CIF value ------------------------------------------------------------------------------


def test_thailands_1500_baht_threshold_is_on_goods_plus_shipping() -> None:
    """TH v1: duty waived for CIF > THB 1 and <= THB 1,500. Goods THB 1,450 + shipping THB 244 = THB 1,694: duty."""
    pack = rules.pack_for("TH", date(2025, 6, 1))
    assert pack is not None and pack.version == 1 and pack.threshold_on_cif
    sku = _thai_sku(unit_value=145_000)  # THB 1,450.00
    lines = [CheckLine(sku=sku.sku, qty=1, unit_price=0)]
    shipping_fen = 4_995  # CNY 49.95 × 4.8851 = THB 244.01
    estimate = rules.estimate(pack, lines, {sku.sku: sku}, shipping_fen)
    assert (estimate.goods_value, estimate.shipping) == (145_000, 24_401)
    assert estimate.duty == 14_500 > 0  # 10 % (indicative) of the goods
    assert any("CIF 货值（货值+运费） 1,694.01 THB 超过免关税额 1,500.00 THB" in note for note in estimate.notes)
    # the goods alone are under THB 1,500: the old comparison would have waived the duty
    on_goods = msgspec.structs.replace(pack, threshold_on_cif=False)
    assert rules.estimate(on_goods, lines, {sku.sku: sku}, shipping_fen).duty == 0
    # without shipping the CIF value is the goods: duty free
    assert rules.estimate(pack, lines, {sku.sku: sku}, 0).duty == 0
    # the VAT threshold is on the same value
    vat_pack = _pack(vat_free_threshold=100_000, threshold_on_cif=True, fx_per_cny=5.0)
    cheap = _thai_sku(unit_value=90_000)
    assert rules.estimate(vat_pack, [CheckLine(sku=cheap.sku, qty=1, unit_price=0)], {cheap.sku: cheap}, 0).vat == 0
    assert rules.estimate(vat_pack, [CheckLine(sku=cheap.sku, qty=1, unit_price=0)], {cheap.sku: cheap}, 2_001).vat > 0


def test_which_shipped_packs_compare_cif() -> None:
    """Thailand's sources word its thresholds on the CIF value; Malaysia's LVG is the sale price and Vietnam's
    express exemption the goods' value."""
    flags = {(p.destination, p.version): p.threshold_on_cif for p in default_packs()}
    assert flags[("TH", 1)] and flags[("TH", 2)]
    assert not flags[("MY", 1)] and not flags[("VN", 1)] and not flags[("VN", 2)]


# ---- minor units: one table ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "exponent", "amount", "major"),
    [
        ("JPY", 0, 1_250, "1250"),
        ("VND", 0, 1_250_000, "1250000"),
        ("CNY", 2, 12_345, "123.45"),
        ("THB", 2, 5, "0.05"),
        ("KWD", 3, 12_345, "12.345"),
        ("BHD", 3, 1, "0.001"),
        ("PYG", 0, 70_000, "70000"),
        ("thb", 2, 100, "1.00"),
    ],
)
def test_minor_units_come_from_one_table(currency: str, exponent: int, amount: int, major: str) -> None:
    assert codes.minor_exponent(currency) == exponent
    assert codes.to_major(amount, currency) == Decimal(major)
    assert str(codes.to_major(amount, currency)) == major  # exactly the currency's digits


# ---- a new version's validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"required_fields": ["hs_code", "colour"]}, "required_fields[1]", CustomsError.INVALID_RULE_PACK),
        ({"postcode_pattern": "[0-9{5}"}, "postcode_pattern", CustomsError.INVALID_RULE_PACK),
        ({"vat_rate_bp": 70_000}, "vat_rate_bp", CustomsError.INVALID_RULE_PACK),
        (
            {"duty_rates": [DutyRate(hs_prefix="85x", rate_bp=1)]},
            "duty_rates[0].hs_prefix",
            CustomsError.INVALID_RULE_PACK,
        ),
        (
            {"duty_rates": [DutyRate(hs_prefix="85", rate_bp=-1)]},
            "duty_rates[0].rate_bp",
            CustomsError.INVALID_RULE_PACK,
        ),
        ({"certificates": [CertificateRule(scheme="TISI")]}, "certificates[0]", CustomsError.INVALID_RULE_PACK),
        ({"documents": ["invoice"]}, "documents[0]", CustomsError.INVALID_RULE_PACK),
        # listed by every shipped pack once, never produced: a pack may list only what the hub can draw
        ({"documents": ["packing_list", "commercial_invoice"]}, "documents[1]", CustomsError.INVALID_RULE_PACK),
        ({"threshold_on_cif": True}, "threshold_on_cif", CustomsError.INVALID_RULE_PACK),
        ({"fx_per_cny": 0.0}, "fx_per_cny", CustomsError.INVALID_RULE_PACK),
        ({"duty_free_threshold": -1}, "duty_free_threshold", CustomsError.INVALID_RULE_PACK),
        ({"local_language": ""}, "local_language", CustomsError.INVALID_RULE_PACK),
        ({"destination": "XX"}, "destination", CustomsError.INVALID_COUNTRY),
        ({"currency": "BAHT"}, "currency", CustomsError.INVALID_CURRENCY),
    ],
)
def test_an_unsound_pack_is_refused_naming_the_field(changes: dict[str, Any], field: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        rules.validate_pack(_pack(**changes))
    assert (caught.value.code, caught.value.field) == (code, field)


# ---- SKU data and the spreadsheet's columns ---------------------------------------------------------------------


def test_sku_customs_are_cleaned() -> None:
    cleaned = clean(
        SkuCustoms(
            sku=" A ",
            hs_code="8516.60 00",
            names={"vi": "Máy cho ăn", "TH": " เครื่อง  ให้อาหาร "},
            origin_country="cn",
            currency="thb",
            certificates={"tisi": " 123 ", "SIRIM": ""},
        )
    )
    assert (cleaned.sku, cleaned.hs_code, cleaned.origin_country, cleaned.currency) == ("A", "85166000", "CN", "THB")
    assert list(cleaned.names) == ["th", "vi"] and cleaned.names["th"] == "เครื่อง ให้อาหาร"
    assert cleaned.certificates == {"TISI": "123"}


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"hs_code": "85166"}, "hs_code", CustomsError.INVALID_HS_CODE),
        ({"hs_code": "85166000001"}, "hs_code", CustomsError.INVALID_HS_CODE),
        ({"origin_country": "ZZ"}, "origin_country", CustomsError.INVALID_COUNTRY),
        ({"currency": "RMB"}, "currency", CustomsError.INVALID_CURRENCY),
        ({"names": {"thai": "x"}}, "names.thai", CustomsError.INVALID_LANGUAGE),
        ({"unit_value": -1}, "unit_value", CustomsError.INVALID_CUSTOMS_VALUE),
        ({"name_en": "x" * 201}, "name_en", CustomsError.INVALID_CUSTOMS_VALUE),
        ({"certificates": {"TIS I": "1"}}, "certificates.TIS I", CustomsError.INVALID_CUSTOMS_VALUE),
    ],
)
def test_bad_sku_customs_name_the_field(changes: dict[str, Any], field: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean(msgspec.structs.replace(SkuCustoms(sku="A"), **changes))
    assert (caught.value.code, caught.value.field) == (code, field)
    assert caught.value.code != CommonError.VALIDATION_ERROR


def test_spreadsheet_columns_in_chinese_and_english() -> None:
    headers = ["商家编码", "HS编码", "英文品名", "泰文品名", "name_vi", "材质", "用途", "原产国"]
    headers += ["申报单价(元)", "币种", "TISI证书号", "cert_SIRIM", "备注"]
    mapping, ignored = column_fields(headers)
    assert mapping == {
        "商家编码": "sku",
        "HS编码": "hs_code",
        "英文品名": "name_en",
        "泰文品名": "names.th",
        "name_vi": "names.vi",
        "材质": "material",
        "用途": "usage",
        "原产国": "origin_country",
        "申报单价(元)": "unit_value",
        "币种": "currency",
        "TISI证书号": "certificates.TISI",
        "cert_SIRIM": "certificates.SIRIM",
    }
    assert ignored == ["备注"]

"""SF's cross-border order (跨境件) on 丰桥 ``EXP_RECE_CREATE_ORDER``: the msgData the hub sends for a Thai receiver,
written out field by field from SF's page (丰桥 API 文档「下订单接口-速运类API EXP_RECE_CREATE_ORDER」, request tables
2.3.1–2.3.5 and the examples of 2.6), and the domestic payload untouched."""

from __future__ import annotations

import msgspec
import pytest

from orderhub.carriers.port import (
    CustomsDeclaration,
    CustomsIncomplete,
    CustomsLine,
    InternationalUnsupported,
    InvalidWaybillRequest,
    Party,
    WaybillItem,
    WaybillRequest,
    is_international,
    refuse_international,
)
from orderhub.carriers.sf import intl, mapper
from orderhub.carriers.sf.client import CUSTOMS_FIELDS, classify_business_error

SENDER = Party(
    name="王仓管", phone="13800000001", province="广东省", city="深圳市", district="南山区", detail="科技园 1 号"
)
THAI_RECEIVER = Party(
    name="Somchai Jaidee",
    phone="+66 81 234 5678",
    province="Bangkok",
    city="Bang Rak",
    detail="99/1 Silom Road\nSuriyawong",
    country="TH",
    postcode="10500",
)


def declaration(**changes: object) -> CustomsDeclaration:
    base = CustomsDeclaration(
        currency="THB",
        total_value=258000,  # satang: 2 × 1,290.00 THB
        lines=[
            CustomsLine(
                sku="FEEDER-01",
                name_en="Automatic pet feeder",
                name_local="เครื่องให้อาหารสัตว์เลี้ยงอัตโนมัติ",
                name_zh="自动喂食器",
                hs_code="8436210000",
                origin_country="CN",
                qty=2,
                unit_weight_g=1350,
                unit_value=129000,
            )
        ],
    )
    return msgspec.structs.replace(base, **changes)


def thai_request(**changes: object) -> WaybillRequest:
    base = WaybillRequest(
        order_ref="OH77-W1",
        sender=SENDER,
        receiver=THAI_RECEIVER,
        weight_g=2900,
        declared_value_fen=58000,
        items=[WaybillItem(name="自动喂食器", qty=2)],
        customs=declaration(),
    )
    return msgspec.structs.replace(base, **changes)


# Written from SF's tables, not from the mapper: contactInfoList country / postCode (跨境件必填) / province / city /
# address / contactRemark (01 个人件, 02 公司件); cargoDetails name / count / unit ("个" as in 2.6) / weight (kg, unit
# weight) / amount (unit price) / currency / sourceArea / hsCode / goodsCode; customsInfo declaredValue +
# declaredValueCurrency; expressTypeId 24 国际特惠（包裹）.
EXPECTED_THAI = {
    "language": "zh-CN",
    "orderId": "OH77-W1",
    "customsInfo": {"declaredValue": 2580.0, "declaredValueCurrency": "THB"},
    "cargoDetails": [
        {
            "name": "Automatic pet feeder",
            "count": 2,
            "unit": "个",
            "weight": 1.35,
            "amount": 1290.0,
            "currency": "THB",
            "sourceArea": "CN",
            "hsCode": "8436210000",
            "goodsCode": "FEEDER-01",
        }
    ],
    "contactInfoList": [
        {
            "contactType": 1,
            "contact": "王仓管",
            "country": "CN",
            "postCode": "518057",
            "province": "广东省",
            "city": "深圳市",
            "address": "科技园 1 号",
            "contactRemark": "02",
            "county": "南山区",
            "mobile": "13800000001",
        },
        {
            "contactType": 2,
            "contact": "Somchai Jaidee",
            "country": "TH",
            "postCode": "10500",
            "province": "Bangkok",
            "city": "Bang Rak",
            "address": "99/1 Silom Road, Suriyawong",
            "contactRemark": "01",
            "tel": "+66 81 234 5678",
        },
    ],
    "expressTypeId": 24,
    "parcelQty": 1,
    "totalWeight": 2.9,
    "payMethod": 1,
    "isReturnRoutelabel": 1,
    "monthlyCard": "7551234567",
}


def test_thai_parcel_maps_to_sfs_cross_border_fields() -> None:
    data = intl.create_order_data(thai_request(), monthly_card="7551234567", sender_postcode="518057")
    assert data == EXPECTED_THAI


def test_a_sender_postcode_on_the_party_wins_over_the_accounts() -> None:
    request = thai_request(sender=msgspec.structs.replace(SENDER, postcode="201700"))
    data = intl.create_order_data(request, monthly_card="", sender_postcode="518057")
    assert data["contactInfoList"][0]["postCode"] == "201700"
    assert "monthlyCard" not in data


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (129000, "THB", 1290.0),
        (1999, "MYR", 19.99),
        (250000, "VND", 250000.0),
        (1, "CNY", 0.01),
        (5, "JPY", 5.0),
        # three-digit and zero-digit currencies from the estimate's table (orderhub.customs.codes), not 2 by default
        (12345, "KWD", 12.345),
        (1500, "BHD", 1.5),
        (70000, "PYG", 70000.0),
        (1250000, "IDR", 12500.0),
    ],
)
def test_money_goes_in_major_units_of_its_currency(amount: int, currency: str, expected: float) -> None:
    assert intl.major_units(amount, currency) == expected


def test_the_declaration_is_refused_before_sending_when_it_lacks_hs_code_or_english_name() -> None:
    """SF's page makes neither hsCode nor an English name required (hsCode 否); the hub's declaration does."""
    line = declaration().lines[0]
    bare = declaration(lines=[msgspec.structs.replace(line, hs_code="", name_en=" ")])
    with pytest.raises(CustomsIncomplete) as caught:
        intl.create_order_data(thai_request(customs=bare), monthly_card="")
    assert caught.value.code == "carrier_customs_incomplete"
    assert "FEEDER-01:hs_code" in caught.value.message and "FEEDER-01:name_en" in caught.value.message
    with pytest.raises(CustomsIncomplete):
        intl.create_order_data(thai_request(customs=None), monthly_card="")
    with pytest.raises(InvalidWaybillRequest):
        intl.create_order_data(thai_request(service="same_day"), monthly_card="")


def test_sfs_cross_border_refusals_name_the_missing_field() -> None:
    """「3.2 业务异常代码」: 6201 国际件到方邮编不能为空, 6206 国际件货物币种不能为空,
    8194 跨境件必须包含申明价值和币别."""
    for code, message, field in [
        ("6201", "国际件到方邮编不能为空", "收件人邮编"),
        ("6206", "国际件货物币种不能为空", "货物币种"),
        ("6207", "国际件原产地不能为空", "原产地"),
        ("8194", "跨境件必须包含申明价值和币别", "申明价值和币别"),
    ]:
        error = classify_business_error(code, message)
        assert type(error) is CustomsIncomplete and error.carrier_code == code
        assert field in error.message and message in error.message
    assert set(CUSTOMS_FIELDS) == {"1020", "1028", "1038", *(str(c) for c in range(6200, 6208)), "8194"}


def test_domestic_payload_is_unchanged() -> None:
    """A CN receiver (the default country) still maps exactly as before the international fields existed."""
    domestic = thai_request(
        receiver=Party(name="李四", phone="021-55550000", province="上海市", city="上海市", district="浦东新区",
                       detail="世纪大道 100 号"),
        customs=None,
    )
    assert not is_international(domestic.receiver)
    assert mapper.create_order_data(domestic, monthly_card="7551234567") == {
        "language": "zh-CN",
        "orderId": "OH77-W1",
        "cargoDetails": [{"name": "自动喂食器", "count": 2}],
        "contactInfoList": [
            {"contactType": 1, "contact": "王仓管", "province": "广东省", "city": "深圳市", "county": "南山区",
             "address": "科技园 1 号", "country": "CN", "mobile": "13800000001"},
            {"contactType": 2, "contact": "李四", "province": "上海市", "city": "上海市", "county": "浦东新区",
             "address": "世纪大道 100 号", "country": "CN", "tel": "021-55550000"},
        ],
        "expressTypeId": 1,
        "parcelQty": 1,
        "totalWeight": 2.9,
        "payMethod": 1,
        "isReturnRoutelabel": 1,
        "monthlyCard": "7551234567",
        "cargoDeclaredValue": 580.0,
    }


def test_carriers_without_an_international_service_refuse_a_foreign_receiver() -> None:
    with pytest.raises(InternationalUnsupported) as caught:
        refuse_international(thai_request(), "中通")
    assert caught.value.code == "carrier_international_unsupported"
    assert "该承运商不支持国际件" in caught.value.message and caught.value.carrier_message == "TH"
    refuse_international(thai_request(receiver=SENDER), "中通")  # a CN receiver passes
    assert "Somchai" not in repr(THAI_RECEIVER) and "Silom" not in repr(THAI_RECEIVER)

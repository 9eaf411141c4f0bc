"""SF's cross-border order (跨境件 / 国际件) on the same 丰桥 gateway: a :class:`WaybillRequest` whose receiver is
outside China, with its :class:`CustomsDeclaration`, as the ``EXP_RECE_CREATE_ORDER`` msgData.

Every field below is from 丰桥 API 文档「下订单接口-速运类API EXP_RECE_CREATE_ORDER」(open.sf-express.com, 速运类
API), its request tables 2.3.1–2.3.5 and request examples 2.6:

* ``contactInfoList[]`` (2.3.2 ContactInfo): ``country`` "国家或地区代码 例如：内地件CN" (必填); ``postCode`` "邮编，
  跨境件必填（中国内地， 港澳台互寄除外）" — for both parties, so the sender's too (SF refuses 6200 / 6201 without);
  ``province`` / ``city`` / ``address`` (address String(200) 必填); ``contactRemark`` "联系人属性（01：个人件，
  02：公司件,跨境件或国际件需要)".
* ``cargoDetails[]`` (2.3.3 CargoDetail): ``name`` String(128); ``count`` "货物数量 跨境件报关需要填写";
  ``unit`` "货物单位，如：个、台、本， 跨境件报关需要填写"; ``weight`` "订单货物单位重量 … 单位千克，精确到小数点后3位
  跨境件报关需要填写"; ``amount`` "货物单价，精确到小数点后3位， 跨境件报关需要填写"; ``currency`` "货物单价的币别：
  参照附录《国际件币别表》" (https://open.sf-express.com/developSupport/734349?activeIndex=482730); ``sourceArea``
  "原产地国别， 跨境件报关需要填写"; ``hsCode`` "海关编码"; ``goodsCode`` "商品编号".
* ``customsInfo`` (2.3.5 CustomsInfo): ``declaredValue`` "客户订单货物总声明价值 … 精确到小数点后3位。如果是跨境件，
  则必填"; ``declaredValueCurrency`` "货物声明价值币别，跨境件报关需要填写" (8194 跨境件必须包含申明价值和币别).
* ``expressTypeId``: SF's 《快件产品类别表》 (https://open.sf-express.com/developSupport/734349?activeIndex=324604).
  The international products and their codes are as the public SDK Maydear/Maydear-SFExpress lists them
  (``src/Maydear.SFExpress/ExpressType.cs``, after qiao.sf-express.com 《快件产品类别表》 level2=689001):
  24 国际特惠（包裹）, 23 国际特惠（文件）, 29 国际电商专递-标准, 9 / 10 顺丰国际小包（平邮 / 挂号）. SF sells a product
  per contract ("仅可使用与顺丰销售约定的快件产品"); the hub's ``standard`` / ``economy`` ask for 国际特惠（包裹）.
* The reply is the domestic one (``waybillNoInfoList``, ``routeLabelInfo``): :func:`orderhub.carriers.sf.mapper.
  to_waybill` reads it.

SF itself checks the cross-border fields it documents (1020, 1028, 1038, 6200–6207, 8194: see
:data:`orderhub.carriers.sf.client.CUSTOMS_FIELDS`). What SF's page does *not* make required but the hub's
declaration does — a declaration at all, each line's HS code and English name — is refused here, before anything is
sent (:class:`CustomsIncomplete`, naming each SKU and field).

Not the same as SF International's own open platform (``IUOP_CREATE_ORDER`` on ``api-ifsp.sf.global``, AES-encrypted
with an access token — the public Go SDK zengweigg/sfexpress ``service.iuop.go`` / ``model/sf.iuop.go``): 丰桥's page
for this service says it covers 大陆寄往大陆、港澳台 and directs "其他国际流向" to its 国际 API. Which one an account
may use is SF's commercial decision; this module speaks the 丰桥 service the hub already signs for.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from orderhub.carriers.port import (
    CustomsDeclaration,
    CustomsIncomplete,
    InvalidWaybillRequest,
    Party,
    WaybillRequest,
)
from orderhub.carriers.sf.mapper import CONTACT_RECEIVER, CONTACT_SENDER, PAY_BY_SENDER, check_parcel
from orderhub.customs.codes import to_major

__all__ = [
    "CARGO_UNIT",
    "CONTACT_COMPANY",
    "CONTACT_PERSON",
    "INTERNATIONAL_EXPRESS_TYPES",
    "create_order_data",
    "major_units",
    "missing_fields",
]

# The hub's service names → SF's international expressTypeId (see the module docstring).
INTERNATIONAL_EXPRESS_TYPES: dict[str, int] = {
    "standard": 24,  # 国际特惠（包裹）
    "economy": 24,
    "国际特惠": 24,
    "ecommerce": 29,  # 国际电商专递-标准
    "国际电商专递": 29,
    "documents": 23,  # 国际特惠（文件）
}

CONTACT_PERSON = "01"  # contactRemark 01：个人件
CONTACT_COMPANY = "02"  # contactRemark 02：公司件
CARGO_UNIT = "个"  # cargoDetails.unit as SF's own examples write it (2.6: "unit": "个")

_THOUSANDTH = Decimal("0.001")


def major_units(amount: int, currency: str) -> float:
    """Minor units of ``currency`` as the decimal SF writes (3 places): 12345 satang → 123.45 (THB), 5000 → 5000
    (VND), 12345 fils → 12.345 (KWD). The minor-unit digits are ISO 4217's, from the table the customs estimate
    uses (:func:`orderhub.customs.codes.to_major`)."""
    return float(to_major(amount, currency).quantize(_THOUSANDTH, rounding=ROUND_HALF_UP))


def _kg(grams: int) -> float:
    return float((Decimal(grams) / 1000).quantize(_THOUSANDTH, rounding=ROUND_HALF_UP))


def missing_fields(declaration: CustomsDeclaration | None) -> list[str]:
    """What the hub's declaration lacks for SF (``sku:field``), beyond what SF checks itself."""
    if declaration is None:
        return ["customs"]
    missing: list[str] = []
    if not declaration.lines:
        missing.append("customs.lines")
    for line in declaration.lines:
        if not line.hs_code.strip():
            missing.append(f"{line.sku}:hs_code")
        if not line.name_en.strip():
            missing.append(f"{line.sku}:name_en")
    return missing


def _address(party: Party) -> str:
    # address String(200): the international lines ("\n"-joined in the hub) on one line, as SF prints them.
    lines = [line.strip() for line in party.detail.replace("\r", "\n").split("\n") if line.strip()]
    return ", ".join(lines)


def _contact(party: Party, contact_type: int, *, postcode: str, remark: str) -> dict[str, Any]:
    contact: dict[str, Any] = {
        "contactType": contact_type,
        "contact": party.name,
        "country": (party.country or "CN").strip().upper(),
        "postCode": postcode.strip(),
        "province": party.province,
        "city": party.city,
        "address": _address(party),
        "contactRemark": remark,
    }
    if party.district:
        contact["county"] = party.district
    phone = party.phone.strip()
    # tel / mobile: "tel和mobile字段必填其中一个"; a foreign number is no Chinese 1xxxxxxxxxx mobile, so it goes as tel.
    contact["mobile" if party.country.upper() == "CN" and phone.isdigit() and len(phone) == 11 else "tel"] = phone
    if party.company:
        contact["company"] = party.company
    return contact


def create_order_data(request: WaybillRequest, *, monthly_card: str, sender_postcode: str = "") -> dict[str, Any]:
    """The ``EXP_RECE_CREATE_ORDER`` msgData of an international parcel (receiver outside China)."""
    check_parcel(request)
    try:
        express_type = INTERNATIONAL_EXPRESS_TYPES[request.service]
    except KeyError:
        raise InvalidWaybillRequest(f"顺丰国际件不支持产品 {request.service}", carrier_code="bad_service") from None
    missing = missing_fields(request.customs)
    declaration = request.customs
    if missing or declaration is None:
        raise CustomsIncomplete(
            f"国际件报关信息不完整：{'、'.join(missing)}",
            carrier_code="customs_incomplete",
            carrier_message=",".join(missing),
        )
    currency = declaration.currency.strip().upper()
    cargo = [
        {
            "name": line.name_en.strip(),
            "count": line.qty,
            "unit": CARGO_UNIT,
            "weight": _kg(line.unit_weight_g),
            "amount": major_units(line.unit_value, currency),
            "currency": currency,
            "sourceArea": line.origin_country.strip().upper(),
            "hsCode": line.hs_code.strip(),
            "goodsCode": line.sku,
        }
        for line in declaration.lines
    ]
    data: dict[str, Any] = {
        "language": "zh-CN",
        "orderId": request.order_ref,
        "customsInfo": {
            "declaredValue": major_units(declaration.total_value, currency),
            "declaredValueCurrency": currency,
        },
        "cargoDetails": cargo,
        "contactInfoList": [
            _contact(request.sender, CONTACT_SENDER, postcode=request.sender.postcode or sender_postcode,
                     remark=CONTACT_COMPANY),
            _contact(request.receiver, CONTACT_RECEIVER, postcode=request.receiver.postcode, remark=CONTACT_PERSON),
        ],
        "expressTypeId": express_type,
        "parcelQty": request.parcels,
        "totalWeight": _kg(request.weight_g),
        "payMethod": PAY_BY_SENDER,
        "isReturnRoutelabel": 1,
    }
    if monthly_card:
        data["monthlyCard"] = monthly_card
    if request.remark:
        data["remark"] = request.remark
    return data

"""菜鸟电子面单 (``cainiao.waybill.ii.get`` / ``cainiao.waybill.ii.cancel`` on TOP): waybills of an express company
ordered through 菜鸟 with the shop's TOP session. It takes a 淘宝/天猫 order's receiver as its OAID, so the order ships
without anyone decrypting it.

Registered in :data:`orderhub.carriers.port.PLATFORM_WAYBILLS` as ``"taobao"`` (``server.wiring``). Reuses
:class:`~orderhub.channels.taobao.client.TopClient` (gateway, signature, error classification).

``cainiao.waybill.ii.get`` (电子面单云打印接口; the request / response models of TOP's generated SDKs, e.g.
github.com/bububa/opentaobao model/waybill WaybillCloudPrintApplyNewRequest, TradeOrderInfoDTO, RecipientInfoDTO,
WaybillCloudPrintResponse): one param ``param_waybill_cloud_print_apply_new_request`` (its JSON text) with ``cp_code``
(物流公司Code), ``sender`` {name, mobile, phone, address{province, city, district, town, detail}}, ``need_encrypt``
(云打印报文是否加密) and ``trade_order_info_dtos`` ("请求面单信息，数量限制为10") of {``object_id`` (请求ID),
``order_info`` {``order_channels_type`` (订单渠道平台编码: TB, TM, … OTHERS), ``trade_order_list`` (订单号, at most
100)}, ``package_info`` {id, items[{name, count}] (at most 100), weight (g), volume (ml)}, ``recipient`` {name,
mobile, phone, address, ``oaid`` ("淘宝订单收件人ID (Open Addressee ID) … 淘宝订单加密情况用于解密"), ``tid``
("电商平台真实交易订单号，针对电商平台订单隐私加密场景使用")}, ``template_url`` ("云打印标准模板URL … 值格式
http://cloudprint.cainiao.com/template/standard/${模板ID}"), ``user_id`` (使用者ID)}. It answers
``cainiao_waybill_ii_get_response.modules`` (TOP's JSON: ``{"waybill_cloud_print_response": [...]}``) of
{``object_id``, ``waybill_code`` (面单号), ``print_data`` (云打印内容: encryptedData when encrypted),
``parent_waybill_code``}. ``cainiao.waybill.ii.cancel`` takes ``cp_code`` and ``waybill_code`` and answers
``cancel_result``.

``account.settings`` (the shop's 菜鸟电子面单 subscription; the TOP session is the shop's):

* ``template_url`` — required: the standard template URL (``cainiao.cloudprint.stdtemplates.get``);
* ``cp_code`` — the express company's code; default: the TOP company code of ``account.carrier``
  (:data:`~orderhub.channels.taobao.mapper.COMPANY_CODES`);
* ``user_id`` — 使用者ID (the seller's user id when one subscription serves several shops); default
  ``account.shop_id``;
* ``order_channels_type`` — the channel of the shop's orders: ``TB`` (default) or ``TM`` for a 天猫 shop.

The order: for a receiver with a TOP cipher (an OAID), ``request.order_ref`` is the trade's ``tid``, or
"<tid>/<parcel>" for a further parcel (``object_id`` is the whole ``order_ref``, so a repeat asks for the same waybill);
the recipient carries the OAID and the tid, with the masked name / mobile / detail as the trade gave them. A clear
receiver (another channel's order) goes as ``OTHERS`` with clear fields. ``track`` answers [] (快递100 tracks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import httpx

from orderhub.carriers.port import (
    Carrier,
    CarrierError,
    CarrierUnavailable,
    InvalidWaybillRequest,
    Party,
    PlatformWaybillAccount,
    TrackingEvent,
    Waybill,
    WaybillRequest,
    cloud_print_waybill,
)
from orderhub.channels.port import PlatformError, shop_credentials
from orderhub.channels.taobao import mapper
from orderhub.channels.taobao.client import TopClient

__all__ = ["CANCEL_API", "GET_API", "PLATFORM", "CainiaoWaybillService", "create_waybill_service"]

GET_API = "cainiao.waybill.ii.get"
CANCEL_API = "cainiao.waybill.ii.cancel"
PLATFORM: Final = "taobao"  # the catalogue code whose ciphers (OAIDs) this service takes
MAX_ITEMS = 100  # package_info.items: "商品信息,数量限制为100"


def _carrier_error(exc: PlatformError, api: str) -> CarrierError:
    """A TOP refusal in the carrier port's terms, TOP's code and text kept: rate limits and outages are retryable
    (:class:`CarrierUnavailable`); anything else (an expired session too: the shop must re-authorise) is not."""
    kind: type[CarrierError] = CarrierUnavailable if exc.retryable else InvalidWaybillRequest
    text = exc.platform_message or exc.message
    return kind(f"菜鸟电子面单 {api}：{exc.message}", carrier_code=exc.platform_code, carrier_message=text)


class CainiaoWaybillService:
    """菜鸟电子面单 for one 淘宝/天猫 shop and one express company (``account.carrier``)."""

    code: ClassVar[str] = PLATFORM

    def __init__(self, account: PlatformWaybillAccount, http: httpx.AsyncClient) -> None:
        self.account = account
        settings = account.settings
        cp_code = settings.get("cp_code") or mapper.COMPANY_CODES.get(account.carrier.strip().upper(), "")
        if not cp_code:
            raise InvalidWaybillRequest(
                f"快递公司 {account.carrier} 没有对应的菜鸟物流公司编码（cp_code），请在账号设置中填写",
                carrier_code="unknown_carrier",
            )
        template_url = settings.get("template_url", "")
        if not template_url:
            raise InvalidWaybillRequest(
                "菜鸟电子面单需要云打印标准模板 URL（template_url），请在账号设置中填写", carrier_code="no_template"
            )
        self.cp_code = cp_code
        self.template_url = template_url
        self.user_id = settings.get("user_id") or account.shop_id
        self.channel = settings.get("order_channels_type") or "TB"
        self.client = TopClient(
            shop_credentials(account),
            http,
        )

    def __repr__(self) -> str:  # never the secret or the session
        return f"CainiaoWaybillService(cp_code={self.cp_code!r}, shop_id={self.account.shop_id!r})"

    async def create_waybill(self, request: WaybillRequest) -> Waybill:
        """One waybill. ``object_id`` is ``request.order_ref``, so a repeat asks for the same waybill."""
        payload = self.apply_request(request)
        try:
            answer = await self.client.call(GET_API, {"param_waybill_cloud_print_apply_new_request": payload})
        except PlatformError as exc:
            raise _carrier_error(exc, GET_API) from None
        modules = answer.get("modules")
        if isinstance(modules, Mapping):
            modules = modules.get("waybill_cloud_print_response")
        return cloud_print_waybill(modules, request, self.account.carrier, "菜鸟电子面单")

    def apply_request(self, request: WaybillRequest) -> str:
        """The JSON text of ``param_waybill_cloud_print_apply_new_request`` for one parcel."""
        receiver = request.receiver
        cipher = receiver.cipher
        if cipher is not None and cipher.platform != PLATFORM:
            raise InvalidWaybillRequest(
                f"菜鸟电子面单无法打印其他平台（{cipher.platform}）加密的收件人", carrier_code="foreign_cipher"
            )
        tid = request.order_ref.partition("/")[0]  # "<tid>" or "<tid>/<parcel>"
        encrypted = cipher is not None and bool(cipher.open_id)
        if encrypted and not tid:
            raise InvalidWaybillRequest("菜鸟电子面单需要淘宝订单号（order_ref）", carrier_code="not_a_taobao_order")
        recipient: dict[str, Any] = {
            "name": receiver.name,
            "mobile": receiver.phone,
            "address": {
                "province": receiver.province,
                "city": receiver.city,
                "district": receiver.district,
                "detail": receiver.detail,
            },
        }
        if encrypted and cipher is not None:
            recipient["oaid"] = cipher.open_id
            recipient["tid"] = tid
        items = [{"name": item.name[:100], "count": item.qty} for item in request.items[:MAX_ITEMS]]
        dto: dict[str, Any] = {
            "object_id": request.order_ref,
            "order_info": {
                "order_channels_type": self.channel if encrypted else "OTHERS",
                "trade_order_list": [tid if encrypted else request.order_ref],
            },
            "package_info": {
                "id": request.order_ref.replace("/", "_"),  # "只能传入数字、字母和下划线"
                "items": items or [{"name": "商品", "count": 1}],
                "weight": request.weight_g,
            },
            "recipient": recipient,
            "template_url": self.template_url,
            "user_id": int(self.user_id) if self.user_id.isdigit() else self.user_id,
        }
        return json.dumps(
            {
                "cp_code": self.cp_code,
                "need_encrypt": True,
                "sender": _sender(request.sender),
                "trade_order_info_dtos": [dto],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    async def cancel_waybill(self, waybill: Waybill) -> None:
        try:
            answer = await self.client.call(CANCEL_API, {"cp_code": self.cp_code, "waybill_code": waybill.waybill_no})
        except PlatformError as exc:
            raise _carrier_error(exc, CANCEL_API) from None
        if answer.get("cancel_result") not in (True, "true"):
            raise InvalidWaybillRequest(f"菜鸟电子面单 {waybill.waybill_no} 取消失败", carrier_code="cancel_refused")

    async def track(self, waybill_no: str) -> list[TrackingEvent]:
        return []  # tracking goes through 快递100


def _sender(party: Party) -> dict[str, Any]:
    return {
        "name": party.name,
        "mobile": party.phone,
        "address": {"province": party.province, "city": party.city, "district": party.district, "detail": party.detail},
    }


def create_waybill_service(account: PlatformWaybillAccount, http: httpx.AsyncClient) -> Carrier:
    """The factory ``server.wiring`` registers in ``PLATFORM_WAYBILLS`` as ``"taobao"`` (and ``"tmall"``)."""
    return CainiaoWaybillService(account, http)

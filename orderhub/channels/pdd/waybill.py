"""拼多多电子面单 (``pdd.waybill.get`` / ``pdd.waybill.cancel``): waybills of an express company ordered through
拼多多, which takes the order's receiver ciphertext as it came — so a 拼多多 order ships without decrypting it.

Registered in :data:`orderhub.carriers.port.PLATFORM_WAYBILLS` as ``"pdd"`` (``server.wiring``). Reuses
:class:`~orderhub.channels.pdd.client.PddClient` (gateway, signature, error classification) with the shop's token.

``pdd.waybill.get`` (电子面单云打印接口; request/response models of the POP SDKs: niltor/open-pdd-net-sdk
``GetWaybill`` / ``GetWaybillResponse``, lywzx/pdd-node-sdk ``PddWaybillGet``): one param
``param_waybill_cloud_print_apply_new_request`` (its JSON text) holding ``wp_code`` (物流公司Code), ``sender``
{name, mobile, phone, address{province, city, district, town, detail}}, ``need_encrypt`` (云打印报文是否加密) and
``trade_order_info_dtos`` (at most 10) of {``object_id`` (请求id), ``order_info`` {``order_channels_type`` (``PDD``
for a 拼多多 order, ``OTHERS`` …), ``trade_order_list`` (订单号, at most 100)}, ``package_info`` {id, items[{name,
count}] (at most 100), weight (g), volume (ml)}, ``recipient`` {name, mobile, address{province, city, district,
detail}}, ``template_url`` (标准模板URL), ``user_id`` (使用者ID)}. For a 拼多多 order the recipient's ``name``,
``mobile`` and ``address.detail`` are the order's ciphertexts exactly as received (as a waybill update request
shows them, e.g. ``"mobile": "$WsuJt4Yh3K7a$AgAAAACj…$1$$"``); province / city / district are clear. It answers
``pdd_waybill_get_response.modules[]`` {``object_id``, ``waybill_code`` (面单号), ``print_data`` (面单信息: with
``need_encrypt`` the encrypted print message for 拼多多's print component), ``parent_waybill_code``}.
``pdd.waybill.cancel`` takes ``wp_code`` and ``waybill_code`` and answers ``pdd_waybill_cancel_response.cancel_result``.

``account.settings`` (the 拼多多 e-waybill subscription of the shop; the access token is the shop's):

* ``wp_code`` — the express company's code at 拼多多; default: :data:`WP_CODES` of ``account.carrier``;
* ``template_url`` — the standard template URL (``pdd.cloudprint.stdtemplates.get``); default
  ``https://file-link.pinduoduo.com/<wp_code lower>_std``, the form of the standard template URLs;
* ``user_id`` — 使用者ID (the shop's 拼多多 user id); default ``account.shop_id``.

The 拼多多 order: for a receiver with a 拼多多 cipher, ``request.order_ref`` is the order's ``order_sn``, or
"<order_sn>/<parcel>" for a further parcel of the same order (``object_id`` is the whole ``order_ref``, so a repeat
asks for the same waybill); 拼多多 checks the ciphertexts against that order. A clear receiver (another channel's
order) is sent as ``order_channels_type`` ``OTHERS`` with ``order_ref`` as the order number.

拼多多 picks the 网点 from the shop's subscription for the sender address: ``pdd.waybill.get`` takes no branch code.
``track`` answers [] — tracking goes through 快递100.
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
from orderhub.channels.pdd import mapper
from orderhub.channels.pdd.client import PddClient
from orderhub.channels.port import PlatformError, shop_credentials

__all__ = ["CANCEL_API", "GET_API", "WP_CODES", "PddWaybillService", "create_waybill_service", "hub_carrier"]

GET_API = "pdd.waybill.get"
CANCEL_API = "pdd.waybill.cancel"
MAX_ITEMS = 100  # package_info.items: "商品信息,数量限制为100"

# The hub's carrier code → 拼多多's express company code (``wp_code``): the ``code`` (快递公司编码) that
# ``pdd.logistics.companies.get`` lists beside each company's id (:data:`mapper.CARRIER_IDS`). 邮政快递包裹 is
# ``YZXB`` (the code in published pdd.waybill.get requests); the hub has no carrier for it. Like the ids, check the
# codes against a live pdd.logistics.companies.get answer before going live.
WP_CODES: Final[Mapping[str, str]] = {
    "SF": "SF",  # 顺丰速运
    "ZTO": "ZTO",  # 中通快递
    "YTO": "YTO",  # 圆通速递
    "STO": "STO",  # 申通快递
    "YD": "YUNDA",  # 韵达快递
    "JT": "JTSD",  # 极兔速递
    "EMS": "EMS",  # 邮政 EMS
    "JD": "JD",  # 京东快递
}
_HUB_CARRIERS: Final[Mapping[str, str]] = {wp: hub for hub, wp in WP_CODES.items()}


def hub_carrier(wp_code: str) -> str | None:
    """The hub's carrier code for a 拼多多 ``wp_code`` (None when the hub has no such carrier)."""
    return _HUB_CARRIERS.get(wp_code.strip().upper())


def _carrier_error(exc: PlatformError, api: str) -> CarrierError:
    """A gateway refusal in the carrier port's terms, the platform's code and text kept: rate limits and outages
    are retryable (:class:`CarrierUnavailable`), anything else (an expired session included: the shop must
    re-authorise) is :class:`InvalidWaybillRequest`."""
    kind: type[CarrierError] = CarrierUnavailable if exc.retryable else InvalidWaybillRequest
    text = exc.platform_message or exc.message
    return kind(f"拼多多电子面单 {api}：{exc.message}", carrier_code=exc.platform_code, carrier_message=text)


class PddWaybillService:
    """拼多多电子面单 for one shop and one express company (``account.carrier``)."""

    code: ClassVar[str] = mapper.PLATFORM  # the sales platform whose service this is; waybills carry account.carrier

    def __init__(self, account: PlatformWaybillAccount, http: httpx.AsyncClient) -> None:
        self.account = account
        settings = account.settings
        wp_code = settings.get("wp_code") or WP_CODES.get(account.carrier.strip().upper(), "")
        if not wp_code:
            raise InvalidWaybillRequest(
                f"快递公司 {account.carrier} 没有对应的拼多多电子面单快递编码（wp_code），请在账号设置中填写",
                carrier_code="unknown_carrier",
            )
        self.wp_code = wp_code
        self.template_url = settings.get("template_url") or f"https://file-link.pinduoduo.com/{wp_code.lower()}_std"
        self.user_id = settings.get("user_id") or account.shop_id
        self.client = PddClient(
            shop_credentials(account),
            http,
        )

    def __repr__(self) -> str:  # never the secret or the token
        return f"PddWaybillService(wp_code={self.wp_code!r}, shop_id={self.account.shop_id!r})"

    async def create_waybill(self, request: WaybillRequest) -> Waybill:
        """One waybill. ``object_id`` is ``request.order_ref``, so a repeat asks for the same waybill."""
        payload = self.apply_request(request)
        try:
            answer = await self.client.call(GET_API, {"param_waybill_cloud_print_apply_new_request": payload})
        except PlatformError as exc:
            raise _carrier_error(exc, GET_API) from None
        return cloud_print_waybill(answer.get("modules"), request, self.account.carrier, "拼多多电子面单")

    def apply_request(self, request: WaybillRequest) -> str:
        """The JSON text of ``param_waybill_cloud_print_apply_new_request`` for one parcel."""
        receiver = request.receiver
        cipher = receiver.cipher
        if cipher is not None and cipher.platform != mapper.PLATFORM:
            raise InvalidWaybillRequest(
                f"拼多多电子面单无法打印其他平台（{cipher.platform}）加密的收件人", carrier_code="foreign_cipher"
            )
        order_sn = request.order_ref.partition("/")[0]  # "<order_sn>" or "<order_sn>/<parcel>"
        if cipher is not None and not order_sn:
            raise InvalidWaybillRequest("拼多多电子面单需要拼多多订单号（order_ref）", carrier_code="not_a_pdd_order")
        recipient: dict[str, Any] = {
            "name": cipher.name if cipher is not None and cipher.name else receiver.name,
            "mobile": cipher.phone if cipher is not None and cipher.phone else receiver.phone,
            "address": {
                "province": receiver.province,
                "city": receiver.city,
                "district": receiver.district,
                "detail": cipher.detail if cipher is not None and cipher.detail else receiver.detail,
            },
        }
        items = [{"name": item.name[:100], "count": item.qty} for item in request.items[:MAX_ITEMS]]
        dto: dict[str, Any] = {
            "object_id": request.order_ref,
            "order_info": {
                "order_channels_type": "PDD" if cipher is not None else "OTHERS",
                "trade_order_list": [order_sn if cipher is not None else request.order_ref],
            },
            "package_info": {
                "id": request.order_ref,
                "items": items or [{"name": "商品", "count": 1}],
                "weight": request.weight_g,
                "total_packages_count": request.parcels,
            },
            "recipient": recipient,
            "template_url": self.template_url,
            "user_id": int(self.user_id) if self.user_id.isdigit() else self.user_id,
        }
        return json.dumps(
            {
                "wp_code": self.wp_code,
                "need_encrypt": True,
                "sender": _sender(request.sender),
                "trade_order_info_dtos": [dto],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    async def cancel_waybill(self, waybill: Waybill) -> None:
        try:
            answer = await self.client.call(CANCEL_API, {"wp_code": self.wp_code, "waybill_code": waybill.waybill_no})
        except PlatformError as exc:
            raise _carrier_error(exc, CANCEL_API) from None
        if answer.get("cancel_result") is not True:
            raise InvalidWaybillRequest(f"拼多多电子面单 {waybill.waybill_no} 取消失败", carrier_code="cancel_refused")

    async def track(self, waybill_no: str) -> list[TrackingEvent]:
        return []  # tracking goes through 快递100


def _sender(party: Party) -> dict[str, Any]:
    return {
        "name": party.name,
        "mobile": party.phone,
        "address": {"province": party.province, "city": party.city, "district": party.district, "detail": party.detail},
    }


def create_waybill_service(account: PlatformWaybillAccount, http: httpx.AsyncClient) -> Carrier:
    """The factory ``server.wiring`` registers in ``PLATFORM_WAYBILLS`` as ``"pdd"``."""
    return PddWaybillService(account, http)

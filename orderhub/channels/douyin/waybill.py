"""抖音电子面单: waybills of an express company ordered through 抖店, which accepts the order's receiver ciphertext.

The :class:`~orderhub.carriers.port.Carrier` protocol over the shop's
:class:`~orderhub.channels.douyin.client.DouyinClient` (same gateway, same signature), registered in
:data:`~orderhub.carriers.port.PLATFORM_WAYBILLS` as ``douyin``. API: 抖音电商电子面单对接文档
(https://op.jinritemai.com/docs/guide-docs/33/338) and the API pages the official SDK reproduces
(``logistics_newCreateOrder`` / ``logistics_waybillApply`` / ``logistics_cancelOrder``):

* ``create_waybill`` — ``logistics.newCreateOrder``: ``sender_info`` {address, contact}, ``logistics_code``,
  ``order_infos`` [{order_id, receiver_info {address {…, detail_address 「剩余详细地址，支持密文」}, contact {name,
  mobile | phone}}, items [{item_name, item_count}], net_info, product_type, pay_method, …}], ``user_id``. A receiver
  with a 抖店 cipher is sent as its ciphertexts (name → contact.name, phone → contact.mobile, detail →
  address.detail_address), exactly as 抖店 gave them; a receiver without one is sent in clear. The answer's
  ``ebill_infos`` give ``track_no`` and ``sort_code`` (三段码), ``err_infos`` the per-order refusal. Then
  ``logistics.waybillApply`` [{logistics_code, track_no}] gives ``print_data`` 「加密的面单数据」 and ``sign``, which
  the 抖音 print component needs: :attr:`Waybill.print_data` is ``{"print_data": …, "sign": …}`` as JSON.
* ``cancel_waybill`` — ``logistics.cancelOrder`` {logistics_code, track_no, user_id} → ``cancel_result.success``.
* ``track`` — ``[]`` (tracking goes through 快递100).

The 抖店 order: ``request.order_ref`` must be the 抖店 order id (the service binds the waybill to that order and
checks the ciphertexts against it); ``order_ref`` "<order id>/<pack id>" asks for a further parcel of the same order
(``pack_id``: 「一单一包裹是不需要传，有2个以上时，从第二个开始都需要传不同id」). The service answers a repeat for the
same order and pack with the waybill it already issued.

``account.settings`` (all optional):

* ``logistics_code`` — 抖音's 快递公司编码; default: the account's carrier through :data:`LOGISTICS_CODES`;
* ``net_code`` / ``net_category`` / ``monthly_account`` — ``net_info`` (网点编码, 直营/加盟, 总对总月结账号);
* ``user_id`` — the shop that uses the service when the account is shared (共享账号), ``-1`` when unknown;
* ``product_type`` / ``pay_method`` — the carrier's product (快递产品类型) and 1 寄付月结 / 2 寄付现结.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import httpx

from orderhub.carriers.port import (
    Carrier,
    CarrierError,
    CarrierUnavailable,
    DigestRejected,
    InvalidWaybillRequest,
    Party,
    PlatformWaybillAccount,
    TrackingEvent,
    Waybill,
    WaybillRequest,
)
from orderhub.channels.douyin.client import DouyinClient
from orderhub.channels.douyin.mapper import CARRIER_CODES, PLATFORM
from orderhub.channels.port import (
    InvalidRequest,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    SignatureRejected,
    shop_credentials,
)

__all__ = ["API_APPLY", "API_CANCEL", "API_CREATE", "LOGISTICS_CODES", "DouyinWaybillService", "create_waybill_service"]

API_CREATE: Final = "logistics.newCreateOrder"
API_APPLY: Final = "logistics.waybillApply"
API_CANCEL: Final = "logistics.cancelOrder"

# The hub's carrier code → 抖音电子面单 ``logistics_code`` (抖音's 快递公司编码, the same codes ``order.logisticsAdd``
# takes as ``company_code``; see :data:`orderhub.channels.douyin.mapper.CARRIER_CODES`).
LOGISTICS_CODES: Final[Mapping[str, str]] = CARRIER_CODES
_BY_LOGISTICS_CODE: Final = {code: hub for hub, code in LOGISTICS_CODES.items()}

log = logging.getLogger("orderhub.channels.douyin")


def _is_mobile(phone: str) -> bool:
    return len(phone) == 11 and phone.isdigit() and phone.startswith("1")


def _address(party: Party, detail: str) -> dict[str, Any]:
    return {
        "country_code": "CHN",
        "province_name": party.province,
        "city_name": party.city,
        "district_name": party.district,
        "detail_address": detail,
    }


def _contact(name: str, phone: str) -> dict[str, Any]:
    return {"name": name, "mobile": phone} if _is_mobile(phone) or phone[:1] == "$" else {"name": name, "phone": phone}


def receiver_info(party: Party) -> dict[str, Any]:
    """``receiver_info``: the 抖店 ciphertexts when the receiver has them, else the clear fields."""
    cipher = party.cipher
    if cipher is not None and cipher.phone and cipher.name and cipher.detail:
        return {"address": _address(party, cipher.detail), "contact": {"name": cipher.name, "mobile": cipher.phone}}
    if cipher is not None:
        raise InvalidWaybillRequest("收件人是加密的，但缺少抖店密文，无法取号", carrier_code="incomplete_cipher")
    return {"address": _address(party, party.detail), "contact": _contact(party.name, party.phone)}


def _carrier_error(exc: PlatformError) -> CarrierError:
    kwargs = {"carrier_code": exc.platform_code, "carrier_message": exc.platform_message}
    if isinstance(exc, SignatureRejected):
        return DigestRejected(**kwargs)
    if isinstance(exc, RateLimited | PlatformUnavailable):
        return CarrierUnavailable(**kwargs)
    if isinstance(exc, InvalidRequest):
        return InvalidWaybillRequest(**kwargs)
    return CarrierError(f"抖音电子面单调用失败：{exc.message}", **kwargs)  # the shop's authorisation, …


class DouyinWaybillService:
    """One 抖店 shop's 抖音电子面单 account for one express company."""

    code: ClassVar[str] = PLATFORM  # the platform whose service this is; waybills carry ``account.carrier``

    def __init__(
        self, account: PlatformWaybillAccount, http: httpx.AsyncClient, *, client: DouyinClient | None = None
    ) -> None:
        self.account = account
        settings = account.settings
        code = settings.get("logistics_code") or LOGISTICS_CODES.get(account.carrier.upper(), "")
        if not code:
            raise InvalidWaybillRequest(
                f"抖音电子面单不支持快递 {account.carrier}（可用：{'、'.join(LOGISTICS_CODES)}）",
                carrier_code="unknown_carrier",
            )
        self.logistics_code = code
        self.client = client or DouyinClient(
            shop_credentials(account),
            http,
        )

    def __repr__(self) -> str:
        return f"DouyinWaybillService({self.account!r}, logistics_code={self.logistics_code!r})"

    async def _call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return await self.client.call(method, params)
        except PlatformError as exc:
            raise _carrier_error(exc) from exc

    def _user_id(self, params: dict[str, Any]) -> None:
        user_id = self.account.settings.get("user_id", "").strip()
        if user_id:
            params["user_id"] = int(user_id) if user_id.lstrip("-").isdigit() else user_id

    def create_order_params(self, request: WaybillRequest) -> dict[str, Any]:
        """The ``logistics.newCreateOrder`` parameters for one parcel."""
        order_id, _, pack_id = request.order_ref.partition("/")
        if not order_id.isdigit():
            raise InvalidWaybillRequest(
                f"抖音电子面单需要抖店订单号（order_ref={request.order_ref!r}）", carrier_code="not_a_douyin_order"
            )
        settings = self.account.settings
        sender = request.sender
        items = [{"item_name": i.name[:64], "item_count": i.qty} for i in request.items if i.qty > 0]
        info: dict[str, Any] = {
            "order_id": order_id,
            "receiver_info": receiver_info(request.receiver),
            "items": items or [{"item_name": "商品", "item_count": 1}],
        }
        if pack_id:
            info["pack_id"] = pack_id
        if request.parcels > 1:
            info["total_pack_count"] = request.parcels
        if request.remark:
            info["remark"] = request.remark[:128]
        if self.logistics_code == "shunfeng" and request.weight_g > 0:  # 「商品总重量，单位：克（仅支持顺丰物流使用）」
            info["total_weight"] = str(request.weight_g)
        net = {
            k: settings[s]
            for k, s in (("net_code", "net_code"), ("category", "net_category"), ("monthly_account", "monthly_account"))
            if settings.get(s)
        }
        if net:
            info["net_info"] = net
        if settings.get("product_type"):
            info["product_type"] = settings["product_type"]
        if settings.get("pay_method", "").isdigit():
            info["pay_method"] = int(settings["pay_method"])
        params: dict[str, Any] = {
            "logistics_code": self.logistics_code,
            "sender_info": {
                "address": _address(sender, sender.detail),
                "contact": _contact(sender.name, sender.phone),
            },
            "order_infos": [info],
        }
        self._user_id(params)
        return params

    async def create_waybill(self, request: WaybillRequest) -> Waybill:
        params = self.create_order_params(request)
        data = await self._call(API_CREATE, params)
        order_id = params["order_infos"][0]["order_id"]
        for refused in data.get("err_infos") or []:
            if isinstance(refused, Mapping):
                raise InvalidWaybillRequest(
                    f"抖音电子面单拒绝取号：{refused.get('err_msg') or ''}",
                    carrier_code=str(refused.get("err_code") or ""),
                    carrier_message=str(refused.get("err_msg") or ""),
                )
        issued = [e for e in data.get("ebill_infos") or [] if isinstance(e, Mapping) and e.get("track_no")]
        if not issued:
            raise CarrierUnavailable("抖音电子面单未返回运单号", carrier_code="no_track_no")
        ebill = next((e for e in issued if str(e.get("order_id") or "") == order_id), issued[0])
        track_no = str(ebill["track_no"])
        company = str(ebill.get("company") or self.logistics_code)
        print_data = await self._print_data(company, track_no)
        log.info("douyin e-waybill issued", extra={"logistics_code": company, "order_ref": request.order_ref})
        return Waybill(
            carrier=_BY_LOGISTICS_CODE.get(company, self.account.carrier),
            waybill_no=track_no,
            order_ref=request.order_ref,
            sort_code=str(ebill.get("sort_code") or ebill.get("short_address_name") or ""),
            origin_code=str(ebill.get("package_center_code") or ""),
            destination_code=str(ebill.get("short_address_code") or ""),
            print_data=print_data,
            privacy=True,
        )

    async def _print_data(self, logistics_code: str, track_no: str) -> str:
        data = await self._call(
            API_APPLY, {"waybill_applies": [{"logistics_code": logistics_code, "track_no": track_no}]}
        )
        for info in data.get("waybill_infos") or []:
            if isinstance(info, Mapping) and str(info.get("track_no") or "") == track_no and info.get("print_data"):
                return json.dumps({"print_data": info["print_data"], "sign": info.get("sign") or ""})
        refused = next((e for e in data.get("err_infos") or [] if isinstance(e, Mapping)), {})
        # The waybill exists; asking again (newCreateOrder answers the same number) fetches its print data.
        raise CarrierUnavailable(
            "抖音电子面单未返回打印数据，请重试",
            carrier_code=str(refused.get("err_code") or "no_print_data"),
            carrier_message=str(refused.get("err_msg") or ""),
        )

    async def cancel_waybill(self, waybill: Waybill) -> None:
        params: dict[str, Any] = {
            "logistics_code": LOGISTICS_CODES.get(waybill.carrier, self.logistics_code),
            "track_no": waybill.waybill_no,
        }
        self._user_id(params)
        data = await self._call(API_CANCEL, params)
        result = data.get("cancel_result")
        if not (isinstance(result, Mapping) and result.get("success") is True):
            raise InvalidWaybillRequest("抖音电子面单未能取消该运单", carrier_code="cancel_failed")

    async def track(self, waybill_no: str) -> list[TrackingEvent]:
        return []  # tracking goes through 快递100


def create_waybill_service(account: PlatformWaybillAccount, http: httpx.AsyncClient) -> Carrier:
    """The factory ``server.wiring`` registers in ``PLATFORM_WAYBILLS`` under ``douyin``."""
    return DouyinWaybillService(account, http)

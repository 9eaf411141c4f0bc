"""快递100 (kuaidi100) client: the wire format and the signatures, nothing else.

* 订阅推送 — ``POST {base}/poll``, form ``schema=json`` and ``param`` = JSON ``{"company", "number", "key",
  "from", "to", "parameters": {"callbackurl", "salt", "resultv2": "1", "phone"}}`` (``from``/``to``: 出发地 and 目的地,
  省市区, optional). Reply ``{"result", "returnCode",
  "message"}``: ``200`` 提交成功, ``501`` 重复订阅 (success for us), ``600``/``601`` bad / expired key,
  ``700``/``701``/``702`` bad request, ``500`` server trouble.
* 推送回调 — 快递100 POSTs ``param`` (JSON ``{"status", "billstatus", "message", "lastResult": {…}}``) and
  ``sign = upper(md5(param + salt))`` to the callback URL. :func:`verify_callback` / :func:`parse_callback` are pure
  functions for the endpoint, which answers :data:`CALLBACK_OK` (or :data:`CALLBACK_BAD_SIGN`).
* 实时查询 — ``POST {base}/poll/query.do``, form ``customer``, ``sign = upper(md5(param + key + customer))`` and
  ``param`` = JSON ``{"com", "num", "phone", "resultv2": "1"}``. Success is the tracking itself (``"message":
  "ok"``, ``"status": "200"``); refusals carry ``"result": false`` and ``returnCode`` (``400`` bad parameters,
  ``500`` no result yet, ``501``/``502`` server trouble, ``503`` bad sign, ``601`` key expired / no quota).

The 授权 key never reaches a log line, an exception message or ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any, Final

import httpx
import msgspec

from orderhub.address.phones import phone_tail
from orderhub.carriers.kuaidi100 import mapper
from orderhub.carriers.port import (
    CarrierError,
    CarrierUnavailable,
    DigestRejected,
    InvalidWaybillRequest,
    TrackingEvent,
    TrackingState,
    post_json,
)

__all__ = [
    "CALLBACK_BAD_SIGN",
    "CALLBACK_OK",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "QUERY_PATH",
    "SUBSCRIBE_PATH",
    "CallbackUpdate",
    "Kuaidi100Client",
    "callback_reply",
    "callback_sign",
    "classify_query_error",
    "classify_subscribe_error",
    "parse_callback",
    "query_sign",
    "verify_callback",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://poll.kuaidi100.com"
SUBSCRIBE_PATH = "/poll"
QUERY_PATH = "/poll/query.do"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)

# The bodies the callback endpoint answers with (快递100 retries a push until it sees result: true).
CALLBACK_OK: Final[Mapping[str, Any]] = {"result": True, "returnCode": "200", "message": "成功"}
CALLBACK_BAD_SIGN: Final[Mapping[str, Any]] = {"result": False, "returnCode": "500", "message": "签名错误"}

# Return codes, each from 快递100's own documentation:
# 订阅 — "快递订阅查询快递api接口技术文档" (快递100 API 文档中心, https://apifox.com/apidoc/project-514987/api-8567477;
# the same 返回码 list in 快递100's own post https://cloud.tencent.com/developer/article/1828132): 200 提交成功,
# 501 重复订阅, 600 您不是合法的订阅者（即授权Key出错）, 601 POLL:KEY已过期, 500 服务器错误, 700 订阅数据存在错误,
# 701 拒绝订阅的快递公司, 702 POLL:识别不到该单号对应的快递公司.
_SUBSCRIBE_OK = frozenset({"200", "501"})  # 501: already subscribed and still tracked — fine for us
_SUBSCRIBE_AUTH_CODES = frozenset({"600", "601"})
_SUBSCRIBE_TRANSIENT_CODES = frozenset({"500"})
# 实时查询 — "实时快递查询接口" 返回码 (快递100 API 文档中心, https://apifox.com/apidoc/docs-site/514987/api-8562559):
# 200 查询成功, 400 找不到对应公司（提交数据不完整或者账号未充值）, 500 查询无结果，请隔段时间再查, 501 服务器错误,
# 502 服务器繁忙, 503 验证签名失败, 601 key已过期（没有可用单量）.
_QUERY_AUTH_CODES = frozenset({"503", "601"})
_QUERY_TRANSIENT_CODES = frozenset({"501", "502"})
_QUERY_NO_RESULT = "500"


def _md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def callback_sign(param: str, salt: str) -> str:
    """``upper(md5(param + salt))`` over UTF-8 — the push's ``sign``."""
    return _md5_upper(param + salt)


def query_sign(param: str, key: str, customer: str) -> str:
    """``upper(md5(param + key + customer))`` over UTF-8 — the real-time query's ``sign``."""
    return _md5_upper(param + key + customer)


def verify_callback(param: str, sign: str, salt: str) -> bool:
    """Whether a push's ``sign`` matches ``param`` under our ``salt`` (constant-time)."""
    expected = callback_sign(param, salt)
    return hmac.compare_digest(expected.encode("ascii"), sign.strip().upper().encode("utf-8"))


class CallbackUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One push, in the hub's terms."""

    waybill_no: str
    company: str  # 快递100 company code ("shunfeng")
    carrier: str  # the hub's carrier code ("SF") when known, else ""
    status: str  # monitoring status: polling 监控中, shutdown 结束, abort 中止, updateall 重新推送
    bill_status: str  # got / sending / check / …
    message: str
    state: TrackingState | None
    signed: bool  # ischeck = 1
    finished: bool  # 快递100 stopped tracking (shutdown)
    aborted: bool  # 快递100 gave up (abort): subscribe again or poll
    events: list[TrackingEvent]  # oldest first


def parse_callback(param: str) -> CallbackUpdate:
    """A push's ``param`` JSON as :class:`CallbackUpdate` (raises :class:`mapper.Kuaidi100PayloadError`)."""
    try:
        payload = json.loads(param)
    except ValueError:
        raise mapper.Kuaidi100PayloadError("param is not JSON") from None
    if not isinstance(payload, dict):
        raise mapper.Kuaidi100PayloadError("param is not a JSON object")
    last = payload.get("lastResult") or {}
    if not isinstance(last, dict):
        raise mapper.Kuaidi100PayloadError("lastResult is not an object")
    tracking = mapper.to_tracking(last)
    if not tracking.waybill_no:
        raise mapper.Kuaidi100PayloadError("no nu")
    status = str(payload.get("status") or "").strip()
    return CallbackUpdate(
        waybill_no=tracking.waybill_no,
        company=tracking.company,
        carrier=tracking.carrier,
        status=status,
        bill_status=str(payload.get("billstatus") or "").strip(),
        message=str(payload.get("message") or "").strip(),
        state=tracking.state,
        signed=tracking.signed,
        finished=status == "shutdown",
        aborted=status == "abort",
        events=tracking.events,
    )


def callback_reply(ok: bool) -> bytes:
    """The JSON body the callback endpoint returns."""
    return json.dumps(dict(CALLBACK_OK if ok else CALLBACK_BAD_SIGN), ensure_ascii=False).encode("utf-8")


def _error(kind: type[CarrierError], summary: str, code: str, message: str) -> CarrierError:
    return kind(f"{summary}：{code} {message}".strip(), carrier_code=code, carrier_message=message)


def classify_subscribe_error(code: str, message: str) -> CarrierError:
    if code in _SUBSCRIBE_AUTH_CODES:
        return _error(DigestRejected, "快递100 拒绝了授权 key（请检查 key 是否正确、是否过期）", code, message)
    if code in _SUBSCRIBE_TRANSIENT_CODES:
        return _error(CarrierUnavailable, "快递100 订阅接口暂不可用", code, message)
    return _error(InvalidWaybillRequest, "快递100 拒绝了订阅请求", code, message)


def classify_query_error(code: str, message: str) -> CarrierError:
    if code in _QUERY_AUTH_CODES:
        summary = "快递100 拒绝了签名或授权 key（请检查 key / customer 及可用单量）"
        return _error(DigestRejected, summary, code, message)
    if code in _QUERY_TRANSIENT_CODES:
        return _error(CarrierUnavailable, "快递100 查询接口暂不可用", code, message)
    return _error(InvalidWaybillRequest, "快递100 拒绝了查询请求", code, message)


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Kuaidi100Client:
    """Calls to 快递100 for one account (授权 ``key`` and ``customer``) over the caller's HTTP client.

    ``carrier`` arguments take the hub's carrier code ("SF") or a 快递100 company code ("shunfeng")."""

    def __init__(
        self,
        key: str,
        customer: str,
        http: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._key = key
        self.customer = customer
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"Kuaidi100Client(customer={self.customer!r}, base_url={self.base_url!r})"

    def subscribe_form(
        self,
        carrier: str,
        waybill_no: str,
        *,
        callback_url: str,
        salt: str,
        phone: str = "",
        origin: str = "",
        destination: str = "",
    ) -> dict[str, str]:
        param: dict[str, object] = {
            "company": mapper.company_for(carrier),
            "number": waybill_no.strip(),
            "key": self._key,
            "parameters": {"callbackurl": callback_url, "salt": salt, "resultv2": "1", "phone": phone_tail(phone)},
        }
        # 出发地 / 目的地 ("省市区", optional): 快递100 judges arrival and 签收 better with them.
        if origin.strip():
            param["from"] = origin.strip()
        if destination.strip():
            param["to"] = destination.strip()
        return {"schema": "json", "param": _dumps(param)}

    def query_form(self, carrier: str, waybill_no: str, *, phone: str = "") -> dict[str, str]:
        param = _dumps(
            {"com": mapper.company_for(carrier), "num": waybill_no.strip(), "phone": phone.strip(), "resultv2": "1"}
        )
        return {"customer": self.customer, "sign": query_sign(param, self._key, self.customer), "param": param}

    async def subscribe(
        self,
        carrier: str,
        waybill_no: str,
        *,
        callback_url: str,
        salt: str,
        phone: str = "",
        origin: str = "",
        destination: str = "",
    ) -> None:
        """Subscribe a waybill for pushes; already subscribed (501) counts as success."""
        form = self.subscribe_form(
            carrier,
            waybill_no,
            callback_url=callback_url,
            salt=salt,
            phone=phone,
            origin=origin,
            destination=destination,
        )
        log.debug("kuaidi100 subscribe %s %s", carrier, waybill_no)
        body = await self._post(SUBSCRIBE_PATH, form, "订阅")
        code = str(body.get("returnCode") or "").strip()
        if body.get("result") is True or code in _SUBSCRIBE_OK:
            return
        raise classify_subscribe_error(code, str(body.get("message") or ""))

    async def track(self, carrier: str, waybill_no: str, *, phone: str = "") -> mapper.Kuaidi100Tracking:
        """The real-time query: current state, signed flag and events (oldest first). No result yet → no events."""
        company = mapper.company_for(carrier)
        form = self.query_form(carrier, waybill_no, phone=phone)
        log.debug("kuaidi100 query %s %s", carrier, waybill_no)
        body = await self._post(QUERY_PATH, form, "查询")
        if body.get("result") is False or ("returnCode" in body and str(body.get("status") or "") != "200"):
            code = str(body.get("returnCode") or "").strip()
            if code == _QUERY_NO_RESULT:
                return mapper.Kuaidi100Tracking(
                    waybill_no=waybill_no,
                    company=company,
                    carrier=mapper.carrier_for_company(company),
                    state=None,
                    signed=False,
                    events=[],
                )
            raise classify_query_error(code, str(body.get("message") or ""))
        try:
            return mapper.to_tracking(body, waybill_no=waybill_no, company=company)
        except mapper.Kuaidi100PayloadError as exc:
            raise CarrierUnavailable("快递100 返回了无法解析的轨迹", carrier_code="bad_response") from exc

    async def query(self, carrier: str, waybill_no: str, *, phone: str = "") -> list[TrackingEvent]:
        """The parcel's events so far, oldest first (see :meth:`track` for the state as well)."""
        return (await self.track(carrier, waybill_no, phone=phone)).events

    async def _post(self, path: str, form: dict[str, str], what: str) -> dict[str, Any]:
        body = await post_json(
            self._http, self.base_url + path, name=f"快递100 {what}接口", timeout=self._timeout, data=form
        )
        return body

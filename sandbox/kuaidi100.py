"""快递100 (kuaidi100) simulator, self-contained: a litestar app on a background uvicorn thread::

    with running_kuaidi100() as sim:
        account = sim.store.create_account()
        client = Kuaidi100Client(account.key, account.customer, http, base_url=sim.base_url)
        sim.store.add_event("SF1400000000001", "1", "顺丰速运 已收取快件", area="广东省深圳市")
        reply = await sim.store.push_async("SF1400000000001")  # the callback URL's JSON reply

Endpoints: ``POST /poll`` (订阅: checks the 授权 key → 600 / 601, parameters → 700 / 701, repeat → 501) and
``POST /poll/query.do`` (实时查询: checks ``sign`` → 503, no events → 500). The parcel journey is scripted by the test
with :meth:`Kuaidi100Store.add_event`; :meth:`Kuaidi100Store.push` POSTs the signed callback to the subscribed URL.
Every call is logged in :attr:`Kuaidi100Store.requests`.

Signatures, as 快递100's documentation states them (and written here from that text, not from the hub's client):

* 实时查询 (实时快递查询接口 › 请求参数 sign): MD5 of ``param + key + customer`` — the ``param`` text exactly as
  posted — as 32 upper-case hex characters, see :func:`query_sign_ok`;
* 推送 (快递订阅查询快递api接口技术文档 › 推送, and FAQ "信息推送接口提示验证签名失败",
  https://api.kuaidi100.com/document/yanzhengqianmingshibai01): MD5 of ``param + salt`` (the salt given when
  subscribing), 32 upper-case hex characters, see :func:`push_sign`.

快递100 publishes no worked example (input → sign) for either; the unit tests pin both with hand-computed values.
Every ``returnCode`` the simulator answers is one 快递100 documents (see :data:`SUBSCRIBE_CODES` and
:data:`QUERY_CODES`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State

from sandbox.serving import BackgroundServer

__all__ = [
    "COMPANIES",
    "QUERY_CODES",
    "STANDARD_JOURNEY",
    "STATE_TEXTS",
    "SUBSCRIBE_CODES",
    "Kuaidi100Account",
    "Kuaidi100Event",
    "Kuaidi100Request",
    "Kuaidi100Server",
    "Kuaidi100Store",
    "Kuaidi100Subscription",
    "city_of",
    "create_app",
    "push_sign",
    "query_sign_ok",
    "running_kuaidi100",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
JSON_MEDIA_TYPE = "application/json;charset=UTF-8"
COMPANIES = frozenset({"shunfeng", "zhongtong", "jtexpress", "yuantong", "shentong", "yunda", "ems", "jd"})
# 快递100 state code → the per-event status text (resultv2=1).
STATE_TEXTS = {
    "0": "在途",
    "1": "揽收",
    "2": "疑难",
    "3": "签收",
    "4": "退签",
    "5": "派件",
    "6": "退回",
    "7": "转投",
    "8": "清关",
    "14": "拒签",
}
# A parcel's usual journey: (hours after hand-over, 快递100 state, what the courier writes, where).
STANDARD_JOURNEY: tuple[tuple[float, str, str, str], ...] = (
    (0.5, "1", "【{origin}】快递员已揽收", "{origin}"),
    (3.0, "0", "快件已到达【{origin}转运中心】", "{origin}"),
    (6.0, "0", "快件已从【{origin}转运中心】发出，下一站【{destination}转运中心】", "{origin}"),
    (20.0, "0", "快件已到达【{destination}转运中心】", "{destination}"),
    (26.0, "5", "【{destination}】快递员正在派件，电话 13800000000", "{destination}"),
    (29.0, "3", "【{destination}】已签收，签收人：本人，感谢使用", "{destination}"),
)

BILL_STATUS = {"1": "got", "0": "sending", "5": "sending", "3": "check", "4": "back", "6": "back", "2": "sending"}


# 订阅 返回码, from "快递订阅查询快递api接口技术文档" (快递100 API 文档中心,
# https://apifox.com/apidoc/project-514987/api-8567477; 快递100's post https://cloud.tencent.com/developer/article/1828132).
SUBSCRIBE_CODES = {
    "ok": ("200", "提交成功"),
    "repeat": ("501", "重复订阅"),
    "bad_key": ("600", "您不是合法的订阅者（即授权Key出错）"),
    "key_expired": ("601", "POLL:KEY已过期"),
    "bad_data": ("700", "订阅方的订阅数据存在错误（如不支持的快递公司、单号为空、单号超长等）或错误的回调地址"),
    "refused_company": ("701", "拒绝订阅的快递公司"),
}
# 实时查询 返回码, from "实时快递查询接口" (快递100 API 文档中心, https://apifox.com/apidoc/docs-site/514987/api-8562559).
QUERY_CODES = {
    "incomplete": ("400", "找不到对应公司"),  # also: 提交数据不完整或者账号未充值
    "no_result": ("500", "查询无结果，请隔段时间再查"),
    "bad_sign": ("503", "验证签名失败"),
    "key_expired": ("601", "key已过期"),  # 没有可用单量
}


def _upper_md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def query_sign_ok(param: str, key: str, customer: str, sign: str) -> bool:
    """Whether ``sign`` is MD5(param + key + customer) in 32 upper-case hex characters (实时快递查询接口)."""
    if len(sign) != 32:
        return False
    return hmac.compare_digest(_upper_md5_hex(param + key + customer), sign.upper())


def push_sign(param: str, salt: str) -> str:
    """The ``sign`` of a push: MD5(param + salt) in 32 upper-case hex characters (推送接口)."""
    return _upper_md5_hex(param + salt)


@dataclass
class Kuaidi100Account:
    key: str
    customer: str
    expired: bool = False


@dataclass
class Kuaidi100Subscription:
    waybill_no: str
    company: str
    callback_url: str
    salt: str
    key: str
    phone: str = ""
    origin: str = ""  # the subscription's ``from`` (出发地城市, 省-市-区), "" when not given
    destination: str = ""  # its ``to`` (目的地城市)


_MUNICIPALITIES = ("北京", "上海", "天津", "重庆")
_PROVINCE_ENDS = ("自治区", "特别行政区", "省")
_CITY_ENDS = ("自治州", "地区", "市", "州", "盟")


def city_of(place: str, default: str) -> str:
    """The city of a 省-市-区 place (广东省深圳市南山区 → 深圳市; 上海市青浦区 → 上海市), as the simulated courier
    writes it; ``default`` when nothing city-like is there. 快递100's 订阅 docs describe ``from``/``to`` as
    "省-市-区" text; nothing more is parsed from it."""
    text = place.strip()
    if not text:
        return default
    for name in _MUNICIPALITIES:
        if text.startswith(name):
            return f"{name}市"
    rest = text
    for end in _PROVINCE_ENDS:
        at = text.find(end)
        if at >= 0:
            rest = text[at + len(end) :]
            break
    for at in range(2, len(rest)):  # a city's own name has two characters at least (广州市, not 广州)
        for end in _CITY_ENDS:
            if rest.startswith(end, at):
                return rest[: at + len(end)]
    return default


@dataclass
class Kuaidi100Event:
    state: str  # 快递100 state code: "1" 揽收, "0" 在途, "5" 派件, "3" 签收 …
    context: str
    at: datetime
    area: str = ""


@dataclass
class Kuaidi100Request:
    """One call as the simulator saw it (for assertions)."""

    path: str
    param: Any
    return_code: str


@dataclass
class Kuaidi100Store:
    """Thread-safe in-memory state of the simulated 快递100."""

    accounts: dict[str, Kuaidi100Account] = field(default_factory=dict)  # by key
    subscriptions: dict[str, Kuaidi100Subscription] = field(default_factory=dict)  # by waybill number
    journeys: dict[str, list[Kuaidi100Event]] = field(default_factory=dict)  # by waybill number, oldest first
    companies: dict[str, str] = field(default_factory=dict)  # waybill → company, for scripted waybills
    requests: list[Kuaidi100Request] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)  # what push() sent and got back
    scheduled: dict[str, list[Kuaidi100Event]] = field(default_factory=dict)  # scripted, not yet happened
    # When set, every new subscription gets a journey starting at its subscription, with the offsets of
    # STANDARD_JOURNEY multiplied by this factor (the demo uses seconds-long hours).
    auto_journey_scale: float | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def create_account(
        self, key: str | None = None, customer: str | None = None, *, expired: bool = False
    ) -> Kuaidi100Account:
        with self.lock:
            account = Kuaidi100Account(
                key=key or secrets.token_urlsafe(12),
                customer=customer or secrets.token_hex(16).upper(),
                expired=expired,
            )
            self.accounts[account.key] = account
            return account

    def add_event(
        self,
        waybill_no: str,
        state: str,
        context: str,
        *,
        at: datetime | None = None,
        area: str = "",
        company: str = "",
    ) -> Kuaidi100Event:
        """Script the next step of a parcel's journey (``at`` aware; defaults to now)."""
        event = Kuaidi100Event(state=state, context=context, at=at or datetime.now(UTC), area=area)
        with self.lock:
            self.journeys.setdefault(waybill_no, []).append(event)
            if company:
                self.companies[waybill_no] = company
        return event

    def script_journey(
        self,
        waybill_no: str,
        *,
        start: datetime,
        origin: str = "上海市",
        destination: str = "北京市",
        steps: tuple[tuple[float, str, str, str], ...] = STANDARD_JOURNEY,
        scale: float = 1.0,
        company: str = "",
    ) -> list[Kuaidi100Event]:
        """Script the parcel's whole journey from ``start`` (aware); the steps happen when :meth:`advance` moves
        the clock past them (``scale`` shrinks the hours, for the demo)."""
        events = [
            Kuaidi100Event(
                state=state,
                context=text.format(origin=origin, destination=destination),
                at=start + timedelta(hours=hours * scale),
                area=area.format(origin=origin, destination=destination),
            )
            for hours, state, text, area in steps
        ]
        with self.lock:
            self.scheduled.setdefault(waybill_no, []).extend(events)
            self.scheduled[waybill_no].sort(key=lambda e: e.at)
            if company:
                self.companies[waybill_no] = company
        return events

    def _due(self, now: datetime) -> list[str]:
        """Move scripted events that have happened by ``now`` into the journeys; the waybills that moved."""
        moved: list[str] = []
        with self.lock:
            for waybill_no, events in self.scheduled.items():
                due = [e for e in events if e.at <= now]
                if due:
                    self.journeys.setdefault(waybill_no, []).extend(due)
                    self.scheduled[waybill_no] = [e for e in events if e.at > now]
                    moved.append(waybill_no)
            self.scheduled = {k: v for k, v in self.scheduled.items() if v}
        return moved

    def advance(self, now: datetime) -> dict[str, Any]:
        """The test's (or demo's) clock moved to ``now``: the steps due happen, and each subscribed parcel that
        moved is pushed to its callback once (with its whole route, as 快递100 does). Replies by waybill."""
        replies: dict[str, Any] = {}
        for waybill_no in self._due(now):
            with self.lock:
                subscribed = waybill_no in self.subscriptions
            if subscribed:
                replies[waybill_no] = self.push(waybill_no)
        return replies

    async def advance_async(self, now: datetime) -> dict[str, Any]:
        """As :meth:`advance`, without blocking the event loop."""
        replies: dict[str, Any] = {}
        for waybill_no in self._due(now):
            with self.lock:
                subscribed = waybill_no in self.subscriptions
            if subscribed:
                replies[waybill_no] = await self.push_async(waybill_no)
        return replies

    def last_result(self, waybill_no: str, company: str = "") -> dict[str, Any]:
        """The tracking as 快递100 reports it (query reply / push ``lastResult``), data newest first."""
        with self.lock:
            events = sorted(self.journeys.get(waybill_no, []), key=lambda e: e.at)
            sub = self.subscriptions.get(waybill_no)
            com = company or (sub.company if sub else "") or self.companies.get(waybill_no, "")
        state = events[-1].state if events else "0"
        data = []
        for event in reversed(events):
            local = event.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
            data.append(
                {
                    "context": event.context,
                    "time": local,
                    "ftime": local,
                    "status": STATE_TEXTS.get(event.state, "在途"),
                    "areaName": event.area,
                    "areaCode": "",
                }
            )
        return {
            "message": "ok",
            "nu": waybill_no,
            "ischeck": "1" if state == "3" else "0",
            "condition": "F00",
            "com": com,
            "status": "200",
            "state": state,
            "data": data,
        }

    def callback_form(self, waybill_no: str, *, salt: str | None = None, status: str | None = None) -> dict[str, str]:
        """The form 快递100 would push now; ``salt`` overrides the subscription's (to fake a bad sign)."""
        with self.lock:
            sub = self.subscriptions.get(waybill_no)
        if sub is None:
            raise KeyError(f"{waybill_no} is not subscribed")
        result = self.last_result(waybill_no)
        signed = result["ischeck"] == "1"
        payload = {
            "status": status or ("shutdown" if signed else "polling"),
            "billstatus": BILL_STATUS.get(result["state"], "sending"),
            "message": "",
            "lastResult": result,
        }
        param = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return {"param": param, "sign": push_sign(param, sub.salt if salt is None else salt)}

    def _record_push(self, waybill_no: str, form: dict[str, str], status: int, reply: Any) -> None:
        with self.lock:
            self.pushes.append({"waybill_no": waybill_no, "form": form, "http_status": status, "reply": reply})

    def push(self, waybill_no: str, *, salt: str | None = None, status: str | None = None) -> Any:
        """POST the signed callback to the subscribed URL; the receiver's JSON reply (sync; blocks)."""
        form = self.callback_form(waybill_no, salt=salt, status=status)
        url = self.subscriptions[waybill_no].callback_url
        with httpx.Client(timeout=10.0) as http:
            response = http.post(url, data=form)
        reply = _json_or_text(response)
        self._record_push(waybill_no, form, response.status_code, reply)
        return reply

    async def push_async(self, waybill_no: str, *, salt: str | None = None, status: str | None = None) -> Any:
        """As :meth:`push`, without blocking the event loop."""
        form = self.callback_form(waybill_no, salt=salt, status=status)
        url = self.subscriptions[waybill_no].callback_url
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.post(url, data=form)
        reply = _json_or_text(response)
        self._record_push(waybill_no, form, response.status_code, reply)
        return reply

    def log(self, path: str, param: Any, code: str) -> None:
        with self.lock:
            self.requests.append(Kuaidi100Request(path, param, code))


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _reply(body: dict[str, Any]) -> Response[bytes]:
    return Response(json.dumps(body, ensure_ascii=False).encode("utf-8"), media_type=JSON_MEDIA_TYPE, status_code=200)


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"result": False, "returnCode": code, "message": message}


def _loads(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def handle_subscribe(store: Kuaidi100Store, form: dict[str, str]) -> dict[str, Any]:
    param = _loads(form.get("param", ""))
    safe = {k: v for k, v in (param or {}).items() if k != "key"}  # the log never holds the key

    def answer(kind: str) -> dict[str, Any]:
        code, message = SUBSCRIBE_CODES[kind]
        store.log("/poll", safe if param is not None else form.get("param"), code)
        return {"result": kind == "ok", "returnCode": code, "message": message}

    if form.get("schema", "json") != "json" or param is None:
        return answer("bad_data")
    with store.lock:
        account = store.accounts.get(str(param.get("key") or ""))
    if account is None:
        return answer("bad_key")
    if account.expired:
        return answer("key_expired")
    parameters = param.get("parameters") or {}
    company = str(param.get("company") or "")
    number = str(param.get("number") or "")
    callback = str(parameters.get("callbackurl") or "") if isinstance(parameters, dict) else ""
    if not company or not number or not callback:
        return answer("bad_data")
    if company not in COMPANIES:
        return answer("refused_company")
    with store.lock:
        if number in store.subscriptions:
            return answer("repeat")
        store.subscriptions[number] = Kuaidi100Subscription(
            waybill_no=number,
            company=company,
            callback_url=callback,
            salt=str(parameters.get("salt") or ""),
            key=account.key,
            phone=str(parameters.get("phone") or ""),
            origin=str(param.get("from") or ""),
            destination=str(param.get("to") or ""),
        )
        scale = store.auto_journey_scale
    if scale is not None:
        # The parcel travels between the places the subscriber named (``from`` / ``to``, both optional).
        store.script_journey(
            number,
            start=datetime.now(UTC),
            scale=scale,
            company=company,
            origin=city_of(str(param.get("from") or ""), "始发地"),
            destination=city_of(str(param.get("to") or ""), "目的地"),
        )
    return answer("ok")


def handle_query(store: Kuaidi100Store, form: dict[str, str]) -> dict[str, Any]:
    text = form.get("param", "")
    param = _loads(text)

    def refuse(kind: str) -> dict[str, Any]:
        code, message = QUERY_CODES[kind]
        store.log("/poll/query.do", param if param is not None else text, code)
        return _refusal(code, message)

    customer, signature = form.get("customer", ""), form.get("sign", "")
    if not customer or not signature or param is None:
        return refuse("incomplete")
    with store.lock:
        accounts = [account for account in store.accounts.values() if account.customer == customer]
    account = next((a for a in accounts if query_sign_ok(text, a.key, a.customer, signature)), None)
    if account is None:
        return refuse("bad_sign")
    if account.expired:
        return refuse("key_expired")
    com, num = str(param.get("com") or ""), str(param.get("num") or "")
    if not com or not num or com not in COMPANIES:
        return refuse("incomplete")
    with store.lock:
        has_events = bool(store.journeys.get(num))
    if not has_events:
        return refuse("no_result")
    store.log("/poll/query.do", param, "200")
    return store.last_result(num, com)


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    body = await request.body()
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


@post("/poll", status_code=200)
async def subscribe(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = request.app.state.kuaidi100
    assert isinstance(store, Kuaidi100Store)
    return _reply(handle_subscribe(store, await _form(request)))


@post("/poll/query.do", status_code=200)
async def query(request: Request[Any, Any, Any]) -> Response[bytes]:
    store = request.app.state.kuaidi100
    assert isinstance(store, Kuaidi100Store)
    return _reply(handle_query(store, await _form(request)))


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(store: Kuaidi100Store) -> Litestar:
    return Litestar(
        route_handlers=[subscribe, query, healthz],
        state=State({"kuaidi100": store}),
        openapi_config=None,
        debug=False,
    )


class Kuaidi100Server(BackgroundServer):
    """The 快递100 simulator on a background uvicorn thread; ``base_url`` is what the client takes (``/poll`` and
    ``/poll/query.do`` hang under it)."""

    name = "kuaidi100 simulator"

    def __init__(self, store: Kuaidi100Store | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.store = store or Kuaidi100Store()

    def create_app(self) -> Any:
        return create_app(self.store)


@contextmanager
def running_kuaidi100(
    store: Kuaidi100Store | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[Kuaidi100Server]:
    """Serve the 快递100 simulator for the duration of the ``with`` block."""
    server = Kuaidi100Server(store, host=host, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()

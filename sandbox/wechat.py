"""WeChat simulator, self-contained: the Official Account (公众号), mini-program (小程序) and WeCom (企业微信) APIs
the notifiers call, as one litestar app on a background uvicorn thread (the two real hosts' paths do not clash)::

    with running_wechat() as sim:
        oa = sim.store.create_oa_app()
        sim.store.add_openid(oa.appid, "oOPENID1")
        sim.store.add_template(oa.appid, "TPL_SHIPPED", ["first", "keyword1", "remark"])
        config = {"appid": oa.appid, "secret": oa.secret, "base_url": sim.base_url}
        ...
        [sent] = sim.store.messages_for(oa.appid)

Endpoints (always HTTP 200 with an ``errcode`` body, as WeChat does):

* ``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`` (公众号 and 小程序): 40002 bad grant_type,
  41002 / 41004 missing appid / secret, 40013 invalid appid, 40125 invalid appsecret;
  ``{"access_token", "expires_in": 7200}``.
* ``POST /cgi-bin/message/template/send?access_token=`` (公众号) and ``POST /cgi-bin/message/subscribe/send``
  (小程序): 41001 no token, 40001 unknown token, 42001 expired token, 48001 the other kind of app's token,
  47001 body not JSON, 40003 unknown openid, 40037 unknown template id, 47003 a required field empty, 43101 the
  user refused that subscribe template; ``{"errcode": 0, "errmsg": "ok", "msgid": …}``.
* ``GET /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code`` (小程序登录): 40013 / 40125,
  40029 unknown code, 40163 code used, 45011 more than ``login_quota_per_minute`` logins of one user in a minute,
  40226 a blocked (high-risk) user; ``{"openid", "session_key"}``. Source of the codes: code2Session's error table,
  https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html — 40029 "code 无效",
  45011 "频率限制，每个用户每分钟 100 次" (errmsg "api minute-quota reach limit mustslower retry next minute"),
  40226 "高风险等级用户，小程序登录拦截" (errmsg "code blocked"), -1 系统繁忙. ``POST /wxa/business/getuserphonenumber``
  (the mini-program's token, ``{"code"}``): 40029 / 40163; ``{"phone_info": {"purePhoneNumber", "countryCode", …}}``.
* ``GET /cgi-bin/gettoken?corpid=&corpsecret=`` (企业微信): 41002 / 41004 missing, 40013 invalid corpid,
  40001 invalid secret. ``POST /cgi-bin/message/send?access_token=``: 41001 / 40014 (WeCom's code for an
  invalid access_token) / 42001, 40056 invalid agentid, 40008 invalid message type, 41xxx missing card fields,
  ``invaliduser`` for unknown userids, 81013 when no recipient is valid.

Test hooks on :class:`WeChatStore`: ``create_oa_app`` / ``create_mini_app`` / ``create_corp``, ``add_openid``,
``add_template``, ``refuse_subscription``, ``login_code`` / ``phone_code`` (what wx.login and the getPhoneNumber
button hand the mini-program), ``block_user`` (code2Session answers 40226 for them), ``login_quota_per_minute``
(45011 past it), ``add_wecom_user``, ``expire_tokens`` (every token issued so far
answers 42001), ``issue_expired_tokens`` (tokens are dead on arrival), ``fail_next_sends`` (the next N sends answer
errcode -1, or an HTTP status), ``token_fetches`` (tokens issued per app), ``messages`` (what was accepted) and
``calls`` (every call with the errcode it got).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State

from sandbox.serving import BackgroundServer

__all__ = [
    "CorpApp",
    "MpApp",
    "ReceivedMessage",
    "SimCall",
    "WeChatServer",
    "WeChatStore",
    "create_app",
    "running_wechat",
]

JSON_MEDIA_TYPE = "application/json; encoding=utf-8"  # what api.weixin.qq.com answers with
TOKEN_EXPIRES_IN = 7200
AppKind = Literal["oa", "mini"]


@dataclass
class MpApp:
    """A 公众号 (``kind="oa"``) or 小程序 (``kind="mini"``)."""

    appid: str
    secret: str
    kind: AppKind
    openids: set[str] = field(default_factory=set)
    templates: dict[str, list[str]] = field(default_factory=dict)  # template id → required field keys
    refused: set[tuple[str, str]] = field(default_factory=set)  # (openid, template id) the user did not accept


@dataclass
class CorpApp:
    """One WeCom app (应用) of a corp: the token is per (corp_id, secret); messages go out as ``agent_id``."""

    corp_id: str
    secret: str
    agent_id: int
    users: set[str] = field(default_factory=set)  # shared by every app of the corp

    @property
    def key(self) -> str:
        return f"{self.corp_id}/{self.agent_id}"


@dataclass
class _Token:
    owner: str  # appid, or CorpApp.key
    kind: Literal["oa", "mini", "wecom"]
    expires_at: float  # time.monotonic()
    expired: bool = False


@dataclass
class ReceivedMessage:
    """A message the simulator accepted (for assertions). ``data`` holds each field's ``value``."""

    kind: Literal["template", "subscribe", "wecom"]
    app: str  # appid, or CorpApp.key
    recipient: str  # openid, or the accepted WeCom userids joined by "|"
    msgid: str
    template: str = ""
    data: dict[str, str] = field(default_factory=dict)
    url: str = ""
    page: str = ""
    miniprogram: dict[str, Any] = field(default_factory=dict)
    miniprogram_state: str = ""
    lang: str = ""
    msgtype: str = ""  # WeCom: textcard / markdown / text
    title: str = ""
    content: str = ""  # WeCom: the card's description, the markdown or the text
    invalid: list[str] = field(default_factory=list)  # WeCom: userids reported as invaliduser
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class SimCall:
    path: str
    app: str  # who it was for, when known
    errcode: int
    access_token: str = ""


@dataclass
class _Failure:
    errcode: int
    errmsg: str
    http_status: int


class _Refusal(Exception):
    def __init__(self, errcode: int, errmsg: str, app: str = "") -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg
        self.app = app  # whose token it was, when known


@dataclass
class WeChatStore:
    """Thread-safe in-memory state of the simulated WeChat / WeCom."""

    mp_apps: dict[str, MpApp] = field(default_factory=dict)  # by appid
    corp_apps: dict[str, CorpApp] = field(default_factory=dict)  # by CorpApp.key
    corp_users: dict[str, set[str]] = field(default_factory=dict)  # corp_id → userids
    tokens: dict[str, _Token] = field(default_factory=dict)
    token_fetches: dict[str, int] = field(default_factory=dict)  # appid / CorpApp.key → tokens issued
    messages: list[ReceivedMessage] = field(default_factory=list)
    calls: list[SimCall] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)  # the next sends' forced answers, first first
    issue_expired_tokens: bool = False
    # 小程序 login and phone-number codes (wx.login / getPhoneNumber): code → (appid, openid or phone); each once
    login_codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    phone_codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    blocked_users: set[tuple[str, str]] = field(default_factory=set)  # (appid, openid): code2Session answers 40226
    login_quota_per_minute: int = 100  # code2Session per user per minute (WeChat's documented 100); then 45011
    login_counts: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (appid, openid, minute) → calls
    lock: threading.RLock = field(default_factory=threading.RLock)
    _msgid: int = 2_000_000_000_000_000_000

    # --- hooks: apps, users, templates ---------------------------------------------------------------------------

    def create_oa_app(self, appid: str | None = None, secret: str | None = None) -> MpApp:
        return self._create_mp("oa", appid, secret)

    def create_mini_app(self, appid: str | None = None, secret: str | None = None) -> MpApp:
        return self._create_mp("mini", appid, secret)

    def _create_mp(self, kind: AppKind, appid: str | None, secret: str | None) -> MpApp:
        app = MpApp(appid=appid or "wx" + secrets.token_hex(8), secret=secret or secrets.token_hex(16), kind=kind)
        with self.lock:
            self.mp_apps[app.appid] = app
        return app

    def create_corp(self, corp_id: str | None = None, *, agent_id: int = 1000002, secret: str | None = None) -> CorpApp:
        """A WeCom app; call again with the same ``corp_id`` for another app of that corp."""
        app = CorpApp(
            corp_id=corp_id or "ww" + secrets.token_hex(8),
            secret=secret or secrets.token_urlsafe(32)[:43],
            agent_id=agent_id,
        )
        with self.lock:
            app.users = self.corp_users.setdefault(app.corp_id, set())
            self.corp_apps[app.key] = app
        return app

    def add_openid(self, appid: str, *openids: str) -> None:
        with self.lock:
            self.mp_apps[appid].openids.update(openids)

    def add_template(self, appid: str, template_id: str, required: Iterable[str] = ()) -> None:
        with self.lock:
            self.mp_apps[appid].templates[template_id] = list(required)

    def refuse_subscription(self, appid: str, openid: str, template_id: str) -> None:
        """The user did not accept (or has used up) this subscribe template: sends answer 43101."""
        with self.lock:
            self.mp_apps[appid].refused.add((openid, template_id))

    def accept_subscription(self, appid: str, openid: str, template_id: str) -> None:
        with self.lock:
            self.mp_apps[appid].refused.discard((openid, template_id))

    def login_code(self, appid: str, openid: str) -> str:
        """What ``wx.login()`` gives the mini-program for this user (valid once, for code2Session)."""
        code = secrets.token_hex(16)
        with self.lock:
            self.mp_apps[appid].openids.add(openid)
            self.login_codes[code] = (appid, openid)
        return code

    def phone_code(self, appid: str, phone: str) -> str:
        """What the getPhoneNumber button gives the mini-program when the user shares ``phone`` (valid once)."""
        code = secrets.token_hex(16)
        with self.lock:
            self.phone_codes[code] = (appid, phone)
        return code

    def block_user(self, appid: str, openid: str, blocked: bool = True) -> None:
        """WeChat rates this user high-risk: their mini-program logins are intercepted (code2Session 40226)."""
        with self.lock:
            if blocked:
                self.blocked_users.add((appid, openid))
            else:
                self.blocked_users.discard((appid, openid))

    def add_wecom_user(self, corp_id: str, *userids: str) -> None:
        with self.lock:
            self.corp_users.setdefault(corp_id, set()).update(userids)

    # --- hooks: tokens and failures ------------------------------------------------------------------------------

    def expire_tokens(self) -> int:
        """Every token issued so far now answers 42001; how many there were."""
        with self.lock:
            for token in self.tokens.values():
                token.expired = True
            return len(self.tokens)

    def fail_next_sends(
        self, count: int = 1, *, errcode: int = -1, errmsg: str = "system error", http_status: int = 200
    ) -> None:
        """The next ``count`` message sends (any kind) answer ``errcode`` (or, with ``http_status`` ≥ 400, that
        HTTP status) before any other check."""
        with self.lock:
            self.failures.extend(_Failure(errcode, errmsg, http_status) for _ in range(count))

    def fetches(self, app: str) -> int:
        """Tokens issued to an appid or a :attr:`CorpApp.key`."""
        with self.lock:
            return self.token_fetches.get(app, 0)

    def messages_for(self, app: str) -> list[ReceivedMessage]:
        with self.lock:
            return [m for m in self.messages if m.app == app]

    def calls_to(self, path: str, app: str | None = None) -> list[SimCall]:
        with self.lock:
            return [c for c in self.calls if c.path == path and (app is None or c.app == app)]

    # --- internals -----------------------------------------------------------------------------------------------

    def _issue(self, owner: str, kind: Literal["oa", "mini", "wecom"]) -> str:
        token = secrets.token_urlsafe(96)
        with self.lock:
            self.tokens[token] = _Token(
                owner, kind, time.monotonic() + TOKEN_EXPIRES_IN, expired=self.issue_expired_tokens
            )
            self.token_fetches[owner] = self.token_fetches.get(owner, 0) + 1
        return token

    def _next_msgid(self) -> int:
        with self.lock:
            self._msgid += 1
            return self._msgid

    def _take_failure(self) -> _Failure | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None

    def _log(self, path: str, app: str, errcode: int, token: str = "") -> None:
        with self.lock:
            self.calls.append(SimCall(path, app, errcode, token))

    def _token(self, access_token: str, kinds: tuple[str, ...], *, invalid: int = 40001) -> _Token:
        if not access_token:
            raise _Refusal(41001, "access_token missing")
        with self.lock:
            token = self.tokens.get(access_token)
        if token is None or (token.kind == "wecom") != ("wecom" in kinds):  # the other host's token is unknown here
            raise _Refusal(invalid, _invalid_token_message(invalid))
        if token.expired or time.monotonic() >= token.expires_at:
            raise _Refusal(42001, "access_token expired", token.owner)
        if token.kind not in kinds:
            raise _Refusal(48001, "api unauthorized", token.owner)
        return token


def _invalid_token_message(errcode: int) -> str:
    if errcode == 40014:
        return "invalid access_token"
    return "invalid credential, access_token is invalid or not latest"


def _rid() -> str:
    return f" rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


# --- handlers (plain functions of the store and the request's parts) ----------------------------------------------


def handle_token(store: WeChatStore, query: dict[str, str]) -> dict[str, Any]:
    path = "/cgi-bin/token"
    appid, secret = query.get("appid", ""), query.get("secret", "")
    try:
        if query.get("grant_type") != "client_credential":
            raise _Refusal(40002, "invalid grant_type")
        if not appid:
            raise _Refusal(41002, "appid missing")
        if not secret:
            raise _Refusal(41004, "appsecret missing")
        with store.lock:
            app = store.mp_apps.get(appid)
        if app is None:
            raise _Refusal(40013, "invalid appid")
        if not secrets.compare_digest(secret, app.secret):
            raise _Refusal(40125, "invalid appsecret")
    except _Refusal as refusal:
        store._log(path, appid, refusal.errcode)
        return {"errcode": refusal.errcode, "errmsg": refusal.errmsg + _rid()}
    token = store._issue(app.appid, app.kind)
    store._log(path, app.appid, 0)
    return {"access_token": token, "expires_in": TOKEN_EXPIRES_IN}


def _take_code(store: WeChatStore, codes: dict[str, tuple[str, str]], code: str, appid: str) -> str:
    with store.lock:
        if code in store.used_codes:
            raise _Refusal(40163, "code been used", appid)
        found = codes.get(code)
        if found is None or found[0] != appid:
            raise _Refusal(40029, "invalid code", appid)
        del codes[code]
        store.used_codes.add(code)
        return found[1]


def handle_code2session(store: WeChatStore, query: dict[str, str]) -> dict[str, Any]:
    """``GET /sns/jscode2session`` (小程序登录): appid + secret + js_code → openid and session_key."""
    path = "/sns/jscode2session"
    appid = query.get("appid", "")
    try:
        if query.get("grant_type") != "authorization_code":
            raise _Refusal(40002, "invalid grant_type")
        with store.lock:
            app = store.mp_apps.get(appid)
        if app is None or app.kind != "mini":
            raise _Refusal(40013, "invalid appid")
        if not secrets.compare_digest(query.get("secret", ""), app.secret):
            raise _Refusal(40125, "invalid appsecret")
        openid = _take_code(store, store.login_codes, query.get("js_code", ""), appid)
        with store.lock:
            minute = (appid, openid, int(time.time() // 60))
            store.login_counts[minute] = calls = store.login_counts.get(minute, 0) + 1
            blocked = (appid, openid) in store.blocked_users
        if calls > store.login_quota_per_minute:  # 频率限制，每个用户每分钟 100 次
            raise _Refusal(45011, "api minute-quota reach limit mustslower retry next minute")
        if blocked:  # 高风险等级用户，小程序登录拦截
            raise _Refusal(40226, "code blocked")
    except _Refusal as refusal:
        store._log(path, appid, refusal.errcode)
        return {"errcode": refusal.errcode, "errmsg": refusal.errmsg + _rid()}
    store._log(path, appid, 0)
    return {"openid": openid, "session_key": secrets.token_urlsafe(18)}


def handle_phone_number(store: WeChatStore, access_token: str, body: bytes) -> dict[str, Any]:
    """``POST /wxa/business/getuserphonenumber`` (the mini-program's access token, ``{"code": …}``)."""
    path = "/wxa/business/getuserphonenumber"
    appid = ""
    try:
        token = store._token(access_token, ("mini",))
        appid = token.owner
        data = _json(body)
        if data is None or not isinstance(data.get("code"), str) or not data["code"]:
            raise _Refusal(47001, "data format error", appid)
        phone = _take_code(store, store.phone_codes, data["code"], appid)
    except _Refusal as refusal:
        store._log(path, refusal.app or appid, refusal.errcode, access_token)
        return {"errcode": refusal.errcode, "errmsg": refusal.errmsg + _rid()}
    store._log(path, appid, 0, access_token)
    country, _, number = phone.rpartition(" ") if phone.startswith("+") else ("+86", "", phone)
    return {
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": phone if country == "+86" else f"{country}{number}",
            "purePhoneNumber": number,
            "countryCode": country.lstrip("+"),
            "watermark": {"timestamp": int(time.time()), "appid": appid},
        },
    }


def _values(data: Any) -> dict[str, str] | None:
    """``{"key": {"value": "v"}}`` → ``{"key": "v"}``; None when it is not that shape."""
    if not isinstance(data, dict):
        return None
    values: dict[str, str] = {}
    for key, item in data.items():
        if not isinstance(item, dict):
            return None
        values[str(key)] = str(item.get("value", ""))
    return values


def handle_mp_send(
    store: WeChatStore, kind: Literal["template", "subscribe"], access_token: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    path = f"/cgi-bin/message/{kind}/send"
    app_kind = "oa" if kind == "template" else "mini"
    appid = ""
    try:
        failure = store._take_failure()
        if failure is not None:
            store._log(path, "", failure.errcode, access_token)
            if failure.http_status >= 400:
                return failure.http_status, {"errcode": failure.errcode, "errmsg": failure.errmsg}
            return 200, {"errcode": failure.errcode, "errmsg": failure.errmsg + _rid()}
        token = store._token(access_token, (app_kind,))
        appid = token.owner
        payload = _json(body)
        if payload is None:
            raise _Refusal(47001, "data format error")
        openid = str(payload.get("touser") or "")
        template_id = str(payload.get("template_id") or "")
        values = _values(payload.get("data", {}))
        with store.lock:
            app = store.mp_apps[appid]
            known_openid = openid in app.openids
            required = app.templates.get(template_id)
            refused = (openid, template_id) in app.refused
        if not known_openid:
            raise _Refusal(40003, "invalid openid")
        if required is None:
            raise _Refusal(40037, "invalid template_id")
        if values is None:
            raise _Refusal(47001, "data format error")
        missing = [key for key in required if not values.get(key)]
        if missing:
            raise _Refusal(47003, f"argument invalid! data.{missing[0]}.value is empty")
        state = str(payload.get("miniprogram_state") or "")
        lang = str(payload.get("lang") or "")
        if kind == "subscribe":
            if state and state not in ("formal", "trial", "developer"):
                raise _Refusal(47003, "argument invalid! miniprogram_state invalid")
            if lang and lang not in ("zh_CN", "en_US", "zh_HK", "zh_TW"):
                raise _Refusal(47003, "argument invalid! lang invalid")
            if refused:
                raise _Refusal(43101, "user refuse to accept the msg")
    except _Refusal as refusal:
        store._log(path, refusal.app or appid, refusal.errcode, access_token)
        return 200, {"errcode": refusal.errcode, "errmsg": refusal.errmsg + _rid()}
    msgid = store._next_msgid()
    miniprogram = payload.get("miniprogram")
    received = ReceivedMessage(
        kind=kind,
        app=appid,
        recipient=openid,
        msgid=str(msgid),
        template=template_id,
        data=values,
        url=str(payload.get("url") or ""),
        page=str(payload.get("page") or ""),
        miniprogram=miniprogram if isinstance(miniprogram, dict) else {},
        miniprogram_state=state,
        lang=lang,
        body=payload,
    )
    with store.lock:
        store.messages.append(received)
    store._log(path, appid, 0, access_token)
    return 200, {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def _wecom_error(errcode: int, errmsg: str) -> dict[str, Any]:
    hint = secrets.token_hex(8)
    return {
        "errcode": errcode,
        "errmsg": f"{errmsg}, hint: [{int(time.time())}_{hint}], from ip: 127.0.0.1, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}",
    }


def handle_gettoken(store: WeChatStore, query: dict[str, str]) -> dict[str, Any]:
    path = "/cgi-bin/gettoken"
    corp_id, secret = query.get("corpid", ""), query.get("corpsecret", "")
    try:
        if not corp_id:
            raise _Refusal(41002, "corpid missing")
        if not secret:
            raise _Refusal(41004, "corpsecret missing")
        with store.lock:
            apps = [app for app in store.corp_apps.values() if app.corp_id == corp_id]
        if not apps:
            raise _Refusal(40013, "invalid corpid")
        app = next((a for a in apps if secrets.compare_digest(secret, a.secret)), None)
        if app is None:
            raise _Refusal(40001, "invalid credential")
    except _Refusal as refusal:
        store._log(path, corp_id, refusal.errcode)
        return _wecom_error(refusal.errcode, refusal.errmsg)
    token = store._issue(app.key, "wecom")
    store._log(path, app.key, 0)
    return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": TOKEN_EXPIRES_IN}


WECOM_REQUIRED = {
    "text": ("text", ("content",)),
    "markdown": ("markdown", ("content",)),
    "textcard": ("textcard", ("title", "description", "url")),
}
WECOM_MISSING = {
    "content": (41009, "missing content"),
    "title": (41016, "missing title"),
    "description": (41017, "missing description"),
    "url": (41018, "missing url"),
}


def handle_wecom_send(store: WeChatStore, access_token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    path = "/cgi-bin/message/send"
    owner = ""
    try:
        failure = store._take_failure()
        if failure is not None:
            store._log(path, "", failure.errcode, access_token)
            if failure.http_status >= 400:
                return failure.http_status, {"errcode": failure.errcode, "errmsg": failure.errmsg}
            return 200, _wecom_error(failure.errcode, failure.errmsg)
        token = store._token(access_token, ("wecom",), invalid=40014)
        owner = token.owner
        payload = _json(body)
        if payload is None:
            raise _Refusal(47001, "data format error")
        with store.lock:
            app = store.corp_apps[owner]
            users = set(store.corp_users.get(app.corp_id, set()))
        try:
            agent_id = int(str(payload.get("agentid")))
        except (TypeError, ValueError):
            agent_id = -1
        if agent_id != app.agent_id:
            raise _Refusal(40056, "invalid agentid")
        msgtype = str(payload.get("msgtype") or "")
        if msgtype not in WECOM_REQUIRED:
            raise _Refusal(40008, "invalid message type")
        section_name, required = WECOM_REQUIRED[msgtype]
        section = payload.get(section_name)
        section = section if isinstance(section, dict) else {}
        for key in required:
            if not str(section.get(key) or ""):
                raise _Refusal(*WECOM_MISSING[key])
        touser = str(payload.get("touser") or "")
        if touser == "@all":
            valid, invalid = sorted(users), []
        else:
            wanted = [u for u in touser.split("|") if u]
            valid = [u for u in wanted if u in users]
            invalid = [u for u in wanted if u not in users]
        if not valid and not str(payload.get("toparty") or "") and not str(payload.get("totag") or ""):
            raise _Refusal(81013, "user & party & tag all invalid")
    except _Refusal as refusal:
        store._log(path, refusal.app or owner, refusal.errcode, access_token)
        return 200, _wecom_error(refusal.errcode, refusal.errmsg)
    msgid = secrets.token_urlsafe(24)
    received = ReceivedMessage(
        kind="wecom",
        app=owner,
        recipient="|".join(valid),
        msgid=msgid,
        url=str(section.get("url") or ""),
        msgtype=msgtype,
        title=str(section.get("title") or ""),
        content=str(section.get("description") or section.get("content") or ""),
        invalid=invalid,
        body=payload,
    )
    with store.lock:
        store.messages.append(received)
    store._log(path, owner, 0, access_token)
    answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
    if invalid:
        answer["invaliduser"] = "|".join(invalid)
    answer["msgid"] = msgid
    return 200, answer


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _reply(body: dict[str, Any], status: int = 200) -> Response[bytes]:
    return Response(
        json.dumps(body, ensure_ascii=False).encode("utf-8"), media_type=JSON_MEDIA_TYPE, status_code=status
    )


def _store(request: Request[Any, Any, Any]) -> WeChatStore:
    store = request.app.state.wechat
    assert isinstance(store, WeChatStore)
    return store


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in request.query_params.items()}


@get("/cgi-bin/token", sync_to_thread=False)
def token(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _reply(handle_token(_store(request), _query(request)))


@post("/cgi-bin/message/template/send", status_code=200)
async def template_send(request: Request[Any, Any, Any]) -> Response[bytes]:
    status, body = handle_mp_send(
        _store(request), "template", _query(request).get("access_token", ""), await request.body()
    )
    return _reply(body, status)


@post("/cgi-bin/message/subscribe/send", status_code=200)
async def subscribe_send(request: Request[Any, Any, Any]) -> Response[bytes]:
    status, body = handle_mp_send(
        _store(request), "subscribe", _query(request).get("access_token", ""), await request.body()
    )
    return _reply(body, status)


@get("/cgi-bin/gettoken", sync_to_thread=False)
def gettoken(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _reply(handle_gettoken(_store(request), _query(request)))


@post("/cgi-bin/message/send", status_code=200)
async def wecom_send(request: Request[Any, Any, Any]) -> Response[bytes]:
    status, body = handle_wecom_send(_store(request), _query(request).get("access_token", ""), await request.body())
    return _reply(body, status)


@get("/sns/jscode2session", sync_to_thread=False)
def code2session(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _reply(handle_code2session(_store(request), _query(request)))


@post("/wxa/business/getuserphonenumber", status_code=200)
async def phone_number(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _reply(handle_phone_number(_store(request), _query(request).get("access_token", ""), await request.body()))


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(store: WeChatStore) -> Litestar:
    return Litestar(
        route_handlers=[token, template_send, subscribe_send, gettoken, wecom_send, code2session, phone_number,
                        healthz],
        state=State({"wechat": store}),
        openapi_config=None,
        debug=False,
    )


class WeChatServer(BackgroundServer):
    """The WeChat / WeCom simulator on a background uvicorn thread; ``base_url`` replaces both
    ``https://api.weixin.qq.com/`` and ``https://qyapi.weixin.qq.com/``."""

    name = "wechat simulator"

    def __init__(self, store: WeChatStore | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.store = store or WeChatStore()

    def create_app(self) -> Any:
        return create_app(self.store)


@contextmanager
def running_wechat(
    store: WeChatStore | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[WeChatServer]:
    """Serve the WeChat simulator for the duration of the ``with`` block."""
    server = WeChatServer(store, host=host, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()

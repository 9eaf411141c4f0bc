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
* ``msgtype: "template_card"`` (模板卡片, https://developer.work.weixin.qq.com/document/path/90236; codes from
  全局错误码 https://developer.work.weixin.qq.com/document/path/90313): card_type one of text_notice / news_notice /
  button_interaction / vote_interaction / multiple_interaction (else 40058), template_card missing 40063. A
  按钮交互型 card needs main_title.title or sub_title_text (41016), 1..6 buttons (40058) each with text (42020) and,
  for a callback button (type 0), a key (42019) unique and at most 1024 bytes (42018; a type 1 button needs a url,
  41010), a button_selection with a question_key and 1..10 options (40058). The cards that call back (button /
  vote / multiple, or any card with an action_menu) need a task_id of [0-9A-Za-z_-@]{1,128} never used before by
  the app (42014 "taskid has existed or empty or exceed max len") and an app with a callback URL (43012 "require
  agent with callback url"). Button / vote / multiple cards answer a ``response_code`` (72 h, once). Each recipient's
  card is kept (``card`` / ``card_state``).
* ``POST /cgi-bin/message/update_template_card?access_token=`` (更新模版卡片消息,
  https://developer.work.weixin.qq.com/document/path/94888): ``agentid`` (40056), ``response_code`` — the one
  message/send answered or a click's ResponseCode, each usable once within ``response_code_ttl`` (72 h): missing
  40063, unknown or expired 40058, used 42022 (94888 names no errcode; 90313's nearest), another app's 42015 —,
  ``button.replace_name`` (42020 when empty; 40058 for a card without buttons) or a whole ``template_card``
  (neither: 40063), for ``userids`` / ``atall`` (nothing: 81012; no recipient among them: 81013; partyids / tagids
  are recorded, not resolved); ``{"errcode": 0, "errmsg": "ok", "invaliduser": [...]}``.
* The per-member quota (https://developer.work.weixin.qq.com/document/path/90454 发送应用消息频率: 每应用对同一个成员
  不可超过30次/分钟，1000次/小时，超过部分会被丢弃不下发): a message/send to a member over
  ``wecom_member_quota_per_minute`` / ``_per_hour`` still answers errcode 0, but that member is left out (the
  message's ``dropped``); ``wecom_member_over_quota = "refuse"`` answers 45009 "api freq out of limit" instead.

WeCom callbacks (``sandbox/wecom_callback.py``: the 加解密方案 of
https://developer.work.weixin.qq.com/document/path/90968, the delivery rules of 90930 and 90238): ``set_callback``
(url, Token, EncodingAESKey, generated when not given), ``click`` (a user clicks a card button: WeCom issues a
ResponseCode and POSTs the encrypted ``template_card_event`` to ``url?msg_signature=&timestamp=&nonce=``; an
attempt without HTTP 200 within ``callback_timeout`` (5 s) is retried up to ``callback_max_deliveries`` (3);
``duplicate=N`` delivers the same callback N times, ``concurrent=True`` at once; ``ClickRefused`` when the client
would not send it), ``forge`` (a wrong signature, key or ReceiveId), ``replay`` (an earlier delivery verbatim),
``verify_url`` (the GET check with an encrypted echostr, within ``verify_timeout``), ``callback_crypto``,
``callback_deliveries`` / ``deliveries_to`` (every attempt with the answer's status), ``card`` / ``card_state``
(what each recipient sees now: ``text``, ``replace_name``, ``clickable``), ``card_updates``,
``expire_response_codes``.

WeCom's own 审批 app (``oa/applyevent``, ``oa/getapprovaldetail``, ``oa/getapprovalinfo``, approvers acting in it and
its ``sys_approval_change`` callback): :mod:`sandbox.wecom_oa` (``oa_desk(store)``).

Test hooks on :class:`WeChatStore`: ``create_oa_app`` / ``create_mini_app`` / ``create_corp``, ``add_openid``,
``add_template``, ``refuse_subscription``, ``login_code`` / ``phone_code`` (what wx.login and the getPhoneNumber button
hand the mini-program), ``block_user`` (code2Session answers 40226 for them), ``login_quota_per_minute`` (45011 past
it), ``add_wecom_user``, ``pass_member_time`` (the per-member quota's window passes at once), ``expire_tokens`` (every
token issued so far answers 42001), ``issue_expired_tokens`` (tokens are dead on arrival), ``fail_next_sends`` (the next
N sends answer errcode -1, or an HTTP status), ``token_fetches`` (tokens issued per app), ``messages`` (what was
accepted) and ``calls`` (every call with the errcode it got).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State

from sandbox.serving import BackgroundServer
from sandbox.wecom_callback import (
    CallbackCrypto,
    CallbackDelivery,
    CallbackRequest,
    deliver,
    envelope_xml,
    forged_request,
    new_token,
    template_card_event_xml,
)

__all__ = [
    "CallbackConfig",
    "CardState",
    "CardUpdate",
    "ClickRefused",
    "ClickResult",
    "CorpApp",
    "MpApp",
    "ReceivedMessage",
    "SimCall",
    "TemplateCard",
    "VerifyResult",
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
class CallbackConfig:
    """A WeCom app's 接收消息 settings (回调配置, https://developer.work.weixin.qq.com/document/path/90930): the URL,
    the Token (letters or digits, at most 32) and the EncodingAESKey (43 characters)."""

    url: str
    token: str
    aes_key: str
    verified: bool = False  # the last verify_url() got the echostr back


@dataclass
class CorpApp:
    """One WeCom app (应用) of a corp: the token is per (corp_id, secret); messages go out as ``agent_id``."""

    corp_id: str
    secret: str
    agent_id: int
    users: set[str] = field(default_factory=set)  # shared by every app of the corp
    callback: CallbackConfig | None = None  # set_callback(); template cards that call back need one (43012)

    @property
    def key(self) -> str:
        return f"{self.corp_id}/{self.agent_id}"


@dataclass
class CardUpdate:
    """One accepted ``update_template_card`` call."""

    response_code: str
    userids: list[str]
    partyids: list[Any]
    tagids: list[Any]
    atall: bool
    replace_name: str  # button.replace_name, or "" when a whole new template_card was given
    template_card: dict[str, Any] | None
    applied_to: list[str]  # the recipients whose card changed
    invalid: list[str]  # userids that did not receive the card (answered as invaliduser)
    at: float = field(default_factory=time.time)


@dataclass
class CardState:
    """What one recipient sees of a template card now."""

    userid: str
    card: dict[str, Any]  # the template_card as sent, or the last one update_template_card replaced it with
    replace_name: str = ""  # update_template_card's button.replace_name: the buttons turned into this greyed text
    clicked: list[str] = field(default_factory=list)  # button keys this user clicked, first first
    updates: list[CardUpdate] = field(default_factory=list)

    @property
    def clickable(self) -> bool:
        """Buttons still answer a click: not replaced by update_template_card, and the card has no ``replace_text``
        (the 按钮交互型 field that shows a grey, unclickable button; 94888)."""
        return not self.replace_name and not str(self.card.get("replace_text") or "") and bool(self.buttons)

    @property
    def buttons(self) -> dict[str, str]:
        """Button key → text of the buttons that call back (button_list entries of type 0, and submit_button)."""
        found: dict[str, str] = {}
        for button in self.card.get("button_list") or []:
            if isinstance(button, dict) and int(button.get("type") or 0) == 0 and button.get("key"):
                found[str(button["key"])] = str(button.get("text") or "")
        submit = self.card.get("submit_button")
        if isinstance(submit, dict) and submit.get("key"):
            found[str(submit["key"])] = str(submit.get("text") or "")
        return found

    @property
    def text(self) -> str:
        """The card's status line as the user reads it: the replaced button text when there is one (e.g.
        "已由张三同意"), else the card's replace_text, else its main title."""
        main_title = self.card.get("main_title")
        title = str(main_title.get("title") or "") if isinstance(main_title, dict) else ""
        return self.replace_name or str(self.card.get("replace_text") or "") or title


@dataclass
class TemplateCard:
    """A template card sent with a task_id, per recipient (for click() and update_template_card)."""

    app: str  # CorpApp.key
    task_id: str
    card_type: str
    msgid: str
    response_code: str  # what message/send answered ("" for text_notice / news_notice)
    card: dict[str, Any]  # as sent
    recipients: list[str]
    states: dict[str, CardState] = field(default_factory=dict)


@dataclass
class _ResponseCode:
    app: str
    task_id: str
    userid: str  # who clicked; "" for the code message/send answered
    expires_at: float  # time.time()
    used: bool = False
    expired: bool = False


class ClickRefused(Exception):
    """The WeCom client would not send this click: no such card, user, button, or the buttons are greyed out."""


@dataclass
class ClickResult:
    response_code: str  # the ResponseCode of this click's event (update_template_card takes it once)
    event_xml: str  # the decrypted event, as WeCom builds it
    deliveries: list[CallbackDelivery]  # every HTTP attempt, duplicates and retries included, first first

    @property
    def accepted(self) -> bool:
        return any(d.accepted for d in self.deliveries)


@dataclass
class VerifyResult:
    ok: bool  # the URL answered HTTP 200 with exactly the decrypted echostr
    echostr: str  # the plaintext WeCom expects back
    delivery: CallbackDelivery


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
    msgtype: str = ""  # WeCom: textcard / markdown / text / template_card
    title: str = ""  # WeCom: textcard title, template card main_title.title
    content: str = ""  # WeCom: the card's description, the markdown, the text, a template card's sub_title_text
    invalid: list[str] = field(default_factory=list)  # WeCom: userids reported as invaliduser
    body: dict[str, Any] = field(default_factory=dict)
    task_id: str = ""  # WeCom template card
    response_code: str = ""  # WeCom template card: what message/send answered
    dropped: list[str] = field(default_factory=list)  # WeCom: over the per-member quota, silently not delivered


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
    # WeCom template cards (按钮交互型 …) and the callbacks of their buttons
    cards: dict[tuple[str, str], TemplateCard] = field(default_factory=dict)  # (CorpApp.key, task_id) → card
    task_ids: set[tuple[str, str]] = field(default_factory=set)  # every (CorpApp.key, task_id) ever sent: 42014
    response_codes: dict[str, _ResponseCode] = field(default_factory=dict)
    response_code_ttl: float = 72 * 3600  # 94888: response_code 的有效期是72小时
    card_updates: list[CardUpdate] = field(default_factory=list)
    callback_deliveries: list[CallbackDelivery] = field(default_factory=list)  # every HTTP attempt, first first
    callback_timeout: float = 5.0  # 90238: no answer within 5 s → WeCom drops the connection and sends again
    callback_max_deliveries: int = 3  # 90238: 总共重试三次 (read as three deliveries in all)
    verify_timeout: float = 1.0  # 90930: the URL answers the GET check within 1 s
    # 90454 发送应用消息频率: 每应用对同一个成员不可超过30次/分钟，1000次/小时，超过部分会被丢弃不下发
    wecom_member_quota_per_minute: int = 30
    wecom_member_quota_per_hour: int = 1000
    wecom_member_over_quota: Literal["drop", "refuse"] = "drop"  # "refuse": answer 45009 instead of dropping
    member_sends: dict[tuple[str, str], deque[float]] = field(default_factory=dict)  # (app, userid) → monotonic
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

    # --- hooks: WeCom callbacks and template cards ---------------------------------------------------------------

    def corp_app(self, corp_id: str, agent_id: int) -> CorpApp:
        with self.lock:
            app = self.corp_apps.get(f"{corp_id}/{agent_id}")
        if app is None:
            raise KeyError(f"no WeCom app {corp_id}/{agent_id}; create_corp() first")
        return app

    def set_callback(
        self, corp_id: str, agent_id: int, url: str, token: str | None = None, aes_key: str | None = None
    ) -> CallbackConfig:
        """The app's 接收消息 settings: callback ``url``, Token and EncodingAESKey (each generated when not given).
        Template cards whose buttons call back can be sent only once this is set (43012)."""
        config = CallbackConfig(url=url, token=token or new_token(), aes_key=aes_key or CallbackCrypto.new_aes_key())
        CallbackCrypto(config.token, config.aes_key, corp_id)  # refuses a malformed EncodingAESKey now
        app = self.corp_app(corp_id, agent_id)
        with self.lock:
            app.callback = config
        return config

    def callback_crypto(self, corp_id: str, agent_id: int) -> CallbackCrypto:
        """The app's 加解密 (to decrypt what a delivery carried, in a test's own round trip)."""
        config = self._callback(self.corp_app(corp_id, agent_id))
        return CallbackCrypto(config.token, config.aes_key, corp_id)

    def card(self, corp_id: str, agent_id: int, task_id: str) -> TemplateCard:
        with self.lock:
            found = self.cards.get((f"{corp_id}/{agent_id}", task_id))
        if found is None:
            raise KeyError(f"no template card {task_id!r} from {corp_id}/{agent_id}")
        return found

    def card_state(self, corp_id: str, agent_id: int, task_id: str, userid: str) -> CardState:
        """What ``userid`` sees of the card now (``.text``, ``.replace_name``, ``.clickable``, ``.card``)."""
        card = self.card(corp_id, agent_id, task_id)
        with self.lock:
            state = card.states.get(userid)
        if state is None:
            raise KeyError(f"{userid!r} did not receive template card {task_id!r}")
        return state

    def expire_response_codes(self) -> int:
        """Every response_code issued so far is past its 72 h; how many there were."""
        with self.lock:
            for code in self.response_codes.values():
                code.expired = True
            return len(self.response_codes)

    def deliveries_to(self, corp_id: str, agent_id: int) -> list[CallbackDelivery]:
        key = f"{corp_id}/{agent_id}"
        with self.lock:
            return [d for d in self.callback_deliveries if d.app == key]

    def click(
        self,
        corp_id: str,
        agent_id: int,
        userid: str,
        task_id: str,
        button_key: str,
        *,
        selected: Mapping[str, Sequence[str]] | None = None,
        duplicate: int = 1,
        concurrent: bool = False,
    ) -> ClickResult:
        """``userid`` clicks ``button_key`` on template card ``task_id``: WeCom issues a ResponseCode and POSTs the
        encrypted ``template_card_event`` to the app's callback URL, retrying an attempt that gets no HTTP 200
        within ``callback_timeout`` up to ``callback_max_deliveries`` attempts. ``duplicate=N`` delivers the same
        callback (same body, signature and CreateTime) N times, one after the other or, with ``concurrent``, at
        once. ``selected`` (question key → option ids) fills SelectedItems; a card's button_selection is sent with
        its selected_id (else its first option) when not given. :class:`ClickRefused` when the client would not
        let the user click."""
        with self.lock:
            app = self.corp_app(corp_id, agent_id)
            config = self._callback(app, refuse=ClickRefused)
            card = self.cards.get((app.key, task_id))
            if card is None:
                raise ClickRefused(f"no template card {task_id!r} from {app.key}")
            state = card.states.get(userid)
            if state is None:
                raise ClickRefused(f"{userid!r} did not receive template card {task_id!r}")
            if not state.clickable:
                raise ClickRefused(f"the buttons of {task_id!r} are greyed out for {userid!r}: {state.text!r}")
            if button_key not in state.buttons:
                raise ClickRefused(f"template card {task_id!r} has no button {button_key!r} that calls back")
            if selected is None:
                selected = _default_selection(state.card)
            code = self._issue_response_code(app.key, task_id, userid)
            state.clicked.append(button_key)
            plaintext = template_card_event_xml(
                corp_id=app.corp_id,
                userid=userid,
                create_time=int(time.time()),
                event_key=button_key,
                task_id=task_id,
                card_type=card.card_type,
                response_code=code,
                agent_id=app.agent_id,
                selected=selected,
            )
            request = _signed_post(app, config, plaintext)
            timeout, attempts = self.callback_timeout, self.callback_max_deliveries

        def run() -> list[CallbackDelivery]:
            return deliver(
                request,
                kind="event",
                app=app.key,
                plaintext=plaintext,
                timeout=timeout,
                max_attempts=attempts,
                task_id=task_id,
                userid=userid,
                response_code=code,
            )

        runs = max(1, duplicate)
        if concurrent and runs > 1:
            with ThreadPoolExecutor(max_workers=runs) as pool:
                batches = list(pool.map(lambda _: run(), range(runs)))
        else:
            batches = [run() for _ in range(runs)]
        deliveries = [d for batch in batches for d in batch]
        with self.lock:
            self.callback_deliveries.extend(deliveries)
        return ClickResult(response_code=code, event_xml=plaintext, deliveries=deliveries)

    def forge(
        self,
        corp_id: str,
        agent_id: int,
        userid: str,
        task_id: str,
        button_key: str,
        *,
        tamper: Literal["signature", "key", "receiveid"] = "signature",
    ) -> CallbackDelivery:
        """POST a callback WeCom did not send, once: a ``template_card_event`` with a wrong msg_signature
        (``tamper="signature"``), encrypted with another EncodingAESKey but signed with the app's Token (``"key"``),
        or for another corp's ReceiveId (``"receiveid"``). No card state changes; the answer is recorded."""
        app = self.corp_app(corp_id, agent_id)
        config = self._callback(app)
        plaintext = template_card_event_xml(
            corp_id=app.corp_id,
            userid=userid,
            create_time=int(time.time()),
            event_key=button_key,
            task_id=task_id,
            card_type="button_interaction",
            response_code=secrets.token_urlsafe(32),
            agent_id=app.agent_id,
        )
        request = forged_request(
            config.url,
            token=config.token,
            aes_key=config.aes_key,
            corp_id=app.corp_id,
            agent_id=app.agent_id,
            plaintext=plaintext,
            tamper=tamper,
        )
        [delivery] = deliver(
            request,
            kind="forged",
            app=app.key,
            plaintext=plaintext,
            timeout=self.callback_timeout,
            max_attempts=1,
            task_id=task_id,
            userid=userid,
        )
        with self.lock:
            self.callback_deliveries.append(delivery)
        return delivery

    def replay(self, delivery: CallbackDelivery) -> CallbackDelivery:
        """Send an earlier delivery's request again, verbatim (same query, signature and body), once."""
        [again] = deliver(
            delivery.request,
            kind="replay",
            app=delivery.app,
            plaintext=delivery.plaintext,
            timeout=self.callback_timeout,
            max_attempts=1,
            task_id=delivery.task_id,
            userid=delivery.userid,
            response_code=delivery.response_code,
        )
        with self.lock:
            self.callback_deliveries.append(again)
        return again

    def verify_url(self, corp_id: str, agent_id: int) -> VerifyResult:
        """What saving the 接收消息 settings does (90930 3.1): ``GET url?msg_signature=&timestamp=&nonce=&echostr=``
        with an encrypted random echostr; the URL must answer HTTP 200, within ``verify_timeout``, exactly the
        decrypted echostr (no quotes, BOM or newline)."""
        app = self.corp_app(corp_id, agent_id)
        config = self._callback(app)
        crypto = CallbackCrypto(config.token, config.aes_key, app.corp_id)
        echostr = str(secrets.randbits(63))
        encrypt = crypto.encrypt(echostr)
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        request = CallbackRequest(
            method="GET",
            url=config.url,
            query=(
                ("msg_signature", crypto.signature(timestamp, nonce, encrypt)),
                ("timestamp", timestamp),
                ("nonce", nonce),
                ("echostr", encrypt),
            ),
        )
        [delivery] = deliver(
            request, kind="verify", app=app.key, plaintext=echostr, timeout=self.verify_timeout, max_attempts=1
        )
        ok = delivery.accepted and delivery.answer == echostr.encode("ascii")
        with self.lock:
            config.verified = ok
            self.callback_deliveries.append(delivery)
        return VerifyResult(ok=ok, echostr=echostr, delivery=delivery)

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

    def _callback(self, app: CorpApp, *, refuse: type[Exception] = LookupError) -> CallbackConfig:
        with self.lock:
            config = app.callback
        if config is None:
            raise refuse(f"WeCom app {app.key} has no callback URL; set_callback() first")
        return config

    def _issue_response_code(self, app: str, task_id: str, userid: str) -> str:
        code = secrets.token_urlsafe(48)
        with self.lock:
            self.response_codes[code] = _ResponseCode(app, task_id, userid, time.time() + self.response_code_ttl)
        return code

    def _over_quota(self, app: str, userids: Iterable[str]) -> list[str]:
        """Recipients already at the per-member quota (90454: 30 a minute, 1000 an hour, per app)."""
        now = time.monotonic()
        over: list[str] = []
        with self.lock:
            for userid in userids:
                sent = self.member_sends.setdefault((app, userid), deque())
                while sent and now - sent[0] >= 3600:
                    sent.popleft()
                last_minute = sum(1 for at in sent if now - at < 60)
                if last_minute >= self.wecom_member_quota_per_minute or len(sent) >= self.wecom_member_quota_per_hour:
                    over.append(userid)
        return over

    def pass_member_time(self, seconds: float) -> None:
        """Test hook: every member's earlier sends count as ``seconds`` older (a quota window passes at once)."""
        with self.lock:
            for sent in self.member_sends.values():
                aged = [at - seconds for at in sent]
                sent.clear()
                sent.extend(aged)

    def _count_sends(self, app: str, userids: Iterable[str]) -> None:
        now = time.monotonic()
        with self.lock:
            for userid in userids:
                self.member_sends.setdefault((app, userid), deque()).append(now)

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


# Template cards. Sources: 发送应用消息 · 模板卡片消息, https://developer.work.weixin.qq.com/document/path/90236
# (the fields; response_code 仅消息类型为“按钮交互型”，“投票选择型”和“多项选择型”的模板卡片消息返回, 72 h, once;
# 没有配置回调接口的应用不可发送支持回调的卡片); 更新模版卡片消息, https://developer.work.weixin.qq.com/document/path/94888;
# the errcodes from 全局错误码, https://developer.work.weixin.qq.com/document/path/90313, each at its use below.
CALLBACK_CARD_TYPES = ("button_interaction", "vote_interaction", "multiple_interaction")
CARD_TYPES = ("text_notice", "news_notice", *CALLBACK_CARD_TYPES)
TASK_ID = re.compile(r"[0-9A-Za-z_\-@]{1,128}")  # 90236: 只能由数字、字母和“_-@”组成，最长128字节
MAX_BUTTONS = 6  # 90236 button_list: 列表长度不超过6
MAX_BUTTON_KEY_BYTES = 1024  # 90236 button_list.key: 最长支持1024字节，不可重复
MAX_SELECTION_OPTIONS = 10  # 90236 button_selection.option_list: 下拉选项不超过 10 个，最少1个
# update_template_card with a response_code WeCom did not issue, that expired or was used: 94888 says a code works
# once and for 72 h but names no errcode, nor does 90313; these are 90313's nearest (an open question).
BAD_RESPONSE_CODE = (40058, "invalid response_code")  # 90313 40058 不合法的参数
USED_RESPONSE_CODE = (42022, "response_code has been used")  # 90313 42022 code已经被使用过。只能使用一次


def _check_card(store: WeChatStore, app: CorpApp, card: dict[str, Any], *, update: bool = False) -> tuple[str, str]:
    """A template card's ``(card_type, task_id)``, or the refusal WeCom answers."""
    if not card:
        raise _Refusal(40063, "template_card missing")  # 90313 40063 参数为空
    card_type = str(card.get("card_type") or "")
    if card_type not in CARD_TYPES:
        raise _Refusal(40058, "invalid card_type")  # 90313 40058 不合法的参数
    task_id = str(card.get("task_id") or "")
    # 90236: task_id required for the cards that call back, and for text/news cards that have an action_menu
    calls_back = card_type in CALLBACK_CARD_TYPES or isinstance(card.get("action_menu"), dict)
    if (calls_back or task_id) and not update:
        with store.lock:
            used = (app.key, task_id) in store.task_ids
        if not TASK_ID.fullmatch(task_id) or used:
            # 90313 42014 任务卡片消息的task_id不合法; the errmsg WeCom answers, quoted in
            # https://developers.weixin.qq.com/community/enterprisewechat/doc/000e8a97798020098fdd7015a51800
            raise _Refusal(42014, "taskid has existed or empty or exceed max len")
    if card_type == "button_interaction":
        _check_buttons(card)
    if calls_back and not update:
        with store.lock:
            configured = app.callback is not None
        if not configured:
            # 90313 43012 应用需配置回调url; errmsg as quoted in
            # https://developers.weixin.qq.com/community/personal/oCJUsw6SdGet2vsQfX1kl4heijGU/question
            raise _Refusal(43012, "require agent with callback url")
    return card_type, task_id


def _check_buttons(card: dict[str, Any]) -> None:
    """按钮交互型 (90236): main_title.title or sub_title_text, button_list of 1..6 buttons with text, and a unique key
    for the buttons that call back (type 0); button_selection, when there, with a question_key and 1..10 options."""
    main_title = card.get("main_title")
    title = str(main_title.get("title") or "") if isinstance(main_title, dict) else ""
    if not title and not str(card.get("sub_title_text") or ""):
        raise _Refusal(41016, "missing title")  # 90313 41016 缺少title参数
    buttons = card.get("button_list")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        raise _Refusal(40058, "invalid button_list size")  # 90313 40058 不合法的参数
    keys: set[str] = set()
    for button in buttons:
        if not isinstance(button, dict):
            raise _Refusal(40058, "invalid button_list")
        if not str(button.get("text") or ""):
            raise _Refusal(42020, "missing button name")  # 90313 42020 缺少按钮名称
        try:
            kind = int(button.get("type") or 0)  # 90236: 0 或不填代表回调点击事件，1 代表跳转url
        except (TypeError, ValueError):
            kind = -1
        if kind == 1:
            if not str(button.get("url") or ""):
                raise _Refusal(41010, "missing url")  # 90313 41010 缺少url参数
            continue
        if kind != 0:
            raise _Refusal(40058, "invalid button type")
        key = str(button.get("key") or "")
        if not key:
            raise _Refusal(42019, "missing button key")  # 90313 42019 缺少按钮key值
        if len(key.encode("utf-8")) > MAX_BUTTON_KEY_BYTES or key in keys:
            raise _Refusal(42018, "invalid button key")  # 90313 42018 按钮key值不合法
        keys.add(key)
    selection = card.get("button_selection")
    if selection is not None:
        options = selection.get("option_list") if isinstance(selection, dict) else None
        if (
            not isinstance(selection, dict)
            or not str(selection.get("question_key") or "")
            or not isinstance(options, list)
            or not 1 <= len(options) <= MAX_SELECTION_OPTIONS
            or not all(isinstance(o, dict) and str(o.get("id") or "") and str(o.get("text") or "") for o in options)
        ):
            raise _Refusal(40058, "invalid button_selection")  # 90313 40058 不合法的参数


def _default_selection(card: dict[str, Any]) -> dict[str, list[str]] | None:
    """A button_interaction card's button_selection as submitted untouched: its selected_id, else the first option
    (90236: 默认选定的id，不填或错填默认第一个)."""
    selection = card.get("button_selection")
    if not isinstance(selection, dict) or not selection.get("question_key"):
        return None
    ids = [str(o.get("id")) for o in selection.get("option_list") or [] if isinstance(o, dict) and o.get("id")]
    if not ids:
        return None
    chosen = str(selection.get("selected_id") or "")
    return {str(selection["question_key"]): [chosen if chosen in ids else ids[0]]}


def _signed_post(app: CorpApp, config: CallbackConfig, plaintext: str) -> CallbackRequest:
    """The encrypted, signed POST WeCom makes for an event (90968, 90930 3.2)."""
    crypto = CallbackCrypto(config.token, config.aes_key, app.corp_id)
    encrypt = crypto.encrypt(plaintext)
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    return CallbackRequest(
        method="POST",
        url=config.url,
        query=(
            ("msg_signature", crypto.signature(timestamp, nonce, encrypt)),
            ("timestamp", timestamp),
            ("nonce", nonce),
        ),
        body=envelope_xml(app.corp_id, encrypt, app.agent_id).encode("utf-8"),
    )


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
        card_type = task_id = ""
        if msgtype == "template_card":
            section = payload.get("template_card")
            section = section if isinstance(section, dict) else {}
            card_type, task_id = _check_card(store, app, section)
            title = section.get("main_title")
            title = str(title.get("title") or "") if isinstance(title, dict) else ""
            content = str(section.get("sub_title_text") or "")
        elif msgtype in WECOM_REQUIRED:
            section_name, required = WECOM_REQUIRED[msgtype]
            section = payload.get(section_name)
            section = section if isinstance(section, dict) else {}
            for key in required:
                if not str(section.get(key) or ""):
                    raise _Refusal(*WECOM_MISSING[key])
            title = str(section.get("title") or "")
            content = str(section.get("description") or section.get("content") or "")
        else:
            raise _Refusal(40008, "invalid message type")
        touser = str(payload.get("touser") or "")
        if touser == "@all":
            valid, invalid = sorted(users), []
        else:
            wanted = list(dict.fromkeys(u for u in touser.split("|") if u))
            valid = [u for u in wanted if u in users]
            invalid = [u for u in wanted if u not in users]
        if not valid and not str(payload.get("toparty") or "") and not str(payload.get("totag") or ""):
            raise _Refusal(81013, "user & party & tag all invalid")
        # https://developer.work.weixin.qq.com/document/path/90454 发送应用消息频率:
        # 每应用对同一个成员不可超过30次/分钟，1000次/小时，超过部分会被丢弃不下发 — so dropped (errcode 0), by
        # default. wecom_member_over_quota="refuse" answers 90313's 45009 接口调用超过限制 instead, with the errmsg
        # WeCom sends for it (quoted in https://developers.weixin.qq.com/community/personal/oCJUswwmdi8pB8uCMZFAYXNfO-uw/question).
        dropped = store._over_quota(owner, valid)
        if dropped and store.wecom_member_over_quota == "refuse":
            raise _Refusal(45009, "api freq out of limit")
        delivered = [u for u in valid if u not in dropped]
        if task_id:
            with store.lock:  # taken now, for good: a task_id is never reused by the app (90236)
                if (owner, task_id) in store.task_ids:
                    raise _Refusal(42014, "taskid has existed or empty or exceed max len")
                store.task_ids.add((owner, task_id))
        store._count_sends(owner, delivered)
    except _Refusal as refusal:
        store._log(path, refusal.app or owner, refusal.errcode, access_token)
        return 200, _wecom_error(refusal.errcode, refusal.errmsg)
    msgid = secrets.token_urlsafe(24)
    response_code = store._issue_response_code(owner, task_id, "") if card_type in CALLBACK_CARD_TYPES else ""
    received = ReceivedMessage(
        kind="wecom",
        app=owner,
        recipient="|".join(delivered),
        msgid=msgid,
        url=str(section.get("url") or ""),
        msgtype=msgtype,
        title=title,
        content=content,
        invalid=invalid,
        body=payload,
        task_id=task_id,
        response_code=response_code,
        dropped=dropped,
    )
    with store.lock:
        store.messages.append(received)
        if task_id:
            store.cards[(owner, task_id)] = TemplateCard(
                app=owner,
                task_id=task_id,
                card_type=card_type,
                msgid=msgid,
                response_code=response_code,
                card=copy.deepcopy(section),
                recipients=list(delivered),
                states={u: CardState(userid=u, card=copy.deepcopy(section)) for u in delivered},
            )
    store._log(path, owner, 0, access_token)
    answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
    if invalid:
        answer["invaliduser"] = "|".join(invalid)
    answer["msgid"] = msgid
    if response_code:
        answer["response_code"] = response_code
    return 200, answer


def _id_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def handle_update_template_card(store: WeChatStore, access_token: str, body: bytes) -> dict[str, Any]:
    """``POST /cgi-bin/message/update_template_card`` (94888): spend a response_code (from message/send or from a
    click's callback; once, within 72 h) to grey out the buttons (``button.replace_name``) or replace the whole card
    (``template_card``) for ``userids`` (or ``atall``: every recipient)."""
    path = "/cgi-bin/message/update_template_card"
    owner = ""
    try:
        token = store._token(access_token, ("wecom",), invalid=40014)
        owner = token.owner
        payload = _json(body)
        if payload is None:
            raise _Refusal(47001, "data format error")
        with store.lock:
            app = store.corp_apps[owner]
        try:
            agent_id = int(str(payload.get("agentid")))
        except (TypeError, ValueError):
            agent_id = -1
        if agent_id != app.agent_id:
            raise _Refusal(40056, "invalid agentid")  # 90313 40056 不合法的agentid
        code = str(payload.get("response_code") or "")
        if not code:
            raise _Refusal(40063, "response_code missing")  # 90313 40063 参数为空
        with store.lock:
            issued = store.response_codes.get(code)
            card = store.cards.get((issued.app, issued.task_id)) if issued is not None else None
        if issued is None or card is None:
            raise _Refusal(*BAD_RESPONSE_CODE)
        if issued.app != owner:
            raise _Refusal(42015, "the app does not match the one that sent the card")  # 90313 42015
        if issued.used:
            raise _Refusal(*USED_RESPONSE_CODE)
        if issued.expired or time.time() >= issued.expires_at:
            raise _Refusal(BAD_RESPONSE_CODE[0], "response_code expired")
        button = payload.get("button")
        new_card = payload.get("template_card")
        replace_name = ""
        if isinstance(new_card, dict) and new_card:
            _check_card(store, app, new_card, update=True)
            new_card = copy.deepcopy(new_card)
        elif isinstance(button, dict):
            # 94888: 仅原卡片为 按钮交互型、投票选择型、多项选择型的卡片可以更新按钮
            if card.card_type not in CALLBACK_CARD_TYPES:
                raise _Refusal(40058, "the card has no buttons to update")  # 90313 40058 不合法的参数
            replace_name = str(button.get("replace_name") or "")
            if not replace_name:
                raise _Refusal(42020, "missing button name")  # 90313 42020 缺少按钮名称
            new_card = None
        else:
            raise _Refusal(40063, "button or template_card missing")  # 90313 40063 参数为空
        userids = [str(u) for u in _id_list(payload.get("userids"))]
        partyids, tagids = _id_list(payload.get("partyids")), _id_list(payload.get("tagids"))
        atall = str(payload.get("atall") or "0") == "1"
        if not atall and not userids and not partyids and not tagids:
            raise _Refusal(81012, "missing visible range")  # 90313 81012 缺失可见范围 (没有填写UserID、部门ID、标签ID)
        targets = list(card.recipients) if atall else [u for u in userids if u in card.states]
        invalid = [] if atall else [u for u in userids if u not in card.states]
        if not targets and not partyids and not tagids:
            raise _Refusal(81013, "user & party & tag all invalid")  # 90313 81013 全部非法或无权限
        with store.lock:
            if issued.used:  # a concurrent update spent it first
                raise _Refusal(*USED_RESPONSE_CODE)
            issued.used = True
            update = CardUpdate(
                response_code=code,
                userids=userids,
                partyids=partyids,
                tagids=tagids,
                atall=atall,
                replace_name=replace_name,
                template_card=new_card,
                applied_to=targets,
                invalid=invalid,
            )
            store.card_updates.append(update)
            for userid in targets:
                state = card.states[userid]
                if new_card is not None:
                    state.card = copy.deepcopy(new_card)
                    state.replace_name = ""
                else:
                    state.replace_name = replace_name
                state.updates.append(update)
    except _Refusal as refusal:
        store._log(path, refusal.app or owner, refusal.errcode, access_token)
        return _wecom_error(refusal.errcode, refusal.errmsg)
    store._log(path, owner, 0, access_token)
    return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid}  # 94888: invaliduser is a list here


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


@post("/cgi-bin/message/update_template_card", status_code=200)
async def wecom_update_template_card(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _reply(
        handle_update_template_card(_store(request), _query(request).get("access_token", ""), await request.body())
    )


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
    from sandbox.wecom_oa import OA_ROUTES  # WeCom's 审批 app (oa/applyevent …); it builds on this module

    return Litestar(
        route_handlers=[
            *OA_ROUTES,
            token,
            template_send,
            subscribe_send,
            gettoken,
            wecom_send,
            wecom_update_template_card,
            code2session,
            phone_number,
            healthz,
        ],
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

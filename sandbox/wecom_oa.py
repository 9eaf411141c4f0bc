"""WeCom's own 审批 (approval) app, simulator side — ``POST /cgi-bin/oa/applyevent``, ``/cgi-bin/oa/getapprovaldetail``
and ``/cgi-bin/oa/getapprovalinfo`` on the WeChat simulator (:mod:`sandbox.wechat`, which serves :data:`OA_ROUTES`),
and the people's side: templates, approvers who approve / reject in the app, a submitter who revokes, and the
encrypted ``sys_approval_change`` callback WeCom then posts to the app's URL (with the delivery rules of
:mod:`sandbox.wecom_callback`: duplicates, retries, forged deliveries)::

    with running_wechat() as sim:
        app = sim.store.create_corp()
        desk = oa_desk(sim.store)
        template = desk.add_template(app.corp_id, controls=[("Text-1", "Text", "订单号", True)])
        ...
        result = desk.approve(sp_no, "WangXiaoMing")   # delivers the callback

Written from WeCom's documentation, not from the hub's client (``notify/providers/wecom_oa.py``):

* 提交审批申请, https://developer.work.weixin.qq.com/document/path/91853 — the parameters and which are required
  (creator_userid 是, template_id 是, use_template_approver 是, approver 是 — 仅use_template_approver为0时生效 — with
  userid 是 and attr 是 (1 或签, 2 会签), notifyer 否, notify_type 否 (1, 2, 3), apply_data 是 with contents 是 and
  each control / id / value 是 (必填控件必须有值), summary_list 是 (最多3行) with summary_info 是, text 是, lang 是);
  the control values of its 附录 (Text / Textarea ``text``, Number ``new_number``, Money ``new_money``); the answer
  ``sp_no``; its 错误说明: 301055 无审批应用权限,或者提单者不在审批应用/自建应用的可见范围, 301056 审批应用已停用,
  301025 提交审批单请求参数错误, 301057 通用错误码，提交审批单内部接口失败.
* 获取审批申请详情, https://developer.work.weixin.qq.com/document/path/91983 — ``{"sp_no"}`` (a number in its
  example) → ``info`` (sp_no as a string, sp_name, sp_status, template_id, apply_time, applyer, sp_record
  [{sp_status, approverattr, details [{approver, speech, sp_status, sptime, media_id}]}], notifyer, apply_data,
  comments); apply_data.contents as the example reads them back, not as they were sent: each control's ``title`` is
  the template's control name (``[{"text", "lang"}]``, 控件名称，若配置了多语言则会包含中英文的控件名称), its
  ``value`` the control's own key (附录: text, new_number, new_money) alongside the empty ``tips``, ``members``,
  ``departments``, ``files``, ``children`` and ``stat_field`` of the example's Text control; errors 301055
  无审批应用数据拉取权限, 301025 请求参数错误, 301026 拉取审批申请详情内部接口失败.
* 批量获取审批单号, https://developer.work.weixin.qq.com/document/path/91816 — starttime 是, endtime 是 (大于
  starttime, 跨度不能超过31天), cursor 是, size 是 (上限100), filters 否 (template_id, creator, department,
  sp_status) → sp_no_list, next_cursor (absent when done); errors 301055, 301025, 301026.
* 审批申请状态变化回调通知, https://developer.work.weixin.qq.com/document/path/91815 — the XML of the event (its
  example's element order), FromUserName ``sys``, Event ``sys_approval_change``, SpStatus 1 审批中 / 2 已通过 /
  3 已驳回 / 4 已撤销 / 6 通过后撤销 / 7 已删除 / 10 已支付, a node's and an approver's SpStatus 1 审批中 / 2 已同意 /
  3 已驳回 / 4 已转审, StatuChangeEvent 1 提单 / 2 同意 / 3 驳回 / 4 转审 / 5 催办 / 6 撤销 / 8 通过后撤销 /
  10 添加备注. The example's AgentID is 3010040 (the 审批 app's), which is what the events here carry.
* Tokens: 全局错误码 (https://developer.work.weixin.qq.com/document/path/90313) 41001 / 40014 / 42001, as for the
  other WeCom APIs of the simulator.

Test hooks (on :func:`oa_desk`): ``add_template`` / ``set_process`` (the template's own process, for
``use_template_approver: 1``), ``approve`` / ``reject`` / ``revoke`` (``deliver=False``: WeCom's callback is lost;
``duplicate=N``, ``concurrent``), ``redeliver``, ``forge``, ``disable`` (301056), ``deny`` (301055),
``fail_next`` (an errcode, e.g. 301057 / -1), ``lose_next_answers`` (the approval is created, the answer is an HTTP
502: the caller cannot know), ``approval`` / ``approvals``.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from litestar import Request, Response, post

from sandbox import wechat as wx
from sandbox.wecom_callback import CallbackDelivery, forged_request
from sandbox.wecom_callback import deliver as post_callback

__all__ = [
    "APPROVAL_AGENT_ID",
    "OA_ROUTES",
    "OaActResult",
    "OaApproval",
    "OaDesk",
    "OaNode",
    "OaRefused",
    "OaTemplate",
    "contents_by_id",
    "handle_applyevent",
    "handle_getapprovaldetail",
    "handle_getapprovalinfo",
    "oa_desk",
    "sys_approval_change_xml",
]

APPROVAL_AGENT_ID = 3010040  # 91815's example: the 审批 app's AgentID in the event
SHANGHAI = timezone(timedelta(hours=8))
CONTROLS = ("Text", "Textarea", "Number", "Money", "Date", "Selector", "Contact", "Tips", "File", "Table")
# 91853 错误说明 (and 91983 / 91816 for the reads)
PARAM_ERROR = 301025  # 提交审批单请求参数错误 / 请求参数错误
NO_PERMISSION = 301055  # 无审批应用权限,或者提单者不在审批应用/自建应用的可见范围 (reads: 无审批应用数据拉取权限)
APP_DISABLED = 301056  # 审批应用已停用
SUBMIT_INTERNAL = 301057  # 通用错误码，提交审批单内部接口失败
MAX_SUMMARY = 3  # 91853 summary_list: 最多3行
MAX_INFO_SIZE = 100  # 91816 size: 上限值为100
MAX_INFO_SPAN = 31 * 24 * 3600  # 91816: 起始时间跨度不能超过31天
# Status numbers (91815, 91983)
PENDING, APPROVED, REJECTED, REVOKED, REVOKED_AFTER, DELETED = 1, 2, 3, 4, 6, 7
CHANGE_APPROVE, CHANGE_REJECT, CHANGE_REVOKE, CHANGE_REVOKE_AFTER = 2, 3, 6, 8  # StatuChangeEvent


@dataclass
class OaControlDef:
    id: str
    control: str
    title: str
    require: bool = False


@dataclass
class OaTemplate:
    corp_id: str
    template_id: str
    name: str
    controls: dict[str, OaControlDef]
    process: list[tuple[int, list[str]]] = field(default_factory=list)  # the template's own nodes (attr, userids)


@dataclass
class OaDetail:
    """One approver of a node (91983 details)."""

    userid: str
    status: int = PENDING  # 1 审批中, 2 已同意, 3 已驳回, 4 已转审
    speech: str = ""
    sptime: int = 0


@dataclass
class OaNode:
    attr: int  # 1 或签, 2 会签
    details: list[OaDetail]
    status: int = PENDING


@dataclass
class OaApproval:
    sp_no: str
    app: str  # CorpApp.key of the app whose token submitted it
    corp_id: str
    template_id: str
    sp_name: str
    creator: str
    apply_time: int
    nodes: list[OaNode]
    notifyer: list[str]
    notify_type: int
    contents: list[dict[str, Any]]
    summary: list[str]
    use_template_approver: int
    status: int = PENDING
    changes: list[int] = field(default_factory=lambda: [1])  # StatuChangeEvent history (1 提单)

    @property
    def current(self) -> OaNode | None:
        return next((node for node in self.nodes if node.status == PENDING), None)

    def field_value(self, control_id: str) -> Any:
        """The value submitted for a control (for assertions)."""
        for content in self.contents:
            if content.get("id") == control_id:
                return content.get("value")
        return None


class OaRefused(Exception):
    """The 审批 app would not let this person do that (not their turn, not theirs, already decided)."""


@dataclass
class OaActResult:
    sp_no: str
    status: int  # the approval's 申请单状态 after the act
    event_xml: str  # the decrypted event WeCom built ("" when not delivered)
    deliveries: list[CallbackDelivery]  # every HTTP attempt, first first

    @property
    def accepted(self) -> bool:
        return any(d.accepted for d in self.deliveries)


class OaDesk:
    """The simulated 审批 app of every corp of one :class:`~sandbox.wechat.WeChatStore` (thread-safe: the store's
    lock)."""

    def __init__(self, store: wx.WeChatStore) -> None:
        self.store = store
        self.templates: dict[tuple[str, str], OaTemplate] = {}
        self.approvals: dict[str, OaApproval] = {}
        self.day_seq: dict[tuple[str, str], int] = {}
        self.disabled: set[str] = set()  # corp ids whose 审批 app is switched off (301056)
        self.denied: set[str] = set()  # CorpApp.key without 审批 API permission (301055)
        self.failures: list[int] = []  # errcodes the next applyevent calls answer, first first
        self.lost_answers = 0  # the next applyevent calls create the approval, then answer HTTP 502
        self.agent_id_in_event = APPROVAL_AGENT_ID

    # --- hooks ----------------------------------------------------------------------------------------------------

    def add_template(
        self,
        corp_id: str,
        template_id: str | None = None,
        *,
        name: str = "订单审批",
        controls: Iterable[tuple[str, str, str, bool]] = (),
    ) -> OaTemplate:
        """A template of the corp's 审批 app with its controls: (id, control type, title, required)."""
        template = OaTemplate(
            corp_id=corp_id,
            template_id=template_id or secrets.token_urlsafe(30).replace("-", "a").replace("_", "b")[:40],
            name=name,
            controls={c[0]: OaControlDef(id=c[0], control=c[1], title=c[2], require=c[3]) for c in controls},
        )
        with self.store.lock:
            self.templates[(corp_id, template.template_id)] = template
        return template

    def set_process(self, corp_id: str, template_id: str, nodes: Sequence[tuple[int, Sequence[str]]]) -> None:
        """The template's own approval process (set in the admin console), used with use_template_approver 1."""
        with self.store.lock:
            self.templates[(corp_id, template_id)].process = [(attr, list(users)) for attr, users in nodes]

    def disable(self, corp_id: str, disabled: bool = True) -> None:
        with self.store.lock:
            (self.disabled.add if disabled else self.disabled.discard)(corp_id)

    def deny(self, app_key: str, denied: bool = True) -> None:
        with self.store.lock:
            (self.denied.add if denied else self.denied.discard)(app_key)

    def fail_next(self, count: int = 1, *, errcode: int = SUBMIT_INTERNAL) -> None:
        """The next ``count`` applyevent calls answer ``errcode`` (nothing created)."""
        with self.store.lock:
            self.failures.extend([errcode] * count)

    def lose_next_answers(self, count: int = 1) -> None:
        """The next ``count`` applyevent calls create the approval and then answer HTTP 502 (as a proxy would when
        the connection broke after WeCom did the work)."""
        with self.store.lock:
            self.lost_answers += count

    def approval(self, sp_no: str) -> OaApproval:
        with self.store.lock:
            found = self.approvals.get(str(sp_no))
        if found is None:
            raise KeyError(f"no approval {sp_no!r}")
        return found

    def approvals_of(self, corp_id: str) -> list[OaApproval]:
        with self.store.lock:
            return [a for a in self.approvals.values() if a.corp_id == corp_id]

    def approve(self, sp_no: str, userid: str, *, speech: str = "", **delivery: Any) -> OaActResult:
        """``userid`` approves in the app (their node must be the current one and their part undecided); WeCom
        posts ``sys_approval_change`` to the app's callback URL unless ``deliver=False``."""
        return self._act(sp_no, userid, APPROVED, speech, **delivery)

    def reject(self, sp_no: str, userid: str, *, speech: str = "", **delivery: Any) -> OaActResult:
        return self._act(sp_no, userid, REJECTED, speech, **delivery)

    def revoke(self, sp_no: str, userid: str | None = None, **delivery: Any) -> OaActResult:
        """The submitter revokes (撤销): 4 while it is being decided, 6 (通过后撤销) once approved."""
        approval = self.approval(sp_no)
        with self.store.lock:
            if (userid or approval.creator) != approval.creator:
                raise OaRefused(f"only {approval.creator!r} may revoke {sp_no!r}")
            if approval.status == PENDING:
                approval.status = REVOKED
                approval.changes.append(CHANGE_REVOKE)
            elif approval.status == APPROVED:
                approval.status = REVOKED_AFTER
                approval.changes.append(CHANGE_REVOKE_AFTER)
            else:
                raise OaRefused(f"{sp_no!r} is {approval.status}: nothing to revoke")
        return self._deliver(approval, **delivery)

    def redeliver(self, sp_no: str, **delivery: Any) -> OaActResult:
        """WeCom posts the approval's current state again (a redelivery)."""
        return self._deliver(self.approval(sp_no), **delivery)

    def forge(
        self, sp_no: str, *, status: int = APPROVED, tamper: Literal["signature", "key", "receiveid"] = "signature"
    ) -> CallbackDelivery:
        """POST a ``sys_approval_change`` WeCom did not send, once: a wrong signature, another EncodingAESKey, or
        another corp's ReceiveId. The approval does not change."""
        approval = self.approval(sp_no)
        app = self._app(approval)
        config = self.store._callback(app)
        forged = copy.deepcopy(approval)
        forged.status = status
        plaintext = sys_approval_change_xml(forged, corp_id=app.corp_id, agent_id=self.agent_id_in_event)
        request = forged_request(
            config.url,
            token=config.token,
            aes_key=config.aes_key,
            corp_id=app.corp_id,
            agent_id=app.agent_id,
            plaintext=plaintext,
            tamper=tamper,
        )
        [delivery] = post_callback(
            request,
            kind="forged",
            app=app.key,
            plaintext=plaintext,
            timeout=self.store.callback_timeout,
            max_attempts=1,
        )
        with self.store.lock:
            self.store.callback_deliveries.append(delivery)
        return delivery

    # --- internals ------------------------------------------------------------------------------------------------

    def _app(self, approval: OaApproval) -> wx.CorpApp:
        with self.store.lock:
            return self.store.corp_apps[approval.app]

    def _act(self, sp_no: str, userid: str, verdict: int, speech: str, **delivery: Any) -> OaActResult:
        approval = self.approval(sp_no)
        with self.store.lock:
            node = approval.current
            if approval.status != PENDING or node is None:
                raise OaRefused(f"{sp_no!r} is no longer being decided (status {approval.status})")
            mine = next((d for d in node.details if d.userid == userid and d.status == PENDING), None)
            if mine is None:
                raise OaRefused(f"{userid!r} has nothing to decide on {sp_no!r} now")
            mine.status, mine.speech, mine.sptime = verdict, speech, int(time.time())
            if verdict == REJECTED:
                node.status = approval.status = REJECTED
                approval.changes.append(CHANGE_REJECT)
            else:
                # 或签: the first approval passes the node; 会签: every approver's
                if node.attr == 1 or all(d.status == APPROVED for d in node.details):
                    node.status = APPROVED
                if approval.current is None:
                    approval.status = APPROVED
                approval.changes.append(CHANGE_APPROVE)
        return self._deliver(approval, **delivery)

    def _deliver(
        self, approval: OaApproval, *, deliver: bool = True, duplicate: int = 1, concurrent: bool = False
    ) -> OaActResult:
        if not deliver:  # WeCom's callback is lost
            return OaActResult(sp_no=approval.sp_no, status=approval.status, event_xml="", deliveries=[])
        app = self._app(approval)
        config = self.store._callback(app)
        with self.store.lock:
            plaintext = sys_approval_change_xml(approval, corp_id=app.corp_id, agent_id=self.agent_id_in_event)
        request = wx._signed_post(app, config, plaintext)
        timeout, attempts = self.store.callback_timeout, self.store.callback_max_deliveries

        def run() -> list[CallbackDelivery]:
            return post_callback(
                request, kind="event", app=app.key, plaintext=plaintext, timeout=timeout, max_attempts=attempts
            )

        runs = max(1, duplicate)
        if concurrent and runs > 1:
            with ThreadPoolExecutor(max_workers=runs) as pool:
                batches = list(pool.map(lambda _: run(), range(runs)))
        else:
            batches = [run() for _ in range(runs)]
        deliveries = [d for batch in batches for d in batch]
        with self.store.lock:
            self.store.callback_deliveries.extend(deliveries)
        return OaActResult(sp_no=approval.sp_no, status=approval.status, event_xml=plaintext, deliveries=deliveries)

    def _next_sp_no(self, corp_id: str) -> str:
        """202001140001: the day (Asia/Shanghai) and a sequence per corp, as in 91983's and 91816's examples."""
        day = datetime.now(SHANGHAI).strftime("%Y%m%d")
        with self.store.lock:
            seq = self.day_seq.get((corp_id, day), 0) + 1
            self.day_seq[(corp_id, day)] = seq
        return f"{day}{seq:04d}"


def oa_desk(store: wx.WeChatStore) -> OaDesk:
    """The store's 审批 app (made on first use)."""
    with store.lock:
        desk = store.__dict__.get("_oa_desk")
        if desk is None:
            desk = store.__dict__["_oa_desk"] = OaDesk(store)
    assert isinstance(desk, OaDesk)
    return desk


# --- the callback XML ---------------------------------------------------------------------------------------------


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def sys_approval_change_xml(approval: OaApproval, *, corp_id: str, agent_id: int) -> str:
    """The plaintext of 审批申请状态变化回调通知 (91815), in its example's element order."""
    parts = [
        "<xml>",
        f"<ToUserName>{_cdata(corp_id)}</ToUserName>",
        f"<FromUserName>{_cdata('sys')}</FromUserName>",
        f"<CreateTime>{int(time.time())}</CreateTime>",
        f"<MsgType>{_cdata('event')}</MsgType>",
        f"<Event>{_cdata('sys_approval_change')}</Event>",
        f"<AgentID>{agent_id}</AgentID>",
        "<ApprovalInfo>",
        f"<SpNo>{approval.sp_no}</SpNo>",
        f"<SpName>{_cdata(approval.sp_name)}</SpName>",
        f"<SpStatus>{approval.status}</SpStatus>",
        f"<TemplateId>{_cdata(approval.template_id)}</TemplateId>",
        f"<ApplyTime>{approval.apply_time}</ApplyTime>",
        f"<Applyer><UserId>{_cdata(approval.creator)}</UserId><Party>{_cdata('1')}</Party></Applyer>",
    ]
    for node in approval.nodes:
        parts.append(f"<SpRecord><SpStatus>{node.status}</SpStatus><ApproverAttr>{node.attr}</ApproverAttr>")
        for d in node.details:
            parts.append(
                f"<Details><Approver><UserId>{_cdata(d.userid)}</UserId></Approver><Speech>{_cdata(d.speech)}</Speech>"
                f"<SpStatus>{d.status}</SpStatus><SpTime>{d.sptime}</SpTime></Details>"
            )
        parts.append("</SpRecord>")
    parts += [f"<Notifyer><UserId>{_cdata(u)}</UserId></Notifyer>" for u in approval.notifyer]
    parts += [f"<StatuChangeEvent>{approval.changes[-1]}</StatuChangeEvent>", "</ApprovalInfo>", "</xml>"]
    return "".join(parts)


# --- handlers (plain functions of the store and the request's parts) ----------------------------------------------


def _param(ok: bool, what: str) -> None:
    if not ok:
        raise wx._Refusal(PARAM_ERROR, f"get approval param error:{what}")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _userids(value: Any) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(u, str) and u for u in value):
        return None
    return list(value)


def _check_value(control: OaControlDef, value: Any) -> bool:
    """Is the value of the 附录's shape for the control, and filled when the control is required?"""
    if not isinstance(value, dict):
        return False
    key = {"Text": "text", "Textarea": "text", "Number": "new_number", "Money": "new_money"}.get(control.control)
    if key is None:  # the other controls are accepted as given (the hub fills only these four)
        return True
    given = value.get(key)
    if given is None:
        return not control.require
    if not isinstance(given, str):
        return False
    if control.control in ("Number", "Money") and given:
        try:
            float(given)
        except ValueError:
            return False
    return bool(given.strip()) or not control.require


def _check_contents(template: OaTemplate, apply_data: Any) -> list[dict[str, Any]]:
    _param(isinstance(apply_data, dict), "apply_data")
    contents = apply_data.get("contents")
    _param(isinstance(contents, list) and bool(contents), "apply_data.contents")
    given: dict[str, dict[str, Any]] = {}
    for content in contents:
        _param(isinstance(content, dict), "apply_data.contents")
        control_id, control = _text(content.get("id")), _text(content.get("control"))
        _param(bool(control_id) and bool(control) and "value" in content, "control, id and value are required")
        definition = template.controls.get(control_id)
        _param(definition is not None and control in CONTROLS, f"invalid control id {control_id}")
        assert definition is not None
        _param(definition.control == control, f"control {control_id} is a {definition.control}")
        _param(_check_value(definition, content.get("value")), f"invalid value of {control_id}")
        given[control_id] = content
    missing = [c.id for c in template.controls.values() if c.require and c.id not in given]
    _param(not missing, "has no require control value")
    return copy.deepcopy(contents)


def _check_summary(summary_list: Any) -> list[str]:
    _param(isinstance(summary_list, list) and 1 <= len(summary_list) <= MAX_SUMMARY, "summary_list")
    lines: list[str] = []
    for item in summary_list:
        infos = item.get("summary_info") if isinstance(item, dict) else None
        _param(isinstance(infos, list) and bool(infos), "summary_info")
        assert isinstance(infos, list)
        for info in infos:
            _param(isinstance(info, dict) and bool(_text(info.get("text"))) and bool(_text(info.get("lang"))), "text")
        lines.append(_text(infos[0].get("text")))
    return lines


def handle_applyevent(store: wx.WeChatStore, access_token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """``POST /cgi-bin/oa/applyevent`` (提交审批申请, 91853)."""
    path = "/cgi-bin/oa/applyevent"
    desk = oa_desk(store)
    owner = ""
    lose_answer = False
    try:
        token = store._token(access_token, ("wecom",), invalid=40014)
        owner = token.owner
        with store.lock:
            app = store.corp_apps[owner]
            users = set(store.corp_users.get(app.corp_id, set()))
            failure = desk.failures.pop(0) if desk.failures else None
            disabled, denied = app.corp_id in desk.disabled, owner in desk.denied
        if failure is not None:
            raise wx._Refusal(failure, "system error" if failure == -1 else "apply event internal error")
        if disabled:
            raise wx._Refusal(APP_DISABLED, "approval app is disabled")
        if denied:
            raise wx._Refusal(NO_PERMISSION, "no approval app permission")
        payload = wx._json(body)
        _param(payload is not None, "request body is not JSON")
        assert payload is not None
        creator = _text(payload.get("creator_userid"))
        _param(bool(creator), "creator_userid")
        if creator not in users:  # 申请人需在应用可见范围内 (91853); 301055 提单者不在…可见范围
            raise wx._Refusal(NO_PERMISSION, "creator_userid not in app visible range")
        template_id = _text(payload.get("template_id"))
        _param(bool(template_id), "template_id")
        with store.lock:
            template = desk.templates.get((app.corp_id, template_id))
        _param(template is not None, "invalid template_id")
        assert template is not None
        mode = payload.get("use_template_approver")
        _param(mode in (0, 1) and not isinstance(mode, bool), "use_template_approver")
        nodes: list[OaNode] = []
        notifyer: list[str] = []
        notify_type = 1
        if mode == 0:  # approver 是; notifyer / notify_type 否 — 仅use_template_approver为0时生效
            approvers = payload.get("approver")
            _param(isinstance(approvers, list) and bool(approvers), "approver")
            assert isinstance(approvers, list)
            for node in approvers:
                _param(isinstance(node, dict), "approver")
                attr, ids = node.get("attr"), _userids(node.get("userid"))
                _param(attr in (1, 2) and not isinstance(attr, bool), "approver.attr")
                _param(bool(ids) and all(u in users for u in ids or []), "approver.userid")
                nodes.append(OaNode(attr=attr, details=[OaDetail(userid=u) for u in ids or []]))
            if payload.get("notifyer") is not None:
                ids = _userids(payload.get("notifyer"))
                _param(ids is not None and all(u in users for u in ids), "notifyer")
                notifyer = list(ids or [])
            if payload.get("notify_type") is not None:
                notify_type = payload.get("notify_type")  # type: ignore[assignment]
                _param(notify_type in (1, 2, 3) and not isinstance(notify_type, bool), "notify_type")
        else:
            _param(bool(template.process), "the template has no approval process")
            nodes = [OaNode(attr=attr, details=[OaDetail(userid=u) for u in ids]) for attr, ids in template.process]
        contents = _check_contents(template, payload.get("apply_data"))
        summary = _check_summary(payload.get("summary_list"))
        approval = OaApproval(
            sp_no=desk._next_sp_no(app.corp_id),
            app=owner,
            corp_id=app.corp_id,
            template_id=template_id,
            sp_name=template.name,
            creator=creator,
            apply_time=int(time.time()),
            nodes=nodes,
            notifyer=notifyer,
            notify_type=notify_type,
            contents=contents,
            summary=summary,
            use_template_approver=1 if mode == 1 else 0,
        )
        with store.lock:
            desk.approvals[approval.sp_no] = approval
            if desk.lost_answers:
                desk.lost_answers -= 1
                lose_answer = True
    except wx._Refusal as refusal:
        store._log(path, refusal.app or owner, refusal.errcode, access_token)
        return 200, wx._wecom_error(refusal.errcode, refusal.errmsg)
    store._log(path, owner, 0, access_token)
    if lose_answer:
        return 502, {"error": "bad gateway"}
    return 200, {"errcode": 0, "errmsg": "ok", "sp_no": approval.sp_no}


def _reader(store: wx.WeChatStore, access_token: str) -> tuple[str, wx.CorpApp]:
    token = store._token(access_token, ("wecom",), invalid=40014)
    with store.lock:
        app = store.corp_apps[token.owner]
        denied = token.owner in oa_desk(store).denied
    if denied:
        raise wx._Refusal(NO_PERMISSION, "no approval data permission", token.owner)
    return token.owner, app


# 91983's example: a Text control's value as read back, beside its text.
READ_BACK_LISTS = ("tips", "members", "departments", "files", "children", "stat_field")
VALUE_KEYS = {"Text": "text", "Textarea": "text", "Number": "new_number", "Money": "new_money"}


def _read_back(template: OaTemplate | None, content: dict[str, Any]) -> dict[str, Any]:
    """One of apply_data.contents as getapprovaldetail returns it (91983): the template's control name as its title,
    the value under the control's key with the example's empty lists."""
    control_id, control = str(content.get("id") or ""), str(content.get("control") or "")
    definition = template.controls.get(control_id) if template is not None else None
    given = content.get("value") if isinstance(content.get("value"), dict) else {}
    assert isinstance(given, dict)
    key = VALUE_KEYS.get(control)
    if key is None:  # the other controls: as given (the hub fills only the four above)
        value = copy.deepcopy(given)
    else:
        value = {key: str(given.get(key) or "")}
        value.update({name: [] for name in READ_BACK_LISTS})
    title = definition.title if definition is not None else ""
    return {"control": control, "id": control_id, "title": [{"text": title, "lang": "zh_CN"}], "value": value}


def _info(approval: OaApproval, template: OaTemplate | None) -> dict[str, Any]:
    """getapprovaldetail's ``info`` (91983)."""
    return {
        "sp_no": approval.sp_no,
        "sp_name": approval.sp_name,
        "sp_status": approval.status,
        "template_id": approval.template_id,
        "apply_time": approval.apply_time,
        "applyer": {"userid": approval.creator, "partyid": "1"},
        "sp_record": [
            {
                "sp_status": node.status,
                "approverattr": node.attr,
                "details": [
                    {
                        "approver": {"userid": d.userid},
                        "speech": d.speech,
                        "sp_status": d.status,
                        "sptime": d.sptime,
                        "media_id": [],
                    }
                    for d in node.details
                ],
            }
            for node in approval.nodes
        ],
        "notifyer": [{"userid": u} for u in approval.notifyer],
        "apply_data": {"contents": [_read_back(template, c) for c in approval.contents]},
        "comments": [],
    }


def handle_getapprovaldetail(store: wx.WeChatStore, access_token: str, body: bytes) -> dict[str, Any]:
    """``POST /cgi-bin/oa/getapprovaldetail`` (获取审批申请详情, 91983)."""
    path = "/cgi-bin/oa/getapprovaldetail"
    owner = ""
    try:
        owner, app = _reader(store, access_token)
        payload = wx._json(body)
        raw = payload.get("sp_no") if payload is not None else None
        sp_no = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else _text(raw)
        _param(sp_no.isdigit(), "sp_no")
        with store.lock:
            desk = oa_desk(store)
            approval = desk.approvals.get(sp_no)
            info = None
            if approval is not None and approval.corp_id == app.corp_id:
                info = _info(approval, desk.templates.get((approval.corp_id, approval.template_id)))
        _param(info is not None, "invalid sp_no")
    except wx._Refusal as refusal:
        store._log(path, refusal.app or owner, refusal.errcode, access_token)
        return wx._wecom_error(refusal.errcode, refusal.errmsg)
    store._log(path, owner, 0, access_token)
    return {"errcode": 0, "errmsg": "ok", "info": info}


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def handle_getapprovalinfo(store: wx.WeChatStore, access_token: str, body: bytes) -> dict[str, Any]:
    """``POST /cgi-bin/oa/getapprovalinfo`` (批量获取审批单号, 91816)."""
    path = "/cgi-bin/oa/getapprovalinfo"
    owner = ""
    try:
        owner, app = _reader(store, access_token)
        payload = wx._json(body) or {}
        start, end = _number(payload.get("starttime")), _number(payload.get("endtime"))
        cursor, size = _number(payload.get("cursor")), _number(payload.get("size"))
        _param(start is not None and end is not None and cursor is not None and size is not None, "required")
        assert start is not None and end is not None and cursor is not None and size is not None
        _param(end > start and end - start <= MAX_INFO_SPAN, "endtime")
        _param(1 <= size <= MAX_INFO_SIZE, "size")
        filters = payload.get("filters") or []
        _param(isinstance(filters, list), "filters")
        wanted: dict[str, set[str]] = {}
        for item in filters:
            _param(isinstance(item, dict), "filters")
            key, value = _text(item.get("key")), _text(item.get("value"))
            _param(key in ("template_id", "creator", "department", "sp_status", "record_type") and bool(value), key)
            wanted.setdefault(key, set()).add(value)
        with store.lock:
            found = sorted(
                a.sp_no
                for a in oa_desk(store).approvals.values()
                if a.corp_id == app.corp_id
                and start <= a.apply_time <= end
                and ("template_id" not in wanted or a.template_id in wanted["template_id"])
                and ("creator" not in wanted or a.creator in wanted["creator"])
                and ("sp_status" not in wanted or str(a.status) in wanted["sp_status"])
            )
    except wx._Refusal as refusal:
        store._log(path, refusal.app or owner, refusal.errcode, access_token)
        return wx._wecom_error(refusal.errcode, refusal.errmsg)
    store._log(path, owner, 0, access_token)
    page = found[cursor : cursor + size]
    answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "sp_no_list": page}
    if cursor + size < len(found):  # 91816: 当返回结果没有该字段时表示审批单已经拉取完
        answer["next_cursor"] = cursor + size
    return answer


@post("/cgi-bin/oa/applyevent", status_code=200)
async def applyevent(request: Request[Any, Any, Any]) -> Response[bytes]:
    status, body = handle_applyevent(
        wx._store(request), wx._query(request).get("access_token", ""), await request.body()
    )
    return wx._reply(body, status)


@post("/cgi-bin/oa/getapprovaldetail", status_code=200)
async def getapprovaldetail(request: Request[Any, Any, Any]) -> Response[bytes]:
    token = wx._query(request).get("access_token", "")
    return wx._reply(handle_getapprovaldetail(wx._store(request), token, await request.body()))


@post("/cgi-bin/oa/getapprovalinfo", status_code=200)
async def getapprovalinfo(request: Request[Any, Any, Any]) -> Response[bytes]:
    token = wx._query(request).get("access_token", "")
    return wx._reply(handle_getapprovalinfo(wx._store(request), token, await request.body()))


OA_ROUTES = [applyevent, getapprovaldetail, getapprovalinfo]


def contents_by_id(contents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{control id: value}`` of an apply_data's contents (for assertions)."""
    return {str(c.get("id")): c.get("value") for c in contents}

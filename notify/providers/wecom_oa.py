"""企业微信「审批」应用 (WeCom's own approval app): the :class:`~orderhub.approvals.oa_port.OaClient` over wechatpy's
WeCom client (its ``OA`` API: ``apply_event``, ``get_approval_detail``; the shared token of
``notify/providers/_wechat.py``), the mapping between the hub's :class:`OaSubmission` / :class:`OaState` and WeCom's
JSON and XML, and the parsing of the ``sys_approval_change`` callback (decrypted by ``wecom_cards``' callback, which
hands us the plaintext). Docs: docs/approvals.md#wecoms-own-审批-app.

Sources (each errcode acted on is cited where it is handled):

* 提交审批申请, https://developer.work.weixin.qq.com/document/path/91853 — ``POST /cgi-bin/oa/applyevent``:
  creator_userid, template_id, use_template_approver (0: approver / notifyer / notify_type of the request; 1: the
  template's own process), approver [{attr 1 或签 / 2 会签, userid [...]}], notifyer, notify_type (1 提单时抄送,
  2 单据通过后抄送, 3 both), apply_data.contents [{control, id, title, value}] (Text / Textarea ``{"text"}``,
  Number ``{"new_number"}``, Money ``{"new_money"}``), summary_list [{summary_info [{text ≤ 20, lang}]}] (最多3行);
  the answer's ``sp_no`` (表单提交成功后，返回的表单编号); 60 calls a minute; errors 301025 参数错误,
  301055 无审批应用权限或提单者不在可见范围, 301056 审批应用已停用, 301057 通用错误码 (提交审批单内部接口失败).
* 获取审批申请详情, https://developer.work.weixin.qq.com/document/path/91983 — ``POST /cgi-bin/oa/getapprovaldetail
  {"sp_no"}`` (the example sends it as a number) → ``info``: sp_no (a string), sp_status, template_id, apply_time,
  applyer.userid, sp_record [{sp_status, approverattr, details [{approver.userid, speech, sp_status, sptime}]}],
  apply_data.contents [{control, id, title [{text, lang}] — the template's control name —, value}] where a Text
  control's value reads back as ``{"text", "tips": [], "members": [], "departments": [], "files": [], "children": [],
  "stat_field": []}`` (the example; 附录: Number ``new_number``, Money ``new_money``): what was submitted is not echoed
  as it was sent, so a lost submission is recognised by the text of its reference control alone; errors 301055,
  301025, 301026 (内部接口失败); 600 calls a minute.
* 批量获取审批单号, https://developer.work.weixin.qq.com/document/path/91816 — ``POST /cgi-bin/oa/getapprovalinfo``:
  starttime / endtime (≤ 31 days apart), cursor, size ≤ 100, filters [{key: template_id | creator | …, value}] →
  sp_no_list, next_cursor (absent on the last page). wechatpy 1.8.18's ``get_approval_info`` sends ``filter`` where
  the API wants ``filters``: we post the body ourselves.
* 审批申请状态变化回调通知, https://developer.work.weixin.qq.com/document/path/91815 — the event ``sys_approval_change``
  (FromUserName ``sys``), ``ApprovalInfo``: SpNo, SpName, SpStatus, TemplateId, ApplyTime, Applyer (UserId, Party),
  SpRecord* (SpStatus, ApproverAttr, Details* (Approver.UserId, Speech, SpStatus, SpTime)), Notifyer*, Comments*,
  StatuChangeEvent. The AgentID is the approval app's (the doc's example: 3010040), not necessarily ours: not checked
  (the signature and the CorpID already are).

申请单状态 (91815, 91983): 1 审批中, 2 已通过, 3 已驳回, 4 已撤销, 6 通过后撤销, 7 已删除, 10 已支付.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any
from xml.etree import ElementTree

from notify.providers._wechat import (
    WECOM_BASE_URL,
    WeComClient,
    optional_key,
    redis_session,
    required_keys,
    run_wechat,
    timeout_from,
)
from orderhub.approvals.oa_port import OaDecision, OaState, OaSubmission, OaUncertain, Status
from orderhub.notifications.port import NotifierChannel, PermanentNotifyError, TransientNotifyError

__all__ = [
    "STATUS",
    "WeComOaClient",
    "applyevent_body",
    "create_oa_client",
    "parse_approval_change",
    "state_from_detail",
]

CHANNEL = NotifierChannel.WECOM.value
# 申请单状态 → the hub's names (91815, 91983).
STATUS: dict[int, Status] = {
    1: "pending",
    2: "approved",
    3: "rejected",
    4: "withdrawn",
    6: "withdrawn_after_approval",
    7: "deleted",
    10: "paid",
}
# 91853 错误说明: 301057 通用错误码，提交审批单内部接口失败 — WeCom failed inside; whether the approval was created is
# unknown, so the next attempt looks for it before submitting again.
SUBMIT_INTERNAL_ERROR = "301057"
LANG = "zh_CN"  # 91853: 摘要行显示语言 (中文 zh_CN)
INFO_PAGE = 100  # 91816: size 上限值为100
INFO_PAGES = 5  # pages looked through for a lost submission (its span is a few minutes wide)
INFO_SPAN_S = 31 * 24 * 3600  # 91816: 起始时间跨度不能超过31天


# ---------------------------------------------------------------------------------------------------- mapping


def _value(control: str, value: str) -> dict[str, Any]:
    """A control's value (91853 附录): Text / Textarea text, Number new_number, Money new_money."""
    if control == "Money":
        return {"new_money": value}
    if control == "Number":
        return {"new_number": value}
    return {"text": value}


def applyevent_body(submission: OaSubmission) -> dict[str, Any]:
    """The oa/applyevent body for a submission (91853), as wechatpy's ``apply_event`` arguments."""
    contents = []
    for field in submission.fields:
        content: dict[str, Any] = {
            "control": field.control,
            "id": field.id,
            "value": _value(field.control, field.value),
        }
        if field.title:
            content["title"] = [{"text": field.title, "lang": LANG}]
        contents.append(content)
    body: dict[str, Any] = {
        "creator_userid": submission.creator,
        "template_id": submission.template_id,
        "use_template_approver": 1 if submission.use_template_approver else 0,
        "approver": None,
        "notifyer": None,
        "notify_type": None,
        "apply_data": {"contents": contents},
        "summary_list": [{"summary_info": [{"text": line, "lang": LANG}]} for line in submission.summary],
    }
    if not submission.use_template_approver:  # 0: 通过接口指定审批人、抄送人
        body["approver"] = [
            {"attr": 2 if node.mode == "all" else 1, "userid": list(node.userids)} for node in submission.nodes
        ]
        if submission.notify:
            body["notifyer"] = list(submission.notify)
            body["notify_type"] = submission.notify_type
    return body


def _int(value: Any) -> int:
    try:
        return int(str(value).strip() or 0)
    except (TypeError, ValueError):
        return 0


def _field_text(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    for key in ("text", "new_money", "new_number"):
        if value.get(key) not in (None, ""):
            return str(value[key])
    return ""


def state_from_detail(info: Mapping[str, Any]) -> OaState:
    """getapprovaldetail's ``info`` (91983) as an :class:`OaState`."""
    raw = _int(info.get("sp_status"))
    decisions: list[OaDecision] = []
    for record in info.get("sp_record") or []:
        for detail in (record or {}).get("details") or []:
            approver = detail.get("approver") or {}
            decisions.append(
                OaDecision(
                    userid=str(approver.get("userid") or ""),
                    status=_int(detail.get("sp_status")),
                    speech=str(detail.get("speech") or ""),
                    at=_int(detail.get("sptime")),
                )
            )
    fields = {
        str(c.get("id") or ""): _field_text(c.get("value"))
        for c in (info.get("apply_data") or {}).get("contents") or []
        if isinstance(c, dict)
    }
    return OaState(
        sp_no=str(info.get("sp_no") or ""),
        status=STATUS.get(raw, "pending"),
        raw_status=raw,
        creator=str((info.get("applyer") or {}).get("userid") or ""),
        template_id=str(info.get("template_id") or ""),
        decisions=decisions,
        fields=fields,
        applied_at=_int(info.get("apply_time")),
    )


def _text(node: ElementTree.Element | None, tag: str) -> str:
    return (node.findtext(tag) or "").strip() if node is not None else ""


def parse_approval_change(root: ElementTree.Element) -> OaState | None:
    """A decrypted callback (already parsed) as an :class:`OaState` when it is ``sys_approval_change`` (91815);
    None for any other message or event."""
    if _text(root, "MsgType") != "event" or _text(root, "Event") != "sys_approval_change":
        return None
    info = root.find("ApprovalInfo")
    sp_no = _text(info, "SpNo") or _text(info, "SpNoStr")
    if info is None or not sp_no:
        return None
    raw = _int(_text(info, "SpStatus"))
    decisions = [
        OaDecision(
            userid=_text(detail.find("Approver"), "UserId"),
            status=_int(_text(detail, "SpStatus")),
            speech=_text(detail, "Speech"),
            at=_int(_text(detail, "SpTime")),
        )
        for record in info.iterfind("SpRecord")
        for detail in record.iterfind("Details")
    ]
    return OaState(
        sp_no=sp_no,
        status=STATUS.get(raw, "pending"),
        raw_status=raw,
        creator=_text(info.find("Applyer"), "UserId"),
        template_id=_text(info, "TemplateId"),
        decisions=decisions,
        change=_int(_text(info, "StatuChangeEvent")),
        applied_at=_int(_text(info, "ApplyTime")),
    )


def _sp_no(sp_no: str) -> int | str:
    """91983's example sends sp_no as a number."""
    return int(sp_no) if sp_no.isdigit() else sp_no


# ------------------------------------------------------------------------------------------------------ client


class WeComOaClient:
    def __init__(self, client: WeComClient) -> None:
        self.client = client

    async def submit(self, submission: OaSubmission) -> str:
        body = applyevent_body(submission)
        try:
            # Token errors (40014 / 42001) are refreshed once by the client; -1 系统繁忙 is transient, 45009 / 45033
            # wait; 301025 / 301055 / 301056 (91853) are refusals for good (_wechat.py: permanent by default).
            result = await run_wechat(lambda: self.client.OA.apply_event(**body))
        except TransientNotifyError as exc:
            if exc.code in ("timeout", "network", "bad_response") or exc.code.startswith("http_5"):
                raise OaUncertain(exc.code, exc.message) from exc  # the request may have reached WeCom
            raise
        except PermanentNotifyError as exc:
            if exc.code == SUBMIT_INTERNAL_ERROR:
                raise OaUncertain(exc.code, exc.message) from exc
            raise
        sp_no = str(result.get("sp_no") or "")
        if not sp_no:
            raise OaUncertain("no_sp_no", "oa/applyevent answered errcode 0 without sp_no")
        return sp_no

    async def _detail(self, sp_no: str) -> dict[str, Any]:
        result = await run_wechat(lambda: self.client.OA.get_approval_detail(_sp_no(sp_no)))
        info = result.get("info")
        if not isinstance(info, dict):
            raise TransientNotifyError("bad_response", "oa/getapprovaldetail answered without info")
        return info

    async def state(self, sp_no: str) -> OaState:
        return state_from_detail(await self._detail(sp_no))

    async def find(self, submission: OaSubmission, *, since: datetime, until: datetime, budget: float) -> list[str]:
        """The approval this submission created between ``since`` and ``until``: among the creator's approvals of
        the template in that span (getapprovalinfo), the first whose reference control reads back the submission's
        reference (getapprovaldetail, newest first: a lost attempt is recent). Raises ``lookup_incomplete``
        (transient) when ``budget`` seconds ran out, or the pages did, before every candidate was read."""
        deadline = time.monotonic() + budget
        start = int(since.timestamp())
        end = min(max(int(until.timestamp()), start + 1), start + INFO_SPAN_S)  # 91816: endtime > starttime
        filters = [
            {"key": "template_id", "value": submission.template_id},
            {"key": "creator", "value": submission.creator},
        ]
        numbers: list[str] = []
        cursor = 0
        complete = False
        for _ in range(INFO_PAGES):
            _within(deadline)
            data = {
                "starttime": str(start),
                "endtime": str(end),
                "cursor": cursor,
                "size": INFO_PAGE,
                "filters": filters,
            }
            page = await run_wechat(partial(self.client.post, "oa/getapprovalinfo", data=data))
            numbers += [str(n) for n in page.get("sp_no_list") or []]
            if page.get("next_cursor") in (None, "", 0):
                complete = True
                break
            cursor = _int(page.get("next_cursor"))
        wanted = _wanted(submission)
        for sp_no in sorted(set(numbers), key=lambda n: (len(n), n), reverse=True):  # 202001140001: day, sequence
            _within(deadline)
            state = state_from_detail(await self._detail(sp_no))
            if state.creator == submission.creator and all(state.fields.get(k) == v for k, v in wanted.items()):
                return [sp_no]
        if not complete:
            raise TransientNotifyError("lookup_incomplete", "more approvals in the span than the pages looked through")
        return []


def _wanted(submission: OaSubmission) -> dict[str, str]:
    """What identifies the submission's approval on read-back: its reference control's text (订单中枢 #42, unique
    to the request). A submission written before the reference was required: its text controls (an amount may read
    back formatted otherwise)."""
    if submission.ref_control:
        return {f.id: f.value for f in submission.fields if f.id == submission.ref_control}
    return {f.id: f.value for f in submission.fields if f.control in ("Text", "Textarea")}


def _within(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise TransientNotifyError("lookup_incomplete", "the look for a lost submission ran out of time")


def create_oa_client(config_: Mapping[str, str], redis: Any) -> WeComOaClient:
    """The 审批 app's client over the ``wecom`` notifier's account: a self-built app's secret works once the app is
    set in 审批's 「可调用接口的应用」 (the 审批 pages' 权限说明, e.g. 91982)."""
    keys = required_keys(config_, CHANNEL, "corp_id", "secret")
    client = WeComClient(
        keys["corp_id"],
        keys["secret"],
        session=redis_session(redis),
        base_url=optional_key(config_, "base_url", WECOM_BASE_URL),
        timeout=timeout_from(config_, CHANNEL),
    )
    return WeComOaClient(client)

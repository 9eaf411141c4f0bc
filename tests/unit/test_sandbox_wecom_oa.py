"""The simulator of WeCom's own 审批 app (sandbox/wecom_oa.py): oa/applyevent checks what 提交审批申请 (91853) says is
required and answers its errcodes (301025 参数错误, 301055 不在可见范围 / 无权限, 301056 已停用, 301057 内部错误);
getapprovaldetail (91983) and getapprovalinfo (91816) read what was submitted; approvers act by the node's rules
(或签 / 会签) and the ``sys_approval_change`` callback (91815) reaches the app's URL encrypted as WeCom's 加解密方案 —
checked here with wechatpy's enterprise crypto, an implementation independent of the simulator's."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from wechatpy.enterprise.crypto import WeChatCrypto

from sandbox.wechat import CorpApp, WeChatStore, running_wechat
from sandbox.wecom_oa import (
    OaDesk,
    OaRefused,
    handle_applyevent,
    handle_getapprovaldetail,
    handle_getapprovalinfo,
    oa_desk,
)
from tests.unit.test_sandbox_wecom_cards import Receiver, receiver

__all__ = ["receiver"]  # the callback receiver fixture, shared with the cards' simulator tests

TEXT, MONEY, NOTE = "Text-1590000001", "Money-1590000002", "Textarea-1590000003"


def _setup() -> tuple[WeChatStore, CorpApp, OaDesk, str, str]:
    store = WeChatStore()
    app = store.create_corp()
    store.add_wecom_user(app.corp_id, "creator", "boss", "boss2", "cc")
    desk = oa_desk(store)
    template = desk.add_template(
        app.corp_id,
        controls=[(TEXT, "Text", "订单号", True), (MONEY, "Money", "金额", True), (NOTE, "Textarea", "说明", False)],
    )
    return store, app, desk, template.template_id, store._issue(app.key, "wecom")


def _body(template: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "creator_userid": "creator",
        "template_id": template,
        "use_template_approver": 0,
        "approver": [{"attr": 2, "userid": ["boss", "boss2"]}, {"attr": 1, "userid": ["boss"]}],
        "notifyer": ["cc"],
        "notify_type": 1,
        "apply_data": {
            "contents": [
                {"control": "Text", "id": TEXT, "value": {"text": "taobao/123"}},
                {"control": "Money", "id": MONEY, "value": {"new_money": "5001.00"}},
            ]
        },
        "summary_list": [{"summary_info": [{"text": "金额：¥5,001.00", "lang": "zh_CN"}]}],
    }
    body.update(changes)
    return body


def _apply(store: WeChatStore, token: str, body: Any) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return handle_applyevent(store, token, raw)


def test_applyevent_takes_a_complete_request_and_answers_its_number() -> None:
    store, _, desk, template_id, token = _setup()
    status, answer = _apply(store, token, _body(template_id))
    assert status == 200 and answer["errcode"] == 0, answer
    sp_no = answer["sp_no"]
    assert len(sp_no) == 12 and sp_no.isdigit()  # 202001140001: the day and a sequence
    approval = desk.approval(sp_no)
    assert (approval.creator, approval.status, approval.notifyer) == ("creator", 1, ["cc"])
    assert [(n.attr, [d.userid for d in n.details]) for n in approval.nodes] == [(2, ["boss", "boss2"]), (1, ["boss"])]
    second = _apply(store, token, _body(template_id))[1]["sp_no"]
    assert int(second) == int(sp_no) + 1


@pytest.mark.parametrize(
    ("changes", "errcode"),
    [
        ({"creator_userid": ""}, 301025),  # 是: required
        ({"creator_userid": "stranger"}, 301055),  # 提单者不在…可见范围
        ({"template_id": "nope"}, 301025),
        ({"use_template_approver": 2}, 301025),
        ({"approver": []}, 301025),  # 是 when use_template_approver is 0
        ({"approver": [{"attr": 3, "userid": ["boss"]}]}, 301025),  # attr: 1 或签, 2 会签
        ({"approver": [{"attr": 1, "userid": ["stranger"]}]}, 301025),
        ({"notify_type": 4}, 301025),
        ({"apply_data": {"contents": []}}, 301025),
        ({"apply_data": {"contents": [{"control": "Text", "id": TEXT, "value": {"text": "x"}}]}}, 301025),  # 必填
        (
            {
                "apply_data": {
                    "contents": [
                        {"control": "Text", "id": TEXT, "value": {"text": "x"}},
                        {"control": "Money", "id": MONEY, "value": {"text": "5001"}},  # Money takes new_money
                    ]
                }
            },
            301025,
        ),
        ({"summary_list": []}, 301025),
        ({"summary_list": [{"summary_info": [{"text": "x", "lang": "zh_CN"}]}] * 4}, 301025),  # 最多3行
        ({"summary_list": [{"summary_info": [{"text": "x"}]}]}, 301025),  # lang 是
    ],
)
def test_applyevent_refuses_what_the_docs_require(changes: dict[str, Any], errcode: int) -> None:
    store, app, desk, template_id, token = _setup()
    status, answer = _apply(store, token, _body(template_id, **changes))
    assert (status, answer["errcode"]) == (200, errcode), answer
    assert not desk.approvals_of(app.corp_id)


def test_applyevent_token_app_and_forced_failures() -> None:
    store, app, desk, template_id, token = _setup()
    assert _apply(store, "", _body(template_id))[1]["errcode"] == 41001
    assert _apply(store, "not-a-token", _body(template_id))[1]["errcode"] == 40014
    assert _apply(store, token, b"{not json")[1]["errcode"] == 301025
    desk.disable(app.corp_id)
    assert _apply(store, token, _body(template_id))[1]["errcode"] == 301056  # 审批应用已停用
    desk.disable(app.corp_id, False)
    desk.deny(app.key)
    assert _apply(store, token, _body(template_id))[1]["errcode"] == 301055  # 无审批应用权限
    desk.deny(app.key, False)
    desk.fail_next(errcode=301057)
    assert _apply(store, token, _body(template_id))[1]["errcode"] == 301057
    assert not desk.approvals_of(app.corp_id)
    desk.lose_next_answers()
    status, _ = _apply(store, token, _body(template_id))
    assert status == 502 and len(desk.approvals_of(app.corp_id)) == 1  # created, the answer lost
    # use_template_approver 1: the template's own process, which must exist
    body = _body(template_id, use_template_approver=1)
    assert _apply(store, token, body)[1]["errcode"] == 301025
    desk.set_process(app.corp_id, template_id, [(1, ["boss2"])])
    sp_no = _apply(store, token, body)[1]["sp_no"]
    assert [d.userid for d in desk.approval(sp_no).nodes[0].details] == ["boss2"]


def test_detail_and_info_read_what_was_submitted_and_decided() -> None:
    store, _, desk, template_id, token = _setup()
    sp_no = _apply(store, token, _body(template_id))[1]["sp_no"]
    with pytest.raises(OaRefused):
        desk.approve(sp_no, "creator", deliver=False)  # not an approver
    desk.approve(sp_no, "boss", speech="ok", deliver=False)  # 会签: boss2 still to approve
    with pytest.raises(OaRefused):
        desk.approve(sp_no, "boss", deliver=False)  # already did
    detail = handle_getapprovaldetail(store, token, json.dumps({"sp_no": int(sp_no)}).encode())
    info = detail["info"]
    assert (detail["errcode"], info["sp_status"], info["applyer"]["userid"]) == (0, 1, "creator")
    assert [d["sp_status"] for d in info["sp_record"][0]["details"]] == [2, 1]
    # Read back as 91983's example shows a control, not as it was sent: the template's control name as its title,
    # the value with the example's empty lists beside it.
    names = ("tips", "members", "departments", "files", "children", "stat_field")
    lists: dict[str, list[Any]] = {name: [] for name in names}
    assert info["sp_no"] == sp_no and isinstance(info["sp_no"], str)
    assert info["apply_data"]["contents"] == [
        {
            "control": "Text",
            "id": TEXT,
            "title": [{"text": "订单号", "lang": "zh_CN"}],
            "value": {"text": "taobao/123", **lists},
        },
        {
            "control": "Money",
            "id": MONEY,
            "title": [{"text": "金额", "lang": "zh_CN"}],
            "value": {"new_money": "5001.00", **lists},
        },
    ]
    desk.approve(sp_no, "boss2", deliver=False)
    result = desk.approve(sp_no, "boss", deliver=False)  # the second node, 或签
    assert result.status == 2 and result.deliveries == []
    assert handle_getapprovaldetail(store, token, json.dumps({"sp_no": sp_no}).encode())["info"]["sp_status"] == 2
    assert handle_getapprovaldetail(store, token, b'{"sp_no": "1"}')["errcode"] == 301025
    now = int(time.time())
    info_body = {"starttime": now - 60, "endtime": now + 60, "cursor": 0, "size": 100}
    listed = handle_getapprovalinfo(
        store, token, json.dumps({**info_body, "filters": [{"key": "creator", "value": "creator"}]}).encode()
    )
    assert listed["sp_no_list"] == [sp_no] and "next_cursor" not in listed
    assert handle_getapprovalinfo(store, token, json.dumps({**info_body, "endtime": now - 61}).encode())["errcode"] == (
        301025
    )
    span = {**info_body, "endtime": now - 60 + 32 * 24 * 3600}
    assert handle_getapprovalinfo(store, token, json.dumps(span).encode())["errcode"] == 301025  # ≤ 31 days
    # revoke after approval: 6 通过后撤销; a rejection in another approval: 3
    assert desk.revoke(sp_no, deliver=False).status == 6
    other = _apply(store, token, _body(template_id))[1]["sp_no"]
    assert desk.reject(other, "boss2", speech="不行", deliver=False).status == 3
    assert desk.revoke(_apply(store, token, _body(template_id))[1]["sp_no"], deliver=False).status == 4


def test_the_callback_reaches_the_app_encrypted_and_in_the_documented_shape(receiver: Receiver) -> None:
    with running_wechat() as sim:
        app = sim.store.create_corp()
        sim.store.add_wecom_user(app.corp_id, "creator", "boss")
        config = sim.store.set_callback(app.corp_id, app.agent_id, receiver.url)
        receiver.crypto = WeChatCrypto(config.token, config.aes_key, app.corp_id)
        desk = oa_desk(sim.store)
        template = desk.add_template(app.corp_id, controls=[(TEXT, "Text", "订单号", True)])
        token = sim.store._issue(app.key, "wecom")
        body = _body(template.template_id, approver=[{"attr": 1, "userid": ["boss"]}], notifyer=None)
        body["apply_data"] = {"contents": [{"control": "Text", "id": TEXT, "value": {"text": "x"}}]}
        sp_no = _apply(sim.store, token, body)[1]["sp_no"]
        result = desk.approve(sp_no, "boss", speech="同意", duplicate=2)
        assert result.accepted and len(result.deliveries) == 2
        forged = desk.forge(sp_no, tamper="signature")
        assert forged.status == 403
    posts = receiver.posts()
    assert len(posts) == 3 and posts[0].plaintext and posts[0].plaintext == posts[1].plaintext
    root = ET.fromstring(posts[0].plaintext)
    assert [child.tag for child in root] == [
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Event",
        "AgentID",
        "ApprovalInfo",
    ]
    assert (root.findtext("FromUserName"), root.findtext("Event")) == ("sys", "sys_approval_change")
    info = root.find("ApprovalInfo")
    assert info is not None
    assert (info.findtext("SpNo"), info.findtext("SpStatus"), info.findtext("StatuChangeEvent")) == (sp_no, "2", "2")
    assert info.findtext("Applyer/UserId") == "creator"
    detail = info.find("SpRecord/Details")
    assert detail is not None
    assert (detail.findtext("Approver/UserId"), detail.findtext("Speech"), detail.findtext("SpStatus")) == (
        "boss",
        "同意",
        "2",
    )

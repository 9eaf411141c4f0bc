"""The hub's client of WeCom's own 审批 app (notify/providers/wecom_oa.py) against the simulator, and the native path's
pure parts (orderhub/approvals/oa.py): a lost submission is looked for in the span it was given only, recognised by
its reference control alone and within a time budget; stored error texts carry no access token or secret and people
read zh-CN; the day's quota waits until midnight in Shanghai; an effect's refusal is temporary or final by its code."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from notify.providers._wechat import redact, to_notify_error
from notify.providers.wecom_oa import WeComOaClient, create_oa_client
from orderhub.approvals import oa
from orderhub.approvals.errors import ApprovalError
from orderhub.approvals.oa_port import OaField, OaNode, OaSubmission, OaUncertain
from orderhub.errors import CommonError, Conflict
from orderhub.inventory.errors import InventoryError
from orderhub.logistics.errors import LogisticsError
from orderhub.notifications.port import TransientNotifyError
from sandbox.wechat import CorpApp, WeChatServer, running_wechat
from sandbox.wecom_oa import OaDesk, OaTemplate, oa_desk

ORDER_NO, AMOUNT, REF = "Text-1590000001", "Money-1590000002", "Text-1590000004"
DETAIL = "/cgi-bin/oa/getapprovaldetail"


@pytest.fixture(scope="module")
def sim() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


def _corp(sim: WeChatServer) -> tuple[CorpApp, OaDesk, OaTemplate, WeComOaClient]:
    app = sim.store.create_corp()
    sim.store.add_wecom_user(app.corp_id, "holds", "boss")
    desk = oa_desk(sim.store)
    template = desk.add_template(
        app.corp_id,
        controls=[
            (ORDER_NO, "Text", "订单号", True),
            (AMOUNT, "Money", "金额", True),
            (REF, "Text", "中枢单号", False),
        ],
    )
    client = create_oa_client({"corp_id": app.corp_id, "secret": app.secret, "base_url": sim.base_url}, None)
    return app, desk, template, client


def _submission(template: OaTemplate, ref: str) -> OaSubmission:
    """What a rule-held order submits: one submitter for every hold, the same order number and amount for the holds of
    one order — only the reference is the request's own."""
    return OaSubmission(
        template_id=template.template_id,
        creator="holds",
        use_template_approver=False,
        nodes=[OaNode(step=0, name="审批", mode="any", userids=["boss"])],
        notify=[],
        notify_type=1,
        fields=[
            OaField(id=ORDER_NO, control="Text", title="订单号", value="taobao/1"),
            OaField(id=AMOUNT, control="Money", title="金额", value="5001.00"),
            OaField(id=REF, control="Text", title="中枢单号", value=ref),
        ],
        summary=["金额：¥5,001.00"],
        ref_control=REF,
    )


async def test_a_lost_submission_is_recognised_by_its_reference_within_its_own_span(sim: WeChatServer) -> None:
    app, desk, template, client = _corp(sim)
    mine = _submission(template, "订单中枢 #7")
    others = [await client.submit(_submission(template, f"订单中枢 #{n}")) for n in (5, 6)]
    lost = await client.submit(mine)
    later = await client.submit(_submission(template, "订单中枢 #8"))
    old = await client.submit(mine)  # the same reference, but long before: not in the span looked at
    desk.approval(old).apply_time -= 3 * 3600
    now = datetime.now(UTC)
    span = {"since": now - timedelta(minutes=2), "until": now + timedelta(minutes=1)}

    reads = len(sim.store.calls_to(DETAIL))
    assert await client.find(mine, **span, budget=10) == [lost]
    # Newest first, stopping at the match: the later approval, then ours; the older ones are not read.
    assert len(sim.store.calls_to(DETAIL)) - reads == 2
    assert set(others) | {later} <= {a.sp_no for a in desk.approvals_of(app.corp_id)}
    # Looking where the old one was made finds it alone; where none was made, nothing.
    assert await client.find(mine, since=now - timedelta(hours=4), until=now - timedelta(hours=2), budget=10) == [old]
    assert await client.find(mine, since=now - timedelta(hours=9), until=now - timedelta(hours=8), budget=10) == []
    # Another request's reference: not ours, whatever the other controls hold.
    assert await client.find(_submission(template, "订单中枢 #9"), **span, budget=10) == []


async def test_a_look_out_of_time_concludes_nothing(sim: WeChatServer) -> None:
    _, _, template, client = _corp(sim)
    mine = _submission(template, "订单中枢 #11")
    await client.submit(mine)
    now = datetime.now(UTC)
    with pytest.raises(TransientNotifyError) as caught:
        await client.find(mine, since=now - timedelta(minutes=2), until=now + timedelta(minutes=1), budget=-1)
    assert caught.value.code == "lookup_incomplete"


def test_error_texts_keep_no_access_token_or_secret() -> None:
    url = "/cgi-bin/oa/applyevent?access_token=T0KEN-SECRET&debug=1"
    broken = requests.ConnectionError(
        f"HTTPSConnectionPool(host='qyapi.weixin.qq.com'): Max retries exceeded "
        f"with url: {url} (Caused by NewConnectionError('refused'))"
    )
    error = to_notify_error(broken)
    assert error is not None and error.code == "network"
    assert "T0KEN" not in error.message and "/cgi-bin/oa/applyevent" in error.message
    slow = to_notify_error(requests.ReadTimeout(f"Read timed out: https://qyapi.weixin.qq.com{url}"))
    assert slow is not None and slow.code == "timeout" and "T0KEN" not in slow.message
    assert redact("gettoken?corpid=ww1&corpsecret=S3CRET failed") == "gettoken failed"
    assert redact("left behind: access_token=T0KEN and secret=S3CRET") == "left behind: access_token=*** and secret=***"
    assert redact("errcode=301025, hint: [x], more info at https://open.work.weixin.qq.com/devtool/query?e=301025") == (
        "errcode=301025, hint: [x], more info at https://open.work.weixin.qq.com/devtool/query"
    )
    assert "T0KEN" not in oa._scrub(f"ValueError('{url}')")


async def test_an_unreachable_wecom_leaves_no_secret_in_the_error() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = create_oa_client(
        {"corp_id": "ww1", "secret": "S3CRET-corpsecret", "base_url": f"http://127.0.0.1:{port}"}, None
    )
    with pytest.raises(OaUncertain) as caught:  # the token fetch (gettoken?corpid=…&corpsecret=…) cannot connect
        await client.submit(_submission(OaTemplate("ww1", "t", "订单审批", {}), "订单中枢 #1"))
    assert caught.value.code == "network" and "S3CRET" not in caught.value.message
    # What people read is fixed zh-CN text, never the exception's.
    assert oa.submit_failure_text("network") == "无法连接企业微信"
    assert oa.submit_failure_text("timeout") == "企业微信响应超时"


def test_wecoms_refusals_read_in_zh_cn() -> None:
    # 提交审批申请 错误说明 (91853)
    assert oa.submit_failure_text("301025").startswith("提交审批单请求参数错误")
    assert oa.submit_failure_text("301055") == "无审批应用权限，或提单者不在审批应用/自建应用的可见范围"
    assert oa.submit_failure_text("301056") == "企业微信审批应用已停用"
    assert oa.submit_failure_text("301057") == "企业微信提交审批单内部接口失败"
    assert oa.submit_failure_text("http_502") == "企业微信服务暂时不可用（HTTP 502）"
    assert oa.submit_failure_text("40003") == "企业微信拒绝了提交"


def test_the_days_quota_waits_until_just_after_midnight_in_shanghai() -> None:
    evening = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    assert oa._next_midnight(evening) == datetime(2026, 12, 7, 16, 1, tzinfo=UTC)
    morning = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)  # 00:30 the next day in Shanghai
    assert oa._next_midnight(morning) == datetime(2026, 12, 8, 16, 1, tzinfo=UTC)


def _wrapped(cause: Conflict) -> Conflict:
    """How a kind reports what its effect met: ``approval_effect_refused``, the original as its cause."""
    try:
        try:
            raise cause
        except Conflict as exc:
            raise Conflict(exc.message, code=ApprovalError.APPROVAL_EFFECT_REFUSED) from exc
    except Conflict as wrapped:
        return wrapped


def test_an_effects_refusal_is_temporary_or_final_by_its_code() -> None:
    pending = Conflict(LogisticsError.WAYBILL_REQUEST_PENDING, field="order_id")
    assert oa._temporary(_wrapped(pending)) == "waybill_request_pending"
    assert oa._temporary(Conflict(CommonError.CONCURRENT_UPDATE)) == "concurrent_update"
    below = Conflict(InventoryError.STOCK_BELOW_RESERVED)
    assert oa._temporary(_wrapped(below)) is None and oa._temporary(below) is None
    # A refusal that says so itself decides, either way.
    marked = Conflict("x", code=ApprovalError.APPROVAL_EFFECT_REFUSED, extra={"temporary": True, "cause_code": "y"})
    assert oa._temporary(marked) == "y"
    final = Conflict("x", code=ApprovalError.APPROVAL_EFFECT_REFUSED, extra={"temporary": False})
    final.__cause__ = pending
    assert oa._temporary(final) is None

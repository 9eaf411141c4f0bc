"""The WeChat notifiers (公众号模板消息, 小程序订阅消息, 企业微信应用消息) against the WeChat simulator: the production
providers and wechatpy, real HTTP, a real Redis for the shared access token, and a second OS process."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from notify.providers._wechat import REDIS_PREFIX
from orderhub.notifications.port import (
    Message,
    Notifier,
    NotifierChannel,
    PermanentNotifyError,
    RecipientRefused,
    ThrottledNotifyError,
    TransientNotifyError,
    notifier_for,
    registered_channels,
)
from orderhub.redis import EmbeddedRedis, RedisNotFound
from sandbox.wechat import CorpApp, MpApp, WeChatServer, running_wechat

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = NotifierChannel.WECHAT_TEMPLATE.value
SUBSCRIBE = NotifierChannel.WECHAT_SUBSCRIBE.value
WECOM = NotifierChannel.WECOM.value
SHIPPED_FIELDS = ["first", "keyword1", "keyword2", "remark"]


SIMULATOR = running_wechat


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("wechat-redis"))
    try:
        url = embedded.start()
    except RedisNotFound as exc:
        pytest.skip(str(exc))
    try:
        yield url
    finally:
        embedded.stop()


@pytest.fixture
def rds(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


def oa_app(sim: WeChatServer, *openids: str) -> MpApp:
    app = sim.store.create_oa_app()
    sim.store.add_openid(app.appid, *openids)
    sim.store.add_template(app.appid, "TPL_SHIPPED", SHIPPED_FIELDS)
    return app


def mini_app(sim: WeChatServer, *openids: str) -> MpApp:
    app = sim.store.create_mini_app()
    sim.store.add_openid(app.appid, *openids)
    sim.store.add_template(app.appid, "SUB_SHIPPED", ["character_string1", "thing2", "time3"])
    return app


def corp_app(sim: WeChatServer, *users: str) -> CorpApp:
    app = sim.store.create_corp(agent_id=1000005)
    sim.store.add_wecom_user(app.corp_id, *users)
    return app


def mp_config(sim: WeChatServer, app: MpApp, **extra: str) -> dict[str, str]:
    return {"appid": app.appid, "secret": app.secret, "base_url": sim.base_url, **extra}


def wecom_config(sim: WeChatServer, app: CorpApp, **extra: str) -> dict[str, str]:
    return {
        "corp_id": app.corp_id,
        "secret": app.secret,
        "agent_id": str(app.agent_id),
        "base_url": sim.base_url,
        **extra,
    }


def shipped(openid: str, **overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "channel": TEMPLATE,
        "recipient": openid,
        "out_id": uuid.uuid4().hex,
        "template": "TPL_SHIPPED",
        "data": {
            "first": "您的订单已发货",
            "keyword1": "OH20240601001",
            "keyword2": "顺丰速运 SF1400000000001",
            "remark": "点击查看物流",
        },
        "url": "https://hub.example.cn/t/OH20240601001",
    }
    fields.update(overrides)
    return Message(**fields)


def subscribe_message(openid: str, **overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "channel": SUBSCRIBE,
        "recipient": openid,
        "out_id": uuid.uuid4().hex,
        "template": "SUB_SHIPPED",
        "data": {"character_string1": "OH20240601001", "thing2": "顺丰速运", "time3": "2024-06-01 10:00"},
        "page": "pages/order/detail?id=OH20240601001",
    }
    fields.update(overrides)
    return Message(**fields)


def wecom_message(recipient: str, **overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "channel": WECOM,
        "recipient": recipient,
        "out_id": uuid.uuid4().hex,
        "title": "订单待审批",
        "text": "订单 OH20240601001 金额 ¥12,800.00 超过阈值，请审批",
        "url": "https://hub.example.cn/approvals/17",
    }
    fields.update(overrides)
    return Message(**fields)


# --- registry and configuration -------------------------------------------------------------------------------


def test_the_three_channels_are_registered() -> None:
    assert {TEMPLATE, SUBSCRIBE, WECOM} <= set(registered_channels())


@pytest.mark.parametrize(
    ("channel", "config", "missing"),
    [
        (TEMPLATE, {"appid": "wx1"}, "secret"),
        (SUBSCRIBE, {"secret": "s"}, "appid"),
        (WECOM, {"corp_id": "ww1", "secret": "s"}, "agent_id"),
    ],
)
def test_a_missing_config_key_is_named(channel: str, config: dict[str, str], missing: str) -> None:
    with pytest.raises(ValueError, match=repr(missing)):
        notifier_for(channel, config, None)


def test_bad_config_values_are_refused() -> None:
    with pytest.raises(ValueError, match="agent_id"):
        notifier_for(WECOM, {"corp_id": "ww1", "secret": "s", "agent_id": "abc"}, None)
    with pytest.raises(ValueError, match="miniprogram_state"):
        notifier_for(SUBSCRIBE, {"appid": "wx1", "secret": "s", "miniprogram_state": "beta"}, None)


# --- 公众号模板消息 ---------------------------------------------------------------------------------------------


async def test_template_message_arrives_with_fields_and_url(sim: WeChatServer, rds: redis.Redis) -> None:
    app = oa_app(sim, "oFAN1")
    notifier = notifier_for(TEMPLATE, mp_config(sim, app), rds)
    assert notifier.channel == TEMPLATE

    result = await notifier.send(shipped("oFAN1"))

    [received] = sim.store.messages_for(app.appid)
    assert received.kind == "template"
    assert received.recipient == "oFAN1"
    assert received.template == "TPL_SHIPPED"
    assert received.data == {
        "first": "您的订单已发货",
        "keyword1": "OH20240601001",
        "keyword2": "顺丰速运 SF1400000000001",
        "remark": "点击查看物流",
    }
    assert received.body["data"]["first"] == {"value": "您的订单已发货"}
    assert received.url == "https://hub.example.cn/t/OH20240601001"
    assert result.provider_id == received.msgid
    # the token is in Redis under our prefix, for every process, and cached a little under its 7200 s
    key = f"{REDIS_PREFIX}:{app.appid}_access_token"
    stored: Any = rds.get(key)
    ttl: Any = rds.ttl(key)
    assert json.loads(stored) == sim.store.calls_to("/cgi-bin/message/template/send", app.appid)[0].access_token
    assert 0 < int(ttl) < 7200
    # a second send reuses it
    await notifier.send(shipped("oFAN1"))
    assert sim.store.fetches(app.appid) == 1
    assert len(sim.store.messages_for(app.appid)) == 2


async def test_template_message_can_open_a_mini_program_page(sim: WeChatServer) -> None:
    app = oa_app(sim, "oFAN2")
    notifier = notifier_for(TEMPLATE, mp_config(sim, app, miniprogram_appid="wxMINI"), None)
    await notifier.send(shipped("oFAN2", page="pages/track?id=1"))
    [received] = sim.store.messages_for(app.appid)
    assert received.miniprogram == {"appid": "wxMINI", "pagepath": "pages/track?id=1"}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"template": "TPL_GONE"}, "40037"),
        ({"recipient": "oSTRANGER"}, "40003"),
        ({"data": {"first": "您的订单已发货"}}, "47003"),
    ],
)
async def test_refused_template_messages_are_permanent(sim: WeChatServer, overrides: dict[str, Any], code: str) -> None:
    app = oa_app(sim, "oFAN3")
    notifier = notifier_for(TEMPLATE, mp_config(sim, app), None)
    with pytest.raises(PermanentNotifyError) as caught:
        await notifier.send(shipped("oFAN3", **overrides))
    assert caught.value.code == code
    assert not caught.value.retryable
    assert not isinstance(caught.value, RecipientRefused)
    assert sim.store.messages_for(app.appid) == []


async def test_system_busy_is_transient_and_the_next_send_goes_through(sim: WeChatServer) -> None:
    app = oa_app(sim, "oFAN4")
    notifier = notifier_for(TEMPLATE, mp_config(sim, app), None)
    await notifier.send(shipped("oFAN4"))  # the token is fetched first, so the failure hits a send

    sim.store.fail_next_sends(1)
    with pytest.raises(TransientNotifyError) as caught:
        await notifier.send(shipped("oFAN4"))
    assert caught.value.code == "-1"
    assert caught.value.retryable

    sim.store.fail_next_sends(1, errcode=45009, errmsg="reach max api daily quota limit")
    with pytest.raises(TransientNotifyError, match="45009"):
        await notifier.send(shipped("oFAN4"))

    sim.store.fail_next_sends(1, http_status=503)
    with pytest.raises(TransientNotifyError) as caught:
        await notifier.send(shipped("oFAN4"))
    assert caught.value.code == "http_503"

    await notifier.send(shipped("oFAN4"))
    assert len(sim.store.messages_for(app.appid)) == 2


async def test_bad_credentials_are_permanent(sim: WeChatServer) -> None:
    app = oa_app(sim, "oFAN5")
    with pytest.raises(PermanentNotifyError) as caught:
        await notifier_for(TEMPLATE, {**mp_config(sim, app), "secret": "wrong"}, None).send(shipped("oFAN5"))
    assert caught.value.code == "40125"
    with pytest.raises(PermanentNotifyError) as caught:
        await notifier_for(TEMPLATE, {**mp_config(sim, app), "appid": "wxNOBODY"}, None).send(shipped("oFAN5"))
    assert caught.value.code == "40013"
    assert sim.store.fetches(app.appid) == 0


async def test_unreachable_and_silent_hosts_are_transient() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = {"appid": "wx1", "secret": "s", "base_url": f"http://127.0.0.1:{port}"}
    with pytest.raises(TransientNotifyError) as caught:
        await notifier_for(TEMPLATE, config, None).send(shipped("oFAN"))
    assert caught.value.code == "network"

    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = {**config, "base_url": f"http://127.0.0.1:{silent.getsockname()[1]}", "timeout": "0.3"}
        with pytest.raises(TransientNotifyError) as caught:
            await notifier_for(TEMPLATE, config, None).send(shipped("oFAN"))
    assert caught.value.code == "timeout"


# --- access token: expiry, one retry, shared across processes ----------------------------------------------------


async def test_a_token_expired_mid_run_is_refreshed_once_and_the_message_goes_through(
    sim: WeChatServer, rds: redis.Redis
) -> None:
    app = oa_app(sim, "oFAN6")
    notifier = notifier_for(TEMPLATE, mp_config(sim, app), rds)
    await notifier.send(shipped("oFAN6"))
    sim.store.expire_tokens()

    await notifier.send(shipped("oFAN6"))

    assert sim.store.fetches(app.appid) == 2
    codes = [c.errcode for c in sim.store.calls_to("/cgi-bin/message/template/send", app.appid)]
    assert codes == [0, 42001, 0]
    assert len(sim.store.messages_for(app.appid)) == 2


async def test_a_token_refused_again_after_the_refresh_is_not_retried_forever(sim: WeChatServer) -> None:
    app = oa_app(sim, "oFAN7")
    notifier = notifier_for(TEMPLATE, mp_config(sim, app), None)
    sim.store.issue_expired_tokens = True
    try:
        with pytest.raises(TransientNotifyError) as caught:
            await notifier.send(shipped("oFAN7"))
    finally:
        sim.store.issue_expired_tokens = False
    assert caught.value.code == "42001"
    assert sim.store.fetches(app.appid) == 2  # the first token, and one refresh
    assert len(sim.store.calls_to("/cgi-bin/message/template/send", app.appid)) == 2


SENDER = """
import asyncio, json, sys
import redis
from orderhub.notifications.port import Message, notifier_for
from server.wiring import wire

wire()  # another process of the hub: wired like every one
config, redis_url, openid, count = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
notifier = notifier_for("wechat_template", config, redis.Redis.from_url(redis_url))
print("ready", flush=True)
sys.stdin.readline()

async def main():
    messages = [
        Message(channel="wechat_template", recipient=openid, out_id=f"b{i}", template="TPL_SHIPPED",
                data={"first": "进程B", "keyword1": f"OHB{i}", "keyword2": "顺丰", "remark": "r"},
                url=f"https://hub.example.cn/t/OHB{i}")
        for i in range(count)
    ]
    results = await asyncio.gather(*(notifier.send(m) for m in messages))
    print(json.dumps([r.provider_id for r in results]), flush=True)

asyncio.run(main())
"""


class OtherProcess:
    """A second OS process building the same provider against the same Redis and simulator."""

    def __init__(self, config: dict[str, str], redis_url: str, openid: str, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SENDER, json.dumps(config), redis_url, openid, str(count)],
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            raise AssertionError(f"the other process did not start: {line!r} {self.process.communicate()[1]}")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def result(self) -> list[str]:
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return list(json.loads(out.strip().splitlines()[-1]))


async def test_one_token_is_shared_by_two_processes_and_refreshed_once_per_expiry(
    sim: WeChatServer, rds: redis.Redis, redis_url: str
) -> None:
    app = oa_app(sim, "oFAN8")
    config = mp_config(sim, app)
    path = "/cgi-bin/message/template/send"
    notifier = notifier_for(TEMPLATE, config, rds)

    await notifier.send(shipped("oFAN8", data={**shipped("").data, "first": "进程A"}))
    assert sim.store.fetches(app.appid) == 1

    other = await asyncio.to_thread(OtherProcess, config, redis_url, "oFAN8", 1)
    other.go()
    [b_msgid] = await asyncio.to_thread(other.result)
    assert sim.store.fetches(app.appid) == 1, "process B fetched its own token"
    first_token = sim.store.calls_to(path, app.appid)[0].access_token
    assert {c.access_token for c in sim.store.calls_to(path, app.appid)} == {first_token}
    assert b_msgid in {m.msgid for m in sim.store.messages_for(app.appid)}

    # every token dies; then both processes send at once, several messages each
    other = await asyncio.to_thread(OtherProcess, config, redis_url, "oFAN8", 3)
    sim.store.expire_tokens()
    other.go()
    a_results = await asyncio.gather(*(notifier.send(shipped("oFAN8")) for _ in range(3)))
    b_msgids = await asyncio.to_thread(other.result)

    assert sim.store.fetches(app.appid) == 2, "the expired token was refreshed more than once"
    received = sim.store.messages_for(app.appid)
    assert len(received) == 1 + 1 + 3 + 3
    assert {r.provider_id for r in a_results} | set(b_msgids) <= {m.msgid for m in received}
    assert sum(1 for m in received if m.data["first"] == "进程B") == 4
    calls = sim.store.calls_to(path, app.appid)
    assert {c.access_token for c in calls if c.errcode == 42001} == {first_token}
    assert len({c.access_token for c in calls if c.errcode == 0} - {first_token}) == 1


# --- 小程序订阅消息 ---------------------------------------------------------------------------------------------


async def test_subscribe_message_arrives_with_page_state_and_lang(sim: WeChatServer, rds: redis.Redis) -> None:
    app = mini_app(sim, "oMINI1")
    notifier = notifier_for(SUBSCRIBE, mp_config(sim, app, miniprogram_state="developer"), rds)
    result = await notifier.send(subscribe_message("oMINI1"))

    [received] = sim.store.messages_for(app.appid)
    assert received.kind == "subscribe"
    assert received.recipient == "oMINI1"
    assert received.template == "SUB_SHIPPED"
    assert received.data == {"character_string1": "OH20240601001", "thing2": "顺丰速运", "time3": "2024-06-01 10:00"}
    assert received.page == "pages/order/detail?id=OH20240601001"
    assert received.miniprogram_state == "developer"
    assert received.lang == "zh_CN"
    assert result.provider_id == received.msgid


async def test_a_refused_subscription_raises_recipient_refused(sim: WeChatServer) -> None:
    app = mini_app(sim, "oMINI2")
    sim.store.refuse_subscription(app.appid, "oMINI2", "SUB_SHIPPED")
    notifier = notifier_for(SUBSCRIBE, mp_config(sim, app), None)
    with pytest.raises(RecipientRefused) as caught:
        await notifier.send(subscribe_message("oMINI2"))
    assert caught.value.code == "43101"
    assert isinstance(caught.value, PermanentNotifyError)
    assert sim.store.messages_for(app.appid) == []


async def test_an_official_account_token_does_not_send_subscribe_messages(sim: WeChatServer) -> None:
    app = oa_app(sim, "oFAN9")
    sim.store.add_template(app.appid, "SUB_SHIPPED")
    notifier = notifier_for(SUBSCRIBE, mp_config(sim, app), None)
    with pytest.raises(PermanentNotifyError) as caught:
        await notifier.send(subscribe_message("oFAN9"))
    assert caught.value.code == "48001"


# --- 企业微信应用消息 -------------------------------------------------------------------------------------------


async def test_wecom_text_card_arrives_and_unknown_users_are_reported(sim: WeChatServer, rds: redis.Redis) -> None:
    app = corp_app(sim, "zhangsan", "lisi")
    notifier: Notifier = notifier_for(WECOM, wecom_config(sim, app), rds)
    result = await notifier.send(wecom_message("zhangsan|ghost|lisi"))

    [received] = sim.store.messages_for(app.key)
    assert received.msgtype == "textcard"
    assert received.recipient == "zhangsan|lisi"
    assert received.title == "订单待审批"
    assert received.content == "订单 OH20240601001 金额 ¥12,800.00 超过阈值，请审批"
    assert received.url == "https://hub.example.cn/approvals/17"
    assert result.provider_id == received.msgid
    assert result.detail == {"invaliduser": ["ghost"]}


async def test_wecom_markdown_and_all_members(sim: WeChatServer) -> None:
    app = corp_app(sim, "wangwu", "zhaoliu")
    notifier = notifier_for(WECOM, wecom_config(sim, app), None)
    result = await notifier.send(wecom_message("@all", markdown=True, text="> 仓库 **上海一仓** 拣货延迟"))

    [received] = sim.store.messages_for(app.key)
    assert received.msgtype == "markdown"
    assert received.recipient == "wangwu|zhaoliu"
    assert received.content == "**订单待审批**\n> 仓库 **上海一仓** 拣货延迟"
    assert result.detail == {}


async def test_wecom_with_no_valid_user_is_permanent_81013(sim: WeChatServer) -> None:
    app = corp_app(sim, "zhangsan")
    notifier = notifier_for(WECOM, wecom_config(sim, app), None)
    with pytest.raises(PermanentNotifyError) as caught:
        await notifier.send(wecom_message("ghost1|ghost2"))
    assert caught.value.code == "81013"
    assert sim.store.messages_for(app.key) == []


async def test_wecom_wrong_agent_and_wrong_secret_are_permanent(sim: WeChatServer) -> None:
    app = corp_app(sim, "zhangsan")
    with pytest.raises(PermanentNotifyError) as caught:
        await notifier_for(WECOM, {**wecom_config(sim, app), "agent_id": "1000099"}, None).send(
            wecom_message("zhangsan")
        )
    assert caught.value.code == "40056"
    fetched = sim.store.fetches(app.key)
    with pytest.raises(PermanentNotifyError) as caught:  # WeCom's 40001 here means a wrong secret: not retried
        await notifier_for(WECOM, {**wecom_config(sim, app), "secret": "wrong"}, None).send(wecom_message("zhangsan"))
    assert caught.value.code == "40001"
    assert sim.store.fetches(app.key) == fetched
    assert len(sim.store.calls_to("/cgi-bin/gettoken", app.corp_id)) == 1


async def test_wecom_token_expired_mid_run_is_refreshed(sim: WeChatServer, rds: redis.Redis) -> None:
    app = corp_app(sim, "zhangsan")
    notifier = notifier_for(WECOM, wecom_config(sim, app), rds)
    await notifier.send(wecom_message("zhangsan"))
    sim.store.expire_tokens()
    await notifier.send(wecom_message("zhangsan", url="", title="", text="纯文本通知"))

    assert sim.store.fetches(app.key) == 2
    assert [c.errcode for c in sim.store.calls_to("/cgi-bin/message/send", app.key)] == [0, 42001, 0]
    assert [m.msgtype for m in sim.store.messages_for(app.key)] == ["textcard", "text"]
    assert sim.store.messages_for(app.key)[1].content == "纯文本通知"


# --- 小程序登录与手机号 ------------------------------------------------------------------------------------------


async def test_login_and_phone_codes_name_the_user_once_each(sim: WeChatServer, rds: redis.Redis) -> None:
    from notify.providers.wechat_subscribe import SharedPhone, openid_of, phone_of

    app = mini_app(sim)
    config = mp_config(sim, app)
    login = sim.store.login_code(app.appid, "oMINI42")
    assert await openid_of(config, rds, login) == "oMINI42"
    with pytest.raises(PermanentNotifyError) as used:
        await openid_of(config, rds, login)
    assert used.value.code == "40163"
    with pytest.raises(PermanentNotifyError) as made_up:
        await openid_of(config, rds, "not-a-code")
    assert made_up.value.code == "40029"

    assert await phone_of(config, rds, sim.store.phone_code(app.appid, "13912345678")) == SharedPhone(
        phone="13912345678", country_code="86"
    )
    abroad = await phone_of(config, rds, sim.store.phone_code(app.appid, "+852 61234567"))
    assert (abroad.phone, abroad.country_code) == ("61234567", "852")
    other = mini_app(sim)  # a code is the app's own: another mini-program cannot redeem it
    with pytest.raises(PermanentNotifyError) as foreign:
        await phone_of(mp_config(sim, other), rds, sim.store.phone_code(app.appid, "13912345678"))
    assert foreign.value.code == "40029"


async def test_login_rate_limit_and_blocked_users_are_wechats_own_codes(sim: WeChatServer, rds: redis.Redis) -> None:
    """code2Session's table: 45011 (100 logins per user per minute) is a throttle, 40226 (a high-risk user's login
    intercepted) a refusal."""
    from notify.providers.wechat_subscribe import openid_of

    app = mini_app(sim)
    config = mp_config(sim, app)
    sim.store.login_quota_per_minute = 3  # WeChat's is 100; a minute may turn during the loop: it goes on
    try:
        passed, busy = 0, None
        for _ in range(8):
            try:
                assert await openid_of(config, rds, sim.store.login_code(app.appid, "oBUSY")) == "oBUSY"
                passed += 1
            except ThrottledNotifyError as exc:
                busy = exc
                break
        assert busy is not None and passed >= 3
        assert busy.code == "45011" and busy.retry_after == 60.0
        assert await openid_of(config, rds, sim.store.login_code(app.appid, "oCALM")) == "oCALM"  # per user
    finally:
        sim.store.login_quota_per_minute = 100
    sim.store.block_user(app.appid, "oRISKY")
    with pytest.raises(PermanentNotifyError) as blocked:
        await openid_of(config, rds, sim.store.login_code(app.appid, "oRISKY"))
    assert blocked.value.code == "40226"


async def test_login_with_a_wrong_secret_is_refused(sim: WeChatServer, rds: redis.Redis) -> None:
    from notify.providers.wechat_subscribe import openid_of

    app = mini_app(sim)
    login = sim.store.login_code(app.appid, "oMINI43")
    with pytest.raises(PermanentNotifyError) as refused:
        await openid_of({**mp_config(sim, app), "secret": "0" * 32}, rds, login)
    assert refused.value.code in ("40125", "40001")

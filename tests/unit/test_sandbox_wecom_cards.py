"""The WeCom simulator's interactive template cards (按钮交互型), update_template_card, the per-member quota and the
callbacks it delivers (sandbox/wechat.py, sandbox/wecom_callback.py), over real HTTP, against a small local receiver
that checks every callback with wechatpy's enterprise crypto — an implementation independent of the simulator's."""

from __future__ import annotations

import base64
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

from sandbox.wechat import ClickRefused, CorpApp, WeChatServer, running_wechat
from sandbox.wecom_callback import CallbackCrypto, CryptoError

# --- published vectors: Tencent's WXBizMsgCrypt samples (Sample.cs / Sample.py / Sample.php, "Copyright (c)
# 1998-2014 Tencent Inc."), the 下载地址 of 加解密方案说明 https://developer.work.weixin.qq.com/document/path/90968
VECTOR_TOKEN = "QDG6eK"
VECTOR_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
VECTOR_CORP_ID = "wx5823bf96d3bd56c7"
VERIFY_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
VERIFY_TIMESTAMP, VERIFY_NONCE = "1409659589", "263014780"
VERIFY_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
VERIFY_PLAINTEXT = b"1616140317555161061"
POST_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
POST_TIMESTAMP, POST_NONCE = "1409659813", "1372623149"
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gs"
    "ijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUa"
    "x5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIG"
    "HBZZIs2pDBS8R07+qN+E7Q=="
)

AGENT_ID = 1000002
APPROVE, REJECT = "approve", "reject"


# --- a small callback receiver ------------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    query: dict[str, str]
    body: bytes
    plaintext: str = ""  # what wechatpy decrypted, when it could
    error: str = ""  # why wechatpy refused it


@dataclass
class Receiver:
    """The hub's side, stand-in: checks signature and decryption with wechatpy, answers 403 / 400 when they fail,
    otherwise 200 (after ``delay`` seconds for the first ``slow_requests`` POSTs, with ``status``)."""

    crypto: WeChatCrypto | None = None
    delay: float = 0.0
    slow_requests: int = 0
    status: int = 200
    echo: str = "exact"  # "exact", "quoted", "newline": how the GET check answers
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def posts(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.method == "POST"]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: bytes = b"") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the simulator gave up waiting
                pass

        def do_GET(self) -> None:
            query = dict(parse_qsl(urlsplit(self.path).query))
            record = Received("GET", query, b"")
            assert receiver.crypto is not None
            try:
                echo = receiver.crypto.check_signature(
                    query["msg_signature"], query["timestamp"], query["nonce"], query["echostr"]
                )
                record.plaintext = echo.decode() if isinstance(echo, bytes) else str(echo)
            except Exception as exc:
                record.error = type(exc).__name__
            with receiver.lock:
                receiver.received.append(record)
            if record.error:
                self._answer(403)
                return
            answer = {"exact": record.plaintext, "quoted": f'"{record.plaintext}"', "newline": record.plaintext + "\n"}
            self._answer(200, answer[receiver.echo].encode())

        def do_POST(self) -> None:
            query = dict(parse_qsl(urlsplit(self.path).query))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            record = Received("POST", query, body)
            with receiver.lock:
                receiver.received.append(record)
                slow = len([r for r in receiver.received if r.method == "POST"]) <= receiver.slow_requests
            assert receiver.crypto is not None
            try:
                plain = receiver.crypto.decrypt_message(
                    body, query["msg_signature"], query["timestamp"], query["nonce"]
                )
                record.plaintext = plain.decode() if isinstance(plain, bytes) else str(plain)
            except Exception as exc:
                record.error = type(exc).__name__
            if record.error:
                self._answer(403 if "Signature" in record.error else 400)
                return
            if slow:
                time.sleep(receiver.delay)
            self._answer(receiver.status)

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="wecom-receiver", daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/wecom/callback"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def sim() -> Iterator[WeChatServer]:
    with running_wechat() as server:
        yield server


@dataclass
class Corp:
    sim: WeChatServer
    app: CorpApp
    token: str

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.sim.base_url}{path}", params={"access_token": self.token}, json=payload)
        assert response.status_code == 200
        answer = response.json()
        assert isinstance(answer, dict)
        return answer

    def send_card(self, card: dict[str, Any], touser: str = "zhangsan|lisi") -> dict[str, Any]:
        return self.post(
            "/cgi-bin/message/send",
            {"touser": touser, "msgtype": "template_card", "agentid": self.app.agent_id, "template_card": card},
        )

    def send_text(self, touser: str, content: str = "您有一个新订单") -> dict[str, Any]:
        return self.post(
            "/cgi-bin/message/send",
            {"touser": touser, "msgtype": "text", "agentid": self.app.agent_id, "text": {"content": content}},
        )

    def update(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.post("/cgi-bin/message/update_template_card", {"agentid": self.app.agent_id, **payload})


def new_corp(sim: WeChatServer, *users: str) -> Corp:
    app = sim.store.create_corp(agent_id=AGENT_ID)
    sim.store.add_wecom_user(app.corp_id, *(users or ("zhangsan", "lisi", "wangwu")))
    answer = httpx.get(
        f"{sim.base_url}/cgi-bin/gettoken", params={"corpid": app.corp_id, "corpsecret": app.secret}
    ).json()
    assert answer["errcode"] == 0
    return Corp(sim, app, answer["access_token"])


@pytest.fixture
def corp(sim: WeChatServer, receiver: Receiver) -> Corp:
    """A corp whose app has a callback URL pointing at ``receiver``, which checks with the same Token and key."""
    made = new_corp(sim)
    config = sim.store.set_callback(made.app.corp_id, made.app.agent_id, receiver.url)
    receiver.crypto = WeChatCrypto(config.token, config.aes_key, made.app.corp_id)
    return made


def approval_card(task_id: str, **extra: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": "订单 OH20240501001 需要审批", "desc": "金额 ¥1,280.00"},
        "sub_title_text": "客户要求改地址后发货",
        "task_id": task_id,
        "button_list": [
            {"text": "同意", "style": 1, "key": APPROVE},
            {"text": "驳回", "style": 2, "key": REJECT},
        ],
    }
    card.update(extra)
    return card


def task() -> str:
    return f"approval-{time.monotonic_ns()}"


def event_fields(plaintext: str) -> dict[str, str]:
    return {child.tag: (child.text or "") for child in ET.fromstring(plaintext)}


# --- the 加解密方案 ------------------------------------------------------------------------------------------------


def test_published_verify_url_vector() -> None:
    crypto = CallbackCrypto(VECTOR_TOKEN, VECTOR_AES_KEY, VECTOR_CORP_ID)
    assert crypto.signature(VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_SIGNATURE
    assert crypto.decrypt(VERIFY_ECHOSTR) == (VERIFY_PLAINTEXT, VECTOR_CORP_ID)


def test_published_post_vector() -> None:
    crypto = CallbackCrypto(VECTOR_TOKEN, VECTOR_AES_KEY, VECTOR_CORP_ID)
    assert crypto.signature(POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT) == POST_SIGNATURE
    msg, receive_id = crypto.decrypt(POST_ENCRYPT)
    assert receive_id == VECTOR_CORP_ID
    fields = event_fields(msg.decode())
    assert fields["ToUserName"] == VECTOR_CORP_ID
    assert fields["Content"] == "hello"
    assert fields["AgentID"] == "218"


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 43, 44, 45, 300])  # 16 + 4 + size + 18 around 32-byte blocks
def test_encryption_agrees_with_wechatpy(size: int) -> None:
    aes_key = CallbackCrypto.new_aes_key()
    crypto = CallbackCrypto("token", aes_key, VECTOR_CORP_ID)
    theirs = PrpCrypto(base64.b64decode(aes_key + "="))
    msg = ("审" * size)[:size] if size % 2 else "x" * size
    decrypted = theirs.decrypt(crypto.encrypt(msg), VECTOR_CORP_ID)
    assert (decrypted.decode() if isinstance(decrypted, bytes) else decrypted) == msg
    theirs_encrypted = theirs.encrypt(msg, VECTOR_CORP_ID)
    assert crypto.decrypt(theirs_encrypted if isinstance(theirs_encrypted, str) else theirs_encrypted.decode()) == (
        msg.encode(),
        VECTOR_CORP_ID,
    )


def test_padding_is_to_32_byte_blocks() -> None:
    crypto = CallbackCrypto("token", CallbackCrypto.new_aes_key(), "ww1")
    # 16 + 4 + 9 + 3 = 32 bytes of plaintext: a whole 32-byte block of padding follows (not 16)
    assert len(base64.b64decode(crypto.encrypt("x" * 9))) == 64
    with pytest.raises(CryptoError):
        crypto.decrypt(base64.b64encode(b"\0" * 32).decode())


def test_generated_keys_and_tokens() -> None:
    for _ in range(20):
        key = CallbackCrypto.new_aes_key()
        assert len(key) == 43 and key.isalnum() and len(base64.b64decode(key + "=")) == 32
    with pytest.raises(CryptoError):
        CallbackCrypto("t", "too-short", "ww1")


# --- sending cards ------------------------------------------------------------------------------------------------


def test_card_needs_a_callback_url(sim: WeChatServer) -> None:
    corp = new_corp(sim)
    task_id = task()
    answer = corp.send_card(approval_card(task_id))
    assert answer["errcode"] == 43012  # 应用需配置回调url
    sim.store.set_callback(corp.app.corp_id, corp.app.agent_id, "http://127.0.0.1:9/unused")
    assert corp.send_card(approval_card(task_id))["errcode"] == 0  # a refused send did not use the task_id up


def test_send_answers_a_response_code_and_keeps_the_card_per_recipient(corp: Corp) -> None:
    task_id = task()
    answer = corp.send_card(approval_card(task_id), touser="zhangsan|lisi|nobody")
    assert answer["errcode"] == 0
    assert answer["invaliduser"] == "nobody"
    assert answer["msgid"] and answer["response_code"]
    card = corp.sim.store.card(corp.app.corp_id, AGENT_ID, task_id)
    assert card.recipients == ["zhangsan", "lisi"]
    assert card.response_code == answer["response_code"]
    state = corp.sim.store.card_state(corp.app.corp_id, AGENT_ID, task_id, "lisi")
    assert state.buttons == {APPROVE: "同意", REJECT: "驳回"}
    assert state.clickable and state.text == "订单 OH20240501001 需要审批"
    [sent] = [m for m in corp.sim.store.messages_for(corp.app.key) if m.task_id == task_id]
    assert (sent.msgtype, sent.response_code, sent.content) == (
        "template_card",
        answer["response_code"],
        "客户要求改地址后发货",
    )


def test_a_task_id_is_used_once_per_app_forever(sim: WeChatServer, corp: Corp) -> None:
    task_id = task()
    assert corp.send_card(approval_card(task_id))["errcode"] == 0
    again = corp.send_card(approval_card(task_id), touser="wangwu")
    assert again["errcode"] == 42014 and "taskid has existed" in again["errmsg"]
    other = new_corp(sim)  # another app may use it
    sim.store.set_callback(other.app.corp_id, other.app.agent_id, "http://127.0.0.1:9/unused")
    assert other.send_card(approval_card(task_id))["errcode"] == 0


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"task_id": ""}, 42014),
        ({"task_id": "审批-1"}, 42014),  # 只能由数字、字母和“_-@”组成
        ({"task_id": "x" * 129}, 42014),  # 最长128字节
        ({"main_title": {}, "sub_title_text": ""}, 41016),
        ({"button_list": []}, 40058),
        ({"button_list": [{"text": f"b{i}", "key": f"k{i}"} for i in range(7)]}, 40058),  # 列表长度不超过6
        ({"button_list": [{"key": "k1"}]}, 42020),
        ({"button_list": [{"text": "同意"}]}, 42019),
        ({"button_list": [{"text": "a", "key": "k"}, {"text": "b", "key": "k"}]}, 42018),  # 不可重复
        ({"button_list": [{"text": "a", "key": "k" * 1025}]}, 42018),  # 最长支持1024字节
        ({"button_list": [{"text": "详情", "type": 1}]}, 41010),
        ({"button_selection": {"question_key": "q", "option_list": []}}, 40058),
        ({"card_type": "fancy"}, 40058),
    ],
)
def test_card_fields_are_checked(corp: Corp, change: dict[str, Any], errcode: int) -> None:
    card = approval_card(task()) | change
    assert corp.send_card(card)["errcode"] == errcode


def test_a_send_without_a_card_or_with_a_bad_agentid(corp: Corp) -> None:
    payload = {"touser": "zhangsan", "msgtype": "template_card", "agentid": AGENT_ID}
    assert corp.post("/cgi-bin/message/send", payload)["errcode"] == 40063
    payload |= {"agentid": 1, "template_card": approval_card(task())}
    assert corp.post("/cgi-bin/message/send", payload)["errcode"] == 40056


# --- clicks, callbacks, updates -----------------------------------------------------------------------------------


def test_click_delivers_the_template_card_event_as_wecom_does(corp: Corp, receiver: Receiver) -> None:
    task_id = task()
    corp.send_card(approval_card(task_id))
    result = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE)
    assert result.accepted
    [delivery] = result.deliveries
    assert (delivery.kind, delivery.attempt, delivery.status) == ("event", 1, 200)
    [got] = receiver.posts()
    assert not got.error
    assert set(got.query) == {"msg_signature", "timestamp", "nonce"}
    envelope = ET.fromstring(got.body)
    assert [child.tag for child in envelope] == ["ToUserName", "Encrypt", "AgentID"]
    assert envelope.findtext("ToUserName") == corp.app.corp_id
    assert envelope.findtext("AgentID") == str(AGENT_ID)
    fields = event_fields(got.plaintext)
    assert fields == {
        "ToUserName": corp.app.corp_id,
        "FromUserName": "zhangsan",
        "CreateTime": fields["CreateTime"],
        "MsgType": "event",
        "Event": "template_card_event",
        "EventKey": APPROVE,
        "TaskId": task_id,
        "CardType": "button_interaction",
        "ResponseCode": result.response_code,
        "AgentID": str(AGENT_ID),
    }
    assert abs(int(fields["CreateTime"]) - time.time()) < 60
    # the simulator's own 加解密 reads the same (a round trip, on top of wechatpy's independent check)
    crypto = corp.sim.store.callback_crypto(corp.app.corp_id, AGENT_ID)
    assert crypto.decrypt(envelope.findtext("Encrypt") or "")[0].decode() == got.plaintext


def test_the_click_code_updates_the_button_once(corp: Corp) -> None:
    task_id = task()
    corp.send_card(approval_card(task_id))
    click = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE)
    update = {"userids": ["zhangsan"], "response_code": click.response_code, "button": {"replace_name": "已由张三同意"}}
    assert corp.update(update) == {"errcode": 0, "errmsg": "ok", "invaliduser": []}
    state = corp.sim.store.card_state(corp.app.corp_id, AGENT_ID, task_id, "zhangsan")
    assert (state.text, state.replace_name, state.clickable, state.clicked) == (
        "已由张三同意",
        "已由张三同意",
        False,
        [APPROVE],
    )
    assert corp.sim.store.card_state(corp.app.corp_id, AGENT_ID, task_id, "lisi").clickable  # not in userids
    assert corp.update(update)["errcode"] == 42022  # a code works once
    with pytest.raises(ClickRefused):
        corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, REJECT)


def test_the_send_code_updates_every_recipient(corp: Corp) -> None:
    task_id = task()
    sent = corp.send_card(approval_card(task_id))
    answer = corp.update({"atall": 1, "response_code": sent["response_code"], "button": {"replace_name": "已撤回"}})
    assert answer["errcode"] == 0
    for userid in ("zhangsan", "lisi"):
        assert corp.sim.store.card_state(corp.app.corp_id, AGENT_ID, task_id, userid).text == "已撤回"
    [update] = corp.sim.store.card(corp.app.corp_id, AGENT_ID, task_id).states["lisi"].updates
    assert update.atall and update.applied_to == ["zhangsan", "lisi"]


def test_an_update_can_replace_the_whole_card(corp: Corp) -> None:
    task_id = task()
    corp.send_card(approval_card(task_id))
    click = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "lisi", task_id, REJECT)
    new_card = approval_card(task_id, main_title={"title": "已驳回"}, replace_text="已由李四驳回")
    answer = corp.update(
        {"userids": ["lisi", "ghost"], "response_code": click.response_code, "template_card": new_card}
    )
    assert answer["errcode"] == 0 and answer["invaliduser"] == ["ghost"]
    state = corp.sim.store.card_state(corp.app.corp_id, AGENT_ID, task_id, "lisi")
    assert state.card["main_title"] == {"title": "已驳回"} and state.text == "已由李四驳回" and not state.clickable


def test_update_refusals(sim: WeChatServer, corp: Corp) -> None:
    task_id = task()
    sent = corp.send_card(approval_card(task_id))
    code = sent["response_code"]
    button = {"replace_name": "已处理"}
    assert corp.update({"userids": ["zhangsan"], "response_code": "nope", "button": button})["errcode"] == 40058
    assert corp.update({"userids": ["zhangsan"], "button": button})["errcode"] == 40063
    assert corp.update({"userids": ["zhangsan"], "response_code": code})["errcode"] == 40063
    assert corp.update({"userids": ["zhangsan"], "response_code": code, "button": {}})["errcode"] == 42020
    assert corp.update({"response_code": code, "button": button})["errcode"] == 81012
    assert corp.update({"userids": ["ghost"], "response_code": code, "button": button})["errcode"] == 81013
    wrong_agent = corp.post(
        "/cgi-bin/message/update_template_card",
        {"agentid": 1, "userids": ["zhangsan"], "response_code": code, "button": button},
    )
    assert wrong_agent["errcode"] == 40056
    other = new_corp(sim)  # another app cannot spend this app's code
    other_answer = other.update({"userids": ["zhangsan"], "response_code": code, "button": button})
    assert other_answer["errcode"] == 42015
    # none of that spent the code
    assert corp.update({"userids": ["zhangsan"], "response_code": code, "button": button})["errcode"] == 0


def test_response_codes_expire(corp: Corp) -> None:
    task_id = task()
    sent = corp.send_card(approval_card(task_id))
    assert corp.sim.store.expire_response_codes() >= 1
    answer = corp.update({"atall": 1, "response_code": sent["response_code"], "button": {"replace_name": "x"}})
    assert answer["errcode"] == 40058 and "expired" in answer["errmsg"]
    corp.sim.store.response_code_ttl = 0.0  # codes issued from now on are dead on arrival
    try:
        click = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE)
    finally:
        corp.sim.store.response_code_ttl = 72 * 3600
    answer = corp.update(
        {"userids": ["zhangsan"], "response_code": click.response_code, "button": {"replace_name": "x"}}
    )
    assert answer["errcode"] == 40058


def test_clicks_the_client_would_not_send(corp: Corp) -> None:
    task_id = task()
    corp.send_card(
        approval_card(
            task_id,
            button_list=[{"text": "同意", "key": APPROVE}, {"text": "详情", "type": 1, "url": "https://example.com"}],
        )
    )
    store, corp_id = corp.sim.store, corp.app.corp_id
    with pytest.raises(ClickRefused):
        store.click(corp_id, AGENT_ID, "wangwu", task_id, APPROVE)  # did not receive it
    with pytest.raises(ClickRefused):
        store.click(corp_id, AGENT_ID, "zhangsan", task_id, "detail")  # a URL button does not call back
    with pytest.raises(ClickRefused):
        store.click(corp_id, AGENT_ID, "zhangsan", "no-such-task", APPROVE)


def test_button_selection_is_sent_as_selected_items(corp: Corp, receiver: Receiver) -> None:
    task_id = task()
    selection = {
        "question_key": "warehouse",
        "title": "发货仓",
        "option_list": [{"id": "sh", "text": "上海仓"}, {"id": "gz", "text": "广州仓"}],
        "selected_id": "gz",
    }
    corp.send_card(approval_card(task_id, button_selection=selection))
    corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE)
    corp.sim.store.click(corp.app.corp_id, AGENT_ID, "lisi", task_id, APPROVE, selected={"warehouse": ["sh"]})
    first, second = (ET.fromstring(r.plaintext) for r in receiver.posts())
    assert first.findtext("SelectedItems/SelectedItem/QuestionKey") == "warehouse"
    assert [o.text for o in first.iterfind("SelectedItems/SelectedItem/OptionIds/OptionId")] == ["gz"]
    assert [o.text for o in second.iterfind("SelectedItems/SelectedItem/OptionIds/OptionId")] == ["sh"]


# --- WeCom's delivery behaviour ------------------------------------------------------------------------------------


def test_duplicate_delivers_the_same_callback_n_times(corp: Corp, receiver: Receiver) -> None:
    task_id = task()
    corp.send_card(approval_card(task_id))
    result = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE, duplicate=3)
    assert [d.status for d in result.deliveries] == [200, 200, 200]
    posts = receiver.posts()
    assert len(posts) == 3
    assert len({(p.body, tuple(sorted(p.query.items()))) for p in posts}) == 1  # byte for byte the same
    assert len({event_fields(p.plaintext)["ResponseCode"] for p in posts}) == 1


def test_concurrent_duplicates(corp: Corp, receiver: Receiver) -> None:
    task_id = task()
    corp.send_card(approval_card(task_id))
    receiver.delay, receiver.slow_requests = 0.4, 3
    started = time.monotonic()
    result = corp.sim.store.click(
        corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE, duplicate=3, concurrent=True
    )
    assert time.monotonic() - started < 1.0  # they overlapped (one after the other: 1.2 s or more)
    assert len(result.deliveries) == 3 and all(d.accepted for d in result.deliveries)


def test_a_slow_answer_is_retried_up_to_three_deliveries(corp: Corp, receiver: Receiver) -> None:
    corp.sim.store.callback_timeout = 0.3
    try:
        task_id = task()
        corp.send_card(approval_card(task_id))
        receiver.delay, receiver.slow_requests = 0.8, 2  # the first two answers come too late
        result = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE)
        assert [(d.attempt, d.timed_out, d.status) for d in result.deliveries] == [
            (1, True, None),
            (2, True, None),
            (3, False, 200),
        ]
        assert result.accepted
        receiver.slow_requests = 100  # never in time: three deliveries, then WeCom gives up
        other = task()
        corp.send_card(approval_card(other))
        given_up = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "lisi", other, REJECT)
        assert len(given_up.deliveries) == 3 and not given_up.accepted
        assert all(d.timed_out for d in given_up.deliveries)
    finally:
        corp.sim.store.callback_timeout = 5.0


def test_an_error_status_is_retried(corp: Corp, receiver: Receiver) -> None:
    task_id = task()
    corp.send_card(approval_card(task_id))
    receiver.status = 500
    result = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE)
    assert [d.status for d in result.deliveries] == [500, 500, 500]
    assert len(receiver.posts()) == 3


@pytest.mark.parametrize(("tamper", "status"), [("signature", 403), ("key", 400), ("receiveid", 400)])
def test_forged_callbacks(corp: Corp, receiver: Receiver, tamper: Any, status: int) -> None:
    delivery = corp.sim.store.forge(corp.app.corp_id, AGENT_ID, "zhangsan", task(), APPROVE, tamper=tamper)
    assert (delivery.kind, delivery.status) == ("forged", status)
    [got] = receiver.posts()
    assert got.error  # wechatpy refused it too
    assert corp.sim.store.deliveries_to(corp.app.corp_id, AGENT_ID)[-1] is delivery


def test_replay_resends_an_earlier_delivery_verbatim(corp: Corp, receiver: Receiver) -> None:
    task_id = task()
    corp.send_card(approval_card(task_id))
    [first] = corp.sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE).deliveries
    again = corp.sim.store.replay(first)
    assert (again.kind, again.status, again.request) == ("replay", 200, first.request)
    original, replayed = receiver.posts()
    assert (original.body, original.query) == (replayed.body, replayed.query)


# --- the URL check ------------------------------------------------------------------------------------------------


def test_verify_url(corp: Corp, receiver: Receiver) -> None:
    result = corp.sim.store.verify_url(corp.app.corp_id, AGENT_ID)
    assert result.ok and result.delivery.answer == result.echostr.encode()
    [got] = receiver.received
    assert got.method == "GET" and set(got.query) == {"msg_signature", "timestamp", "nonce", "echostr"}
    assert got.plaintext == result.echostr
    assert corp.app.callback is not None and corp.app.callback.verified
    for echo in ("quoted", "newline"):  # 不能加引号，不能带bom头，不能带换行符
        receiver.echo = echo
        assert not corp.sim.store.verify_url(corp.app.corp_id, AGENT_ID).ok
    assert not corp.app.callback.verified


def test_set_callback_takes_a_given_token_and_key(sim: WeChatServer) -> None:
    made = new_corp(sim)
    config = sim.store.set_callback(made.app.corp_id, AGENT_ID, "http://127.0.0.1:9/cb", "tok", VECTOR_AES_KEY)
    assert (config.token, config.aes_key) == ("tok", VECTOR_AES_KEY)
    with pytest.raises(CryptoError):
        sim.store.set_callback(made.app.corp_id, AGENT_ID, "http://127.0.0.1:9/cb", "tok", "short")


# --- the per-member quota ------------------------------------------------------------------------------------------


def test_over_the_member_quota_messages_are_dropped(sim: WeChatServer) -> None:
    corp = new_corp(sim)
    sim.store.wecom_member_quota_per_minute = 3
    try:
        for _ in range(3):
            assert corp.send_text("zhangsan|lisi")["errcode"] == 0
        answer = corp.send_text("zhangsan|wangwu")
        assert answer["errcode"] == 0  # 超过部分会被丢弃不下发: the call succeeds
        last = sim.store.messages_for(corp.app.key)[-1]
        assert (last.recipient, last.dropped) == ("wangwu", ["zhangsan"])
        sim.store.wecom_member_over_quota = "refuse"
        refused = corp.send_text("zhangsan")
        assert refused["errcode"] == 45009 and refused["errmsg"].startswith("api freq out of limit")
        assert corp.send_text("wangwu")["errcode"] == 0
    finally:
        sim.store.wecom_member_quota_per_minute = 30
        sim.store.wecom_member_over_quota = "drop"


def test_the_quota_is_per_app(sim: WeChatServer) -> None:
    first = new_corp(sim)
    second = sim.store.create_corp(first.app.corp_id, agent_id=AGENT_ID + 1)
    token = httpx.get(
        f"{sim.base_url}/cgi-bin/gettoken", params={"corpid": second.corp_id, "corpsecret": second.secret}
    ).json()["access_token"]
    other = Corp(sim, second, token)
    sim.store.wecom_member_quota_per_minute = 1
    try:
        first.send_text("zhangsan")
        first.send_text("zhangsan")
        assert sim.store.messages_for(first.app.key)[-1].dropped == ["zhangsan"]
        other.send_text("zhangsan")
        assert sim.store.messages_for(second.key)[-1].dropped == []
    finally:
        sim.store.wecom_member_quota_per_minute = 30


def test_a_dropped_recipient_gets_no_card(sim: WeChatServer) -> None:
    corp = new_corp(sim)
    sim.store.set_callback(corp.app.corp_id, AGENT_ID, "http://127.0.0.1:9/unused")
    sim.store.wecom_member_quota_per_minute = 1
    try:
        corp.send_text("zhangsan")
        task_id = task()
        assert corp.send_card(approval_card(task_id))["errcode"] == 0
        assert sim.store.card(corp.app.corp_id, AGENT_ID, task_id).recipients == ["lisi"]
        with pytest.raises(ClickRefused):
            sim.store.click(corp.app.corp_id, AGENT_ID, "zhangsan", task_id, APPROVE)
    finally:
        sim.store.wecom_member_quota_per_minute = 30

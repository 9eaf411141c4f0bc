"""The WeCom approval cards' wire format without a hub: the message/send bodies (90236), the callback's signature,
decryption and freshness checks against the simulator's independent implementation of WeCom's 加解密方案 (90968),
and the template_card_event parser (90240)."""

from __future__ import annotations

import time

import pytest
from wechatpy.enterprise.crypto import WeChatCrypto

from notify.providers import wecom_cards
from orderhub.approvals.card_port import CardButton, CardContent, CardOption
from orderhub.errors import OrderHubError
from sandbox.wecom_callback import CallbackCrypto, template_card_event_xml

CORP = "ww0123456789abcdef"
TOKEN = "QDG6eK"


def _event(**changes: object) -> str:
    fields: dict[str, object] = dict(
        corp_id=CORP,
        userid="zhangsan",
        create_time=1_700_000_000,
        event_key="oh:approve:12",
        task_id="oh3-12-ab",
        card_type="button_interaction",
        response_code="RC-1",
        agent_id=1000002,
    )
    fields.update(changes)
    return template_card_event_xml(**fields)  # type: ignore[arg-type]


def test_a_tap_is_parsed_with_its_selection() -> None:
    click = wecom_cards.parse_card_event(_event(selected={"reject_reason": ["stock"]}), agent_id="1000002")
    assert click is not None
    assert (click.card_id, click.button_key, click.recipient, click.update_code, click.created_at) == (
        "oh3-12-ab",
        "oh:approve:12",
        "zhangsan",
        "RC-1",
        1_700_000_000,
    )
    assert click.selected == {"reject_reason": ["stock"]}
    assert wecom_cards.parse_card_event(_event(), agent_id="1000003") is None  # another app's
    other = "<xml><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event></xml>"
    assert wecom_cards.parse_card_event(other) is None
    with pytest.raises(OrderHubError) as refused:
        wecom_cards.parse_card_event('<!DOCTYPE x [<!ENTITY a "b">]><xml>&a;</xml>')
    assert refused.value.code == "approval_wecom_malformed"


def test_the_card_bodies_follow_90236() -> None:
    card = CardContent(
        kind="decide",
        card_id="oh3-12-ab",
        recipient="zhangsan",
        title="订单审批",
        subtitle="区域经理审批",
        summary="原因：规则「大额」",
        rows=[("金额", "¥5,001.00")] * 8,
        url="https://hub/m/#/approvals/3",
        buttons=[CardButton(text="同意", key="oh:approve:12"), CardButton(text="转交…", url="https://hub/x", style=3)],
        selection_key="reject_reason",
        selection_title="驳回原因",
        options=[CardOption(id="none", text="未注明原因")],
        selected="none",
    )
    body = wecom_cards.card_message(card, 1000002)
    sent = body["template_card"]
    assert (body["msgtype"], body["agentid"], body["touser"]) == ("template_card", 1000002, "zhangsan")
    assert "enable_duplicate_check" not in body  # the task_id already makes a repeat fail (42014)
    assert sent["card_type"] == "button_interaction" and sent["task_id"] == "oh3-12-ab"
    assert len(sent["horizontal_content_list"]) == 6  # 90236: at most 6
    assert sent["button_list"] == [
        {"text": "同意", "style": 1, "key": "oh:approve:12"},
        {"text": "转交…", "style": 3, "type": 1, "url": "https://hub/x"},
    ]
    assert sent["button_selection"]["selected_id"] == "none"
    notice = wecom_cards.card_message(
        CardContent(kind="notice", card_id="x", recipient="lisi", title="知会", url="https://hub/m/"), 1
    )
    assert notice["template_card"]["card_type"] == "text_notice" and "task_id" not in notice["template_card"]
    assert notice["enable_duplicate_check"] == 1 and notice["template_card"]["card_action"]["type"] == 1
    text = wecom_cards.card_message(CardContent(kind="text", card_id="y", recipient="lisi", title="", text="催办"), 1)
    assert text["msgtype"] == "text" and text["text"] == {"content": "催办"}


def _setup(sim: CallbackCrypto) -> object:
    return wecom_cards._Callback(
        crypto=WeChatCrypto(TOKEN, sim.encoding_aes_key, CORP), token=TOKEN, corp_id=CORP, agent_id="1000002"
    )


def _query(sim: CallbackCrypto, encrypted: str, *, at: int | None = None) -> wecom_cards.CallbackQuery:
    timestamp = str(at if at is not None else int(time.time()))
    return wecom_cards.CallbackQuery(
        msg_signature=sim.signature(timestamp, "1372623149", encrypted), timestamp=timestamp, nonce="1372623149"
    )


def test_the_callback_is_verified_decrypted_and_fresh() -> None:
    sim = CallbackCrypto(TOKEN, CallbackCrypto.new_aes_key(), CORP)
    setup = _setup(sim)
    encrypted = sim.encrypt(_event())
    assert wecom_cards._open(setup, _query(sim, encrypted), encrypted) == _event()  # type: ignore[arg-type]

    def refusal(query: wecom_cards.CallbackQuery, value: str) -> str:
        with pytest.raises(OrderHubError) as refused:
            wecom_cards._open(setup, query, value)  # type: ignore[arg-type]
        return str(refused.value.code)

    forged = wecom_cards.CallbackQuery(msg_signature="0" * 40, timestamp=str(int(time.time())), nonce="1")
    assert refusal(forged, encrypted) == "approval_wecom_bad_signature"
    assert refusal(_query(sim, encrypted).__class__(msg_signature="签名", timestamp="1", nonce="1"), encrypted) == (
        "approval_wecom_bad_signature"
    )
    other_key = CallbackCrypto(TOKEN, CallbackCrypto.new_aes_key(), CORP).encrypt(_event())
    assert refusal(_query(sim, other_key), other_key) == "approval_wecom_bad_message"
    other_corp = sim.encrypt(_event(), receive_id="wwffffffffffffffff")
    assert refusal(_query(sim, other_corp), other_corp) == "approval_wecom_bad_message"
    assert refusal(_query(sim, encrypted, at=int(time.time()) - 3600), encrypted) == "approval_wecom_stale"

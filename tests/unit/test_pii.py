"""The customer's clear data at rest (orderhub/orders/pii.py) and what readers without the right see."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orderhub.orders import pii
from orderhub.orders.commands import OrderView, Receiver, ReceiverCipher
from orderhub.orders.service import masked_receiver, shown_to
from orderhub.settings import reset_settings


@pytest.fixture(autouse=True)
def _key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ORDERHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ORDERHUB_SECRET_KEY", "a" * 64)
    reset_settings()
    yield
    reset_settings()


def test_sealed_values_open_and_never_show_the_clear_text() -> None:
    for clear in ("13800138000", "王小明", "建国路88号3栋1201", "易碎*轻放~ 😀"):
        sealed = pii.seal(clear)
        assert sealed.startswith(pii.PREFIX) and clear not in sealed
        assert pii.open_(sealed) == clear


def test_sealing_is_deterministic_so_guards_compare_sealed_values() -> None:
    assert pii.seal("13800138000") == pii.seal("13800138000")
    assert pii.seal("13800138000") != pii.seal("13800138001")
    assert pii.seal(pii.seal("x")) == pii.seal("x")  # sealing twice is sealing once


def test_empty_and_unsealed_values_pass_through() -> None:
    assert pii.seal("") == "" and pii.open_("") == "" and pii.open_(None) == ""
    assert pii.open_("138****0000") == "138****0000"  # a platform's masked form is not sealed


def test_another_key_cannot_open(monkeypatch: pytest.MonkeyPatch) -> None:
    sealed = pii.seal("13800138000")
    monkeypatch.setenv("ORDERHUB_SECRET_KEY", "b" * 64)
    reset_settings()
    with pytest.raises(ValueError, match="ORDERHUB_SECRET_KEY"):
        pii.open_(sealed)


def test_masks() -> None:
    assert pii.mask_name("王小明") == "王*明" and pii.mask_name("王明") == "王*" and pii.mask_name("张*") == "张*"
    assert pii.mask_phone("13912345678") == "139****5678" and pii.mask_phone("138****0000") == "138****0000"
    assert pii.mask_detail("建国路88号3栋1201") == "建国路**号*栋****"


def _view(receiver: Receiver) -> OrderView:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    return OrderView(
        id=1, channel="s", external_id="e", status="ready", exception_reason=None, hold_queue=None,
        hold_reason=None, buyer_nick="b", buyer_phone="13900001111", receiver=receiver, goods_amount=0,
        shipping_fee=0, discount=0, paid_amount=0, buyer_memo="", seller_memo="", tags=[], priority="normal",
        preferred_carrier=None, placed_at=now, paid_at=None, ship_by=None, warehouse=None, received_at=now,
        updated_at=now,
    )  # fmt: skip


def test_only_admins_and_managers_read_a_clear_receiver() -> None:
    clear = Receiver(
        name="王小明", phone="13912345678", province="北京市", city="北京市", district="朝阳区", detail="建国路88号"
    )
    view = _view(clear)
    assert shown_to(view, "admin") is view and shown_to(view, "manager") is view
    for role in ("finance", "approver", "packer", "picker"):
        shown = shown_to(view, role)
        assert shown.receiver.name == "王*明" and shown.receiver.phone == "139****5678"
        assert shown.receiver.detail == "建国路**号" and shown.receiver.address == "北京市北京市朝阳区建国路**号"
        assert shown.buyer_phone == "139****1111"


def test_an_encrypted_receiver_shows_the_platforms_masked_forms_to_everyone() -> None:
    cipher = ReceiverCipher(
        platform="douyin", name="#a#b#", phone="#c#d#", detail="#e#f#", name_masked="张*", phone_masked="138****0000",
        detail_masked="某某路**号", phone_index="idx",
    )  # fmt: skip
    encrypted = Receiver(name="张*", phone="138****0000", province="浙江省", city="杭州市", district="西湖区",
                         detail="某某路**号", cipher=cipher)  # fmt: skip
    shown = shown_to(_view(encrypted), "admin")
    assert shown.receiver.phone == "138****0000" and shown.receiver.name == "张*"
    assert masked_receiver(encrypted).detail == "某某路**号"
    assert cipher.match_key() == "douyin:idx:idx"
    assert ReceiverCipher(platform="taobao", open_id="oaid1", phone_index="x").match_key() == "taobao:oaid:oaid1"

"""The settlement sources: Alipay signing (documented example), the mappers on doc-shaped payloads, and the
sources over real HTTP (a local handler speaking each platform's documented format)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from orderhub.channels.douyin import settlement as douyin
from orderhub.channels.pdd import settlement as pdd
from orderhub.channels.port import Credentials, PlatformUnavailable, SessionExpired, SignatureRejected
from orderhub.channels.taobao import settlement as taobao
from orderhub.channels.taobao.alipay import (
    error_for,
    load_private_key,
    load_public_key,
    response_text,
    rsa2_sign,
    rsa2_verify,
    sign_content,
)
from orderhub.channels.wechat_shop import settlement as wechat
from orderhub.clock import SHANGHAI
from orderhub.finance.port import LineKind, SettlementLineIn
from sandbox.platforms import PlatformServer, running_platforms
from tests.support.simulators import shop_credentials

DAY = date(2026, 11, 30)
LATER = datetime(2026, 12, 3, 12, tzinfo=UTC)

# -------------------------------------------------------------------------------------------------------- Alipay

# opendocs.alipay.com "自行实现签名": the documented request and the string it signs.
_MENU = (
    '{"button":[{"actionParam":"ZFB_HFCZ","actionType":"out","name":"话费充值"},{"name":"查询","subButton":'
    '[{"actionParam":"ZFB_YECX","actionType":"out","name":"余额查询"},{"actionParam":"ZFB_LLCX","actionType":"out",'
    '"name":"流量查询"},{"actionParam":"ZFB_HFCX","actionType":"out","name":"话费查询"}]},{"actionParam":'
    '"http://m.alipay.com","actionType":"link","name":"最新优惠"}]}'
)


def test_sign_content_matches_the_documented_example() -> None:
    params = {
        "app_id": "2014072300007148",
        "method": "alipay.mobile.public.menu.add",
        "charset": "GBK",
        "sign_type": "RSA2",
        "timestamp": "2014-07-24 03:07:50",
        "biz_content": _MENU,
        "sign": "e9zEAe4TTQ4LPLQvETPoLGXTiURcxiAKfMVQ6Hrrsx2hmyIEGvSfAQzbLxHrhyZ48wOJXTsD4FPnt",
        "version": "1.0",
        "app_auth_token": "",  # empty values are left out
    }
    assert sign_content(params) == (
        f"app_id=2014072300007148&biz_content={_MENU}&charset=GBK&method=alipay.mobile.public.menu.add"
        "&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0"
    )


def _keypair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE, PUBLIC = _keypair()
ALIPAY_PRIVATE, ALIPAY_PUBLIC = _keypair()


def _bare(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def test_rsa2_round_trip_with_pem_and_bare_keys() -> None:
    content = "a=1&b=测试"
    signature = rsa2_sign(content, load_private_key(_bare(PRIVATE)))  # the bare body Alipay's tool prints
    assert rsa2_verify(content, signature, load_public_key(PUBLIC))
    assert rsa2_verify(content, signature, load_public_key(_bare(PUBLIC)))
    assert not rsa2_verify(content + "x", signature, load_public_key(PUBLIC))


def test_response_text_is_the_exact_signed_object() -> None:
    body = '{"x_response":{"code":"10000","msg":"Success","u":"a}\\"{b"},"sign":"zz"}'
    assert response_text(body, "x_response") == '{"code":"10000","msg":"Success","u":"a}\\"{b"}'
    assert response_text(body, "missing") is None


def test_error_mapping_follows_the_public_codes() -> None:
    assert isinstance(error_for("20000", "Service Currently Unavailable", "isp.unknow-error", ""), PlatformUnavailable)
    assert isinstance(
        error_for("20001", "Insufficient Token Permissions", "aop.auth-token-time-out", ""), SessionExpired
    )
    assert isinstance(error_for("40002", "Invalid Arguments", "isv.invalid-signature", ""), SignatureRejected)
    failure = error_for("40004", "Business Failed", "isp.bill_not_exist", "账单不存在")
    assert failure.platform_code == "40004/isp.bill_not_exist"


def _signcustomer_zip(rows: list[str], *, with_summary: bool = True) -> bytes:
    detail = "\n".join(
        [
            "#支付宝账务明细查询",
            "#账号：[20880000000000000156]",
            "#起始日期：[2026年11月30日 00:00:00]   终止日期：[2026年12月01日 00:00:00]",
            "#-----------------------------------------账务明细列表----------------------------------------",
            "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,"
            "账户余额（元）,交易渠道,业务类型,备注",
            *rows,
            "#-----------------------------------------账务明细列表结束------------------------------------",
            "#支出合计：1笔，共5.00元",
            "#收入合计：1笔，共100.00元",
        ]
    ).encode("gbk")
    summary = "#支付宝账务汇总查询\n类型,收入笔数,收入金额（+元）\n合计,1,100.00\n".encode("gbk")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if with_summary:
            archive.writestr("20880000000000000156_20261130_账务明细(汇总).csv", summary)  # first, as Alipay does
        archive.writestr("20880000000000000156_20261130_账务明细.csv", detail)
    return buffer.getvalue()


ROWS = [
    "5463244653\t,2026113022001\t,T200P3344556677889900\t,连衣裙\t,2026-11-30 14:49:39,buyer@example.com\t,"
    "100.00,0.00,1100.00,支付宝,交易付款,",
    "5463244654\t,2026113022002\t,CAE_CHARGE_7788\t,天猫佣金\t,2026-11-30 15:00:00,tmall\t,"
    "0.00,-5.00,1095.00,支付宝,收费,天猫佣金（类目）{3344556677889900}",
    "5463244655\t,2026113022003\t,\t,提现\t,2026-11-30 16:00:00,bank\t,0.00,-1000.00,95.00,支付宝,提现,",
]


def test_signcustomer_zip_gbk_detail_member_and_lines() -> None:
    kind, rows = taobao.read_bill_zip(_signcustomer_zip(ROWS))
    assert kind == "signcustomer" and len(rows) == 3
    lines = taobao.signcustomer_lines(rows, DAY)
    assert [(line.kind, line.amount, line.external_id) for line in lines] == [
        (LineKind.SALE, 10000, "3344556677889900"),
        (LineKind.COMMISSION, -500, ""),
    ]  # the withdrawal is not a settlement line
    sale, fee = lines
    assert sale.line_key == "alipay:5463244653" and fee.line_key == "alipay:5463244654"
    assert sale.settled_at == datetime(2026, 11, 30, 6, 49, 39, tzinfo=UTC) and sale.bill_date == DAY
    assert "天猫佣金" in fee.memo


def test_trade_bill_lines() -> None:
    rows = [
        {
            "支付宝交易号": "2026113022001004",
            "商户订单号": "T200P1234",
            "业务类型": "交易",
            "完成时间": "2026-11-30 10:00:00",
            "商家实收（元）": "50.00",
            "服务费（元）": "-0.30",
            "退款批次号/请求号": "",
        },
        {
            "支付宝交易号": "2026113022001004",
            "商户订单号": "T200P1234",
            "业务类型": "退款",
            "完成时间": "2026-11-30 12:00:00",
            "商家实收（元）": "-10.00",
            "服务费（元）": "0.06",
            "退款批次号/请求号": "RF1",
        },
    ]
    lines = taobao.trade_lines(rows, DAY)
    assert [(x.line_key, x.kind, x.amount) for x in lines] == [
        ("trade:2026113022001004:pay:main", LineKind.SALE, 5000),
        ("trade:2026113022001004:pay:fee", LineKind.PAYMENT_FEE, -30),
        ("trade:2026113022001004:RF1:main", LineKind.REFUND, -1000),
        ("trade:2026113022001004:RF1:fee", LineKind.PAYMENT_FEE, 6),
    ]
    assert all(x.external_id == "1234" for x in lines)


def test_top_fee_bills_are_keyed_by_their_bid() -> None:
    bills = [
        {"bid": 91, "account_id": 7, "trade_id": "3344556677889900", "order_id": "3344556677889901", "amount": 500,
         "pay_time": "2026-11-30 15:00:00", "alipay_outno": "CAE_CHARGE_7788"},
        {"bid": 92, "account_id": 8, "trade_id": "1", "amount": 120, "pay_time": "2026-11-30 15:00:00"},
    ]  # fmt: skip
    lines = taobao.fee_bill_lines(bills, {"7": "天猫佣金", "8": "淘宝客佣金"}, DAY)
    assert [(x.line_key, x.kind, x.amount, x.sub_id) for x in lines] == [
        ("top:91", LineKind.COMMISSION, -500, "3344556677889901"),
        ("top:92", LineKind.PROMOTION_FEE, -120, ""),
    ]


# -------------------------------------------------------------------------------------------------------- 抖店

SETTLED = {
    "settle_time": "2026-11-30 10:00:00",
    "request_no": "R1",
    "shop_order_id": "69000001",
    "order_id": "69000001-1",
    "settle_amount": 8150,
    "trade_type": 0,
    "is_contains_refund_before_settle": 1,
    "order_time": "2026-11-20 09:00:00",
    "real_pay_amount": 9000,
    "platform_coupon": 500,
    "author_coupon": 0,
    "zt_pay_promotion": 100,
    "zr_pay_promotion": 0,
    "refund_before_settle": 1000,
    "platform_service_fee": 50,
    "commission": 300,
    "good_learn_channel_fee": 0,
    "colonel_service_fee": 100,
    "channel_promotion_fee": 0,
    "other_sharing_amount": 0,
    "remark": "",
}


def test_douyin_settled_row_lines_sum_to_settle_amount() -> None:
    lines = douyin.settle_lines([SETTLED], DAY)
    by_part = {x.line_key.rsplit(":", 1)[1]: x for x in lines}
    assert by_part["sale"].amount == 9000 and by_part["sale"].kind is LineKind.SALE
    assert by_part["platform_coupon"].kind is LineKind.PLATFORM_COUPON
    assert by_part["refund_before"].refund_before_settle and by_part["refund_before"].amount == -1000
    assert by_part["commission"].kind is LineKind.COMMISSION and by_part["commission"].amount == -300
    assert by_part["platform_service_fee"].kind is LineKind.SERVICE_FEE
    assert by_part["colonel"].kind is LineKind.PROMOTION_FEE
    assert sum(x.amount for x in lines) == 8150
    assert "rest" not in by_part  # 9000+500+100-1000-50-300-100 = 8150
    assert all(x.external_id == "69000001" and x.sub_id == "69000001-1" for x in lines)
    after = douyin.settle_lines([{**SETTLED, "request_no": "R2", "trade_type": 1, "settle_amount": -2000}], DAY)
    assert [(x.kind, x.amount, x.line_key) for x in after] == [(LineKind.REFUND, -2000, "R2:69000001-1:refund_after")]
    odd = douyin.settle_lines([{**SETTLED, "settle_amount": 8000}], DAY)
    assert sum(x.amount for x in odd) == 8000 and odd[-1].kind is LineKind.ADJUSTMENT


def test_douyin_account_items_keep_only_what_the_bill_lacks() -> None:
    rows = [
        {"account_trade_no": "A1", "fund_flow": 0, "account_amount": 8150, "account_bill_desc_tag": 3,
         "trans_scene_tag": 30, "bill_time": "2026-11-30 10:00:00"},
        {"account_trade_no": "A2", "fund_flow": 1, "account_amount": 2000, "account_bill_desc_tag": 0,
         "trans_scene_tag": 3, "bill_time": "2026-11-30 11:00:00", "shop_order_id": "69000001"},
        {"account_trade_no": "A3", "fund_flow": 1, "account_amount": 150, "account_bill_desc_tag": 20,
         "trans_scene_tag": 0, "bill_time": "2026-11-30 12:00:00"},
        {"account_trade_no": "A4", "fund_flow": 1, "account_amount": 9000, "account_bill_desc_tag": 11,
         "trans_scene_tag": 44, "bill_time": "2026-11-30 13:00:00"},
    ]  # fmt: skip
    lines = douyin.account_lines(rows, DAY)
    assert [(x.line_key, x.kind, x.amount) for x in lines] == [
        ("acct:A2", LineKind.PENALTY, -2000),
        ("acct:A3", LineKind.INSURANCE, -150),
    ]


# ------------------------------------------------------------------------------------------------------- 拼多多

PDD_CSV = (
    "商户订单号,发生时间,收入金额（+元）,支出金额（-元）,账务类型,备注,业务描述\n"
    "261130-111,2026-11-30 10:00:00,88.00,0,交易收入,,订单收入\n"
    "261130-111,2026-11-30 10:00:01,0,-0.53,其他,,技术服务费\n"
    "261130-111,2026-11-30 10:00:01,0,-0.53,其他,,技术服务费\n"
    "261130-222,2026-11-30 11:00:00,0,-20.00,退款,,售后退款\n"
)


def test_pdd_bill_lines_and_stable_derived_keys() -> None:
    rows = pdd.read_bill_file(PDD_CSV.encode("gbk"))
    lines = pdd.bill_lines(rows, DAY)
    assert [(x.kind, x.amount, x.external_id) for x in lines] == [
        (LineKind.SALE, 8800, "261130-111"),
        (LineKind.COMMISSION, -53, "261130-111"),
        (LineKind.COMMISSION, -53, "261130-111"),
        (LineKind.REFUND, -2000, "261130-222"),
    ]
    keys = [x.line_key for x in lines]
    assert len(set(keys)) == 4  # two identical rows still get two keys
    assert keys == [x.line_key for x in pdd.bill_lines(pdd.read_bill_file(PDD_CSV.encode("utf-8")), DAY)]


# ------------------------------------------------------------------------------------------------------ 微信小店


def test_wechat_flow_lines() -> None:
    sale = wechat.flow_line(
        {"flow_id": "F1", "funds_type": 1, "flow_type": 1, "amount": 9900, "bookkeeping_time": "2026-11-30 08:00:00",
         "related_info_list": [{"related_type": 1, "order_id": "3707360208736617728"}]},
        DAY,
    )  # fmt: skip
    assert sale is not None and (sale.kind, sale.amount, sale.external_id) == (
        LineKind.SALE,
        9900,
        "3707360208736617728",
    )
    refund = wechat.flow_line(
        {"flow_id": "F2", "funds_type": 3, "flow_type": 2, "amount": 2, "bookkeeping_time": "2022-12-12 16:43:16",
         "remark": "退款总金额0.02元;含手续费0.00元"},
        DAY,
    )  # fmt: skip
    assert refund is not None and (refund.kind, refund.amount, refund.bill_date) == (
        LineKind.REFUND,
        -2,
        date(2022, 12, 12),
    )
    assert wechat.flow_line({"flow_id": "F3", "funds_type": 4, "flow_type": 2, "amount": 5}, DAY) is None


# --------------------------------------------------------------------------------- sources over real HTTP (local)


def _handler_alipay(state: dict[str, Any]) -> httpx.MockTransport:
    private = load_private_key(ALIPAY_PRIVATE)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/bill.zip":
            state["downloads"] += 1
            if state["downloads"] <= state["expire_first"]:
                return httpx.Response(200, text="<html>下载超时，请重新下载</html>")
            return httpx.Response(200, content=_signcustomer_zip(ROWS))
        form = dict(httpx.QueryParams(request.content.decode()))
        assert rsa2_verify(sign_content(form), form["sign"], load_public_key(PUBLIC))
        biz = json.loads(form["biz_content"])
        state["queries"].append(biz)
        if biz["bill_date"] == state.get("missing"):
            inner = '{"code":"40004","msg":"Business Failed","sub_code":"isp.bill_not_exist","sub_msg":"账单不存在"}'
        else:
            inner = json.dumps({"code": "10000", "msg": "Success", "bill_download_url": "https://dl.test/bill.zip"})
        key = "alipay_data_dataservice_bill_downloadurl_query_response"
        return httpx.Response(200, text=f'{{"{key}":{inner},"sign":"{rsa2_sign(inner, private)}"}}')

    return httpx.MockTransport(handle)


async def test_taobao_source_signs_verifies_and_requeries_an_expired_url() -> None:
    state: dict[str, Any] = {"downloads": 0, "expire_first": 1, "queries": []}
    async with httpx.AsyncClient(transport=_handler_alipay(state)) as http:
        source = taobao.create_settlement_source(
            Credentials(app_key="k", app_secret="s"),
            {"alipay_app_id": "2021000000000001", "alipay_private_key": _bare(PRIVATE),
             "alipay_public_key": ALIPAY_PUBLIC, "alipay_gateway": "https://alipay.test/gateway.do"},
            http,
        )  # fmt: skip
        source._now = lambda: LATER
        page = await source.fetch_day(DAY, None)
    assert page.next_cursor is None  # no TOP session: no fee bills
    assert [x.kind for x in page.lines] == [LineKind.SALE, LineKind.COMMISSION]
    assert len(state["queries"]) == 2 and state["downloads"] == 2  # the expired URL was asked for again
    assert state["queries"][0] == {"bill_type": "signcustomer", "bill_date": "2026-11-30"}


async def test_taobao_source_not_ready_and_bad_response_signature() -> None:
    state: dict[str, Any] = {"downloads": 0, "expire_first": 0, "queries": [], "missing": "2026-12-02"}
    async with httpx.AsyncClient(transport=_handler_alipay(state)) as http:
        settings = {"alipay_app_id": "1", "alipay_private_key": PRIVATE, "alipay_public_key": ALIPAY_PUBLIC,
                    "alipay_gateway": "https://alipay.test/gateway.do"}  # fmt: skip
        source = taobao.create_settlement_source(Credentials(app_key="k", app_secret="s"), settings, http)
        source._now = lambda: LATER
        with pytest.raises(PlatformUnavailable) as caught:
            await source.fetch_day(date(2026, 12, 2), None)  # Alipay: 账单不存在 for yesterday
        assert caught.value.platform_code == "bill_not_ready"
        with pytest.raises(PlatformUnavailable) as caught:
            await source.fetch_day(date(2026, 12, 3), None)  # today: not asked at all
        assert caught.value.platform_code == "bill_not_ready" and len(state["queries"]) == 1
        wrong = taobao.create_settlement_source(
            Credentials(app_key="k", app_secret="s"), {**settings, "alipay_public_key": PUBLIC}, http
        )
        wrong._now = lambda: LATER
        with pytest.raises(SignatureRejected):
            await wrong.fetch_day(DAY, None)


def test_lines_are_settlement_lines() -> None:
    assert all(isinstance(x, SettlementLineIn) for x in douyin.settle_lines([SETTLED], DAY))


# ------------------------------------------------------------------- end to end against the platform simulators

SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)


@pytest.fixture
def clock() -> datetime:
    """Now (the gateways check request timestamps against their clock, so the simulators keep real time); the tests
    use the day before yesterday, which every platform has published by now."""
    return datetime.now(UTC)


async def pull_day(source: Any, day: date) -> tuple[list[SettlementLineIn], int]:
    lines: list[SettlementLineIn] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await source.fetch_day(day, cursor)
        pages += 1
        lines += page.lines
        if page.next_cursor is None:
            return lines, pages
        cursor = page.next_cursor


def _alipay_extra(sim: PlatformServer, app: Any) -> dict[str, str]:
    return {
        "alipay_app_id": app.app_id,
        "alipay_private_key": app.app_private_key_pem,
        "alipay_public_key": sim.store.alipay_public_key_pem,
        "alipay_gateway": sim.alipay_url,
    }


async def test_sim_alipay_gbk_zip_day(sim: PlatformServer, clock: datetime) -> None:
    day = clock.astimezone(SHANGHAI).date() - timedelta(days=2)
    seller = sim.store.create_seller("taobao")
    app = sim.store.create_alipay_app(app_key=seller.app_key)
    sim.store.add_alipay_bill_row(
        app.app_id,
        day,
        {"商户订单号": "T200P4242", "商品名称": "连衣裙（红色）", "收入金额（+元）": 8800, "业务类型": "交易付款"},
    )
    sim.store.add_alipay_bill_row(
        app.app_id,
        day,
        {"商户订单号": "CAE4242", "支出金额（-元）": -44, "业务类型": "收费", "备注": "天猫佣金（类目）"},
    )
    sim.store.add_alipay_bill_row(app.app_id, day, {"支出金额（-元）": -5000, "业务类型": "提现"})
    creds = shop_credentials(sim, "taobao", seller, tokens=False)
    async with httpx.AsyncClient() as http:
        source = taobao.create_settlement_source(creds, _alipay_extra(sim, app), http)
        source._now = lambda: clock
        lines, pages = await pull_day(source, day)
        again, _ = await pull_day(source, day)
    assert pages == 1
    assert [(x.kind, x.amount, x.external_id) for x in lines] == [
        (LineKind.SALE, 8800, "4242"),
        (LineKind.COMMISSION, -44, ""),
    ]
    assert "连衣裙（红色）" in lines[0].memo  # GBK text read back
    assert [x.line_key for x in again] == [x.line_key for x in lines]  # stable across re-pulls


async def test_sim_alipay_expired_url_and_not_ready(sim: PlatformServer, clock: datetime) -> None:
    today = clock.astimezone(SHANGHAI).date()
    seller = sim.store.create_seller("taobao")
    app = sim.store.create_alipay_app(app_key=seller.app_key)
    sim.store.add_alipay_bill_row(app.app_id, today - timedelta(days=2), {"收入金额（+元）": 100})
    creds = shop_credentials(sim, "taobao", seller, tokens=False)
    async with httpx.AsyncClient() as http:
        source = taobao.create_settlement_source(creds, _alipay_extra(sim, app), http)
        source._now = lambda: clock
        with pytest.raises(PlatformUnavailable) as caught:
            await source.fetch_day(today, None)  # T+1: not asked
        assert caught.value.platform_code == "bill_not_ready"
        with pytest.raises(PlatformUnavailable) as caught:
            await source.fetch_day(today - timedelta(days=1), None)  # Alipay: 账单不存在 (a recent day)
        assert caught.value.platform_code == "bill_not_ready"
        before = len(sim.store.settlements.alipay_requests)
        ttl = sim.store.settlements.alipay_url_ttl
        sim.store.settlements.alipay_url_ttl = timedelta(0)  # every URL has expired when it is fetched
        try:
            with pytest.raises(PlatformUnavailable) as caught:
                await source.fetch_day(today - timedelta(days=2), None)
        finally:
            sim.store.settlements.alipay_url_ttl = ttl
        assert caught.value.platform_code == "bill_url_expired"
        assert len(sim.store.settlements.alipay_requests) - before == taobao.URL_ATTEMPTS  # queried again each time
        lines, _ = await pull_day(source, today - timedelta(days=2))  # a fresh URL works
        assert [x.amount for x in lines] == [100]


async def test_sim_douyin_day_through_all_pages(sim: PlatformServer, clock: datetime) -> None:
    day = clock.astimezone(SHANGHAI).date() - timedelta(days=2)
    seller = sim.store.create_seller("douyin")
    noon = datetime.combine(day, time(12), SHANGHAI)
    expected = 0
    for n in range(150):
        row = sim.store.add_douyin_settlement(
            seller.app_key,
            shop_order_id=f"69{n:08d}",
            settle_time=noon + timedelta(seconds=n),
            real_pay_amount=9900,
            platform_coupon=500,
            refund_before_settle=1000 if n % 10 == 0 else 0,
            platform_service_fee=50,
            commission=300,
            colonel_service_fee=100,
        )
        expected += int(row["settle_amount"])
    sim.store.add_douyin_account_item(seller.app_key, bill_time=noon, account_amount=expected)  # 订单结算: skipped
    sim.store.add_douyin_account_item(
        seller.app_key, bill_time=noon, account_amount=2000, fund_flow=1, account_bill_desc_tag=0,
        trans_scene_tag=3, trans_scene="判罚扣款", account_trade_no="PENALTY1",
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        source = douyin.create_settlement_source(shop_credentials(sim, "douyin", seller), {}, http)
        source._now = lambda: clock
        lines, pages = await pull_day(source, day)
        with pytest.raises(PlatformUnavailable) as caught:
            await source.fetch_day(day + timedelta(days=2), None)  # today
        assert caught.value.platform_code == "bill_not_ready"
    assert pages >= 3  # two settled-order pages and the account items
    settled = [x for x in lines if not x.line_key.startswith("acct:")]
    assert len({x.external_id for x in settled}) == 150
    assert sum(x.amount for x in settled) == expected
    assert len({x.line_key for x in lines}) == len(lines)
    assert [(x.kind, x.amount) for x in lines if x.line_key.startswith("acct:")] == [(LineKind.PENALTY, -2000)]
    assert sum(1 for x in settled if x.refund_before_settle) == 15


async def test_sim_pdd_gbk_file(sim: PlatformServer, clock: datetime) -> None:
    day = clock.astimezone(SHANGHAI).date() - timedelta(days=2)
    seller = sim.store.create_seller("pinduoduo")
    sim.store.add_pdd_bill_row(
        seller.app_key, day, {"商户订单号": "261207-01", "收入金额（+元）": 1990, "业务描述": "订单收入"}
    )
    sim.store.add_pdd_bill_row(
        seller.app_key,
        day,
        {"商户订单号": "261207-01", "支出金额（-元）": -12, "账务类型": "其他", "业务描述": "技术服务费"},
    )
    async with httpx.AsyncClient() as http:
        source = pdd.create_settlement_source(shop_credentials(sim, "pinduoduo", seller), {}, http)
        source._now = lambda: clock
        lines, pages = await pull_day(source, day)
        again, _ = await pull_day(source, day)
        with pytest.raises(PlatformUnavailable) as caught:
            await source.fetch_day(day + timedelta(days=1), None)  # no bill for a recent day: not ready
        assert caught.value.platform_code == "bill_not_ready"
    assert pages == 1
    assert [(x.kind, x.amount, x.external_id) for x in lines] == [
        (LineKind.SALE, 1990, "261207-01"),
        (LineKind.COMMISSION, -12, "261207-01"),
    ]
    assert [x.line_key for x in again] == [x.line_key for x in lines]


async def test_sim_wechat_funds_flow_pages(sim: PlatformServer, clock: datetime) -> None:
    day = clock.astimezone(SHANGHAI).date() - timedelta(days=2)
    seller = sim.store.create_seller("wechat_shop", token_ttl=timedelta(days=2))
    noon = datetime.combine(day, time(12), SHANGHAI)
    for n in range(120):
        sim.store.add_wechat_funds_flow(seller.app_key, amount=5900, bookkeeping_time=noon + timedelta(seconds=n),
                                        order_id=f"37{n:017d}")  # fmt: skip
    sim.store.add_wechat_funds_flow(seller.app_key, amount=18, flow_type=2, funds_type=2,
                                    bookkeeping_time=noon, order_id="3700000000000000000")  # fmt: skip
    sim.store.add_wechat_funds_flow(seller.app_key, amount=100000, flow_type=2, funds_type=4, bookkeeping_time=noon)
    async with httpx.AsyncClient() as http:
        source = wechat.create_settlement_source(shop_credentials(sim, "wechat_shop", seller), {}, http)
        source._now = lambda: clock
        lines, pages = await pull_day(source, day)
        with pytest.raises(PlatformUnavailable) as caught:
            await source.fetch_day(day + timedelta(days=2), None)  # today
        assert caught.value.platform_code == "bill_not_ready"
    assert pages == 2
    assert sum(1 for x in lines if x.kind is LineKind.SALE) == 120
    assert [x.amount for x in lines if x.kind is LineKind.PAYMENT_FEE] == [-18]
    assert len({x.line_key for x in lines}) == 121  # the withdrawal is not a settlement line

"""The settlement simulators over real HTTP: 支付宝 account bill, 抖店 结算账单/资金流水, 拼多多 货款日账单,
微信小店 资金流水.

Requests are signed by minimal signers written here from the vendors' documentation, independent of
``sandbox.platforms.signing`` and of the hub's clients.

Alipay publishes no RSA2 test vector (key, string and signature together); what its 「自行实现签名」 page does publish
is a worked example of the 待签名字符串, which ``test_alipay_sign_content_matches_the_documented_example`` checks.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.platforms import PlatformServer, SellerAccount, running_platforms
from sandbox.platforms.settlements import AlipayApp, generate_rsa_keypair
from sandbox.platforms.signing import alipay_sign_content

SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)

BEIJING_FMT = "%Y-%m-%d %H:%M:%S"
BILL_NODE = "alipay_data_dataservice_bill_downloadurl_query_response"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def frozen(sim: PlatformServer) -> Iterator[list[datetime]]:
    """The store's clock pinned to today 17:00 Beijing time (after WeChat's 16:00 publication); move it by assigning
    ``frozen[0]``."""
    now = sim.store.now()
    holder = [now.replace(hour=17, minute=0, second=0, microsecond=0)]
    sim.store.set_clock(lambda: holder[0])
    try:
        yield holder
    finally:
        sim.store.set_clock(None)


# --------------------------------------------------------------------------- Alipay (signer from the docs)


def alipay_string(params: dict[str, str]) -> str:
    """待签名字符串: drop ``sign`` and empty values, sort by name (ASCII), join ``name=value`` with ``&``."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")


def rsa2_sign(text: str, private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return base64.b64encode(key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_ok(text: str, signature: str, public_pem: str) -> bool:
    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(signature), text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def alipay_call(
    http: httpx.Client, sim: PlatformServer, app: AlipayApp, biz: dict[str, str], *, key_pem: str | None = None
) -> tuple[dict[str, Any], str]:
    """Call the bill URL API; returns (the response node, the raw body text)."""
    params = {
        "app_id": app.app_id,
        "method": "alipay.data.dataservice.bill.downloadurl.query",
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": sim.store.now().strftime(BEIJING_FMT),
        "version": "1.0",
        "biz_content": json.dumps(biz, separators=(",", ":")),
    }
    params["sign"] = rsa2_sign(alipay_string(params), key_pem or app.app_private_key_pem)
    reply = http.post(sim.alipay_url, data=params)
    assert reply.status_code == 200
    body = reply.json()
    node = body.get(BILL_NODE) or body["error_response"]
    return node, reply.text


def node_signature_ok(raw: str, public_pem: str) -> bool:
    """Alipay signs the exact text of the response node: everything between ``"…_response":`` and ``,"sign"``."""
    start = raw.index(f'"{BILL_NODE}":') + len(BILL_NODE) + 3
    end = raw.rindex(',"sign":"')
    signature = json.loads(raw)["sign"]
    return rsa2_ok(raw[start:end], signature, public_pem)


def test_alipay_sign_content_matches_the_documented_example() -> None:
    # The worked example of Alipay's 「自行实现签名」 page: request params and the 待签名字符串 it gives for them.
    menu = (
        '{"button":[{"actionParam":"ZFB_HFCZ","actionType":"out","name":"话费充值"},{"name":"查询","subButton":'
        '[{"actionParam":"ZFB_YECX","actionType":"out","name":"余额查询"},{"actionParam":"ZFB_LLCX","actionType":'
        '"out","name":"流量查询"},{"actionParam":"ZFB_HFCX","actionType":"out","name":"话费查询"}]},{"actionParam":'
        '"http://m.alipay.com","actionType":"link","name":"最新优惠"}]}'
    )
    params = {
        "app_id": "2014072300007148",
        "method": "alipay.mobile.public.menu.add",
        "charset": "GBK",
        "sign_type": "RSA2",
        "timestamp": "2014-07-24 03:07:50",
        "biz_content": menu,
        "sign": "e9zEAe4TTQ4LPLQvETPoLGXTiURcxiAKfMVQ6Hrrsx2hmyIEGvSfAQzbLxHrhyZ48wOJXTsD4FPnt+YGdK57+fP1BC",
        "version": "1.0",
    }
    expected = (
        f"app_id=2014072300007148&biz_content={menu}&charset=GBK&method=alipay.mobile.public.menu.add"
        "&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0"
    )
    assert alipay_string(params) == expected
    assert alipay_sign_content(params) == expected


def test_alipay_refuses_a_bad_signature_and_an_unknown_app(sim: PlatformServer, http: httpx.Client) -> None:
    app = sim.store.create_alipay_app()
    other_private, _ = generate_rsa_keypair()
    yesterday = (sim.store.now() - timedelta(days=1)).date().isoformat()
    node, raw = alipay_call(
        http, sim, app, {"bill_type": "signcustomer", "bill_date": yesterday}, key_pem=other_private
    )
    assert (node["code"], node["sub_code"]) == ("40002", "isv.invalid-signature")
    assert '"sign"' not in raw  # gateway refusals are not signed

    ghost = AlipayApp("2021000000000001", app.app_private_key_pem, app.app_public_key_pem, "", app.user_id)
    node, _ = alipay_call(http, sim, ghost, {"bill_type": "signcustomer", "bill_date": yesterday})
    assert (node["code"], node["sub_code"]) == ("40002", "isv.invalid-app-id")

    # A shop registered with only its public key (the test keeps the private one) signs fine.
    private, public = generate_rsa_keypair()
    mine = sim.store.create_alipay_app(app_public_key_pem=public)
    sim.store.open_alipay_bill(mine.app_id, date.fromisoformat(yesterday))
    node, raw = alipay_call(http, sim, mine, {"bill_type": "signcustomer", "bill_date": yesterday}, key_pem=private)
    assert node["code"] == "10000"
    assert node_signature_ok(raw, sim.store.alipay_public_key_pem)


def test_alipay_bill_is_t_plus_one(sim: PlatformServer, http: httpx.Client) -> None:
    app = sim.store.create_alipay_app()
    today = sim.store.now().date()
    sim.store.add_alipay_bill_row(app.app_id, today, {"商户订单号": "T200P1", "收入金额（+元）": 100})
    for day in (today, today + timedelta(days=1)):
        node, raw = alipay_call(http, sim, app, {"bill_type": "signcustomer", "bill_date": day.isoformat()})
        assert (node["code"], node["sub_code"]) == ("40004", "isp.bill_not_exist")
        assert node_signature_ok(raw, sim.store.alipay_public_key_pem)  # business answers are signed
    # A past day without money movement has no bill either.
    node, _ = alipay_call(
        http, sim, app, {"bill_type": "signcustomer", "bill_date": (today - timedelta(2)).isoformat()}
    )
    assert node["sub_code"] == "isp.bill_not_exist"
    node, _ = alipay_call(http, sim, app, {"bill_type": "fund", "bill_date": (today - timedelta(2)).isoformat()})
    assert node["code"] == "40004" and node["sub_code"] == "isv.invalid_arguments"


def test_alipay_bill_zip_holds_gbk_csvs_behind_a_30_second_url(
    sim: PlatformServer, http: httpx.Client, frozen: list[datetime]
) -> None:
    app = sim.store.create_alipay_app()
    day = frozen[0].date() - timedelta(days=1)
    sim.store.add_alipay_bill_row(
        app.app_id,
        day,
        {
            "商户订单号": "T200P5116032541422009305",
            "商品名称": "明前龙井 250g",
            "对方账号": "张三 (zhang***@163.com)",
            "收入金额（+元）": 15900,
            "业务基础订单号": "5116032541422009305",
            "业务描述": "交易收款-交易收款",
        },
    )
    sim.store.add_alipay_bill_row(
        app.app_id,
        day,
        {"商户订单号": "T200P5116032541422009305", "支出金额（-元）": -954, "业务类型": "收费", "备注": "淘宝佣金"},
    )
    node, raw = alipay_call(http, sim, app, {"bill_type": "signcustomer", "bill_date": day.isoformat()})
    assert node["code"] == "10000", node
    assert node_signature_ok(raw, sim.store.alipay_public_key_pem)
    url = node["bill_download_url"]
    assert parse_qs(urlsplit(url).query)["bizDates"] == [day.strftime("%Y%m%d")]

    frozen[0] += timedelta(seconds=29)
    reply = http.get(url)
    assert reply.status_code == 200
    with zipfile.ZipFile(io.BytesIO(reply.content)) as bundle:
        # Alipay stores the member names in GBK without the UTF-8 flag: recover the raw bytes, decode as GBK.
        names = {info.filename.encode("cp437").decode("gbk"): info for info in bundle.infolist()}
        detail_name = next(n for n in names if n.endswith("_账务明细.csv"))
        summary_name = next(n for n in names if n.endswith("_账务明细(汇总).csv"))
        assert detail_name.startswith(f"{app.user_id}0156_{day:%Y%m%d}")
        detail = bundle.read(names[detail_name]).decode("gbk")
        summary = bundle.read(names[summary_name]).decode("gbk")
    lines = detail.splitlines()
    assert lines[0] == "#支付宝账务明细查询"
    assert lines[1] == f"#账号：[{app.user_id}0156]"
    assert lines[2].startswith(f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]")
    table = [row for row in csv.reader(io.StringIO(detail)) if row and not row[0].startswith("#")]
    header, first, second = (
        table[0],
        dict(zip(table[0], table[1], strict=True)),
        dict(zip(table[0], table[2], strict=True)),
    )
    assert header[:3] == ["账务流水号", "业务流水号", "商户订单号"]
    assert first["商品名称"] == "明前龙井 250g\t"  # text cells carry Alipay's trailing tab
    assert first["商户订单号"].strip() == "T200P5116032541422009305"
    assert first["对方账号"].strip() == "张三 (zhang***@163.com)"
    assert (first["收入金额（+元）"], first["账户余额（元）"]) == ("159.00", "159.00")
    assert (second["支出金额（-元）"], second["账户余额（元）"], second["备注"]) == ("-9.54", "149.46", "淘宝佣金")
    assert "#收入合计：1笔，共159.00元" in lines and "#支出合计：1笔，共9.54元" in lines
    assert summary.startswith("#支付宝账务汇总查询") and "交易付款" in summary

    frozen[0] += timedelta(seconds=2)  # 31 s after the URL was handed out
    assert http.get(url).status_code == 404
    node, _ = alipay_call(http, sim, app, {"bill_type": "signcustomer", "bill_date": day.isoformat()})
    assert http.get(node["bill_download_url"]).status_code == 200  # a fresh URL works again

    sim.store.add_alipay_bill_row(
        app.app_id, day, {"商户订单号": "T200P42", "商品名称": "陶瓷马克杯", "商家实收（元）": 2990}, bill_type="trade"
    )
    node, _ = alipay_call(http, sim, app, {"bill_type": "trade", "bill_date": day.isoformat()})
    with zipfile.ZipFile(io.BytesIO(http.get(node["bill_download_url"]).content)) as bundle:
        trade_names = [i.filename.encode("cp437").decode("gbk") for i in bundle.infolist()]
        assert any(n.endswith("_业务明细.csv") for n in trade_names)
        text = bundle.read(bundle.infolist()[0]).decode("gbk")
    assert text.startswith("#支付宝业务明细查询") and "陶瓷马克杯" in text


# --------------------------------------------------------------------------- 抖店 (signer from the docs)


def douyin_call(
    http: httpx.Client, sim: PlatformServer, seller: SellerAccount, method: str, param: dict[str, Any]
) -> dict[str, Any]:
    param_json = json.dumps(param, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    ts = sim.store.now().strftime(BEIJING_FMT)
    secret = seller.app_secret
    plain = f"{secret}app_key{seller.app_key}method{method}param_json{param_json}timestamp{ts}v2{secret}"
    sign = hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
    query = {
        "app_key": seller.app_key,
        "method": method,
        "access_token": seller.access_token,
        "timestamp": ts,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": sign,
    }
    reply = http.post(sim.douyin_url + "/" + method.replace(".", "/"), params=query, content=param_json.encode())
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def test_douyin_settle_bill_pages_by_next_start_index_until_is_end(
    sim: PlatformServer, http: httpx.Client, frozen: list[datetime]
) -> None:
    seller = sim.store.create_seller("douyin")
    yesterday = frozen[0] - timedelta(days=1)
    for i in range(5):
        sim.store.add_douyin_settlement(
            seller.app_key,
            shop_order_id=f"69{i:017d}",
            order_id=f"69{i:016d}1",
            settle_time=yesterday.replace(hour=9) + timedelta(minutes=i),
            real_pay_amount=9900,
            platform_coupon=500,
            author_coupon=200,
            platform_service_fee=500,
            commission=990,
            colonel_service_fee=100,
            channel_promotion_fee=50,
            refund_before_settle=0 if i else 1000,
        )
    sim.store.add_douyin_settlement(seller.app_key, shop_order_id="69today", settle_time=frozen[0] - timedelta(hours=1))
    window = {
        "start_time": (yesterday - timedelta(days=1)).strftime(BEIJING_FMT),
        "end_time": frozen[0].strftime(BEIJING_FMT),
    }
    seen: list[str] = []
    flags: list[int] = []
    param: dict[str, Any] = {"size": 2, **window}
    for _ in range(5):
        body = douyin_call(http, sim, seller, "order.getSettleBillDetailV3", param)
        assert body["code"] == 10000, body
        data = body["data"]
        assert data["code"] == "100000"
        seen += [row["shop_order_id"] for row in data["data"]]
        flags.append(data["is_end"])
        if data["is_end"] == 1:
            assert data["next_start_index"] == ""
            break
        param = {**param, "start_index": data["next_start_index"], "start_time": data["next_start_time"]}
    assert flags == [0, 0, 1]
    assert seen == [f"69{i:017d}" for i in range(5)]  # today's settlement is not there yet (T+1)
    first = douyin_call(http, sim, seller, "order.getSettleBillDetailV3", {"order_id": "69" + "0" * 16 + "1"})
    row = first["data"]["data"][0]
    assert (row["total_income"], row["total_outcome"], row["refund_before_settle"]) == (10600, 1640, 1000)
    assert row["settle_amount"] == 10600 - 1640 - 1000 and row["is_contains_refund_before_settle"] == 1

    bad = douyin_call(http, sim, seller, "order.getSettleBillDetailV3", {"size": 2})
    assert (bad["code"], bad["sub_code"]) == (40004, "isv.parameter-invalid:100026")


def test_douyin_shop_account_items_page_too(sim: PlatformServer, http: httpx.Client, frozen: list[datetime]) -> None:
    seller = sim.store.create_seller("douyin")
    yesterday = frozen[0] - timedelta(days=1)
    for i in range(3):
        sim.store.add_douyin_account_item(
            seller.app_key,
            bill_time=yesterday.replace(hour=10) + timedelta(minutes=i),
            account_amount=8000 + i,
            shop_order_id=f"69{i:017d}",
        )
    sim.store.add_douyin_account_item(
        seller.app_key, bill_time=yesterday.replace(hour=11), account_amount=300, fund_flow=1
    )
    window = {
        "start_time": yesterday.replace(hour=0).strftime(BEIJING_FMT),
        "end_time": frozen[0].strftime(BEIJING_FMT),
    }
    body = douyin_call(http, sim, seller, "order.getShopAccountItem", {"size": 3, **window})
    data = body["data"]
    assert [r["account_amount"] for r in data["data"]] == [8000, 8001, 8002]
    assert data["is_end"] == 0
    more = douyin_call(
        http, sim, seller, "order.getShopAccountItem", {"size": 3, **window, "start_index": data["next_start_index"]}
    )["data"]
    assert [(r["fund_flow"], r["fund_flow_desc"]) for r in more["data"]] == [(1, "出账")]
    assert more["is_end"] == 1


# --------------------------------------------------------------------------- 拼多多


def pdd_call(http: httpx.Client, sim: PlatformServer, seller: SellerAccount, api: str, **biz: str) -> dict[str, Any]:
    params = {
        "type": api,
        "client_id": seller.app_key,
        "access_token": seller.access_token,
        "timestamp": str(int(sim.store.now().timestamp())),
        "data_type": "JSON",
        "version": "V1",
        **biz,
    }
    joined = "".join(k + params[k] for k in sorted(params))
    params["sign"] = hashlib.md5((seller.app_secret + joined + seller.app_secret).encode()).hexdigest().upper()
    reply = http.post(sim.pinduoduo_url, data=params)
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def test_pdd_daily_bill_is_a_file_per_day_behind_a_short_lived_url(
    sim: PlatformServer, http: httpx.Client, frozen: list[datetime]
) -> None:
    seller = sim.store.create_seller("pinduoduo")
    today = frozen[0].date()
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)
    sim.store.add_pdd_bill_row(
        seller.app_key, d1, {"商户订单号": "261206-001", "收入金额（+元）": 1990, "备注": "订单收入"}
    )
    sim.store.add_pdd_bill_row(seller.app_key, d2, {"商户订单号": "261207-002", "收入金额（+元）": 5900})
    sim.store.add_pdd_bill_row(
        seller.app_key, d2, {"商户订单号": "261207-002", "支出金额（-元）": -590, "账务类型": "技术服务费"}
    )
    files = {}
    for day in (d1, d2):
        body = pdd_call(http, sim, seller, "pdd.finance.balance.daily.bill.url.get", bill_date=day.isoformat())
        url = body["finance_balance_daily_bill_url_get_response"]["download_url"]
        reply = http.get(url)
        assert reply.status_code == 200
        files[day] = list(csv.DictReader(io.StringIO(reply.content.decode("gbk"))))
    assert [r["商户订单号"] for r in files[d1]] == ["261206-001"]
    assert [(r["收入金额（+元）"], r["支出金额（-元）"], r["账务类型"]) for r in files[d2]] == [
        ("59.00", "0.00", "交易收入"),
        ("0.00", "-5.90", "技术服务费"),
    ]
    late = pdd_call(http, sim, seller, "pdd.finance.balance.daily.bill.url.get", bill_date=today.isoformat())
    assert late["error_response"]["error_code"] == 50001
    frozen[0] += sim.store.settlements.pdd_url_ttl
    assert http.get(url).status_code == 404


# --------------------------------------------------------------------------- 微信小店


def wx_post(
    http: httpx.Client, sim: PlatformServer, seller: SellerAccount, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    reply = http.post(f"{sim.wechat_shop_url}{path}", params={"access_token": seller.access_token}, json=body)
    assert reply.status_code == 200
    answer: dict[str, Any] = reply.json()
    return answer


def test_wechat_funds_flows_page_by_next_key_and_detail(
    sim: PlatformServer, http: httpx.Client, frozen: list[datetime]
) -> None:
    seller = sim.store.create_seller("wechat_shop", token_ttl=timedelta(days=2))
    yesterday = datetime.combine(frozen[0].date() - timedelta(days=1), time(9), frozen[0].tzinfo)
    ids = [
        sim.store.add_wechat_funds_flow(
            seller.app_key,
            amount=5900 + i,
            bookkeeping_time=yesterday + timedelta(minutes=i),
            order_id=f"3709{i:015d}",
            transaction_id=f"42000{i:023d}",
        )["flow_id"]
        for i in range(5)
    ]
    sim.store.add_wechat_funds_flow(seller.app_key, amount=1, bookkeeping_time=frozen[0] - timedelta(hours=1))
    got: list[str] = []
    body: dict[str, Any] = {"page": 1, "page_size": 2}
    while True:
        answer = wx_post(http, sim, seller, "/channels/ec/funds/getfundsflowlist", body)
        assert answer["errcode"] == 0, answer
        got += answer["flow_ids"]
        if not answer["has_more"]:
            break
        body = {"page": body["page"] + 1, "page_size": 2, "next_key": answer["next_key"]}
    assert got == ids  # today's flow is published tomorrow at 16:00
    detail = wx_post(http, sim, seller, "/channels/ec/funds/getfundsflowdetail", {"flow_id": ids[2]})["funds_flow"]
    assert (detail["amount"], detail["flow_type"], detail["funds_type"]) == (5902, 1, 1)
    assert detail["related_info_list"][0]["order_id"] == f"3709{2:015d}"
    assert detail["bookkeeping_time"] == (yesterday + timedelta(minutes=2)).strftime(BEIJING_FMT)
    missing = wx_post(http, sim, seller, "/channels/ec/funds/getfundsflowdetail", {"flow_id": "nope"})
    assert missing["errcode"] == 10024008

    # Before 16:00 yesterday's flows are not out yet.
    frozen[0] = frozen[0].replace(hour=15)
    assert (
        wx_post(http, sim, seller, "/channels/ec/funds/getfundsflowlist", {"page": 1, "page_size": 10})["flow_ids"]
        == []
    )

    for i in range(3):
        sim.store.add_wechat_order_flow(
            seller.app_key,
            order_id=f"3709{i:015d}",
            order_create_time=yesterday + timedelta(minutes=i),
            buyer_paid_amount=5900,
            platform_commission_amount=295,
            mch_settle_amount=5605,
            order_settle_state=60 if i < 2 else 1,
        )
    page = wx_post(
        http,
        sim,
        seller,
        "/channels/ec/funds/listorderflow",
        {"order_settle_state": 60, "pagination_info": {"limit": 1, "use_page_ctx": True}},
    )
    assert page["total_count"] == 2 and page["data_list"][0]["mch_settle_amount"] == 5605
    page2 = wx_post(
        http,
        sim,
        seller,
        "/channels/ec/funds/listorderflow",
        {"order_settle_state": 60, "pagination_info": {"limit": 1, "use_page_ctx": True, "page_ctx": page["page_ctx"]}},
    )
    assert page2["data_list"][0]["order_id"] == f"3709{1:015d}"


# --------------------------------------------------------------------------- 淘宝 TOP fee bills (signer from the docs)

BILL_FIELDS = "bid,account_id,trade_id,order_id,amount,pay_time,alipay_outno,alipay_notice,status,num_iid"


def top_call(
    http: httpx.Client, sim: PlatformServer, seller: SellerAccount, method: str, **biz: str
) -> tuple[str, dict[str, Any]]:
    """TOP's md5 signature (签名算法): every parameter but ``sign``, sorted by name, joined as name+value, wrapped in
    the app secret on both sides, MD5, upper-case hex. Returns (the response node's name, the node)."""
    params = {
        "method": method,
        "app_key": seller.app_key,
        "session": seller.access_token,
        "timestamp": sim.store.now().strftime(BEIJING_FMT),
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
        **biz,
    }
    joined = "".join(k + params[k] for k in sorted(params))
    params["sign"] = hashlib.md5((seller.app_secret + joined + seller.app_secret).encode()).hexdigest().upper()
    reply = http.post(sim.taobao_url, data=params)
    assert reply.status_code == 200
    ((name, node),) = reply.json().items()
    return name, node


def test_top_fee_bills_newest_first_paged_by_has_next(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("taobao")
    day = datetime.combine(sim.store.now().date() - timedelta(days=1), time(0), sim.store.now().tzinfo)
    for n in range(45):
        tid = f"42{n:016d}"
        sim.store.add_top_fee_bill(
            seller.app_key, amount=500 + n, pay_time=day + timedelta(hours=1, minutes=n), trade_id=tid
        )
    # seeded by session too; a refund's commission comes back negative (账单金额，退款时返回的是负数)
    back = sim.store.add_top_fee_bill(
        seller.access_token, amount=-500, pay_time=day + timedelta(hours=20), trade_id=f"42{0:016d}"
    )
    sim.store.add_top_fee_bill(seller.app_key, amount=99, pay_time=day - timedelta(minutes=1), trade_id="41")
    sim.store.add_top_fee_bill(
        seller.app_key, amount=30, pay_time=day + timedelta(hours=2), account_id=10005011, trade_id="43", num_iid="7"
    )
    window = {"start_time": f"{day:%Y-%m-%d} 00:00:00", "end_time": f"{day + timedelta(days=1):%Y-%m-%d} 00:00:00"}

    name, node = top_call(
        http, sim, seller, "taobao.bill.bills.get", fields=BILL_FIELDS, account_id="10003011", **window
    )
    assert name == "bill_bills_get_response"
    first = node["bills"]["bill"]
    assert (len(first), node["total_results"], node["has_next"]) == (40, 40, True)  # total_results: this page's count
    assert first[0] == {
        "bid": back["bid"],
        "account_id": 10003011,
        "trade_id": f"42{0:016d}",
        "order_id": f"42{0:016d}",
        "amount": -500,
        "pay_time": f"{day:%Y-%m-%d} 20:00:00",
        "alipay_outno": f"T200P42{0:016d}",
        "alipay_notice": back["alipay_notice"],
        "status": 1,
    }  # newest first by pay_time; an empty num_iid is left out
    assert [b["amount"] for b in first[1:4]] == [544, 543, 542]
    _, more = top_call(
        http, sim, seller, "taobao.bill.bills.get", fields=BILL_FIELDS, account_id="10003011", page_no="2", **window
    )
    assert ([b["amount"] for b in more["bills"]["bill"]], more["has_next"]) == ([505, 504, 503, 502, 501, 500], False)
    _, other = top_call(
        http, sim, seller, "taobao.bill.bills.get", fields="amount,num_iid", account_id="10005011", **window
    )
    assert other["bills"] == {"bill": [{"amount": 30, "num_iid": "7"}]}

    # one trade's bills over any span; without trade_id/order_id the span is at most a day
    wide = {"start_time": f"{day - timedelta(days=5):%Y-%m-%d} 00:00:00", "end_time": window["end_time"]}
    _, one = top_call(http, sim, seller, "taobao.bill.bills.get", fields="amount", trade_id=f"42{0:016d}", **wide)
    assert sorted(b["amount"] for b in one["bills"]["bill"]) == [-500, 500]
    _, refused = top_call(http, sim, seller, "taobao.bill.bills.get", fields="amount", **wide)
    assert (refused["code"], refused["sub_code"]) == (41, "isv.invalid-parameter:end_time")
    _, refused = top_call(http, sim, seller, "taobao.bill.bills.get", fields="amount", page_size="20", **window)
    assert (refused["code"], refused["sub_code"]) == (41, "isv.invalid-parameter:page_size")  # 可选范围 40~100
    _, refused = top_call(http, sim, seller, "taobao.bill.bills.get", **window)
    assert (refused["code"], refused["sub_code"]) == (40, "isv.missing-parameter:fields")
    _, empty = top_call(
        http, sim, seller, "taobao.bill.bills.get", fields="amount", start_time=window["end_time"],
        end_time=window["end_time"].replace("00:00:00", "23:59:59"),
    )  # fmt: skip
    assert empty == {"has_next": False, "total_results": 0, "request_id": empty["request_id"]}  # no empty list


def test_top_fee_accounts_and_virtual_account_bills(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("taobao")
    sim.store.add_top_fee_account(
        account_id=10009011, account_code="ACCT_SIM_TEST", account_name="测试科目", account_type=6, related_order=0
    )
    name, node = top_call(
        http, sim, seller, "taobao.bill.accounts.get",
        fields="account_id,account_code,account_name,account_type,related_order", aids="10003011,10009011",
    )  # fmt: skip
    assert name == "bill_accounts_get_response" and node["total_results"] == 2
    assert node["accounts"]["account"] == [
        {
            "account_id": 10003011,
            "account_code": "ACCT_TMALL_COMM",
            "account_name": "天猫佣金",
            "account_type": 3,
            "related_order": 1,
        },
        {
            "account_id": 10009011,
            "account_code": "ACCT_SIM_TEST",
            "account_name": "测试科目",
            "account_type": 6,
            "related_order": 0,
        },
    ]
    now = sim.store.now()
    for n, (kind, amount) in enumerate([(103, 100_000), (104, 100_000), (102, 2_000)]):
        sim.store.add_top_book_bill(
            seller.app_key, account_id=20001021, journal_type=kind, amount=amount,
            book_time=now - timedelta(days=3, minutes=-n), description="保证金",
        )  # fmt: skip
    window = {
        "start_time": (now - timedelta(days=10)).strftime(BEIJING_FMT),
        "end_time": now.strftime(BEIJING_FMT),
    }
    name, node = top_call(
        http, sim, seller, "taobao.bill.book.bills.get", fields="bid,journal_type,amount,description",
        account_id="20001021", journal_types="102,103", **window,
    )  # fmt: skip
    assert name == "bill_book_bills_get_response" and node["has_next"] is False
    assert [(b["journal_type"], b["amount"]) for b in node["bills"]["book_bill"]] == [(103, 100_000), (102, 2_000)]
    _, refused = top_call(http, sim, seller, "taobao.bill.book.bills.get", fields="amount", **window)
    assert (refused["code"], refused["sub_code"]) == (40, "isv.missing-parameter:account_id")

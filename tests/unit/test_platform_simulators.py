"""The platform simulators speak each platform's wire format and check its real signature.

Every request here is signed by a tiny signer written in this file from the platforms' documentation, independent of
``sandbox.platforms.signing``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from sandbox.platforms import OrderState, PlatformServer, SellerAccount, running_platforms
from sandbox.platforms.douyin import TAG_ORDER_CANCELLED, TAG_ORDER_PAID, order_event, push_acknowledged, push_events

BEIJING = timezone(timedelta(hours=8))


SIMULATOR = running_platforms  # the module's `sim` (tests/conftest.py)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def beijing(dt: datetime | None = None) -> str:
    return (dt or datetime.now(BEIJING)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()


def kv(params: Mapping[str, str], *, skip_empty: bool) -> str:
    return "".join(k + v for k, v in sorted(params.items()) if k != "sign" and (v or not skip_empty))


def recent_orders(sim: PlatformServer, platform: str, seller: SellerAccount, minutes: list[int]) -> list[str]:
    now = sim.store.now()
    return [
        sim.store.add_order(platform, seller.app_key, updated_at=now - timedelta(minutes=m)).order_id for m in minutes
    ]


# --------------------------------------------------------------------------- Taobao


def top_call(
    http: httpx.Client, sim: PlatformServer, seller: SellerAccount, method: str, sign_method: str = "md5", **biz: str
) -> dict[str, Any]:
    params = {
        "method": method,
        "app_key": seller.app_key,
        "session": seller.access_token,
        "timestamp": beijing(),
        "format": "json",
        "v": "2.0",
        "sign_method": sign_method,
        **biz,
    }
    text = kv(params, skip_empty=True)
    secret = seller.app_secret
    if sign_method == "md5":
        params["sign"] = md5_upper(secret + text + secret)
    else:
        digest = hashlib.md5 if sign_method == "hmac" else hashlib.sha256
        params["sign"] = hmac.new(secret.encode(), text.encode(), digest).hexdigest().upper()
    reply = http.post(sim.taobao_url, data=params)
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_taobao_increment_pages_until_has_next_is_false(
    sim: PlatformServer, http: httpx.Client, sign_method: str
) -> None:
    seller = sim.store.create_seller("taobao")
    tids = recent_orders(sim, "taobao", seller, [5, 10, 15])
    now = sim.store.now()
    window = {"start_modified": beijing(now - timedelta(minutes=30)), "end_modified": beijing(now)}
    seen: list[str] = []
    for page_no, more in [(1, True), (2, False)]:
        body = top_call(
            http,
            sim,
            seller,
            "taobao.trades.sold.increment.get",
            sign_method,
            fields="tid,status,modified,payment,orders",
            page_no=str(page_no),
            page_size="2",
            use_has_next="true",
            **window,
        )
        answer = body["trades_sold_increment_get_response"]
        assert answer["has_next"] is more
        for trade in answer["trades"]["trade"]:
            assert trade["status"] == "WAIT_SELLER_SEND_GOODS"
            assert trade["orders"]["order"][0]["outer_sku_id"]
            seen.append(str(trade["tid"]))
    assert seen == tids  # newest change first, all of them, once

    total = top_call(http, sim, seller, "taobao.trades.sold.increment.get", fields="tid", **window)
    assert total["trades_sold_increment_get_response"]["total_results"] == 3


def test_taobao_refuses_bad_signature_expired_session_long_window_and_rate_limit(
    sim: PlatformServer, http: httpx.Client
) -> None:
    seller = sim.store.create_seller("taobao")
    tid = recent_orders(sim, "taobao", seller, [1])[0]
    fields = {"fields": "tid,status", "tid": tid}
    wrong = SellerAccount(**{**seller.__dict__, "app_secret": "not-the-secret"})
    assert top_call(http, sim, wrong, "taobao.trade.fullinfo.get", **fields)["error_response"]["code"] == 25

    now = sim.store.now()
    too_long = top_call(
        http,
        sim,
        seller,
        "taobao.trades.sold.increment.get",
        fields="tid",
        start_modified=beijing(now - timedelta(days=2)),
        end_modified=beijing(now),
    )
    assert too_long["error_response"]["sub_code"] == "isv.invalid-parameter"

    sim.store.inject_rate_limit("taobao", 1)
    limited = top_call(http, sim, seller, "taobao.trade.fullinfo.get", **fields)["error_response"]
    assert (limited["code"], limited["sub_code"]) == (7, "accesscontrol.limited-by-app-access-count")
    assert top_call(http, sim, seller, "taobao.trade.fullinfo.get", **fields)["trade_fullinfo_get_response"]

    sim.store.expire_token("taobao", seller.access_token)
    expired = top_call(http, sim, seller, "taobao.trade.fullinfo.get", **fields)["error_response"]
    assert (expired["code"], expired["sub_code"]) == (27, "invalid-sessionkey")


def test_taobao_ship_write_back_and_stock_push(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("taobao")
    order = sim.store.add_order("taobao", seller.app_key, lines=[("TB-SKU-1", 2)])
    ship = {"tid": order.order_id, "out_sid": "SF1234567890", "company_code": "SF"}
    sent = top_call(http, sim, seller, "taobao.logistics.offline.send", **ship)
    assert sent["logistics_offline_send_response"]["shipping"]["is_success"] is True
    again = top_call(http, sim, seller, "taobao.logistics.offline.send", **ship)["error_response"]
    assert again["code"] == 15 and again["sub_code"].startswith("isv.logistics-offline-service-error")
    shipped = [s for s in sim.store.shipments("taobao") if s.app_key == seller.app_key]
    assert [(s.order_id, s.tracking_no) for s in shipped] == [(order.order_id, "SF1234567890")]
    assert sim.store.order("taobao", order.order_id).state == OrderState.SHIPPED

    line = order.lines[0]
    stock = top_call(
        http, sim, seller, "taobao.item.quantity.update", num_iid=line.product_id, sku_id=line.sku_id, quantity="7"
    )
    assert stock["item_quantity_update_response"]["item"]["num_iid"] == int(line.product_id)
    update = sim.store.stock_updates("taobao")[-1]
    assert (update.sku_code, update.quantity, update.mode, update.stock_after) == ("TB-SKU-1", 7, "full", 7)


# --------------------------------------------------------------------------- 抖店


def douyin_call(
    http: httpx.Client,
    sim: PlatformServer,
    seller: SellerAccount,
    method: str,
    param: Mapping[str, Any],
    *,
    token: str | None = None,
    raw: str | None = None,
    secret: str | None = None,
) -> dict[str, Any]:
    param_json = raw if raw is not None else json.dumps(param, sort_keys=True, separators=(",", ":"))
    timestamp = beijing()
    key = secret or seller.app_secret
    plain = f"{key}app_key{seller.app_key}method{method}param_json{param_json}timestamp{timestamp}v2{key}"
    query = {
        "app_key": seller.app_key,
        "method": method,
        "access_token": token if token is not None else seller.access_token,
        "timestamp": timestamp,
        "v": "2",
        "sign_method": "hmac-sha256",
        "sign": hmac.new(key.encode(), plain.encode(), hashlib.sha256).hexdigest(),
    }
    reply = http.post(
        sim.douyin_url + "/" + method.replace(".", "/"),
        params=query,
        content=param_json.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def test_douyin_search_list_pages_to_the_end(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("douyin")
    ids = recent_orders(sim, "douyin", seller, [3, 6, 9])
    now = sim.store.now()
    window = {
        "update_time_start": int((now - timedelta(minutes=20)).timestamp()),
        "update_time_end": int(now.timestamp()),
    }
    seen: list[str] = []
    for page, count in [(0, 2), (1, 1), (2, 0)]:
        body = douyin_call(
            http, sim, seller, "order.searchList", {**window, "page": page, "size": 2, "order_by": "update_time"}
        )
        assert (body["code"], body["msg"]) == (10000, "success")
        assert body["data"]["total"] == 3
        orders = body["data"]["shop_order_list"]
        assert len(orders) == count
        for shop_order in orders:
            assert shop_order["order_status"] == 2
            assert shop_order["post_addr"]["province"]["name"]
            paid_for_skus = sum(s["pay_amount"] for s in shop_order["sku_order_list"])
            assert shop_order["pay_amount"] == paid_for_skus + shop_order["post_amount"]
            seen.append(shop_order["order_id"])
    assert seen == ids


def test_douyin_refuses_bad_signature_unsorted_param_json_and_expired_token(
    sim: PlatformServer, http: httpx.Client
) -> None:
    seller = sim.store.create_seller("douyin")
    order_id = recent_orders(sim, "douyin", seller, [1])[0]
    detail = {"shop_order_id": order_id}

    bad = douyin_call(http, sim, seller, "order.orderDetail", detail, secret="0" * 32)
    assert (bad["code"], bad["sub_code"]) == (40003, "isv.signature-invalid")
    spaced = douyin_call(http, sim, seller, "order.orderDetail", detail, raw=json.dumps(detail))
    assert (spaced["code"], spaced["sub_code"]) == (40003, "isv.signature-invalid")

    old_refresh = seller.refresh_token
    sim.store.expire_token("douyin", seller.access_token)
    expired = douyin_call(http, sim, seller, "order.orderDetail", detail)
    assert (expired["code"], expired["sub_code"]) == (40003, "isv.access-token-expired")

    refreshed = douyin_call(
        http,
        sim,
        seller,
        "token.refresh",
        {"grant_type": "refresh_token", "refresh_token": old_refresh},
        token="",
    )
    assert refreshed["code"] == 10000
    token = refreshed["data"]["access_token"]
    assert refreshed["data"]["expires_in"] > 0 and refreshed["data"]["refresh_token"] != old_refresh
    ok = douyin_call(http, sim, seller, "order.orderDetail", detail, token=token)
    assert ok["data"]["shop_order_detail"]["order_id"] == order_id


def test_douyin_logistics_and_stock_write_back(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("douyin")
    order = sim.store.add_order("douyin", seller.app_key, lines=[("DY-SKU-1", 1)])
    ship = {"order_id": order.order_id, "company_code": "zhongtong", "logistics_code": "78123456789012"}
    assert douyin_call(http, sim, seller, "order.logisticsAdd", ship)["code"] == 10000
    again = douyin_call(http, sim, seller, "order.logisticsAdd", ship)
    assert (again["code"], again["sub_code"]) == (50002, "isv.business-failed")
    line = order.lines[0]
    stock = {"product_id": line.product_id, "sku_id": line.sku_id, "stock_num": 12, "incremental": False}
    assert douyin_call(http, sim, seller, "sku.syncStock", stock)["code"] == 10000
    assert sim.store.stock_updates("douyin")[-1].stock_after == 12

    sim.store.inject_rate_limit("douyin", 1, method="sku.syncStock")
    assert douyin_call(http, sim, seller, "sku.syncStock", stock)["code"] == 60000


def test_douyin_push_is_signed_with_md5_of_key_body_secret(sim: PlatformServer) -> None:
    seller = sim.store.create_seller("douyin")
    order = sim.store.add_order("douyin", seller.app_key)
    events = [order_event(TAG_ORDER_PAID, order, seller), order_event(TAG_ORDER_CANCELLED, order, seller)]
    received: list[httpx.Request] = []

    def hub(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, json={"code": 0, "msg": "success"})

    with httpx.Client(transport=httpx.MockTransport(hub)) as client:
        reply = push_events("http://hub.test/webhooks/douyin", seller, events, client=client)
    assert push_acknowledged(reply)
    request = received[0]
    body = request.content
    expected = hashlib.md5(seller.app_key.encode() + body + seller.app_secret.encode()).hexdigest()
    assert request.headers["event-sign"] == expected
    assert request.headers["app-id"] == seller.app_key
    messages = json.loads(body)
    assert [m["tag"] for m in messages] == ["101", "106"]
    paid = json.loads(messages[0]["data"])  # data is itself a JSON string
    assert paid["p_id"] == int(order.order_id) and paid["pay_amount"] == order.paid_amount


# --------------------------------------------------------------------------- 拼多多


def pdd_call(
    http: httpx.Client, sim: PlatformServer, seller: SellerAccount, api: str, *, secret: str | None = None, **biz: str
) -> dict[str, Any]:
    params = {
        "type": api,
        "client_id": seller.app_key,
        "access_token": seller.access_token,
        "timestamp": str(int(datetime.now(BEIJING).timestamp())),
        "data_type": "JSON",
        "version": "V1",
        **biz,
    }
    key = secret or seller.app_secret
    params["sign"] = md5_upper(key + kv(params, skip_empty=False) + key)
    reply = http.post(sim.pinduoduo_url, data=params)
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def test_pinduoduo_increment_window_pages_and_refusals(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("pinduoduo")
    sns = recent_orders(sim, "pinduoduo", seller, [12, 8, 4])
    end = int(sim.store.now().timestamp())
    query = {"is_lucky_flag": "0", "order_status": "5", "refund_status": "5", "page_size": "2", "use_has_next": "true"}
    api = "pdd.order.number.list.increment.get"
    seen: list[str] = []
    for page, more in [("1", True), ("2", False)]:
        body = pdd_call(
            http, sim, seller, api, start_updated_at=str(end - 1800), end_updated_at=str(end), page=page, **query
        )
        answer = body["order_sn_increment_get_response"]
        assert answer["has_next"] is more
        seen += [o["order_sn"] for o in answer["order_sn_list"]]
        assert all(isinstance(o["pay_amount"], float) for o in answer["order_sn_list"])
    assert seen == sns

    too_long = pdd_call(
        http, sim, seller, api, start_updated_at=str(end - 1801), end_updated_at=str(end), page="1", **query
    )
    assert too_long["error_response"]["error_code"] == 10000
    bad = pdd_call(http, sim, seller, "pdd.order.information.get", order_sn=sns[0], secret="f" * 40)
    assert bad["error_response"]["error_code"] == 20004
    sim.store.expire_token("pinduoduo", seller.access_token)
    expired = pdd_call(http, sim, seller, "pdd.order.information.get", order_sn=sns[0])
    assert expired["error_response"]["error_code"] == 10019


def test_pinduoduo_ship_and_stock(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("pinduoduo")
    order = sim.store.add_order("pinduoduo", seller.app_key, lines=[("PDD-1", 3)])
    info = pdd_call(http, sim, seller, "pdd.order.information.get", order_sn=order.order_id)
    assert info["order_info_get_response"]["order_info"]["item_list"][0]["goods_count"] == 3
    sent = pdd_call(
        http,
        sim,
        seller,
        "pdd.logistics.online.send",
        order_sn=order.order_id,
        logistics_id="115",
        tracking_number="YT1",
    )
    assert sent["logistics_online_send_response"]["is_success"] is True
    line = order.lines[0]
    qty = pdd_call(
        http, sim, seller, "pdd.goods.quantity.update", goods_id=line.product_id, sku_id=line.sku_id, quantity="40"
    )
    assert qty["goods_quantity_update_response"]["is_success"] is True
    assert sim.store.stock_updates("pinduoduo")[-1].stock_after == 40


# --------------------------------------------------------------------------- 京东


def jd_call(
    http: httpx.Client,
    sim: PlatformServer,
    seller: SellerAccount,
    method: str,
    biz: Mapping[str, Any],
    *,
    secret: str | None = None,
) -> dict[str, Any]:
    params = {
        "method": method,
        "app_key": seller.app_key,
        "access_token": seller.access_token,
        "timestamp": beijing(),
        "v": "2.0",
        "format": "json",
        "360buy_param_json": json.dumps(biz, ensure_ascii=False),
    }
    key = secret or seller.app_secret
    params["sign"] = md5_upper(key + kv(params, skip_empty=False) + key)
    reply = http.post(sim.jd_url, data=params)
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def test_jd_order_search_shipment_stock_and_refusals(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("jd")
    ids = recent_orders(sim, "jd", seller, [9, 6, 3])
    now = sim.store.now()
    search = {
        "start_date": beijing(now - timedelta(minutes=30)),
        "end_date": beijing(now),
        "order_state": "WAIT_SELLER_STOCK_OUT",
        "page_size": "2",
    }
    seen: list[str] = []
    for page in ("1", "2", "3"):
        body = jd_call(http, sim, seller, "jingdong.pop.order.search", {**search, "page": page})
        result = body["jingdong_pop_order_search_responce"]["searchorderinfo_result"]
        assert result["apiResult"]["success"] is True and result["orderTotal"] == 3
        seen += [o["orderId"] for o in result["orderInfoList"]]
    assert seen == ids
    order = sim.store.order("jd", ids[0])
    shipped = jd_call(
        http, sim, seller, "jingdong.pop.order.shipment", {"orderId": ids[0], "logiCoprId": "467", "logiNo": "SF9"}
    )
    assert shipped["jingdong_pop_order_shipment_responce"]["sopjosshipment_result"]["success"] is True
    stock = jd_call(
        http, sim, seller, "jingdong.stock.write.updateSkuStock", {"skuId": order.lines[0].sku_id, "stockNum": 5}
    )
    assert stock["jingdong_stock_write_updateSkuStock_responce"]["success"] is True

    bad = jd_call(http, sim, seller, "jingdong.pop.order.get", {"order_id": ids[1]}, secret="x")
    assert bad["error_response"]["code"] == "12"
    sim.store.expire_token("jd", seller.access_token)
    expired = jd_call(http, sim, seller, "jingdong.pop.order.get", {"order_id": ids[1]})
    assert expired["error_response"]["code"] == "19"


# --------------------------------------------------------------------------- 微信小店


def test_wechat_shop_token_list_pages_delivery_and_token_errors(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("wechat_shop")
    ids = recent_orders(sim, "wechat_shop", seller, [50, 40, 30, 20, 10])
    base = sim.wechat_shop_url
    bad_secret = http.get(
        base + "/cgi-bin/token", params={"grant_type": "client_credential", "appid": seller.app_key, "secret": "x"}
    ).json()
    assert bad_secret["errcode"] == 40125
    token = http.get(
        base + "/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": seller.app_key, "secret": seller.app_secret},
    ).json()
    assert token["expires_in"] == 7200
    access = {"access_token": token["access_token"]}
    now = int(sim.store.now().timestamp())
    listing: dict[str, Any] = {"update_time_range": {"start_time": now - 3600, "end_time": now}, "page_size": 2}
    seen: list[str] = []
    while True:
        page = http.post(base + "/channels/ec/order/list/get", params=access, json=listing).json()
        assert page["errcode"] == 0
        seen += page["order_id_list"]
        if not page["has_more"]:
            break
        listing["next_key"] = page["next_key"]
    assert seen == ids

    detail = http.post(base + "/channels/ec/order/get", params=access, json={"order_id": ids[0]}).json()
    assert detail["order"]["status"] == 20
    address = detail["order"]["order_detail"]["delivery_info"]["address_info"]
    assert address["user_name"] and address["tel_number"] and address["province_name"]
    delivery = {"order_id": ids[0], "delivery_list": [{"delivery_id": "ZTO", "waybill_id": "ZT1", "deliver_type": 1}]}
    assert http.post(base + "/channels/ec/order/delivery/send", params=access, json=delivery).json()["errcode"] == 0

    sim.store.inject_rate_limit("wechat_shop", 1)
    limited = http.post(base + "/channels/ec/order/get", params=access, json={"order_id": ids[0]}).json()
    assert limited["errcode"] == 45009
    unknown = http.post(base + "/channels/ec/order/get", params={"access_token": "nope"}, json={"order_id": ids[0]})
    assert unknown.json()["errcode"] == 40001
    sim.store.expire_token("wechat_shop", token["access_token"])
    expired = http.post(base + "/channels/ec/order/get", params=access, json={"order_id": ids[0]}).json()
    assert expired["errcode"] == 42001


def test_gateway_error_pages_and_request_log(sim: PlatformServer, http: httpx.Client) -> None:
    seller = sim.store.create_seller("taobao")
    sim.store.inject_http_error("taobao", 1, status=502)
    reply = http.post(sim.taobao_url, data={"method": "taobao.trade.fullinfo.get", "app_key": seller.app_key})
    assert reply.status_code == 502 and reply.headers["content-type"].startswith("text/html")
    logged = [r for r in sim.store.requests("taobao") if r.app_key == seller.app_key]
    assert [r.outcome for r in logged] == ["http 502"]

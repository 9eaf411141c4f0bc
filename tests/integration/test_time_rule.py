"""One rule for times in answers (docs/back-office.md): every JSON answer shows times in Asia/Shanghai (+08:00),
never UTC — swept over every GET operation without path parameters, and over an order's detail and its
notifications, after an order went through the pipeline (issue 15 item 9)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from orderhub import db
from orderhub.orders.events import OrderEventType
from orderhub.orders.service import record_event
from tests.support.factories import (
    Api,
    body_of,
    create_channel,
    create_sku,
    create_warehouse,
    order_payload,
    set_stock,
    signed_headers,
    wait_for_orders,
)
from tests.support.hub import Hub

# An RFC 3339 time in a JSON string that is not at +08:00 (Z, +00:00 or any other offset).
NOT_SHANGHAI = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-](?!08:00)\d\d:\d\d)"')
SHANGHAI = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?\+08:00"')


@cache
def _app() -> Litestar:
    from server.app import create_app

    return create_app()


def _plain_gets() -> list[str]:
    paths = []
    for route in _app().routes:
        if isinstance(route, HTTPRoute) and "{" not in route.path and "GET" in route.methods:
            if route.path.startswith(("/api/", "/pda/", "/mp/")):
                paths.append(route.path)
    return sorted(set(paths))


def test_the_regexes() -> None:
    assert NOT_SHANGHAI.search('{"at":"2026-12-06T10:00:00.123+00:00"}')
    assert NOT_SHANGHAI.search('{"at":"2026-12-06T10:00:00Z"}')
    assert not NOT_SHANGHAI.search('{"at":"2026-12-06T18:00:00.123+08:00"}')


async def test_every_answer_shows_times_in_shanghai(api: Api, store: Hub) -> None:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=warehouse, qty=10)
    channel, secret = await create_channel(api, warehouse=warehouse)
    body = body_of(channel, [order_payload(lines=[(sku, 1)])])
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
        r = await client.post("/api/v1/orders/ingest", content=body, headers=signed_headers(channel, secret, body))
    assert r.status_code == 202, r.text
    order_id = r.json()["results"][0]["order_id"]
    await wait_for_orders(api, [order_id])
    # A time the domain writes into an event's data as text, as the SLA sweep and parcel tracking do.
    ship_by = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    async with db.transaction():
        await record_event(order_id, OrderEventType.AT_RISK, reason="due_soon", data={"ship_by": ship_by.isoformat()})

    seen_times = 0
    detail = ""
    checked = []
    async with api.client() as client:
        for path in [*_plain_gets(), f"/api/v1/orders/{order_id}", f"/api/v1/orders/{order_id}/notifications"]:
            r = await client.get(path)
            if r.status_code != 200 or not r.headers.get("content-type", "").startswith("application/json"):
                continue
            checked.append(path)
            if path == f"/api/v1/orders/{order_id}":
                detail = r.text
            assert not NOT_SHANGHAI.search(r.text), (path, NOT_SHANGHAI.search(r.text))
            seen_times += len(SHANGHAI.findall(r.text))
    assert f"/api/v1/orders/{order_id}" in checked and len(checked) >= 10, checked
    assert '"ship_by":"2026-12-06T18:00:00+08:00"' in detail.replace(" ", ""), detail
    assert seen_times > 0

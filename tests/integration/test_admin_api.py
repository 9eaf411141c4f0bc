"""Back-office API: login, role guards, master data, audited stock adjustments."""

from __future__ import annotations

import asyncio

import httpx

from orderhub.inventory.tables import StockAdjustment
from tests.support.factories import Api, create_sku, create_warehouse, set_stock, unique
from tests.support.hub import ADMIN_PASSWORD, ADMIN_USER


async def _login(api: Api, username: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        return await client.post("/api/v1/auth/login", json={"username": username, "password": password})


async def _user(api: Api, *, role: str, warehouse: str | None = None) -> Api:
    username, password = unique(role), "pass-word-123"
    async with api.client() as client:
        r = await client.post(
            "/api/v1/users", json={"username": username, "password": password, "role": role, "warehouse": warehouse}
        )
        assert r.status_code == 201, r.text
    login = await _login(api, username, password)
    assert login.status_code == 200 and login.json()["role"] == role
    return Api(api.base_url, login.json()["access_token"])


async def test_login(api: Api) -> None:
    ok = await _login(api, ADMIN_USER, ADMIN_PASSWORD)
    body = ok.json()
    assert ok.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["role"] == "admin"
    bad = await _login(api, ADMIN_USER, "wrong-password")
    nobody = await _login(api, "nobody-here", "wrong-password")
    for r in (bad, nobody):
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
        assert r.json()["message"] == "用户名或密码错误"


async def test_roles_are_enforced(api: Api) -> None:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    picker = await _user(api, role="picker", warehouse=warehouse)
    finance = await _user(api, role="finance")
    async with picker.client() as client:
        adjust = await client.post(
            "/api/v1/stock/adjustments", json={"sku": sku, "warehouse": warehouse, "delta": 5, "reason": "x"}
        )
        channels = await client.get("/api/v1/channels")
        stock = await client.get("/api/v1/stock", params={"sku": sku})
        orders = await client.get("/api/v1/orders")
    assert adjust.status_code == 403 and adjust.json()["code"] == "forbidden"
    assert channels.status_code == 403
    assert stock.status_code == 200
    assert orders.status_code == 403
    async with finance.client() as client:
        assert (await client.get("/api/v1/orders")).status_code == 200
        assert (await client.post("/api/v1/warehouses", json={"code": unique("W"), "name": "x"})).status_code == 403
    manager = await _user(api, role="manager")
    async with manager.client() as client:
        me = (await client.get("/api/v1/auth/me")).json()
        assert (await client.get("/api/v1/stock")).status_code == 200
    async with api.client() as client:
        off = await client.patch(f"/api/v1/users/{me['id']}", json={"active": False})
        assert off.status_code == 200 and off.json()["active"] is False
    async with manager.client() as client:
        refused = await client.get("/api/v1/stock")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"


async def test_picker_sees_only_their_warehouse(api: Api) -> None:
    mine, other = (await create_warehouse(api))["code"], (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    await set_stock(api, sku=sku, warehouse=mine, qty=3)
    await set_stock(api, sku=sku, warehouse=other, qty=7)
    picker = await _user(api, role="picker", warehouse=mine)
    async with picker.client() as client:
        rows = (await client.get("/api/v1/stock", params={"sku": sku})).json()["items"]
    assert [(r["warehouse"], r["on_hand"]) for r in rows] == [(mine, 3)]
    async with api.client() as client:
        pages: list[str] = []
        params: dict[str, str | int] = {"sku": sku, "limit": 1}
        while True:
            page = (await client.get("/api/v1/stock", params=params)).json()
            pages += [r["warehouse"] for r in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
    assert pages == [mine, other]


async def test_master_data_crud_and_conflicts(api: Api) -> None:
    code = unique("W")
    async with api.client() as client:
        created = await client.post(
            "/api/v1/warehouses",
            json={"code": code, "name": "华南仓", "region": "华南", "provinces": ["广东省", "广西壮族自治区"]},
        )
        dup = await client.post("/api/v1/warehouses", json={"code": code, "name": "again"})
        patched = await client.patch(f"/api/v1/warehouses/{code}", json={"name": "华南二号仓"})
        loc = await client.post(
            "/api/v1/locations",
            json={
                "warehouse": code,
                "code": "A-01-01-1",
                "zone": "A",
                "aisle": "01",
                "bay": "01",
                "level": "1",
                "sequence": 10,
            },
        )
        loc_dup = await client.post("/api/v1/locations", json={"warehouse": code, "code": "A-01-01-1"})
        locs = await client.get("/api/v1/locations", params={"warehouse": code})
        sku_code = unique("SKU-")
        barcode = unique("69")
        sku = await client.post(
            "/api/v1/skus",
            json={"code": sku_code, "name": "纯棉T恤", "barcodes": [barcode], "weight_g": 220, "volume_cm3": 1500},
        )
        by_barcode = await client.get(f"/api/v1/skus/by-barcode/{barcode}")
        barcode_taken = await client.post(
            "/api/v1/skus", json={"code": unique("SKU-"), "name": "另一件", "barcodes": [barcode]}
        )
        negative = await client.post("/api/v1/skus", json={"code": unique("SKU-"), "name": "x", "weight_g": -1})
        missing_name = await client.post("/api/v1/skus", json={"code": unique("SKU-")})
        channel = await client.post("/api/v1/channels", json={"code": unique("c"), "platform": "myspace", "name": "x"})
    assert created.status_code == 201 and created.json()["provinces"] == ["广东省", "广西壮族自治区"]
    assert dup.status_code == 409 and dup.json()["code"] == "duplicate_code" and dup.json()["field"] == "code"
    assert patched.json()["name"] == "华南二号仓"
    assert loc.status_code == 201 and loc.json()["sequence"] == 10
    assert loc_dup.status_code == 409
    assert [item["code"] for item in locs.json()] == ["A-01-01-1"]
    assert sku.status_code == 201 and by_barcode.json()["code"] == sku_code
    assert barcode_taken.status_code == 409 and barcode_taken.json()["code"] == "duplicate_barcode"
    assert negative.status_code == 400 or negative.status_code == 422
    assert negative.json()["field"] == "weight_g"
    assert missing_name.status_code in (400, 422) and missing_name.json()["field"] == "name"
    assert channel.status_code == 422 and channel.json()["field"] == "platform"


async def test_stock_adjustments_are_audited_and_never_below_reserved(api: Api) -> None:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    first = await set_stock(api, sku=sku, warehouse=warehouse, qty=10)
    assert (first["on_hand"], first["reserved"]) == (10, 0)
    async with api.client() as client:
        plus = await client.post(
            "/api/v1/stock/adjustments", json={"sku": sku, "warehouse": warehouse, "delta": -4, "reason": "破损"}
        )
        below = await client.post(
            "/api/v1/stock/adjustments", json={"sku": sku, "warehouse": warehouse, "delta": -7, "reason": "x"}
        )
        both = await client.post(
            "/api/v1/stock/adjustments",
            json={"sku": sku, "warehouse": warehouse, "delta": 1, "set": 3, "reason": "x"},
        )
        unknown = await client.post(
            "/api/v1/stock/adjustments", json={"sku": "NOPE", "warehouse": warehouse, "delta": 1, "reason": "x"}
        )
    assert plus.json()["on_hand"] == 6
    assert below.status_code == 409 and below.json()["code"] == "stock_below_reserved"
    assert both.status_code == 422 and both.json()["field"] == "delta"
    assert unknown.status_code == 404 and unknown.json()["field"] == "sku"
    rows = (
        await StockAdjustment.select(StockAdjustment.delta, StockAdjustment.on_hand_after, StockAdjustment.actor)
        .where(StockAdjustment.sku.code == sku)
        .order_by(StockAdjustment.id)
    )
    assert [(r["delta"], r["on_hand_after"]) for r in rows] == [(10, 10), (-4, 6)]
    assert all(r["actor"] == f"user:{ADMIN_USER}" for r in rows)


async def test_scoped_manager_cannot_touch_other_warehouses_locations(api: Api) -> None:
    mine, other = (await create_warehouse(api))["code"], (await create_warehouse(api))["code"]
    async with api.client() as client:
        theirs = (await client.post("/api/v1/locations", json={"warehouse": other, "code": "B-01"})).json()
    manager = await _user(api, role="manager", warehouse=mine)
    async with manager.client() as client:
        own = await client.post("/api/v1/locations", json={"warehouse": mine, "code": "A-01"})
        foreign = await client.post("/api/v1/locations", json={"warehouse": other, "code": "A-02"})
        patch = await client.patch(f"/api/v1/locations/{theirs['id']}", json={"active": False})
        listed = await client.get("/api/v1/locations")
    assert own.status_code == 201
    assert foreign.status_code == 403 and foreign.json()["field"] == "warehouse"
    assert patch.status_code == 403
    assert {loc["warehouse"] for loc in listed.json()} == {mine}


async def test_paths_that_merely_contain_public_names_still_need_a_token(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        anonymous = await client.get("/api/v1/skus/healthz-kit")
    async with api.client() as client:
        admin = await client.get("/api/v1/skus/healthz-kit")
    assert anonymous.status_code == 401
    assert admin.status_code == 404 and admin.json()["code"] == "not_found"


async def test_out_of_range_numbers_are_422_not_500(api: Api) -> None:
    warehouse = (await create_warehouse(api))["code"]
    sku = await create_sku(api)
    async with api.client() as client:
        order = await client.get("/api/v1/orders/3000000000")
        stock = await client.get("/api/v1/stock", params={"cursor": 3000000000})
        delta = await client.post(
            "/api/v1/stock/adjustments", json={"sku": sku, "warehouse": warehouse, "delta": 2**40, "reason": "x"}
        )
        weight = await client.post("/api/v1/skus", json={"code": unique("SKU-"), "name": "x", "weight_g": 2**40})
    for response, field in [(order, "order_id"), (stock, "cursor"), (delta, "delta"), (weight, "weight_g")]:
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field


async def test_concurrent_creates_of_one_code_are_one_201_and_409s(api: Api) -> None:
    code = unique("W")
    async with api.client() as client:
        responses = await asyncio.gather(
            *(client.post("/api/v1/warehouses", json={"code": code, "name": "并发仓"}) for _ in range(10))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9


async def test_sku_search_takes_wildcards_literally(api: Api) -> None:
    """% and _ in the search box are what was typed, not LIKE wildcards (SQLite has no escape character unless the
    statement names one)."""
    tag = unique("LK")
    skus = {
        f"{tag}-50%": f"{tag} 满减50%套装",
        f"{tag}-500": f"{tag} 满减500套装",
        f"{tag}-A_1": f"{tag} 型号A_1",
        f"{tag}-AB1": f"{tag} 型号AB1",
        f"{tag}-B\\1": f"{tag} 路径B\\1",
        f"{tag}-BX1": f"{tag} 路径BX1",
    }
    async with api.client() as client:
        for code, name in skus.items():
            r = await client.post("/api/v1/skus", json={"code": code, "name": name})
            assert r.status_code == 201, r.text

        async def found(q: str) -> list[str]:
            r = await client.get("/api/v1/skus", params={"q": q})
            assert r.status_code == 200, r.text
            return sorted(item["code"] for item in r.json()["items"])

        assert await found(f"{tag}-50%") == [f"{tag}-50%"]
        assert await found("满减50%") == [f"{tag}-50%"]
        assert await found(f"{tag}-a_1") == [f"{tag}-A_1"]  # case-insensitive, _ literal
        assert await found("型号A_") == [f"{tag}-A_1"]
        assert await found(f"{tag}-B\\") == [f"{tag}-B\\1"]
        assert await found(f"{tag.lower()}-") == sorted(skus)
        assert await found(f"{tag}-_") == []  # as a wildcard, _ matched all six

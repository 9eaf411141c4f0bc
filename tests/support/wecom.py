"""The hub's WeCom app at the WeChat simulator (``sandbox/wechat.py``), shared by the WeCom tests: the app's
provider settings in the hub, staff members WeCom knows, and the seed's held order (a 5,001 元 order a rule holds
for an approval flow)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from orderhub.approvals import engine, flows
from orderhub.approvals.engine import NewRequest
from orderhub.auth.service import NewUser, create_user
from orderhub.catalog.service import NewSku, create_sku
from orderhub.inventory.service import NewWarehouse, adjust_stock, create_warehouse, list_stock
from sandbox.wechat import CorpApp, WeChatServer
from tests.support.factories import Api, order_payload, unique

__all__ = [
    "BIG_ORDER_FEN",
    "WeComApp",
    "hold_big_order",
    "on_hand",
    "open_writeoff",
    "stock_to_write_off",
    "writeoff_flow",
]

BIG_ORDER_FEN = 500100  # 5,001 元: over the seed's 5,000 元 line
PASSWORD = "wecom-staff-1"


@dataclass
class WeComApp:
    """The hub's WeCom app (``CorpApp``) at the simulator, its callback URL pointing at the hub."""

    sim: WeChatServer
    app: CorpApp
    api: Api

    @property
    def store(self) -> Any:
        return self.sim.store

    async def configure(self, **extra: str) -> None:
        """The hub's ``wecom`` provider: this app, its callback token and key (never echoed back), and ``extra``."""
        callback = self.app.callback
        assert callback is not None
        conf = {
            "corp_id": self.app.corp_id,
            "secret": self.app.secret,
            "agent_id": str(self.app.agent_id),
            "base_url": self.sim.base_url,
            "callback_token": callback.token,
            "callback_aes_key": callback.aes_key,
            **extra,
        }
        async with self.api.client() as client:
            r = await client.put("/api/v1/notify/providers/wecom", json={"config": conf})
            assert r.status_code == 200 and callback.aes_key not in r.text, r.text
            assert "callback_token" in r.json()["keys"]

    async def person(self, role: str = "approver", *, warehouse: str | None = None) -> tuple[int, str, str]:
        """A staff member with a WeCom userid known to the corp: (user id, userid, display name)."""
        userid = unique("wx").lower()
        name = f"审{secrets.token_hex(3)}"  # short: the cards show names of up to 10 characters
        user = await create_user(
            NewUser(
                username=unique("wc"),
                password=PASSWORD,
                role=role,
                warehouse=warehouse,
                display_name=name,
                wecom_userid=userid,
            )
        )
        self.store.add_wecom_user(self.app.corp_id, userid)
        return user.id, userid, name


async def hold_big_order(api: Api, *, channel: str, flow: str, sku: str) -> tuple[int, int, dict[str, Any]]:
    """A rule holding ``channel``'s orders over 5,000 元 for ``flow``, and a 5,001 元 order of one ``sku`` pushed:
    (rule id, order id, the order as pushed)."""
    async with api.client() as client:
        r = await client.post(
            "/api/v1/rules",
            json={
                "name": unique("大额审批"),
                "conditions": [
                    {"field": "channel", "op": "in", "value": [channel]},
                    {"field": "paid_amount", "op": ">", "value": 500000},
                ],
                "actions": [{"type": "require_approval", "flow": flow}],
            },
        )
        assert r.status_code == 201, r.text
        rule_id = int(r.json()["id"])
        order = order_payload(lines=[(sku, 1)], paid_amount=BIG_ORDER_FEN)
        order["lines"][0]["unit_price"] = BIG_ORDER_FEN
        r = await client.post("/api/v1/orders/ingest", json={"channel": channel, "orders": [order]})
        assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
        return rule_id, int(r.json()["results"][0]["order_id"]), order


async def stock_to_write_off() -> tuple[str, str]:
    """A warehouse and a SKU with 10 on hand there: (warehouse code, SKU code)."""
    warehouse = await create_warehouse(NewWarehouse(code=unique("WW"), name="企微仓", region="华北"))
    sku = await create_sku(NewSku(code=unique("WS-"), name="企微测试商品"))
    await adjust_stock(sku=sku.code, warehouse=warehouse.code, delta=None, set_to=10, reason="盘点", actor="test")
    return warehouse.code, sku.code


async def open_writeoff(flow: str, warehouse: str, sku: str, requester: int) -> int:
    """A request to write one unit off (``stock_writeoff``) on ``flow``: its id."""
    return await engine.open_request(
        NewRequest(
            kind="stock_writeoff",
            flow=flow,
            requester_id=requester,
            payload={"warehouse": warehouse, "sku": sku, "delta": -1, "reason": "破损核销"},
            reason="破损 1 件",
        )
    )


async def on_hand(warehouse: str, sku: str) -> int:
    return (await list_stock(sku=sku, warehouse=warehouse)).items[0].on_hand


async def writeoff_flow(approvers: list[int], mode: str = "any") -> tuple[str, str, str]:
    """A write-off flow deciding by ``approvers`` in the hub, and a stock row to write off: (flow, warehouse, sku)."""
    code = unique("wc-flow-")
    step = {"name": "主管审批", "approvers": [{"by": "user", "user_ids": approvers}], "mode": mode}
    await flows.create_flow(
        flows.NewFlow(code=code, name="核销审批", definition={"kinds": ["stock_writeoff"], "steps": [step]}),
        actor="test",
    )
    warehouse, sku = await stock_to_write_off()
    return code, warehouse, sku

"""Approval metrics on the managers' dashboards (issue 17 item 7, docs/dashboards.md#审批--approvals) through the
running hub: requests opened, decided, withdrawn, escalated, kept waiting past their limit and auto-rejected at set
times of a past day (this process's clock moved; the sweeps run in the same transaction as the opening, so the
hub's own sweep never gets there first) show exactly in `GET /api/v1/dash/approvals` per flow and per step, in the
tactical board per warehouse and in the strategic board's card; a manager bound to a warehouse gets only theirs;
the console's 战略 page draws the card (screenshot in ``$CONSOLE_SCREENSHOTS``, default the test's tmp dir)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderhub import clock, db
from orderhub.approvals import engine, flows, people
from orderhub.approvals.engine import NewRequest
from orderhub.auth.service import NewUser, create_user
from orderhub.catalog.service import NewSku, create_sku
from orderhub.insights import approvals as approval_metrics
from orderhub.inventory.service import NewWarehouse, adjust_stock, create_warehouse
from tests.support.chromium import Browser
from tests.support.factories import Api, unique
from tests.support.hub import Hub

PASSWORD = "approval-metrics-1"
DAY = clock.to_shanghai(clock.now()).date() - timedelta(days=2)  # a past day: its window is whole and ours alone
MONTH_S = 30 * 86400
CLOSING = ("opened", "approved", "rejected", "withdrawn", "cancelled", "closed", "decided", "expired")
FIGURES = (*CLOSING, "cycle_p50_s", "cycle_p90_s", "pending", "overdue", "escalations")


def at(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=clock.SHANGHAI)


class Clock:
    """This process's clock, moved by the test (the engine reads ``clock.now()``); the hub's keeps real time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.moment = clock.now()
        monkeypatch.setattr(clock, "now", lambda: self.moment)

    def set(self, moment: datetime) -> None:
        self.moment = moment


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    yield Clock(monkeypatch)


async def _user(role: str = "approver", *, warehouse: str | None = None, manager: int | None = None) -> int:
    user = await create_user(
        NewUser(username=unique("am"), password=PASSWORD, role=role, warehouse=warehouse, display_name=unique("员工"))
    )
    if manager is not None:
        await people.set_manager(user.id, manager)
    return user.id


async def _flow(name: str, steps: list[dict[str, Any]]) -> str:
    code = unique("metrics-")
    await flows.create_flow(
        flows.NewFlow(code=code, name=name, definition={"kinds": ["stock_writeoff"], "steps": steps}), actor="test"
    )
    return code


def _step(name: str, approver: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "approvers": [{"by": "user", "user_ids": [approver]}], "mode": "any", **extra}


async def _writeoff(flow: str, requester: int, warehouse: str) -> int:
    """A write-off of a fresh SKU in ``warehouse`` (one pending request per stock row)."""
    sku = (await create_sku(NewSku(code=unique("AM-"), name="指标测试商品"))).code
    await adjust_stock(sku=sku, warehouse=warehouse, delta=None, set_to=10, reason="盘点", actor="test")
    return await engine.open_request(
        NewRequest(
            kind="stock_writeoff",
            flow=flow,
            requester_id=requester,
            payload={"warehouse": warehouse, "sku": sku, "delta": -1, "reason": "破损"},
            reason="破损",
        )
    )


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params={k: v for k, v in params.items() if v is not None})
    assert r.status_code == 200, r.text
    return r.json()


def _by_code(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in board["flows"]}


def _figures(f: dict[str, Any]) -> dict[str, Any]:
    return {k: f[k] for k in FIGURES}


def _steps(f: dict[str, Any]) -> list[tuple[Any, ...]]:
    keys = ("step", "name", "opened", "approved", "rejected", "cycle_p50_s", "cycle_p90_s", "pending", "overdue")
    return [tuple(s[k] for k in (*keys, "escalations")) for s in f["steps"]]


def _flow_figures(**given: Any) -> dict[str, Any]:
    figures: dict[str, Any] = dict.fromkeys(CLOSING, 0)
    figures.update(cycle_p50_s=None, cycle_p90_s=None, pending=0, overdue=0, escalations=0)
    figures.update(given)
    return figures


def test_percentiles_are_nearest_rank() -> None:
    assert approval_metrics.percentile([], 0.5) is None
    assert approval_metrics.percentile([7], 0.9) == 7
    assert approval_metrics.percentile([3600, 1800], 0.5) == 1800
    assert approval_metrics.percentile([3600, 1800], 0.9) == 3600
    assert approval_metrics.percentile([3601, 1800, 3600], 0.5) == 3600
    assert approval_metrics.percentile(list(range(1, 101)), 0.9) == 90


async def test_approval_metrics_per_flow_step_warehouse_and_on_the_boards(api: Api, store: Hub, moved: Clock) -> None:
    moved.set(at(8))
    w = await create_warehouse(NewWarehouse(code=unique("AMW"), name="审批指标仓", region="华东"))
    w2 = await create_warehouse(NewWarehouse(code=unique("AMX"), name="审批指标二仓", region="华东"))
    a, b, d, requester = await _user(), await _user(), await _user(), await _user()
    boss = await _user("manager")
    c = await _user(manager=boss)
    # F1: two steps, the first with a month's limit (never reached here); F2: escalates to the manager; F3: nobody
    # above, kept waiting; F4: auto-reject at the limit.
    f1 = await _flow("两级报损", [_step("初审", a, time_limit_s=MONTH_S), _step("复审", b)])
    hour = {"time_limit_s": 3600, "escalations": 1, "on_expiry": "keep_escalating"}
    f2 = await _flow("升级报损", [_step("主管审批", c, **hour)])
    f3 = await _flow("久等报损", [_step("经理审批", d, **hour)])
    f4 = await _flow("超时驳回", [_step("财务审批", d, time_limit_s=3600, escalations=0, on_expiry="auto_reject")])

    moved.set(at(9))
    r1 = await _writeoff(f1, requester, w.code)
    r2 = await _writeoff(f1, requester, w.code)
    moved.set(at(9, 10))
    await engine.approve(r1, a)
    moved.set(at(9, 30))
    await engine.reject(r2, a, reason="数量不对")
    moved.set(at(10))
    assert (await engine.approve(r1, b)).status == "approved"
    moved.set(at(11))
    r3 = await _writeoff(f1, requester, w.code)
    moved.set(at(11, 5))
    assert (await engine.withdraw(r3, requester, reason="不用了")).status == "withdrawn"
    moved.set(at(12))
    await _writeoff(f1, requester, w.code)  # pending at 初审
    await _writeoff(f1, requester, w2.code)  # pending at 初审, in the other warehouse

    # Opened and swept in one transaction: the hub's sweep (real time) cannot reach the task first.
    moved.set(at(13))
    async with db.transaction():
        r5 = await _writeoff(f2, requester, w.code)
        assert (await engine.sweep_due(at(14, 0, 1))).escalated == 1  # c → boss, who has nobody above
    moved.set(at(16))
    async with db.transaction():
        r6 = await _writeoff(f3, requester, w.code)
        assert (await engine.sweep_due(at(17, 0, 1))).kept >= 1  # d has nobody above: kept waiting
    moved.set(at(18))
    async with db.transaction():
        r7 = await _writeoff(f4, requester, w.code)
        assert (await engine.sweep_due(at(19, 0, 1))).auto_rejected == 1
    moved.set(datetime.now(UTC))

    # The overdue tasks, whatever the hub's sweep did meanwhile (it keeps them with their holders): the boss's
    # (reached by escalation) and d's (kept waiting past the limit) — not by their due time, which is later.
    late = await approval_metrics.overdue_tasks([w.id], at(0))
    assert sorted(t.request for t in late) == [r5, r6]

    expected = {
        f1: _flow_figures(
            opened=4,
            approved=1,
            rejected=1,
            withdrawn=1,
            closed=3,
            decided=2,
            cycle_p50_s=1800,
            cycle_p90_s=3600,
            pending=1,
        ),
        f2: _flow_figures(opened=1, pending=1, overdue=1, escalations=1),
        f3: _flow_figures(opened=1, pending=1, overdue=1),
        f4: _flow_figures(opened=1, rejected=1, closed=1, decided=1, expired=1, cycle_p50_s=3601, cycle_p90_s=3601),
    }
    expected_steps = {
        f1: [(0, "初审", 4, 1, 1, 600, 1800, 1, 0, 0), (1, "复审", 1, 1, 0, 3000, 3000, 0, 0, 0)],
        f2: [(0, "主管审批", 2, 0, 0, None, None, 1, 1, 1)],
        f3: [(0, "经理审批", 1, 0, 0, None, None, 1, 1, 0)],
        f4: [(0, "财务审批", 1, 0, 1, 3601, 3601, 0, 0, 0)],
    }
    totals = _flow_figures(
        opened=7,
        approved=1,
        rejected=2,
        withdrawn=1,
        closed=4,
        decided=3,
        expired=1,
        cycle_p50_s=3600,
        cycle_p90_s=3601,
        pending=3,
        overdue=2,
        escalations=1,
    )

    async with api.client() as client:
        board = await _get(client, "/api/v1/dash/approvals", day=DAY.isoformat(), warehouse_id=w.id)
        assert board["day"] == DAY.isoformat() and board["warehouse_id"] == w.id and board["sampled"] is False
        assert board["as_of"].endswith("+08:00")
        flows_ = _by_code(board)
        assert sorted(flows_) == sorted(expected)
        for code, figures in expected.items():
            assert _figures(flows_[code]) == figures, code
            assert _steps(flows_[code]) == expected_steps[code], code
        assert flows_[f1]["name"] == "两级报损" and flows_[f4]["name"] == "超时驳回"
        assert _figures(board["totals"]) == totals

        # Every request (no warehouse): F1 has the other warehouse's pending request too.
        every = _by_code(await _get(client, "/api/v1/dash/approvals", day=DAY.isoformat()))
        assert _figures(every[f1]) == {**expected[f1], "opened": 5, "pending": 2}
        assert _steps(every[f1])[0] == (0, "初审", 5, 1, 1, 600, 1800, 2, 0, 0)
        assert _figures(every[f2]) == expected[f2] and _figures(every[f4]) == expected[f4]
        # Another day shows nothing of ours but what is pending now.
        other = _by_code(await _get(client, "/api/v1/dash/approvals", day=(DAY - timedelta(days=1)).isoformat()))
        assert _figures(other[f2]) == _flow_figures(pending=1, overdue=1)
        assert other[f2]["steps"] == [
            {"step": 0, "name": "主管审批", "opened": 0, "approved": 0, "rejected": 0, "cycle_p50_s": None,
             "cycle_p90_s": None, "pending": 1, "overdue": 1, "escalations": 0}
        ]  # fmt: skip

        tactical = await _get(client, "/api/v1/dash/tactical", day=DAY.isoformat(), warehouse_id=w.id)
        assert tactical["warehouses"][0]["approvals"] == {"pending": 3, "overdue": 2}
        tactical = await _get(client, "/api/v1/dash/tactical", day=DAY.isoformat(), warehouse_id=w2.id)
        assert tactical["warehouses"][0]["approvals"] == {"pending": 1, "overdue": 0}
        assert tactical["warehouses"][0]["funnel"] is not None  # the board's own figures are still there

        # The strategic card: the day's figures are ours alone (nobody else decides on that day); pending and
        # overdue are hub-wide now, as the endpoint's totals say.
        for _ in range(3):  # another test's task may pass its due time between the two reads
            strategic = (await _get(client, "/api/v1/dash/strategic", day=DAY.isoformat()))["approvals"]
            hub = (await _get(client, "/api/v1/dash/approvals", day=DAY.isoformat()))["totals"]
            if (strategic["pending"], strategic["overdue"]) == (hub["pending"], hub["overdue"]):
                break
        assert (strategic["pending"], strategic["overdue"]) == (hub["pending"], hub["overdue"])
        assert strategic["pending"] >= 4 and strategic["overdue"] >= 2
        assert (strategic["escalations"], strategic["decided"]) == (1, 3)
        assert (strategic["cycle_p50_s"], strategic["cycle_p90_s"]) == (3600, 3601)
        assert [(s["code"], s["name"], s["decided"], s["cycle_p50_s"]) for s in strategic["slowest"]] == [
            (f4, "超时驳回", 1, 3601),
            (f1, "两级报损", 2, 1800),
        ]

        r = await client.get("/api/v1/dash/approvals", params={"warehouse_id": 2147483000})
        assert r.status_code == 404, r.text
        r = await client.get("/api/v1/dash/approvals", params={"day": "2999-01-01"})
        assert r.status_code == 422 and r.json()["code"] == "dash_bad_day", r.text

    # After its time limit the month-long step is overdue too (the domain read, at that time).
    later = await approval_metrics.board(DAY, [w.id], now=at(12, 0, 1, DAY + timedelta(days=30)))
    f1_later = next(f for f in later.flows if f.code == f1)
    assert (f1_later.overdue, f1_later.steps[0].overdue, later.totals.overdue) == (1, 1, 3)

    # A manager bound to the warehouse sees its figures; another warehouse's are refused.
    username = unique("ammgr")
    await create_user(NewUser(username=username, password=PASSWORD, role="manager", warehouse=w.code))
    async with api.client() as client:
        r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    async with httpx.AsyncClient(base_url=api.base_url, headers=headers, timeout=30) as manager:
        mine = await _get(manager, "/api/v1/dash/approvals", day=DAY.isoformat())
        assert mine["warehouse_id"] == w.id and _figures(mine["totals"]) == totals
        r = await manager.get("/api/v1/dash/approvals", params={"warehouse_id": w2.id})
        assert r.status_code == 403 and r.json()["code"] == "forbidden_warehouse", r.text
    assert r7 > r6 > r5


@pytest.mark.sqlite_only  # a page in a browser (the figures under it are tested on both back ends above)
async def test_the_console_strategic_page_shows_the_approvals_card(
    api: Api, store: Hub, moved: Clock, tmp_path: Path
) -> None:
    """Today: one request decided about 90 minutes after it opened (the clock moved back for its opening, not
    before midnight), one pending; the card shows the board's figures."""
    now = datetime.now(UTC)
    midnight = datetime.combine(clock.to_shanghai(now).date(), time(0, 0, 1), tzinfo=clock.SHANGHAI)
    moved.set(max(midnight, now - timedelta(minutes=90)))
    w = await create_warehouse(NewWarehouse(code=unique("AMC"), name="审批看板仓", region="华东"))
    a, requester = await _user(), await _user()
    code = await _flow("大额报损", [_step("仓库经理审批", a)])
    decided = await _writeoff(code, requester, w.code)
    moved.set(now)
    await engine.approve(decided, a)
    await _writeoff(code, requester, w.code)
    username = unique("amcon")
    await create_user(NewUser(username=username, password=PASSWORD, role="manager", display_name="王主管"))

    async with Browser(store.url) as browser:
        await browser.open(f"{store.url}/m/")
        await browser.wait_for("!!document.querySelector('#login-form')")
        await browser.fill("#username", username)
        await browser.fill("#password", PASSWORD)
        await browser.js("document.querySelector('#login-form').requestSubmit()")
        await browser.wait_for("!!document.querySelector('#tabs')")
        pending = await browser.wait_for(
            "(() => { const t = document.querySelector('#approvals-pending .figure-value'); "
            "return t && /\\d/.test(t.textContent) && t.textContent; })()"
        )
        async with api.client() as client:
            card = (await _get(client, "/api/v1/dash/strategic"))["approvals"]
        assert int(pending.replace(",", "")) == card["pending"] >= 1
        assert await browser.text("#approvals-overdue .figure-value") == str(card["overdue"])
        assert await browser.text("#approvals-escalations .figure-value") == str(card["escalations"])
        cycle = await browser.text("#approvals-cycle .figure-value") or ""
        assert card["cycle_p50_s"] is not None and ("时" in cycle or "分" in cycle or "秒" in cycle), cycle
        assert "大额报损" in (await browser.text("#approvals-slowest") or "")
        await browser.js("document.querySelector('#approval-figures').scrollIntoView()")
        shot = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path) / "console-strategic-approvals-375.png"
        await browser.screenshot(shot, full_page=False)
        assert not browser.csp, browser.csp
        assert not browser.errors, browser.errors

"""Co-purchase mining through a real hub (docs/insights-mining.md): a constructed order history, written straight into
``sales_order`` / ``order_line`` in a channel of its own, mined through the API by the worker's job.

- a planted pair (``PA`` and ``PB``, only ever bought together) comes out first by lift;
- a planted non-pair (``H1`` and ``H2``, each in half the orders, independently: the highest co-count of all) has a
  lift near 1 and does not rank high;
- a quantity pattern (≥ 2 of ``CR`` → ``DR``) is found with its confidence, above the plain ``CR`` → ``DR``;
- cancelled orders and gift lines are not counted (they would break the pair's confidence of 1);
- the database's counts equal counting the same baskets in Python.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from orderhub import db
from orderhub.errors import NotFound
from orderhub.insights import copurchase
from tests.support.factories import Api, create_channel, unique

SINCE, UNTIL = date(2024, 3, 4), date(2024, 3, 31)  # days no other test places orders on
Order = tuple[str, dict[str, int], list[tuple[str, int]]]  # status, basket {sku: units}, gift lines


class History:
    def __init__(self) -> None:
        self.prefix = unique("cp_薯")  # an underscore and a Chinese character: the filters match them literally
        self.baskets: list[dict[str, int]] = []  # the counted ones, for the reference count
        self.channel = ""
        self.channel_id = 0

    def sku(self, name: str) -> str:
        return f"{self.prefix}-{name}"


async def _write(h: History, orders: list[tuple[str, dict[str, int], list[tuple[str, int]]]], batch: str = "") -> None:
    """(status, basket, gift lines) per order, placed across the period (``batch``: another write to the channel)."""
    rng = random.Random(5)
    start = datetime(2024, 3, 3, 16, tzinfo=UTC)  # 2024-03-04 00:00 Asia/Shanghai
    per = db.rows_per_statement(8)
    for chunk_no, chunk in enumerate(db.chunks(orders, per)):
        marks = ", ".join(["({}, {}, {}, '', '', 0, {}, {}, {})"] * len(chunk))
        args: list[Any] = []
        for n, (status, _basket, _gifts) in enumerate(chunk):
            placed = start + timedelta(seconds=rng.randrange(27 * 86400))
            args += [h.channel_id, f"{h.prefix}{batch}-{chunk_no}-{n}", status, placed, placed, placed]
        ids = await db.execute_returning(
            db.IdRow,
            "INSERT INTO sales_order (channel, external_id, status, receiver_name, receiver_phone, paid_amount, "
            f"placed_at, received_at, updated_at) VALUES {marks} RETURNING id",
            *args,
        )
        lines: list[Any] = []
        count = 0
        for row, (_status, basket, gifts) in zip(sorted(r.id for r in ids), chunk, strict=True):
            no = 0
            for sku, qty in list(basket.items()) + gifts:
                no += 1
                lines += [row, no, sku, qty, sku in dict(gifts)]
                count += 1
        for part in db.chunks(lines, db.rows_per_statement(5) * 5):
            n_rows = len(part) // 5
            await db.execute(
                'INSERT INTO order_line ("order", line_no, sku_code, qty, is_gift) VALUES '
                + ", ".join(["({}, {}, {}, {}, {})"] * n_rows),
                *part,
            )


def _history(h: History) -> list[tuple[str, dict[str, int], list[tuple[str, int]]]]:
    rng = random.Random(11)
    pa, pb, h1, h2, cr, dr = (h.sku(n) for n in ("PA", "PB", "H1", "H2", "CR", "DR"))
    noise = [h.sku(f"N{i}") for i in range(10)]
    orders: list[tuple[str, dict[str, int], list[tuple[str, int]]]] = []
    for n in range(600):
        basket: dict[str, int] = {}
        if n % 20 == 0:  # 30 orders: the planted pair, always together
            basket[pa] = 1
            basket[pb] = rng.choice((1, 2))
        # a planted triple: T1 and T2 together always with T3 (30 orders); each also alone 30 times
        for mod, skus in ((5, ("T1", "T2", "T3")), (6, ("T1",)), (7, ("T2",)), (8, ("T3",))):
            if n % 20 == mod:
                basket.update({h.sku(t): 1 for t in skus})
        if rng.random() < 0.5:
            basket[h1] = 1
        if rng.random() < 0.5:
            basket[h2] = 1
        for sku in noise:
            if rng.random() < 0.1:
                basket[sku] = 1
        if rng.random() < 0.25:
            qty = rng.choice((1, 2, 3)) if n % 2 else 1
            basket[cr] = qty
            if rng.random() < (0.9 if qty >= 2 else 0.1):
                basket[dr] = 1
        if not basket:
            basket[noise[0]] = 1
        # a gift of PB in orders without the pair: counted, it would give PB → PA a confidence below 1
        gifts = [(pb, 1)] if pa not in basket and n % 7 == 0 else []
        orders.append(("shipped", basket, gifts))
        h.baskets.append(basket)
    for _ in range(40):  # cancelled: PA alone, would lower PA → PB's confidence
        orders.append(("cancelled", {pa: 1, h1: 1}, []))
    return orders


@pytest.fixture(scope="module")
async def history(api: Api) -> History:
    h = History()
    h.channel, _ = await create_channel(api, warehouse=None)
    rows = await db.fetch_as(db.IdRow, "SELECT id FROM channel WHERE code = {}", h.channel)
    h.channel_id = rows[0].id
    await _write(h, _history(h))
    return h


async def _mine(client: httpx.AsyncClient, h: History, **extra: Any) -> dict[str, Any]:
    body = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), "channels": [h.channel], "min_count": 5} | extra
    r = await client.post("/api/v1/insights/copurchase/runs", json=body)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "queued"
    for _ in range(600):
        r = await client.get(f"/api/v1/insights/copurchase/runs/{run['id']}")
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    run = r.json()
    assert run["status"] == "done", run
    return dict(run)


async def test_the_planted_pair_comes_first_and_the_popular_non_pair_does_not(api: Api, history: History) -> None:
    h = history
    async with api.client() as client:
        run = await _mine(client, h)
        assert run["orders"] == 600  # the 40 cancelled are not counted
        assert run["channels"] == [h.channel]
        r = await client.get(f"/api/v1/insights/copurchase/runs/{run['id']}/patterns", params={"limit": 500})
        assert r.status_code == 200, r.text
        patterns = r.json()
    lifts = [p["lift"] for p in patterns]
    assert lifts == sorted(lifts, reverse=True)
    first, second = patterns[0], patterns[1]
    assert {(tuple(first["antecedent"]), first["consequent"]), (tuple(second["antecedent"]), second["consequent"])} == {
        ((h.sku("PA"),), h.sku("PB")),
        ((h.sku("PB"),), h.sku("PA")),
    }
    for p in (first, second):
        assert p["min_qty"] == 1
        assert p["orders"] == 30
        assert p["confidence"] == pytest.approx(1.0)  # no cancelled PA alone, no gift PB counted
        assert p["lift"] == pytest.approx(20.0)
        assert p["support"] == pytest.approx(0.05)

    def find(ante: str, cons: str, qty: int = 1) -> tuple[int, dict[str, Any]] | None:
        for rank, p in enumerate(patterns, start=1):
            if p["antecedent"] == [h.sku(ante)] and p["consequent"] == h.sku(cons) and p["min_qty"] == qty:
                return rank, p
        return None

    hot = find("H1", "H2")
    assert hot is not None
    rank, p = hot
    co_counts = [q["orders"] for q in patterns if q["min_qty"] == 1]
    assert p["orders"] == max(co_counts)  # the most frequent pair of all …
    assert 0.8 < p["lift"] < 1.25  # … bought independently
    assert rank > 10

    crisps2, crisps1 = find("CR", "DR", 2), find("CR", "DR", 1)
    assert crisps2 is not None and crisps1 is not None
    assert crisps2[1]["confidence"] > 0.75
    assert crisps2[1]["lift"] > crisps1[1]["lift"]
    assert crisps2[0] < crisps1[0]


async def test_the_database_counts_what_python_counts(api: Api, history: History) -> None:
    h = history
    params = copurchase.params_for_days(
        SINCE, UNTIL, channels=[h.channel], min_count=5, min_support=0.0, max_qty=3, triples=True
    )
    counted = await copurchase.mine(params)
    expected = copurchase.counts_from_baskets(h.baskets, max_qty=3, triples=True)
    assert counted.orders == expected.orders == 600
    assert counted.items == {k: v for k, v in expected.items.items() if v[0] >= 5}
    assert counted.pairs == {k: v for k, v in expected.pairs.items() if v[0] >= 5}
    assert counted.triples == {k: v for k, v in expected.triples.items() if v >= 5}
    assert counted.triples[(h.sku("T1"), h.sku("T2"), h.sku("T3"))] == 30
    got = copurchase.patterns_from_counts(counted, min_count=5, min_support=0.0, max_patterns=10_000)
    want = copurchase.patterns_from_counts(expected, min_count=5, min_support=0.0, max_patterns=10_000)
    assert got == want


async def test_filters_one_pattern_and_get_pattern(api: Api, history: History) -> None:
    h = history
    async with api.client() as client:
        run = await _mine(client, h, max_qty=2, min_support=0.04, max_patterns=20)
        assert run["patterns"] <= 20
        r = await client.get(
            f"/api/v1/insights/copurchase/runs/{run['id']}/patterns",
            params={"antecedent": h.sku("CR"), "min_qty": 2},
        )
        assert r.status_code == 200, r.text
        rows = r.json()
        assert rows and all(p["antecedent"] == [h.sku("CR")] and p["min_qty"] == 2 for p in rows)
        assert all(p["support"] >= 0.04 for p in rows)
        r = await client.get(
            f"/api/v1/insights/copurchase/runs/{run['id']}/patterns", params={"sku": h.sku("PB"), "min_lift": 5}
        )
        pair = r.json()
        assert {p["consequent"] for p in pair} == {h.sku("PA"), h.sku("PB")}
        one = pair[0]
        r = await client.get(f"/api/v1/insights/copurchase/patterns/{one['id']}")
        assert r.status_code == 200, r.text
        assert r.json() == one
        direct = await copurchase.get_pattern(one["id"])
        assert direct.antecedent == one["antecedent"] and direct.consequent == one["consequent"]
        assert direct.min_qty == one["min_qty"] and direct.orders == one["orders"] == 30
        assert direct.lift == pytest.approx(one["lift"]) and direct.run_id == run["id"]
        r = await client.get("/api/v1/insights/copurchase/runs", params={"status": "done", "limit": 200})
        assert run["id"] in [x["id"] for x in r.json()]


async def test_refusals(api: Api, history: History) -> None:
    async with api.client() as client:
        r = await client.post("/api/v1/insights/copurchase/runs", json={"since": "2024-03-10", "until": "2024-03-01"})
        assert r.status_code == 422 and r.json()["code"] == "insights_bad_period", r.text
        r = await client.post(
            "/api/v1/insights/copurchase/runs",
            json={"since": "2024-03-01", "until": "2024-03-10", "channels": [unique("nochannel")]},
        )
        assert r.status_code == 422 and r.json()["code"] == "copurchase_unknown_channel", r.text
        assert r.json()["field"] == "channels"
        r = await client.post(
            "/api/v1/insights/copurchase/runs",
            json={"since": "2024-03-01", "until": "2024-03-10", "region": unique("无此区")},
        )
        assert r.status_code == 422 and r.json()["code"] == "copurchase_unknown_region", r.text
        r = await client.post("/api/v1/insights/copurchase/runs", json={"since": "2023-01-01", "until": "2024-06-01"})
        assert r.status_code == 422 and r.json()["code"] == "insights_bad_period", r.text
        for since, until in (("0001-01-01", "0001-01-02"), ("2024-01-01", "9999-12-31")):
            r = await client.post("/api/v1/insights/copurchase/runs", json={"since": since, "until": until})
            assert r.status_code == 422 and r.json()["code"] == "insights_bad_period", r.text
        r = await client.get("/api/v1/insights/copurchase/runs/2147483000")
        assert r.status_code == 404 and r.json()["code"] == "copurchase_run_not_found", r.text
        r = await client.get("/api/v1/insights/copurchase/patterns/2147483000")
        assert r.status_code == 404 and r.json()["code"] == "copurchase_pattern_not_found", r.text
    with pytest.raises(NotFound):
        await copurchase.get_pattern(2147483000)


async def test_a_planted_triple(api: Api, history: History) -> None:
    h = history
    async with api.client() as client:
        run = await _mine(client, h, triples=True)
        assert run["triples"] is True
        r = await client.get(
            f"/api/v1/insights/copurchase/runs/{run['id']}/patterns", params={"consequent": h.sku("T3"), "limit": 500}
        )
        rows = r.json()
    both = next(p for p in rows if p["antecedent"] == [h.sku("T1"), h.sku("T2")])
    assert (both["orders"], both["antecedent_orders"], both["consequent_orders"]) == (30, 30, 60)
    assert both["confidence"] == pytest.approx(1.0) and both["lift"] == pytest.approx(10.0)
    one = next(p for p in rows if p["antecedent"] == [h.sku("T1")] and p["min_qty"] == 1)
    assert one["confidence"] == pytest.approx(0.5) and one["lift"] == pytest.approx(5.0)
    pattern = await copurchase.get_pattern(both["id"])
    assert pattern.antecedent == [h.sku("T1"), h.sku("T2")] and pattern.consequent == h.sku("T3")


async def test_a_run_whose_job_was_lost_is_queued_again(api: Api, history: History, queue: Any) -> None:
    """Started while Redis was down: the run stays queued with no job, until the cron queues it again."""
    h = history
    params = copurchase.params_for_days(SINCE, UNTIL, channels=[h.channel], min_count=5)
    started = datetime.now(UTC) - timedelta(minutes=10)
    rows = await db.execute_returning(
        db.IdRow,
        "INSERT INTO copurchase_run (status, since, until, channels, region, min_support, min_count, max_qty, "
        "max_patterns, created_by, created_at) VALUES ('queued', {}, {}, {}, '', 0.001, 5, 3, 100, 'test', {}) "
        "RETURNING id",
        params.since,
        params.until,
        f'["{h.channel}"]',
        started,
    )
    run_id = rows[0].id
    assert await copurchase.requeue_stale_runs() >= 1
    for _ in range(600):
        run = await copurchase.get_run(run_id)
        if run.status in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    assert run.status == "done", run
    assert run.orders == 600 and 0 < run.patterns <= 100


# -- review fixes: the support threshold, duplicate runs, the claim, timeouts, one snapshot ------------------------


async def _history_of(api: Api, h: History, orders: list[Order]) -> None:
    """``h`` gets a channel of its own with these orders (status, basket, gifts) placed in the period."""
    h.channel, _ = await create_channel(api, warehouse=None)
    rows = await db.fetch_as(db.IdRow, "SELECT id FROM channel WHERE code = {}", h.channel)
    h.channel_id = rows[0].id
    await _write(h, orders)


async def _queued_run(h: History, *, status: str = "queued", attempts: int = 0, started_min_ago: int = 0) -> int:
    """A run of ``h``'s channel stored straight (no job queued): what start_run writes, or a later state of it."""
    params = copurchase.params_for_days(SINCE, UNTIL, channels=[h.channel], min_count=5)
    now = datetime.now(UTC)
    started = now - timedelta(minutes=started_min_ago) if status == "running" else None
    rows = await db.execute_returning(
        db.IdRow,
        "INSERT INTO copurchase_run (status, since, until, channels, region, min_support, min_count, max_qty, "
        "max_patterns, attempts, created_by, created_at, started_at) "
        "VALUES ({}, {}, {}, {}, '', 0.001, 5, 3, 100, {}, 'test', {}, {}) RETURNING id",
        status,
        params.since,
        params.until,
        f'["{h.channel}"]',
        attempts,
        now,
        started,
    )
    return rows[0].id


async def _close(*run_ids: int) -> None:
    """Leave no run for the cron (or another test's requeue) to pick up."""
    for run_id in run_ids:
        await db.execute(
            "UPDATE copurchase_run SET status = 'failed', attempts = {} WHERE id = {} AND status <> 'done'",
            copurchase.MAX_ATTEMPTS,
            run_id,
        )


async def test_a_pair_in_exactly_min_support_of_the_orders_is_kept(api: Api) -> None:
    """7 orders of 100 have X and Y: support exactly 0.07. As floats 0.07 × 100 = 7.000000000000001, whose ceiling
    (8) dropped the pair at min_support 0.07."""
    h = History()
    x, y = h.sku("X"), h.sku("Y")
    orders: list[Order] = [("shipped", {x: 1, y: 1} if n < 7 else {h.sku(f"N{n % 5}"): 1}, []) for n in range(100)]
    await _history_of(api, h, orders)
    assert copurchase.support_threshold(1, 0.07, 100) == 7
    async with api.client() as client:
        run = await _mine(client, h, min_support=0.07, min_count=1)
        assert run["orders"] == 100
        r = await client.get(f"/api/v1/insights/copurchase/runs/{run['id']}/patterns", params={"sku": x})
        rows = r.json()
    assert {(tuple(p["antecedent"]), p["consequent"]) for p in rows} == {((x,), y), ((y,), x)}
    assert all(p["orders"] == 7 and p["support"] == pytest.approx(0.07) for p in rows)
    params = copurchase.params_for_days(SINCE, UNTIL, channels=[h.channel], min_count=1, min_support=0.0701)
    counted = await copurchase.mine(params)
    assert counted.pairs == {}  # just above: 7.01 → 8 orders needed


async def test_an_identical_run_queued_or_running_is_refused_with_its_id(api: Api, history: History) -> None:
    h = history
    waiting = await _queued_run(h)  # what POST would store for this body
    body = {"since": SINCE.isoformat(), "until": UNTIL.isoformat(), "channels": [h.channel], "max_patterns": 100}
    try:
        async with api.client() as client:
            r = await client.post("/api/v1/insights/copurchase/runs", json=body)
            assert r.status_code == 409, r.text
            problem = r.json()
            assert problem["code"] == "copurchase_run_duplicate" and problem["run_id"] == waiting, problem
            assert r.headers["content-type"].startswith("application/problem+json")
            await db.execute(
                "UPDATE copurchase_run SET status = 'running', started_at = {} WHERE id = {}",
                datetime.now(UTC),
                waiting,
            )
            r = await client.post("/api/v1/insights/copurchase/runs", json=body)
            assert r.status_code == 409 and r.json()["run_id"] == waiting, r.text
            # other thresholds, or the same once the first has ended: a run of its own
            r = await client.post("/api/v1/insights/copurchase/runs", json=body | {"max_patterns": 99})
            assert r.status_code == 202, r.text
            other = r.json()["id"]
            await _close(waiting)
            # two identical starts at once (two API processes on PostgreSQL): never two runs queued or running
            body = body | {"max_patterns": 98}
            a, b = await asyncio.gather(
                client.post("/api/v1/insights/copurchase/runs", json=body),
                client.post("/api/v1/insights/copurchase/runs", json=body),
            )
        answers = sorted((a, b), key=lambda r: r.status_code)
        first = answers[0].json()
        assert answers[0].status_code == 202, answers[0].text
        if answers[1].status_code == 409:
            assert answers[1].json()["run_id"] == first["id"]
        else:  # the first had already finished when the second looked: allowed, they did not overlap
            assert answers[1].status_code == 202, answers[1].text
            done = await copurchase.get_run(first["id"])
            assert done.status == "done" and done.finished_at is not None
            assert done.finished_at <= (await copurchase.get_run(answers[1].json()["id"])).created_at
        for run_id in (other, first["id"]):
            for _ in range(600):
                if (await copurchase.get_run(run_id)).status in ("done", "failed"):
                    break
                await asyncio.sleep(0.1)
    finally:
        await _close(waiting)


async def test_two_executions_at_once_write_the_patterns_once(
    api: Api, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = history
    run_id = await _queued_run(h)
    lost = await _queued_run(h)
    writes: list[int] = []
    insert = copurchase._insert_patterns

    async def counted_insert(rid: int, patterns: Any) -> None:
        writes.append(rid)
        await insert(rid, patterns)

    monkeypatch.setattr(copurchase, "_insert_patterns", counted_insert)
    try:
        one, two = await asyncio.gather(copurchase.run_mining(run_id), copurchase.run_mining(run_id))
        assert writes == [run_id]  # one claimed it; the other found it running and left it
        run = await copurchase.get_run(run_id)
        assert run.status == "done" and run.attempts == 1 and run.orders == 600, run
        assert {one.status, two.status} <= {"running", "done"}
        stored = await db.fetch_as(db.IdRow, "SELECT id FROM copurchase_pattern WHERE run = {}", run_id)
        assert len(stored) == run.patterns > 0
        # done: a late retry of the job does nothing
        assert (await copurchase.run_mining(run_id)).status == "done" and writes == [run_id]

        # an execution taken for dead and claimed again meanwhile writes nothing when it ends
        mine = copurchase.mine

        async def overtaken(params: copurchase.MiningParams) -> copurchase.BasketCounts:
            counts = await mine(params)
            await db.execute("UPDATE copurchase_run SET attempts = attempts + 1 WHERE id = {}", lost)
            return counts

        monkeypatch.setattr(copurchase, "mine", overtaken)
        await copurchase.run_mining(lost)
        assert writes == [run_id]
        assert not await db.fetch_as(db.IdRow, "SELECT id FROM copurchase_pattern WHERE run = {}", lost)
    finally:
        await _close(run_id, lost)


async def _cancelled_like_saq(run_id: int) -> None:
    """What SAQ does at a job's timeout: wait_for on the shielded task, cancel it, then cancel it again and give it
    a second (saq.worker.Worker.process, saq.utils.cancel_tasks)."""
    from saq.utils import cancel_tasks

    task = asyncio.ensure_future(copurchase.run_mining(run_id))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), 0.3)
    task.cancel()
    assert await cancel_tasks([task], 1.0)
    assert task.cancelled()
    await asyncio.gather(*copurchase._background)  # the failure's write, which a second cancellation does not stop


async def test_a_run_that_times_out_fails_after_its_attempts_and_is_not_queued_forever(
    api: Api, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = history
    run_id = await _queued_run(h)

    async def forever(params: copurchase.MiningParams) -> copurchase.BasketCounts:
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    monkeypatch.setattr(copurchase, "mine", forever)
    queued: list[int] = []

    async def enqueue(rid: int) -> None:
        queued.append(rid)

    monkeypatch.setattr(copurchase, "_enqueue", enqueue)
    try:
        await _cancelled_like_saq(run_id)  # well before the timeout: a worker shutting down
        run = await copurchase.get_run(run_id)
        assert (run.status, run.error, run.attempts) == ("failed", copurchase.ERROR_INTERRUPTED, 1), run
        assert "中断" in run.error_message and "稍后自动重试" in run.error_message
        monkeypatch.setattr(copurchase, "MINING_TIMEOUT_S", 0)  # from here on, every cancellation is the timeout
        for attempt in (2, 3):  # SAQ's retries claim the failed run again
            await _cancelled_like_saq(run_id)
            run = await copurchase.get_run(run_id)
            assert (run.status, run.error, run.attempts) == ("failed", copurchase.ERROR_TIMEOUT, attempt), run
        assert "超时" in run.error_message and "不再重试" in run.error_message

        # out of attempts: a further retry does not claim it, and the cron does not queue it
        async def not_called(params: copurchase.MiningParams) -> copurchase.BasketCounts:
            raise AssertionError("mined a run out of attempts")

        monkeypatch.setattr(copurchase, "mine", not_called)
        run = await copurchase.run_mining(run_id)
        assert (run.status, run.attempts, run.error) == ("failed", 3, copurchase.ERROR_TIMEOUT)
        await copurchase.requeue_stale_runs()
        assert run_id not in queued
        async with api.client() as client:
            r = await client.get(f"/api/v1/insights/copurchase/runs/{run_id}")
            shown = r.json()
        assert (shown["status"], shown["error"], shown["attempts"]) == ("failed", "timeout", 3)
        assert "超时" in shown["error_message"]
    finally:
        await _close(run_id)


async def test_the_cron_queues_a_dead_workers_run_only_while_it_has_attempts_left(
    api: Api, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = history
    queued: list[int] = []

    async def enqueue(rid: int) -> None:
        queued.append(rid)

    monkeypatch.setattr(copurchase, "_enqueue", enqueue)
    again = await _queued_run(h, status="running", attempts=1, started_min_ago=20)
    given_up = await _queued_run(h, status="running", attempts=3, started_min_ago=20)
    dead = await _queued_run(h, status="running", attempts=3, started_min_ago=20)
    fresh = await _queued_run(h, status="running", attempts=1, started_min_ago=1)
    try:
        # a retry of the job meets a run out of attempts that its worker left running: closed, not mined
        run = await copurchase.run_mining(dead)
        assert (run.status, run.error, run.attempts) == ("failed", copurchase.ERROR_ATTEMPTS, 3), run
        assert "不再重试" in run.error_message
        # … and one still running in another execution is left alone
        run = await copurchase.run_mining(fresh)
        assert (run.status, run.attempts) == ("running", 1)
        await copurchase.requeue_stale_runs()
        assert again in queued and given_up not in queued and fresh not in queued
        run = await copurchase.get_run(given_up)
        assert (run.status, run.error) == ("failed", copurchase.ERROR_ATTEMPTS), run
        assert (await copurchase.get_run(again)).status == "running"
    finally:
        await _close(again, given_up, dead, fresh)


async def test_one_run_reads_one_snapshot(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Orders written between the count of the pairs and of the triples are in neither: a triple never
    out-counts its pairs (PostgreSQL: REPEATABLE READ; SQLite: one read transaction)."""
    h = History()
    t1, t2, t3 = h.sku("T1"), h.sku("T2"), h.sku("T3")
    together: list[Order] = [("shipped", {t1: 1, t2: 1, t3: 1}, []) for _ in range(10)]
    await _history_of(api, h, together)
    fetch_as = db.fetch_as
    written: list[bool] = []

    async def between(type_: Any, sql: str, *args: Any) -> Any:
        if "c.s > b.s" in sql and not written:  # the triples' statement: write 10 more triples first, elsewhere
            written.append(True)
            more: list[Order] = [("shipped", {t1: 1, t2: 1, t3: 1}, []) for _ in range(10)]
            await asyncio.create_task(_write(h, more, batch="b"), context=contextvars.Context())
        return await fetch_as(type_, sql, *args)

    monkeypatch.setattr(db, "fetch_as", between)
    params = copurchase.params_for_days(SINCE, UNTIL, channels=[h.channel], min_count=5, triples=True)
    counted = await copurchase.mine(params)
    monkeypatch.undo()
    assert written == [True]
    assert counted.orders == 10 and counted.pairs[(t1, t2)][0] == 10
    assert counted.triples == {(t1, t2, t3): 10}
    again = await copurchase.mine(params)  # the next run sees them
    assert again.orders == 20 and again.triples == {(t1, t2, t3): 20}

"""bench.peak tells the truth (issue 22, item 6): orders still in the pipeline are not lost, the stock equation is
checked only once everything settled, the floor's figure is read from pg_min.sh, and the cost per order
(pg_stat_statements, /proc) is parsed and summed right."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import hub_cost, peak
from bench.hub_cost import (
    CpuProbe,
    Proc,
    StatementProbe,
    check_local_database,
    descendants,
    discover_hub,
    excluded_kind,
    format_statements,
    hub_role,
    parse_proc_stat,
    per_process_delta,
    pg_role,
    serve_port,
    summarise_statements,
    tree_ticks,
)
from bench.ingest import BenchError
from bench.peak import PeakConfig, Shop, _evaluate, _Sent, check_stock, classify_accepted, parse_orders_per_min

# --- in the pipeline vs lost ---------------------------------------------------------------------------------------


def _sent(order_id: int | None, external_id: str, channel: str = "ch_a") -> _Sent:
    order = {"external_id": external_id, "lines": [{"sku": "S1", "qty": 1}], "buyer_memo": "", "seller_memo": ""}
    sent = _Sent("new", channel, external_id, order, due=0.0)
    sent.status, sent.order_id, sent.acked, sent.acked_wall, sent.sent = "accepted", order_id, 0.05, 1000.05, 0.01
    return sent


def _item(order_id: int, external_id: str, status: str, channel: str = "ch_a", **extra: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "channel": channel,
        "external_id": external_id,
        "status": status,
        "hold_queue": None,
        "exception_reason": None,
        "priority": "normal",
        "tags": [],
        "receiver": {"province": "上海市"},
        "updated_at": "2026-12-07T18:00:10+00:00",
        **extra,
    }


def test_stored_orders_still_in_received_validated_or_reserved_are_in_the_pipeline_not_lost() -> None:
    accepted = [
        _sent(1, "e1"),  # ready
        _sent(2, "e2"),  # validated
        _sent(3, "e3"),  # received
        _sent(4, "e4"),  # reserved
        _sent(5, "e5"),  # not stored at all
        _sent(6, "e6"),  # stored, but under another id
        _sent(7, "e7"),  # its id is another order
        _sent(8, "e8"),  # cancelled by a person: an odd outcome, not lost
        _sent(9, "e9"),  # held
    ]
    stored = [
        _item(1, "e1", "ready"),
        _item(2, "e2", "validated"),
        _item(3, "e3", "received"),
        _item(4, "e4", "reserved"),
        _item(60, "e6", "ready"),
        _item(7, "other", "ready"),
        _item(8, "e8", "cancelled"),
        _item(9, "e9", "held", hold_queue="invoice"),
    ]
    outcome = classify_accepted(accepted, stored)
    assert [o.order_id for o, _ in outcome.in_pipeline] == [2, 3, 4]
    assert [o.order_id for o, _ in outcome.final] == [1, 8, 9]
    assert outcome.lost == [
        "order 5 (ch_a/e5) accepted but not stored",
        "ch_a/e6 accepted as order 6 but stored as order 60",
        "ch_a/e7 accepted as order 7, which is ch_a/other",
    ]
    assert outcome.anomalies == ["order 8 is cancelled (not a pipeline outcome)"]


# --- the stock invariant only when settled --------------------------------------------------------------------------


def _detail(status: str, sku: str, reserved_qty: int, warehouse: str = "W") -> dict[str, Any]:
    return {"status": status, "lines": [{"sku": sku, "warehouse": warehouse, "reserved_qty": reserved_qty}]}


def test_the_stock_equation_is_skipped_while_orders_are_in_flight_but_reserved_over_on_hand_is_always_caught() -> None:
    # a worker reserved 2 more units of S1 for an order still listed as validated: not oversold
    stock = {"S1": (10, 5), "S2": (3, 4)}
    holding = [{"id": 1}]
    details = {1: _detail("ready", "S1", 3)}
    problems, checked, equation = check_stock(stock, holding, details, "W", unsettled=4)
    assert problems == ["S2: reserved 4 > on_hand 3"]
    assert not equation
    assert "stock check skipped: 4 orders still in the pipeline" in checked


def test_once_settled_the_stock_equation_is_checked() -> None:
    stock = {"S1": (10, 5), "S2": (9, 0)}
    details = {1: _detail("ready", "S1", 3), 2: _detail("reserved", "S1", 2), 3: _detail("ready", "S2", 1, "OTHER")}
    problems, checked, equation = check_stock(stock, [{"id": 1}, {"id": 2}, {"id": 3}], details, "W", unsettled=0)
    assert (problems, equation) == ([], True)
    assert checked == "2 SKUs vs lines of 3 ready/reserved orders"

    details[2] = _detail("reserved", "S1", 1)
    problems, _, equation = check_stock(stock, [{"id": 1}, {"id": 2}, {"id": 3}], details, "W", unsettled=0)
    assert problems == ["S1: reserved 5 but order lines hold 4"]
    assert equation

    problems, checked, equation = check_stock(stock, [{"id": 1}, {"id": 2}, {"id": 9}], {1: details[1]}, "W", 0)
    assert not equation and "NOT checked: 2 of 3 order details unread" in checked


def _config(**kw: Any) -> PeakConfig:
    return PeakConfig(
        url="http://127.0.0.1:8151", rate=1200, duration=20, admin_user="a", admin_password="p", drain=30, **kw
    )


def test_an_unfinished_run_reports_orders_in_the_pipeline_not_lost_and_not_oversold() -> None:
    shop = Shop(warehouse="W", channels={"ch_a": "s", "ch_b": "s"}, skus=["S1"], low_stock={})
    orders = [_sent(1, "e1"), _sent(2, "e2"), _sent(3, "e3"), _sent(4, "e4")]
    stored = [
        _item(1, "e1", "ready"),
        _item(2, "e2", "exception", exception_reason="out_of_stock"),
        _item(3, "e3", "validated"),
        _item(4, "e4", "reserved"),
    ]
    # order 4's units are reserved and its lines not yet written: the equation would say "oversold"
    stock = {"S1": (100, 2)}
    holding = [stored[0], stored[3]]
    details = {1: _detail("ready", "S1", 1), 4: _detail("reserved", "S1", 0)}
    result = _evaluate(_config(pg_limit=30000.0), shop, orders, 20.0, 1000.0, 1, stored, stock, holding, details)
    result.pg_min = 100000.0
    assert (result.lost, result.oversold, result.duplicated) == (0, 0, 0)
    assert result.invariants_hold
    assert (result.in_pipeline, result.in_pipeline_by_status) == (2, {"validated": 1, "reserved": 1})
    assert not result.pipeline_complete and not result.stock_equation_checked
    assert result.unsettled == 2
    assert result.by_status == {"ready": 1, "exception": 1, "validated": 1, "reserved": 1}
    assert result.pipeline_per_min is not None  # over the two finished orders: a lower bound
    assert result.sustained_per_min is not None
    assert result.pg_limit_ratio == pytest.approx(result.sustained_per_min / 30000.0, abs=1e-4)

    text = peak.report(_config(pg_limit=30000.0), result)
    assert "stock check skipped: 2 orders still in the pipeline" in text
    assert "LOWER BOUND" in text
    # bench/upkeep_cost.sh greps "N orders/min" off the pipeline line: an unfinished run must still give it none
    pipeline_line = next(line for line in text.splitlines() if line.startswith("  pipeline "))
    assert not re.search(r"[0-9]+(\.[0-9]+)? orders/min", pipeline_line)
    assert "NOT FINISHED    2 accepted orders still in the pipeline" in text
    assert "in pipeline   2" in text
    assert "lost          0  ✓" in text
    assert "vs pg_min" in text and "at least" in text and "lower bound" in text
    assert "oversold      0  ✓" in text
    json_fields = result.to_dict()
    for key in ("in_pipeline", "in_pipeline_by_status", "pipeline_complete", "stock_equation_checked", "pg_min"):
        assert key in json_fields


def test_a_finished_run_checks_everything_and_prints_the_ratio_to_the_floor() -> None:
    shop = Shop(warehouse="W", channels={"ch_a": "s", "ch_b": "s"}, skus=["S1"], low_stock={})
    orders = [_sent(1, "e1"), _sent(2, "e2")]
    stored = [_item(1, "e1", "ready"), _item(2, "e2", "ready")]
    stock = {"S1": (100, 3)}
    details = {1: _detail("ready", "S1", 1), 2: _detail("ready", "S1", 1)}
    result = _evaluate(_config(), shop, orders, 20.0, 1000.0, 1, stored, stock, stored, details)
    assert result.pipeline_complete and result.stock_equation_checked and result.in_pipeline == 0
    assert result.oversold == 1  # reserved 3 but the lines hold 2: a real mismatch once settled
    assert not result.invariants_hold
    result.pg_min = 100000.0
    text = peak.report(_config(), result)
    assert "LOWER BOUND" not in text and "NOT FINISHED" not in text
    assert "S1: reserved 3 but order lines hold 2" in text
    assert "vs pg_min" in text and "at least" not in text


# --- the floor: pg_min.sh's output -------------------------------------------------------------------------------

PG_MIN_OUTPUT = """pg_min: PostgreSQL 15.20, scratch perf_pgmin_1_2; pgbench -c 16 -j 2 -T 60, 1 order(s)/transaction
  progress: 10.0 s, 1702.3 tps, lat 9.383 ms stddev 5.214, 0 failed
  tps             1711.266 transactions/s (1 order(s) each), latency 9.349 ms per transaction
  orders          102676 stored, 174549 lines (1.70 per order)
  orders/min      102676
  check           not ready 0; stock reserved 296731 = lines 296731; oversold rows 0
  per statement (ms, pgbench -r):
    0.123  INSERT INTO sales_order …
"""


def test_the_orders_per_min_line_of_pg_min_and_pg_limit_is_read() -> None:
    assert parse_orders_per_min(PG_MIN_OUTPUT) == 102676.0
    assert parse_orders_per_min("  orders/min the database can do: 22693\n") == 22693.0
    assert parse_orders_per_min("  orders/min      190,541\n") == 190541.0
    assert parse_orders_per_min("pg_min: inconsistent result\n") is None
    assert parse_orders_per_min("") is None


def _script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "pg_min.sh"
    script.write_text("#!/usr/bin/env bash\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


async def test_pg_min_run_runs_the_script_with_the_seconds_and_uses_its_figure(tmp_path: Path) -> None:
    out = tmp_path / "args"
    script = _script(tmp_path, f'echo "$1 $PGURL $PWD" > {out}\necho "  orders/min      101000"\n')
    logged: list[str] = []
    cfg = _config(pg_min_run=7, pg_min_script=script, database_url="postgresql://postgres@127.0.0.1:5432/hubdb")
    env = dict(os.environ)
    os.environ.pop("PGURL", None)
    try:
        assert await peak.run_pg_min(cfg, logged.append) == 101000.0
    finally:
        os.environ.clear()
        os.environ.update(env)
    assert out.read_text().split() == ["7", "postgresql://postgres@127.0.0.1:5432/", str(peak.PROJECT_ROOT)]
    assert "  pg_min |   orders/min      101000" in logged


async def test_pg_min_run_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="exit 4"):
        await peak.run_pg_min(_config(pg_min_run=1, pg_min_script=_script(tmp_path, "exit 4\n")), lambda _: None)
    with pytest.raises(BenchError, match="no orders/min"):
        await peak.run_pg_min(_config(pg_min_run=1, pg_min_script=_script(tmp_path, "echo hi\n")), lambda _: None)
    with pytest.raises(BenchError, match="not found"):
        await peak.run_pg_min(_config(pg_min_run=1, pg_min_script=tmp_path / "nope.sh"), lambda _: None)


def test_the_command_line_takes_the_new_flags_and_refuses_a_remote_database() -> None:
    base = ["--admin-user", "a", "--admin-password", "p"]
    cfg, _ = peak._parse([*base, "--pg-min", "102676", "--hub-pids", "12,34", "--database-url", "postgresql:///x"])
    assert (cfg.pg_min, cfg.hub_pids, cfg.database_url) == (102676.0, [12, 34], "postgresql:///x")
    cfg, _ = peak._parse([*base, "--pg-min-run", "60", "--pg-min-script", "/tmp/x.sh"])
    assert (cfg.pg_min_run, cfg.pg_min_script) == (60, Path("/tmp/x.sh"))
    with pytest.raises(SystemExit):
        peak._parse([*base, "--database-url", "postgresql://postgres@db.example.com:5432/hub"])
    with pytest.raises(SystemExit):
        peak._parse([*base, "--pg-min", "1", "--pg-min-run", "60"])
    with pytest.raises(SystemExit):
        peak._parse([*base, "--hub-pids", "x"])


def test_only_local_databases() -> None:
    for url in (
        "postgresql://postgres@127.0.0.1:5432/hub",
        "postgres://localhost/hub",
        "postgresql://[::1]:5432/hub",
        "postgresql:///hub?host=/var/run/postgresql",
    ):
        check_local_database(url)
    for url in ("postgresql://10.0.0.5/hub", "postgresql:///hub?host=db.example.com", "mysql://127.0.0.1/x"):
        with pytest.raises(ValueError):
            check_local_database(url)


# --- pg_stat_statements ------------------------------------------------------------------------------------------


def test_statements_per_order_leave_out_transaction_control_session_settings_and_the_bench() -> None:
    assert excluded_kind("BEGIN") == excluded_kind("commit") == excluded_kind("  ROLLBACK") == "transaction"
    assert excluded_kind("START TRANSACTION ISOLATION LEVEL READ COMMITTED") == "transaction"
    assert excluded_kind("SET statement_timeout = $1") == excluded_kind("SHOW server_version") == "session"
    assert excluded_kind("/* bench.peak */ SELECT pg_stat_statements_reset(0, $1::oid, 0)") == "bench"
    assert excluded_kind("UPDATE stock_level SET reserved = reserved + $1") is None
    assert excluded_kind("SELECT id FROM sales_order WHERE settled") is None  # not SET

    rows = [
        ("BEGIN", 1000, 5.0),
        ("COMMIT", 1000, 900.0),
        ("SET search_path = public", 4, 0.1),
        ("/* bench.peak */ SELECT pg_stat_statements_reset(0, $1::oid, 0)", 1, 0.2),
        ("UPDATE stock_level\n   SET reserved = reserved + $1 WHERE id = $2 AND on_hand - reserved >= $1", 1700, 850.0),
        ("INSERT INTO sales_order (channel, external_id) VALUES ($1, $2)", 1000, 100.0),
        ("INSERT INTO order_event (order, type) SELECT * FROM unnest($1::int[], $2::text[])", 50, 50.0),
    ]
    figures = summarise_statements(rows, orders=1000, top=2)
    assert figures["statements"] == 2750
    assert figures["statements_per_order"] == 2.75
    assert figures["exec_ms"] == 1000.0 and figures["exec_ms_per_order"] == 1.0
    assert figures["excluded"] == {
        "transaction": {"calls": 2000, "ms": 905.0},
        "session": {"calls": 4, "ms": 0.1},
        "bench": {"calls": 1, "ms": 0.2},
    }
    top = figures["top"]
    assert [row["calls"] for row in top] == [1700, 1000]
    assert top[0]["query"].startswith("UPDATE stock_level SET reserved = reserved + $1 WHERE id = $2")
    assert top[0]["mean_ms"] == 0.5 and top[0]["share"] == 0.85

    text = "\n".join(format_statements(figures))
    assert "2.8 per accepted order (2750 calls / 1000 orders)" in text
    assert "PostgreSQL execution 1.00 ms per order" in text
    assert "BEGIN / START TRANSACTION / COMMIT / ROLLBACK / SAVEPOINT / RELEASE: 2000 calls" in text
    assert "this benchmark's own pg_stat_statements queries: 1 calls" in text
    assert format_statements({"available": False, "reason": "not loaded"}) == ["  statements      n/a: not loaded"]


class _FakeConnection:
    def __init__(self, preload: str, rows: list[dict[str, Any]]) -> None:
        self.preload, self.rows = preload, rows
        self.sent: list[str] = []

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return self.preload if "shared_preload_libraries" in query else 16384

    async def execute(self, query: str, *args: Any) -> str:
        self.sent.append(query)
        return "OK"

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        self.sent.append(query)
        if "pg_attribute" in query:
            return [{"attname": "query"}, {"attname": "calls"}, {"attname": "total_exec_time"}]
        return self.rows

    async def close(self) -> None:
        pass


async def test_without_pg_stat_statements_preloaded_the_probe_says_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncpg

    fake = _FakeConnection("", [])

    async def connect(*args: Any, **kwargs: Any) -> _FakeConnection:
        return fake

    monkeypatch.setattr(asyncpg, "connect", connect)
    probe = StatementProbe("postgresql://postgres@127.0.0.1:5432/hub")
    await probe.open()
    assert not probe.available and "shared_preload_libraries" in (probe.reason or "")
    await probe.start()
    figures = await probe.finish(10)
    assert figures["available"] is False and "restart PostgreSQL" in figures["reason"]
    assert not any("CREATE EXTENSION" in q or "reset" in q for q in fake.sent)  # nothing changed on the server
    await probe.close()


async def test_with_pg_stat_statements_the_probe_resets_one_database_and_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncpg

    rows = [{"query": "COMMIT", "calls": 10, "total_ms": 3.0}, {"query": "SELECT 1", "calls": 30, "total_ms": 6.0}]
    fake = _FakeConnection("auto_explain, pg_stat_statements", rows)

    async def connect(*args: Any, **kwargs: Any) -> _FakeConnection:
        return fake

    monkeypatch.setattr(asyncpg, "connect", connect)
    probe = StatementProbe("postgresql://postgres@127.0.0.1:5432/hub")
    await probe.open()
    assert probe.available
    await probe.start()
    figures = await probe.finish(10)
    assert figures["statements_per_order"] == 3.0 and figures["exec_ms_per_order"] == 0.6
    assert any("CREATE EXTENSION IF NOT EXISTS pg_stat_statements" in q for q in fake.sent)
    assert any("pg_stat_statements_reset(0, $1::oid, 0)" in q for q in fake.sent)
    assert all(hub_cost.BENCH_MARK in q for q in fake.sent)
    await probe.close()


# --- CPU from /proc ----------------------------------------------------------------------------------------------

STAT = "{pid} ({comm}) S {ppid} 1 1 0 -1 4194560 100 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 3 0 12345 1 1"


def _stat(pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0) -> str:
    return STAT.format(pid=pid, comm=comm, ppid=ppid, utime=utime, stime=stime, cutime=cutime, cstime=cstime)


def test_proc_stat_is_split_after_the_last_parenthesis() -> None:
    proc = parse_proc_stat(_stat(4242, "python3 (x) y", 17, 120, 30, 7, 3) + "\n")
    assert (proc.pid, proc.comm, proc.ppid, proc.ticks, proc.child_ticks) == (4242, "python3 (x) y", 17, 150, 10)
    with pytest.raises(ValueError):
        parse_proc_stat("garbage")


def test_hub_processes_are_told_by_their_command_line() -> None:
    assert hub_role(".venv/bin/python .venv/bin/orderhub serve --port 8151 --workers 2") == "api"
    assert hub_role(".venv/bin/python .venv/bin/orderhub worker") == "worker"
    assert hub_role("/usr/bin/python3 -m server.cli serve --host 127.0.0.1 --port 8000") == "api"
    assert hub_role("/usr/bin/python3 -m server.cli worker") == "worker"
    assert hub_role("/usr/bin/python3 -m server.cli worker --role all") == "worker"
    assert hub_role("/v/python /v/orderhub worker --role pipeline --concurrency 20") == "worker"
    assert hub_role("/v/python /v/orderhub worker --role background") == "background"
    assert hub_role("orderhub run --port 8000") is None
    assert hub_role("python -m bench.peak --url http://127.0.0.1:8000") is None
    assert hub_role("/usr/bin/python3 -c from multiprocessing.spawn import spawn_main") is None
    assert serve_port("orderhub serve --port 8151") == 8151
    assert serve_port("orderhub serve --port=8152") == 8152
    assert serve_port("orderhub serve") == 8000


def _procs(*rows: tuple[int, int, str, int, int, str]) -> dict[int, Proc]:
    return {pid: Proc(pid, comm, ppid, ticks, child, cmd) for pid, ppid, comm, ticks, child, cmd in rows}


def test_the_hub_is_found_by_its_port_and_its_workers_by_the_serve_s_environment() -> None:
    procs = _procs(
        (100, 1, "orderhub", 50, 0, "/v/python /v/orderhub serve --port 8151 --workers 2"),
        (101, 100, "python3", 400, 0, "/v/python -c from multiprocessing.spawn import spawn_main"),
        (102, 100, "python3", 300, 0, "/v/python -c from multiprocessing.spawn import spawn_main"),
        (200, 1, "orderhub", 900, 0, "/v/python /v/orderhub worker"),
        (201, 1, "orderhub", 800, 0, "/v/python /v/orderhub worker"),
        (300, 1, "orderhub", 10, 0, "/v/python /v/orderhub serve --port 8000"),  # someone else's hub
        (301, 1, "orderhub", 10, 0, "/v/python /v/orderhub worker"),
        (202, 1, "orderhub", 70, 0, "/v/python /v/orderhub worker --role background"),
    )
    mine = {"ORDERHUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/bench_helper_a"}
    theirs = {"ORDERHUB_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/ohbench"}
    envs = {100: mine, 200: mine, 201: mine, 202: mine, 300: theirs, 301: theirs}
    roles, notes = discover_hub(procs, 8151, None, environ=envs.get)
    assert roles == {"api": [100], "worker": [200, 201], "background": [202]}
    assert notes == []
    assert descendants(procs, roles["api"]) == {100, 101, 102}
    assert tree_ticks(procs, roles["api"]) == 750

    # no serve on the port: the workers of --database-url's database
    roles, notes = discover_hub(procs, 9999, "ohbench", environ=envs.get)
    assert roles == {"api": [], "worker": [301]}
    assert any("no `orderhub serve` on port 9999" in n for n in notes)
    # nothing to tell them apart: every worker, said so
    roles, notes = discover_hub(procs, 9999, None, environ=lambda pid: None)
    assert roles["worker"] == [200, 201, 301] and roles["background"] == [202]
    assert any("every `orderhub worker`" in n for n in notes)


def test_cpu_of_a_tree_counts_children_that_exited_in_between_once() -> None:
    before = _procs((100, 1, "serve", 100, 0, ""), (101, 100, "w", 40, 0, ""))
    # 101 used 20 more ticks and exited; 100 waited for it (cutime = its whole life, 60) and used 5 more
    after = _procs((100, 1, "serve", 105, 60, ""), (102, 100, "w", 7, 0, ""))
    assert tree_ticks(after, [100]) - tree_ticks(before, [100]) == 5 + 20 + 7


def test_cpu_of_single_processes_counts_new_ones_whole_and_ignores_gone_ones() -> None:
    assert per_process_delta({1: 100, 2: 50}, {1: 130, 3: 9}) == 30 + 9


def test_postgres_backends_of_the_hub_database_and_the_server_processes() -> None:
    def pg(title: str) -> Proc:
        return Proc(5, "postgres", 1, 0, 0, title)

    assert pg_role(pg("postgres: 15/main: postgres bench_helper_a 127.0.0.1(5432) idle"), "bench_helper_a") == (
        "postgres"
    )
    assert pg_role(pg("postgres: 15/main: postgres ohbench 127.0.0.1(5432) idle"), "bench_helper_a") is None
    assert pg_role(pg("postgres: 15/main: postgres ohbench 127.0.0.1(5432) idle"), None) == "postgres"
    assert pg_role(pg("postgres: 15/main: walwriter "), "bench_helper_a") == "postgres_server"
    assert pg_role(pg("postgres: autovacuum worker bench_helper_a"), "bench_helper_a") == "postgres_server"
    assert pg_role(pg("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main"), None) is None
    assert pg_role(Proc(5, "python3", 1, 0, 0, "postgres: fake"), None) is None


def _write_proc(root: Path, pid: int, stat_line: str, cmdline: str) -> None:
    (root / str(pid)).mkdir(exist_ok=True)
    (root / str(pid) / "stat").write_text(stat_line + "\n")
    (root / str(pid) / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU per order reads Linux's /proc")
def test_cpu_probe_over_a_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "stat").write_text("")
    _write_proc(tmp_path, 100, _stat(100, "orderhub", 1, 100, 0), "/v/python /v/orderhub serve --port 8151")
    _write_proc(tmp_path, 101, _stat(101, "python3", 100, 10, 0), "/v/python -c spawn_main")
    _write_proc(tmp_path, 200, _stat(200, "orderhub", 1, 500, 0), "/v/python /v/orderhub worker")
    _write_proc(tmp_path, 300, _stat(300, "postgres", 1, 50, 0), "postgres: 15/main: postgres hub 127.0.0.1(1) idle")
    probe = CpuProbe(port=8151, database="hub", pids=[100, 200], root=tmp_path)
    probe.start()
    _write_proc(tmp_path, 101, _stat(101, "python3", 100, 10 + 2 * 100, 0), "/v/python -c spawn_main")
    _write_proc(tmp_path, 200, _stat(200, "orderhub", 1, 500 + 4 * 100, 0), "/v/python /v/orderhub worker")
    _write_proc(tmp_path, 300, _stat(300, "postgres", 1, 50 + 100, 0), "postgres: 15/main: postgres hub x(1) idle")
    figures = probe.finish(orders=100)
    tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
    groups = figures["groups"]
    assert groups["api"]["pids"] == [100, 101]
    assert groups["api"]["ms_per_order"] == pytest.approx(200 * tick_ms / 100, abs=1e-3)
    assert groups["worker"]["ms_per_order"] == pytest.approx(400 * tick_ms / 100, abs=1e-3)
    assert groups["postgres"]["ms_per_order"] == pytest.approx(100 * tick_ms / 100, abs=1e-3)
    assert "bench" in groups
    text = "\n".join(hub_cost.format_cpu(figures))
    assert "API (serve + its children)" in text and "workers (+ children)" in text
    assert "PostgreSQL backends of hub" in text


def test_cpu_probe_without_proc_says_so(tmp_path: Path) -> None:
    probe = CpuProbe(port=8151, root=tmp_path / "none")
    probe.start()
    figures = probe.finish(10)
    assert figures["available"] is False and "/proc" in figures["reason"]
    assert hub_cost.format_cpu(figures) == ["  CPU per order   n/a: CPU per order needs Linux's /proc"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU per order reads Linux's /proc")
def test_cpu_probe_on_the_real_proc_counts_at_least_this_process() -> None:
    probe = CpuProbe(port=1)  # no hub on port 1: the notes say so, the load generator is still measured
    probe.start()
    sum(i * i for i in range(200_000))
    figures = probe.finish(orders=1)
    assert figures["available"] is True
    assert figures["groups"]["bench"]["cpu_ms"] >= 0
    assert any("port 1" in note for note in figures["notes"])

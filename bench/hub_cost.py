"""What one order costs the hub during a benchmark window: SQL statements, PostgreSQL time and CPU per order.

Used by :mod:`bench.peak` (``--database-url``, ``--hub-pids``); everything here is read-only except resetting
``pg_stat_statements`` for the hub's own database at the start of the window.

- **Statements** come from the ``pg_stat_statements`` extension (PostgreSQL docs, "F.32 pg_stat_statements",
  https://www.postgresql.org/docs/15/pgstatstatements.html): it must be in ``shared_preload_libraries`` (a server
  restart) before ``CREATE EXTENSION`` makes its view usable; ``pg_stat_statements_reset(userid, dbid, queryid)``
  (PostgreSQL 12+; 0 = any) resets the entries of one database only; the time column is ``total_exec_time`` since
  PostgreSQL 13 (``total_time`` before).
- **CPU** comes from ``/proc/PID/stat`` (proc_pid_stat(5), https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html):
  field 2 ``comm`` in parentheses (it may contain spaces and parentheses, so the fields are split after the last
  ``)``), field 4 ``ppid``, fields 14–17 ``utime``, ``stime``, ``cutime``, ``cstime`` in clock ticks
  (``sysconf(_SC_CLK_TCK)``; ``cutime``/``cstime`` hold the children the process has waited for). Linux only: on
  other systems the CPU figures are skipped with a note.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "CpuProbe",
    "Proc",
    "StatementProbe",
    "check_local_database",
    "excluded_kind",
    "format_cpu",
    "format_statements",
    "hub_role",
    "parse_proc_stat",
    "summarise_statements",
]

# --- pg_stat_statements ------------------------------------------------------------------------------------------

BENCH_MARK = "/* bench.peak */"  # on every statement this module sends, so that it can leave them out
_TRANSACTION = re.compile(r"^(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE)\b", re.I)
_SESSION = re.compile(r"^(SET|RESET|SHOW|DISCARD|DEALLOCATE)\b", re.I)
EXCLUDED_KINDS = {
    "transaction": "BEGIN / START TRANSACTION / COMMIT / ROLLBACK / SAVEPOINT / RELEASE",
    "session": "SET / RESET / SHOW / DISCARD / DEALLOCATE",
    "bench": "this benchmark's own pg_stat_statements queries",
}


def check_local_database(url: str) -> None:
    """Refuse anything but a PostgreSQL server on this machine (loopback or a Unix socket)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"--database-url must be a postgresql:// URL (got {parts.scheme or 'no'} scheme)")
    hosts = [parts.hostname or ""] + [unquote(h) for h in parse_qs(parts.query).get("host", [])]
    for host in hosts:
        if host in ("", "localhost", "::1") or host.startswith(("127.", "/")):
            continue
        raise ValueError(f"--database-url must be a local server (loopback or a Unix socket), got {host!r}")


def database_name(url: str) -> str | None:
    name = urlsplit(url).path.lstrip("/")
    return unquote(name) or None


def excluded_kind(query: str) -> str | None:
    """Why a statement is left out of the per-order count (a key of :data:`EXCLUDED_KINDS`), or None."""
    text = query.lstrip()
    if BENCH_MARK in query or "pg_stat_statements" in query:
        return "bench"
    if _TRANSACTION.match(text):
        return "transaction"
    if _SESSION.match(text):
        return "session"
    return None


def shorten(query: str, width: int = 110) -> str:
    text = " ".join(query.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def summarise_statements(rows: Iterable[tuple[str, int, float]], orders: int, top: int = 10) -> dict[str, Any]:
    """Figures from ``pg_stat_statements`` rows (query, calls, total ms) over a window in which ``orders``
    orders were accepted."""
    included: list[tuple[str, int, float]] = []
    excluded: dict[str, dict[str, float]] = {}
    for query, calls, total_ms in rows:
        kind = excluded_kind(query)
        if kind is None:
            included.append((query, int(calls), float(total_ms)))
        else:
            slot = excluded.setdefault(kind, {"calls": 0, "ms": 0.0})
            slot["calls"] += int(calls)
            slot["ms"] = round(slot["ms"] + float(total_ms), 3)
    calls = sum(c for _, c, _ in included)
    exec_ms = sum(t for _, _, t in included)
    per = max(orders, 1)
    ranked = sorted(included, key=lambda row: -row[2])[:top]
    return {
        "available": True,
        "orders": orders,
        "statements": calls,
        "statements_per_order": round(calls / per, 2) if orders else None,
        "exec_ms": round(exec_ms, 1),
        "exec_ms_per_order": round(exec_ms / per, 3) if orders else None,
        "excluded": excluded,
        "top": [
            {
                "query": shorten(query),
                "calls": c,
                "total_ms": round(t, 1),
                "mean_ms": round(t / c, 3) if c else None,
                "share": round(t / exec_ms, 3) if exec_ms else None,
            }
            for query, c, t in ranked
        ],
    }


def format_statements(figures: dict[str, Any] | None) -> list[str]:
    if figures is None:
        return []
    if not figures.get("available"):
        return [f"  statements      n/a: {figures.get('reason', 'pg_stat_statements unavailable')}"]
    lines = []
    if figures["orders"]:
        lines.append(
            f"  statements      {figures['statements_per_order']:.1f} per accepted order ({figures['statements']} "
            f"calls / {figures['orders']} orders); PostgreSQL execution {figures['exec_ms_per_order']:.2f} ms "
            "per order [pg_stat_statements, the hub's database, sending start → drain end]"
        )
    else:
        lines.append(f"  statements      {figures['statements']} calls, no accepted orders")
    excluded = figures["excluded"]
    lines.append(
        "    left out      "
        + "; ".join(
            f"{EXCLUDED_KINDS[kind]}: {int(excluded[kind]['calls'])} calls, {excluded[kind]['ms']:.0f} ms"
            if kind in excluded
            else f"{EXCLUDED_KINDS[kind]}: none"
            for kind in EXCLUDED_KINDS
        )
        + " (COMMIT's time is the WAL flush: real, but not a statement the app chose)"
    )
    if figures["top"]:
        lines.append("    top by time   total ms   share   calls    mean ms   statement")
        for row in figures["top"]:
            share = f"{row['share']:.0%}" if row["share"] is not None else "–"
            mean = f"{row['mean_ms']:.3f}" if row["mean_ms"] is not None else "–"
            lines.append(f"      {row['total_ms']:>18.0f} {share:>7} {row['calls']:>7} {mean:>10}   {row['query']}")
    return lines


class StatementProbe:
    """``pg_stat_statements`` over a window, for one (local) database; unavailable says why in ``reason``."""

    def __init__(self, url: str) -> None:
        check_local_database(url)
        self.url = url
        self.conn: Any = None
        self.dbid: int | None = None
        self.time_column = "total_exec_time"
        self.reason: str | None = None

    @property
    def available(self) -> bool:
        return self.conn is not None and self.reason is None

    async def open(self) -> None:
        import asyncpg

        try:
            self.conn = await asyncpg.connect(self.url, timeout=10)
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.reason = f"cannot connect to --database-url ({type(exc).__name__}: {exc})"
            self.conn = None
            return
        try:
            preload = str(await self.conn.fetchval(f"{BENCH_MARK} SHOW shared_preload_libraries"))
            if "pg_stat_statements" not in [name.strip().strip('"') for name in preload.split(",")]:
                self.reason = (
                    "pg_stat_statements is not loaded (shared_preload_libraries = "
                    f"{preload!r}); add it there in postgresql.conf and restart PostgreSQL to get these figures"
                )
                return
            await self.conn.execute(f"{BENCH_MARK} CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            self.dbid = int(
                await self.conn.fetchval(f"{BENCH_MARK} SELECT oid FROM pg_database WHERE datname = current_database()")
            )
            columns = await self.conn.fetch(
                f"{BENCH_MARK} SELECT attname FROM pg_attribute "
                "WHERE attrelid = 'pg_stat_statements'::regclass AND attnum > 0"
            )
            names = {str(row["attname"]) for row in columns}
            self.time_column = "total_exec_time" if "total_exec_time" in names else "total_time"
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.reason = f"pg_stat_statements unusable ({type(exc).__name__}: {exc})"

    async def start(self) -> None:
        """Reset the counters of the hub's database (only that database's entries)."""
        if not self.available:
            return
        import asyncpg

        try:
            await self.conn.execute(f"{BENCH_MARK} SELECT pg_stat_statements_reset(0, $1::oid, 0)", self.dbid)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.reason = f"cannot reset pg_stat_statements ({type(exc).__name__}: {exc})"

    async def finish(self, orders: int) -> dict[str, Any]:
        if not self.available:
            return {"available": False, "reason": self.reason or "not opened"}
        import asyncpg

        try:
            rows = await self.conn.fetch(
                f"{BENCH_MARK} SELECT query, calls, {self.time_column} AS total_ms FROM pg_stat_statements "
                "WHERE dbid = $1::oid",
                self.dbid,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return {"available": False, "reason": f"reading pg_stat_statements failed ({exc})"}
        return summarise_statements(
            ((str(r["query"] or ""), int(r["calls"]), float(r["total_ms"])) for r in rows), orders
        )

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None


# --- CPU from /proc ----------------------------------------------------------------------------------------------

_HUB_COMMAND = re.compile(r"(?:^|[\s/])orderhub\s+(serve|worker)\b|\s-m\s+server(?:\.cli)?\s+(serve|worker)\b")
_PG_BACKGROUND = (
    "checkpointer",
    "background writer",
    "walwriter",
    "wal writer",
    "autovacuum",
    "stats collector",
    "logical replication",
    "archiver",
    "walsender",
    "walreceiver",
    "parallel worker",
)


@dataclass(frozen=True)
class Proc:
    pid: int
    comm: str
    ppid: int
    ticks: int  # utime + stime
    child_ticks: int  # cutime + cstime (children waited for)
    cmdline: str = ""


def parse_proc_stat(text: str) -> Proc:
    """One ``/proc/PID/stat`` line (see the module docstring for the fields)."""
    head, sep, tail = text.rpartition(")")
    if not sep or "(" not in head:
        raise ValueError("not a /proc/PID/stat line")
    pid_text, _, comm = head.partition("(")
    rest = tail.split()
    # rest[0] is field 3 (state): field n is rest[n - 3]
    return Proc(
        pid=int(pid_text),
        comm=comm,
        ppid=int(rest[1]),
        ticks=int(rest[11]) + int(rest[12]),
        child_ticks=int(rest[13]) + int(rest[14]),
    )


def read_procs(root: Path = Path("/proc")) -> dict[int, Proc]:
    """Every process this user can see: pid → Proc (cmdline with spaces for NULs; gone or unreadable skipped)."""
    found: dict[int, Proc] = {}
    try:
        entries = list(root.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            proc = parse_proc_stat((entry / "stat").read_text())
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
        found[proc.pid] = Proc(proc.pid, proc.comm, proc.ppid, proc.ticks, proc.child_ticks, cmdline)
    return found


def hub_role(cmdline: str) -> str | None:
    """``api`` for ``orderhub serve`` / ``python -m server.cli serve``; for the workers ``background`` when started
    with ``--role background`` (waves, pulls, stock sync, notifications), else ``worker`` (the pipeline's, or both
    queues); None for anything else."""
    match = _HUB_COMMAND.search(" " + cmdline)
    if match is None:
        return None
    if (match.group(1) or match.group(2)) == "serve":
        return "api"
    return "background" if re.search(r"--role(?:=|\s+)background\b", cmdline) else "worker"


def serve_port(cmdline: str) -> int:
    match = re.search(r"--port(?:=|\s+)(\d+)", cmdline)
    return int(match.group(1)) if match else 8000  # `orderhub serve`'s default (server/cli.py)


def pg_role(proc: Proc, database: str | None) -> str | None:
    """``postgres`` for a client backend of ``database`` (any database when None), ``postgres_server`` for the
    server's own processes (WAL writer, checkpointer, autovacuum …), None for the postmaster and other databases'
    backends. Backends set their title to ``postgres: [cluster: ]user database host(port) activity``."""
    if proc.comm != "postgres" or not proc.cmdline.startswith("postgres:"):
        return None
    title = proc.cmdline
    if any(word in title for word in _PG_BACKGROUND):
        return "postgres_server"
    if database is None or database in title.split():
        return "postgres"
    return None


def descendants(procs: Mapping[int, Proc], roots: Iterable[int]) -> set[int]:
    """The roots that still exist and every process below them."""
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in procs]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_ticks(procs: Mapping[int, Proc], roots: Iterable[int]) -> int:
    """CPU ticks of a process tree: each live member's own plus what it has waited for. The difference of two
    readings counts a member that exited in between (its parent's ``cutime`` grew by its whole life, its own
    earlier reading is subtracted)."""
    return sum(procs[pid].ticks + procs[pid].child_ticks for pid in descendants(procs, roots))


def per_process_delta(before: Mapping[int, int], after: Mapping[int, int]) -> int:
    """Ticks used between two readings by processes alive at the second (new ones count whole; ones that
    exited in between are lost — a lower bound)."""
    return sum(max(0, ticks - before.get(pid, 0)) for pid, ticks in after.items())


def _environ(pid: int) -> dict[str, str] | None:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def _hub_key(env: Mapping[str, str]) -> tuple[str, str]:
    return env.get("ORDERHUB_DATABASE_URL", ""), env.get("ORDERHUB_REDIS_URL", "")


def discover_hub(
    procs: Mapping[int, Proc],
    port: int,
    database: str | None,
    environ: Callable[[int], dict[str, str] | None] = _environ,
    exclude: Iterable[int] = (),
) -> tuple[dict[str, list[int]], list[str]]:
    """The hub's API and worker root processes on this machine: the ``serve`` on ``port`` and the workers that
    share its ORDERHUB_DATABASE_URL / ORDERHUB_REDIS_URL (others' hubs on the same box are left out)."""
    notes: list[str] = []
    skip = set(exclude)
    candidates = {pid: role for pid, p in procs.items() if pid not in skip and (role := hub_role(p.cmdline))}
    # a candidate below another (a re-exec, a spawn child that kept the command line) is counted with its root
    candidates = {pid: role for pid, role in candidates.items() if not _has_ancestor(procs, pid, set(candidates))}
    serves = sorted(pid for pid, role in candidates.items() if role == "api" and serve_port(procs[pid].cmdline) == port)
    workers = sorted(pid for pid, role in candidates.items() if role in ("worker", "background"))
    keys = {_hub_key(env) for pid in serves if (env := environ(pid)) is not None}
    if not serves:
        notes.append(f"no `orderhub serve` on port {port} found on this machine (give --hub-pids)")
        if database is not None:
            keys = {
                _hub_key(env)
                for pid in workers
                if (env := environ(pid)) is not None and database_name(_hub_key(env)[0]) == database
            }
    if keys:
        chosen = []
        for pid in workers:
            env = environ(pid)
            if env is None:
                notes.append(f"worker {pid}: environment unreadable, left out")
            elif _hub_key(env) in keys:
                chosen.append(pid)
        workers = chosen
    elif workers:
        notes.append("cannot tell which hub the workers belong to: every `orderhub worker` on this machine counted")
    if not workers:
        notes.append("no `orderhub worker` of this hub found")
    roles = {"api": serves, "worker": [pid for pid in workers if candidates[pid] == "worker"]}
    background = [pid for pid in workers if candidates[pid] == "background"]
    if background:
        roles["background"] = background
    return roles, notes


def _has_ancestor(procs: Mapping[int, Proc], pid: int, among: set[int]) -> bool:
    seen = {pid}
    parent = procs[pid].ppid
    while parent in procs and parent not in seen:
        if parent in among:
            return True
        seen.add(parent)
        parent = procs[parent].ppid
    return False


def roles_of_pids(procs: Mapping[int, Proc], pids: Sequence[int]) -> tuple[dict[str, list[int]], list[str]]:
    """``--hub-pids``: each by its command line (serve → api, worker → worker, else ``hub``)."""
    roles: dict[str, list[int]] = {"api": [], "worker": []}
    notes = []
    for pid in pids:
        if pid not in procs:
            notes.append(f"pid {pid} not found")
            continue
        roles.setdefault(hub_role(procs[pid].cmdline) or "hub", []).append(pid)
    return roles, notes


@dataclass
class _Reading:
    at: float
    trees: dict[str, int]
    pg: dict[str, dict[int, int]]
    own: float


@dataclass
class CpuProbe:
    """CPU of the hub's processes (and PostgreSQL's, when readable) between :meth:`start` and :meth:`finish`."""

    port: int
    database: str | None = None
    pids: list[int] | None = None
    root: Path = Path("/proc")
    roles: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reason: str | None = None
    _start: _Reading | None = None

    def start(self) -> None:
        if not sys.platform.startswith("linux") or not (self.root / "self" / "stat").exists():
            self.reason = "CPU per order needs Linux's /proc"
            return
        procs = read_procs(self.root)
        if self.pids:
            self.roles, self.notes = roles_of_pids(procs, self.pids)
        else:
            self.roles, self.notes = discover_hub(procs, self.port, self.database, exclude=[os.getpid()])
        self._start = self._read(procs)

    def _read(self, procs: Mapping[int, Proc]) -> _Reading:
        trees = {role: tree_ticks(procs, roots) for role, roots in self.roles.items()}
        pg: dict[str, dict[int, int]] = {"postgres": {}, "postgres_server": {}}
        for proc in procs.values():
            role = pg_role(proc, self.database)
            if role is not None:
                pg[role][proc.pid] = proc.ticks
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return _Reading(time.monotonic(), trees, pg, usage.ru_utime + usage.ru_stime)

    def finish(self, orders: int) -> dict[str, Any]:
        if self._start is None:
            return {"available": False, "reason": self.reason or "not started"}
        procs = read_procs(self.root)
        end = self._read(procs)
        tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
        groups: dict[str, dict[str, Any]] = {}
        for role, roots in self.roles.items():
            if not roots and role in ("api", "worker"):
                continue
            ms = (end.trees[role] - self._start.trees.get(role, 0)) * tick_ms
            groups[role] = {"pids": sorted(descendants(procs, roots)), "cpu_ms": round(ms, 1)}
        for role in ("postgres", "postgres_server"):
            if end.pg[role]:
                ms = per_process_delta(self._start.pg[role], end.pg[role]) * tick_ms
                groups[role] = {"pids": sorted(end.pg[role]), "cpu_ms": round(ms, 1)}
        groups["bench"] = {"pids": [os.getpid()], "cpu_ms": round((end.own - self._start.own) * 1000.0, 1)}
        for figures in groups.values():
            figures["ms_per_order"] = round(figures["cpu_ms"] / orders, 3) if orders else None
        return {
            "available": True,
            "window_s": round(end.at - self._start.at, 2),
            "orders": orders,
            "database": self.database,
            "groups": groups,
            "notes": self.notes,
        }


_GROUP_LABELS = {
    "api": "API (serve + its children)",
    "worker": "workers (+ children)",
    "background": "background workers (--role background: waves, pulls, stock sync …)",
    "hub": "other --hub-pids",
    "postgres": "PostgreSQL backends",
    "postgres_server": "PostgreSQL server processes (WAL writer, checkpointer, autovacuum …; shared)",
    "bench": "this load generator",
}


def format_cpu(figures: dict[str, Any] | None) -> list[str]:
    if figures is None:
        return []
    if not figures.get("available"):
        return [f"  CPU per order   n/a: {figures.get('reason')}"]
    groups = figures["groups"]
    hub = [groups[r]["cpu_ms"] for r in ("api", "worker", "background", "hub") if r in groups]
    lines = [
        f"  CPU per order   over {figures['window_s']:.1f} s (sending start → drain end), "
        f"{figures['orders']} accepted orders [/proc utime + stime]"
        + (f"; hub Python {sum(hub) / figures['orders']:.2f} ms per order" if hub and figures["orders"] else "")
    ]
    for role, label in _GROUP_LABELS.items():
        if role not in groups:
            continue
        g = groups[role]
        per = f"{g['ms_per_order']:.2f} ms/order" if g["ms_per_order"] is not None else "–"
        what = label
        if role == "postgres":
            what += (
                f" of {figures['database']}" if figures.get("database") else " (every database: give --database-url)"
            )
        pids = ", ".join(str(p) for p in g["pids"][:8]) + (" …" if len(g["pids"]) > 8 else "")
        lines.append(f"    {per:>16}   {g['cpu_ms'] / 1000:8.1f} s   {what}   [pids {pids}]")
    lines += [f"    note          {note}" for note in figures.get("notes", [])]
    return lines

"""Continuous reconciliation: each order's settlement lines against its expected payout, the difference split into
cause-coded parts (:mod:`orderhub.finance.causes`), one ``reconciliation`` row per order — or per line on no order of
the hub's — upserted, so running it again over the same lines changes nothing.

Lines are matched to orders by the platform's order id (``external_id``; sub-order lines carry the parent id, so
Taobao's oid lines and split shipments land on their order; merged shipments are several orders, each reconciled on
its own). An order is reported on the bill day of its first sale line.

A row keeps finance's resolution (note, write-off, claim) while its difference stays the same; a corrected bill that
changes the difference reopens it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.finance import payouts
from orderhub.finance.causes import Expected, Line, Refund, Split, split, split_unmatched

__all__ = [
    "ACCOUNT_PREFIX",
    "ORDER_PREFIX",
    "PAYOUTS_CRON",
    "lock_channel",
    "reconcile",
    "reconcile_day",
    "refresh_stale",
]

ORDER_PREFIX = "o:"
PAYOUTS_CRON = "* * * * * */10"  # shipped and refunded orders' payouts, every 10 s
ACCOUNT_PREFIX = "l:"


class _LineRow(msgspec.Struct):
    line_key: str
    external_id: str
    kind: str
    amount: int
    settled_at: datetime
    bill_date: str
    refund_before_settle: bool


class _OrderRef(msgspec.Struct):
    id: int
    external_id: str


class _PayoutRow(msgspec.Struct):
    order_id: int
    paid: int
    platform_discount: int
    commission: int
    payment_fee: int
    service_fee: int
    insurance: int
    refunded: int
    basis: str
    stale: bool


_LINE_COLUMNS = "line_key, external_id, kind, amount, settled_at, bill_date, refund_before_settle"
_LOCK_SPACE = 18_018  # pg_advisory_xact_lock's first key: finance's reconciliation, per channel


async def lock_channel(channel_id: int) -> None:
    """Serialise the reconciliation of one channel until the transaction ends (PostgreSQL; SQLite's one writer at
    a time already does): two writers — a pull's page and a file import, or the payouts' refresh — each reading the
    lines and payouts they see and upserting the same order's row would keep whichever committed last, with the
    other's lines missing."""
    if not db.is_sqlite():
        await db.execute("SELECT pg_advisory_xact_lock({}, {})", _LOCK_SPACE, channel_id)


def _line(row: _LineRow) -> Line:
    return Line(
        kind=row.kind,
        amount=row.amount,
        settled_at=row.settled_at,
        bill_date=row.bill_date,
        refund_before_settle=bool(row.refund_before_settle),
    )


def _expected(row: _PayoutRow) -> Expected:
    basis = msgspec.json.decode(row.basis or "{}")
    refunds = tuple(
        Refund(int(r.get("amount", 0)), clock.from_db(r["at"]) if r.get("at") else None)
        for r in (basis.get("refunds") or [] if isinstance(basis, dict) else [])
    )
    return Expected(
        paid=row.paid,
        platform_discount=row.platform_discount,
        commission=row.commission,
        payment_fee=row.payment_fee,
        service_fee=row.service_fee,
        insurance=row.insurance,
        refunded=row.refunded,
        refunds=refunds,
    )


async def _expected_for(order_ids: Sequence[int]) -> dict[int, Expected]:
    """The orders' expected payouts, computed now for those never computed or marked stale."""
    found: dict[int, Expected] = {}
    for chunk in db.chunks(order_ids):
        rows = await db.fetch_as(
            _PayoutRow,
            'SELECT "order" AS order_id, paid, platform_discount, commission, payment_fee, service_fee, insurance, '
            f'refunded, basis, stale FROM order_payout WHERE "order" IN ({db.placeholders(len(chunk))})',
            *chunk,
        )
        found.update((row.order_id, _expected(row)) for row in rows if not row.stale)
    missing = [i for i in order_ids if i not in found]
    if missing:
        computed = await payouts.compute(missing)
        found.update((i, payouts.expected_of(p)) for i, p in computed.items())
    return found


class _Result(msgspec.Struct, frozen=True):
    key: str
    order_id: int | None
    external_id: str
    bill_date: str
    split: Split


def _bill_date(lines: Sequence[Line]) -> str:
    sales = [line.bill_date for line in lines if line.kind == "sale"]
    return min(sales or [line.bill_date for line in lines])


async def reconcile(channel_id: int, external_ids: Iterable[str], account_line_keys: Iterable[str] = ()) -> int:
    """Reconcile these platform orders (and these lines on no order) of one channel; the rows written. An order left
    with no line (a corrected bill moved its line to another order) and a line now on an order lose their old rows."""
    await lock_channel(channel_id)
    ids = sorted({e for e in external_ids if e})
    results: list[_Result] = []
    emptied: list[str] = []
    for chunk in db.chunks(ids, 5_000):
        marks = db.placeholders(len(chunk))
        rows = await db.fetch_as(
            _LineRow,
            f"SELECT {_LINE_COLUMNS} FROM settlement_line WHERE channel = {{}} AND external_id IN ({marks})",
            channel_id,
            *chunk,
        )
        lines_of: dict[str, list[Line]] = defaultdict(list)
        for row in rows:
            lines_of[row.external_id].append(_line(row))
        refs = await db.fetch_as(
            _OrderRef,
            f"SELECT id, external_id FROM sales_order WHERE channel = {{}} AND external_id IN ({marks})",
            channel_id,
            *chunk,
        )
        order_of = {ref.external_id: ref.id for ref in refs}
        expected = await _expected_for([order_of[e] for e in chunk if e in order_of and e in lines_of])
        for external_id in chunk:
            lines = lines_of.get(external_id)
            if not lines:
                emptied.append(ORDER_PREFIX + external_id)
                continue
            order_id = order_of.get(external_id)
            outcome = (
                split(expected[order_id], lines)
                if order_id is not None
                else split_unmatched(lines, external_id=external_id)
            )
            results.append(_Result(ORDER_PREFIX + external_id, order_id, external_id, _bill_date(lines), outcome))
    keys = sorted(set(account_line_keys))
    for chunk in db.chunks(keys, 5_000):
        rows = await db.fetch_as(
            _LineRow,
            f"SELECT {_LINE_COLUMNS} FROM settlement_line WHERE channel = {{}} AND line_key IN "
            f"({db.placeholders(len(chunk))})",
            channel_id,
            *chunk,
        )
        found = {row.line_key for row in rows}
        emptied += [ACCOUNT_PREFIX + key for key in chunk if key not in found]
        for row in rows:
            if row.external_id:  # the line is on an order now: reconciled with it
                emptied.append(ACCOUNT_PREFIX + row.line_key)
                continue
            lines = [_line(row)]
            outcome = split_unmatched(lines, external_id="")
            results.append(_Result(ACCOUNT_PREFIX + row.line_key, None, "", row.bill_date, outcome))
    await _write(channel_id, results)
    await _remove(channel_id, emptied)
    return len(results)


class _Gone(msgspec.Struct):
    order_id: int | None


async def _remove(channel_id: int, keys: Sequence[str]) -> None:
    """Rows whose lines are all gone: deleted, and their orders' settled figures cleared."""
    for chunk in db.chunks(keys):
        gone = await db.execute_returning(
            _Gone,
            f"DELETE FROM reconciliation WHERE channel = {{}} AND recon_key IN ({db.placeholders(len(chunk))}) "
            'RETURNING "order" AS order_id',
            channel_id,
            *chunk,
        )
        orders = [g.order_id for g in gone if g.order_id is not None]
        for part in db.chunks(orders):
            marks = db.placeholders(len(part))
            await db.execute(
                f'UPDATE order_payout SET settled = 0, settled_at = NULL WHERE "order" IN ({marks})', *part
            )


_RECON_COLUMNS = (
    "channel",
    "recon_key",
    '"order"',
    "external_id",
    "bill_date",
    "expected",
    "settled",
    "difference",
    "status",
    "main_cause",
    "parts",
    "updated_at",
)
# Finance's resolution stays while the difference it was about stays; a corrected bill that moves it reopens it.
_KEEP_IF_SAME = ", ".join(
    f"{c} = CASE WHEN reconciliation.difference = excluded.difference THEN reconciliation.{c} ELSE {empty} END"
    for c, empty in (("resolution", "''"), ("resolution_note", "''"), ("resolved_by", "''"), ("resolved_at", "NULL"))
)


async def _write(channel_id: int, results: Sequence[_Result]) -> None:
    if not results:
        return
    now = clock.now()
    # the resolution's CASE reads the old difference, so it is set before the difference itself is
    updates = _KEEP_IF_SAME + ", " + ", ".join(f"{c} = excluded.{c}" for c in _RECON_COLUMNS[2:])
    row = "(" + ", ".join(["{}"] * len(_RECON_COLUMNS)) + ")"
    for chunk in db.chunks(results, db.rows_per_statement(len(_RECON_COLUMNS))):
        args: list[Any] = []
        for r in chunk:
            args += [
                channel_id,
                r.key,
                r.order_id,
                r.external_id,
                r.bill_date,
                r.split.expected,
                r.split.settled,
                r.split.difference,
                r.split.status,
                r.split.main_cause,
                msgspec.json.encode(r.split.parts).decode(),
                now,
            ]
        await db.execute(
            f"INSERT INTO reconciliation ({', '.join(_RECON_COLUMNS)}) VALUES {', '.join([row] * len(chunk))} "
            f"ON CONFLICT (channel, recon_key) DO UPDATE SET {updates}",
            *args,
        )
    settled = [r for r in results if r.order_id is not None]
    for chunk in db.chunks(settled, db.rows_per_statement(3)):
        await db.execute(
            'INSERT INTO order_payout ("order", settled, settled_at) VALUES '
            + ", ".join(["({}, {}, {})"] * len(chunk))
            + ' ON CONFLICT ("order") DO UPDATE SET settled = excluded.settled, settled_at = excluded.settled_at',
            *[v for r in chunk for v in (r.order_id, r.split.settled, r.split.settled_at)],
        )


class _Key(msgspec.Struct):
    external_id: str
    line_key: str


async def reconcile_day(channel_id: int, day: str) -> int:
    """Reconcile every order (and account line) with a line on bill day ``day`` again; the rows written."""
    rows = await db.fetch_as(
        _Key,
        "SELECT external_id, line_key FROM settlement_line WHERE channel = {} AND bill_date = {}",
        channel_id,
        day,
    )
    return await reconcile(
        channel_id,
        {r.external_id for r in rows if r.external_id},
        [r.line_key for r in rows if not r.external_id],
    )


class _Stale(msgspec.Struct):
    order_id: int


class _Has(msgspec.Struct):
    external_id: str


class _Candidate(msgspec.Struct):
    order_id: int
    channel: int


async def refresh_stale(*, batch: int = 1_000, max_batches: int = 50) -> int:
    """Compute the payouts that shipping or a refund marked stale and, in the same transaction, reconcile again the
    orders among them that have settlement lines (a refund after settlement moves their difference; lines that came
    before their order are matched now). The payouts computed.

    Locks are taken in one order everywhere — the channel's reconciliation lock, then the payout rows — so this and a
    settlement being stored never wait on each other in a circle."""
    done = 0
    for _ in range(max_batches):
        candidates = await db.fetch_as(
            _Candidate,
            'SELECT p."order" AS order_id, o.channel FROM order_payout p JOIN sales_order o ON o.id = p."order" '
            'WHERE p.stale = TRUE ORDER BY p."order" LIMIT {}',
            batch,
        )
        if not candidates:
            break
        by_channel: dict[int, list[int]] = defaultdict(list)
        for c in candidates:
            by_channel[c.channel].append(c.order_id)
        computed = 0
        for channel_id in sorted(by_channel):
            async with db.transaction():
                await lock_channel(channel_id)
                wanted = by_channel[channel_id]
                rows = await db.fetch_as(
                    _Stale,
                    f'SELECT "order" AS order_id FROM order_payout WHERE "order" IN ({db.placeholders(len(wanted))}) '
                    'AND stale = TRUE ORDER BY "order"' + ("" if db.is_sqlite() else " FOR UPDATE SKIP LOCKED"),
                    *wanted,
                )
                ids = [r.order_id for r in rows]
                if not ids:
                    continue
                computed_payouts = await payouts.compute(ids, locked=True)
                external_ids = sorted({p.external_id for p in computed_payouts.values()})
                has: set[str] = set()
                for chunk in db.chunks(external_ids):
                    found = await db.fetch_as(
                        _Has,
                        "SELECT DISTINCT external_id FROM settlement_line WHERE channel = {} AND external_id IN "
                        f"({db.placeholders(len(chunk))})",
                        channel_id,
                        *chunk,
                    )
                    has.update(f.external_id for f in found)
                if has:
                    await reconcile(channel_id, has)
                computed += len(ids)
        done += computed
        if len(candidates) < batch or not computed:
            break
    return done

"""The tamper-evident audit trail of approvals: hash-chained entries, their export and their verification.

Each chain (``request:{id}`` for a request, ``flow:{code}`` for a flow's versions) numbers its entries from 1. An
entry's ``entry`` column is its canonical JSON (keys sorted, UTC times: chain, seq, at, action, actor, request_id,
data) and ``hash = sha256(prev_hash + entry)``, ``prev_hash`` being the previous entry's hash (64 zeros for the
first). ``approval_chain`` keeps each chain's head (last number and hash); appending updates the head first, so the
writers of one chain queue behind each other (on PostgreSQL a row lock, on SQLite the write transaction).

:func:`verify` recomputes every hash: an edited entry (its text or its columns), a deleted one (a gap, a broken
link, a head pointing past the trail) or a request without a trail is reported. It detects changes; it cannot
stop someone able to rewrite a whole chain and its head — export the heads (:func:`export`) somewhere else to
anchor them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec

from orderhub import db
from orderhub.approvals.tables import ApprovalAudit

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditProblem",
    "TrailPage",
    "VerifyReport",
    "append",
    "canonical",
    "entry_hash",
    "export",
    "flow_chain",
    "request_chain",
    "verify",
]

GENESIS = "0" * 64
_PAGE = 1000


def request_chain(request_id: int) -> str:
    return f"request:{request_id}"


def flow_chain(code: str) -> str:
    return f"flow:{code}"


def canonical(body: dict[str, Any]) -> str:
    """The entry's canonical JSON: keys sorted at every level, no spaces, UTF-8 as is."""
    return msgspec.json.encode(body, order="sorted").decode()


def entry_hash(prev_hash: str, entry: str) -> str:
    return hashlib.sha256((prev_hash + entry).encode("utf-8")).hexdigest()


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    chain: str
    seq: int
    request_id: int | None
    action: str
    actor: str
    at: datetime
    data: dict[str, Any]
    entry: str  # the canonical JSON the hash covers
    prev_hash: str
    hash: str


class _Head(msgspec.Struct):
    seq: int
    head: str


class _Row(msgspec.Struct, kw_only=True):
    id: int
    chain: str
    seq: int
    request: int | None
    action: str
    actor: str
    created_at: datetime
    entry: str
    prev_hash: str
    hash: str


async def append(
    chain: str, action: str, *, actor: str, request_id: int | None, data: dict[str, Any], at: datetime
) -> AuditEntry:
    """Add an entry at the end of ``chain`` (call inside the transaction of the change it records)."""
    await db.execute(
        "INSERT INTO approval_chain (chain, seq, head, updated_at) VALUES ({}, 0, {}, {}) "
        "ON CONFLICT (chain) DO NOTHING",
        chain,
        GENESIS,
        at,
    )
    # Raw SQL: taking the next number is an UPDATE of the head, which queues concurrent writers of the chain.
    (head,) = await db.execute_returning(
        _Head, "UPDATE approval_chain SET seq = seq + 1 WHERE chain = {} RETURNING seq, head", chain
    )
    body = {
        "chain": chain,
        "seq": head.seq,
        "at": at.astimezone(UTC).isoformat(),
        "action": action,
        "actor": actor,
        "request_id": request_id,
        "data": data,
    }
    entry = canonical(body)
    digest = entry_hash(head.head, entry)
    inserted = await ApprovalAudit.insert(
        ApprovalAudit(
            chain=chain,
            seq=head.seq,
            request=request_id,
            action=action,
            actor=actor[:100],
            created_at=at,
            entry=entry,
            prev_hash=head.head,
            hash=digest,
        )
    ).returning(ApprovalAudit.id)
    await db.execute("UPDATE approval_chain SET head = {}, updated_at = {} WHERE chain = {}", digest, at, chain)
    return AuditEntry(
        id=int(inserted[0]["id"]),
        chain=chain,
        seq=head.seq,
        request_id=request_id,
        action=action,
        actor=actor,
        at=at,
        data=msgspec.json.decode(msgspec.json.encode(data)),
        entry=entry,
        prev_hash=head.head,
        hash=digest,
    )


def _entry(row: _Row) -> AuditEntry:
    try:
        body = msgspec.json.decode(row.entry)
        data = body.get("data", {}) if isinstance(body, dict) else {}
    except msgspec.DecodeError:
        data = {}
    return AuditEntry(
        id=row.id,
        chain=row.chain,
        seq=row.seq,
        request_id=row.request,
        action=row.action,
        actor=row.actor,
        at=row.created_at,
        data=data if isinstance(data, dict) else {},
        entry=row.entry,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class TrailPage(msgspec.Struct, frozen=True, kw_only=True):
    entries: list[AuditEntry]
    next_after: int | None  # pass as ``after_id`` for the next page; None: the end


async def export(request_id: int | None = None, *, after_id: int = 0, limit: int = _PAGE) -> TrailPage:
    """A request's trail (or every chain's, ``request_id`` None), in the order written, a page at a time."""
    limit = max(1, min(limit, 5000))
    where, args = ("", []) if request_id is None else (" AND chain = {}", [request_chain(request_id)])
    rows = await db.fetch_as(
        _Row,
        "SELECT id, chain, seq, request, action, actor, created_at, entry, prev_hash, hash FROM approval_audit "
        "WHERE id > {}" + where + " ORDER BY id LIMIT {}",
        after_id,
        *args,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return TrailPage(entries=[_entry(r) for r in rows], next_after=rows[-1].id if more and rows else None)


class AuditProblem(msgspec.Struct, frozen=True, kw_only=True):
    chain: str
    seq: int | None
    problem: str  # edited, missing, broken_link, mismatch, truncated, no_head, no_trail
    detail: str = ""


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    chains: int
    entries: int
    problems: list[AuditProblem]
    heads: dict[str, str]  # chain → its last hash (to anchor elsewhere)


def _check_row(row: _Row, expected_seq: int, prev: str, problems: list[AuditProblem]) -> None:
    if row.seq != expected_seq:
        problems.append(
            AuditProblem(chain=row.chain, seq=expected_seq, problem="missing", detail=f"next entry is {row.seq}")
        )
    if row.prev_hash != prev:
        problems.append(AuditProblem(chain=row.chain, seq=row.seq, problem="broken_link"))
    if entry_hash(row.prev_hash, row.entry) != row.hash:
        problems.append(AuditProblem(chain=row.chain, seq=row.seq, problem="edited", detail="hash does not match"))
        return
    try:
        body = msgspec.json.decode(row.entry)
    except msgspec.DecodeError:
        problems.append(AuditProblem(chain=row.chain, seq=row.seq, problem="edited", detail="entry is not JSON"))
        return
    same = (
        isinstance(body, dict)
        and body.get("chain") == row.chain
        and body.get("seq") == row.seq
        and body.get("action") == row.action
        and body.get("actor", "")[:100] == row.actor
        and body.get("request_id") == row.request
    )
    if not same:
        problems.append(AuditProblem(chain=row.chain, seq=row.seq, problem="mismatch", detail="columns ≠ entry"))


async def _verify_chain(chain: str, head: _Head | None, problems: list[AuditProblem]) -> tuple[int, str]:
    expected, prev, count, after = 1, GENESIS, 0, 0
    while True:
        rows = await db.fetch_as(
            _Row,
            "SELECT id, chain, seq, request, action, actor, created_at, entry, prev_hash, hash FROM approval_audit "
            "WHERE chain = {} AND seq > {} ORDER BY seq LIMIT {}",
            chain,
            after,
            _PAGE,
        )
        for row in rows:
            _check_row(row, expected, prev, problems)
            expected, prev, count = row.seq + 1, row.hash, count + 1
        if len(rows) < _PAGE:
            break
        after = rows[-1].seq
    if head is None:
        problems.append(AuditProblem(chain=chain, seq=None, problem="no_head"))
    elif head.seq != expected - 1 or head.head != prev:
        problems.append(
            AuditProblem(
                chain=chain,
                seq=head.seq,
                problem="truncated",
                detail=f"head says {head.seq} entries, the trail has {expected - 1}",
            )
        )
    return count, prev


class _Chain(msgspec.Struct):
    chain: str
    seq: int
    head: str


class _Id(msgspec.Struct):
    id: int


async def verify(request_id: int | None = None) -> VerifyReport:
    """Check a request's chain (or every chain, and that every request has one). Read-only."""
    problems: list[AuditProblem] = []
    heads: dict[str, str] = {}
    entries = 0
    if request_id is not None:
        chains = [request_chain(request_id)]
    else:
        names = await db.fetch_as(
            _Chain,
            "SELECT chain, 0 AS seq, '' AS head FROM approval_audit GROUP BY chain "
            "UNION SELECT chain, seq, head FROM approval_chain",
        )
        chains = sorted({c.chain for c in names})
    for chunk in db.chunks(chains, 500):
        found = {
            c.chain: _Head(c.seq, c.head)
            for c in await db.fetch_as(
                _Chain,
                f"SELECT chain, seq, head FROM approval_chain WHERE chain IN ({db.placeholders(len(chunk))})",
                *chunk,
            )
        }
        for chain in chunk:
            count, last = await _verify_chain(chain, found.get(chain), problems)
            entries += count
            heads[chain] = last
    if request_id is None:
        after = 0
        while True:
            ids = await db.fetch_as(
                _Id, "SELECT id FROM approval_request WHERE id > {} ORDER BY id LIMIT {}", after, _PAGE
            )
            problems += [
                AuditProblem(chain=request_chain(r.id), seq=None, problem="no_trail")
                for r in ids
                if request_chain(r.id) not in heads
            ]
            if len(ids) < _PAGE:
                break
            after = ids[-1].id
    return VerifyReport(ok=not problems, chains=len(chains), entries=entries, problems=problems, heads=heads)

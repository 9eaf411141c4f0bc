"""Destination rule packs as versioned data (``customs_rule_pack``): the versions of a destination, the one in
force on a date, and new versions — immutable once written; a change is a new version.

While the table holds no version of a destination, its shipped defaults (:mod:`orderhub.customs.packs_data`)
govern it. Creating the first version of a destination through the API writes the shipped versions into the table
first (same transaction), so the history is whole and the table alone governs that destination from then on. (Why
not seed them in the migration: shipped packs are corrected between releases; a destination nobody has edited
follows the corrected files, and an edited one keeps exactly what its managers decided.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

import msgspec

from orderhub import clock, db
from orderhub.customs import packs_data, rules
from orderhub.customs.codes import is_country
from orderhub.customs.errors import CustomsError
from orderhub.customs.model import RulePack
from orderhub.customs.tables import CustomsRulePack
from orderhub.errors import NotFound, ValidationFailed

__all__ = [
    "DestinationSummary",
    "PackVersion",
    "create_version",
    "destination_versions",
    "in_force",
    "list_destinations",
    "pack_in_force",
    "packs_of",
    "version_of",
]

SHIPPED: Final = "shipped"
STORED: Final = "stored"


class PackVersion(msgspec.Struct, frozen=True, kw_only=True):
    destination: str
    version: int
    effective_from: date
    name: str
    origin: str  # "shipped" (a default file, nothing stored yet) | "stored" (the table)
    created_by: str
    created_at: datetime | None
    pack: RulePack


class DestinationSummary(msgspec.Struct, frozen=True, kw_only=True):
    destination: str
    origin: str
    versions: int
    latest_version: int
    in_force_version: int | None  # today (Asia/Shanghai)
    in_force_name: str


def _country(destination: str) -> str:
    code = destination.strip().upper()
    if not is_country(code):
        raise ValidationFailed(CustomsError.INVALID_COUNTRY, field="destination")
    return code


def _version(row: dict[str, Any]) -> PackVersion:
    pack = msgspec.json.decode(row["body"], type=RulePack)
    return PackVersion(
        destination=row["destination"],
        version=row["version"],
        effective_from=row["effective_from"],
        name=pack.name,
        origin=STORED,
        created_by=row["created_by"],
        created_at=row["created_at"],
        pack=pack,
    )


def _shipped(pack: RulePack) -> PackVersion:
    return PackVersion(
        destination=pack.destination,
        version=pack.version,
        effective_from=pack.effective_from,
        name=pack.name,
        origin=SHIPPED,
        created_by="shipped",
        created_at=None,
        pack=pack,
    )


async def _stored(destination: str | None = None) -> list[PackVersion]:
    query = CustomsRulePack.select().order_by(CustomsRulePack.destination).order_by(CustomsRulePack.version)
    if destination is not None:
        query = query.where(CustomsRulePack.destination == destination)
    return [_version(row) for row in await query]


async def destination_versions(destination: str) -> list[PackVersion]:
    """Every version of the destination, oldest version first: the table's, else the shipped defaults."""
    code = _country(destination)
    stored = await _stored(code)
    return stored or [_shipped(p) for p in packs_data.defaults_for(code)]


async def packs_of(destination: str) -> list[RulePack]:
    return [v.pack for v in await destination_versions(destination)]


async def pack_in_force(destination: str, on_date: date) -> RulePack | None:
    """The destination's version in force on ``on_date`` (None when none is: CN, or a country without packs)."""
    code = destination.strip().upper()
    if not is_country(code):
        return None
    return rules.pack_for(code, on_date, await packs_of(code))


async def in_force(destination: str, on_date: date) -> PackVersion:
    """As :func:`pack_in_force`, with the version's record; ``rule_pack_not_found`` when none is in force."""
    versions = await destination_versions(destination)
    pack = rules.pack_for(_country(destination), on_date, [v.pack for v in versions])
    if pack is None:
        raise NotFound(
            f"{destination.upper()} 在 {on_date.isoformat()} 没有生效的规则包",
            code=CustomsError.RULE_PACK_NOT_FOUND,
            field="destination",
        )
    return next(v for v in versions if v.version == pack.version)


async def list_destinations() -> list[DestinationSummary]:
    """Each destination with a pack (stored or shipped): its version count and the version in force today."""
    today = clock.to_shanghai(clock.now()).date()
    stored = await _stored()
    by_destination: dict[str, list[PackVersion]] = {}
    for version in stored:
        by_destination.setdefault(version.destination, []).append(version)
    for code in packs_data.default_destinations():
        if code not in by_destination:
            by_destination[code] = [_shipped(p) for p in packs_data.defaults_for(code)]
    summaries: list[DestinationSummary] = []
    for code in sorted(by_destination):
        versions = by_destination[code]
        current = rules.pack_for(code, today, [v.pack for v in versions])
        summaries.append(
            DestinationSummary(
                destination=code,
                origin=versions[0].origin,
                versions=len(versions),
                latest_version=max(v.version for v in versions),
                in_force_version=current.version if current is not None else None,
                in_force_name=current.name if current is not None else "",
            )
        )
    return summaries


def _row(pack: RulePack, actor: str, now: datetime) -> CustomsRulePack:
    return CustomsRulePack(
        destination=pack.destination,
        effective_from=pack.effective_from,
        version=pack.version,
        body=msgspec.json.encode(pack).decode(),
        created_by=actor,
        created_at=now,
    )


async def create_version(destination: str, pack: RulePack, *, actor: str) -> PackVersion:
    """Add a version to the destination (its number is the next one; ``pack.version`` is ignored), after
    :func:`orderhub.customs.rules.validate_pack`. The first version stored for a destination stores its shipped
    versions first. Two managers adding one at once: one gets the number, the other a ``duplicate`` (409)."""
    code = _country(destination)
    if pack.destination.strip().upper() != code:
        raise ValidationFailed(
            f"规则包的目的国 {pack.destination} 与地址中的 {code} 不一致",
            code=CustomsError.INVALID_RULE_PACK,
            field="destination",
        )
    rules.validate_pack(msgspec.structs.replace(pack, destination=code))
    now = clock.now()
    async with db.transaction():
        stored = await _stored(code)
        if not stored:
            shipped: Sequence[RulePack] = packs_data.defaults_for(code)
            if shipped:
                await CustomsRulePack.insert(*[_row(p, "shipped", now) for p in shipped])
            stored = [_shipped(p) for p in shipped]
        number = max((v.version for v in stored), default=0) + 1
        new = msgspec.structs.replace(pack, destination=code, version=number)
        await CustomsRulePack.insert(_row(new, actor, now))
    return next(v for v in await _stored(code) if v.version == number)


async def version_of(destination: str, version: int) -> PackVersion:
    found = next((v for v in await destination_versions(destination) if v.version == version), None)
    if found is None:
        raise NotFound(
            f"{destination.upper()} 没有第 {version} 版规则包", code=CustomsError.RULE_PACK_NOT_FOUND, field="version"
        )
    return found

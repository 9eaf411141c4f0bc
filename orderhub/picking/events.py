"""Live events of the warehouse floor (a tagged union: ``type`` names the event), published after commit to the
floor topic of the warehouse and, when a person is concerned, to their picker topic (``orderhub.events``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from orderhub.events import picker_topic, publish_live_after_commit, warehouse_floor_topic

__all__ = [
    "FloorEvent",
    "FloorEventType",
    "PackDone",
    "ShortPicked",
    "TaskAssigned",
    "TaskCompleted",
    "TaskWithdrawn",
    "WaveReleased",
    "publish_floor",
]


class FloorEventType(StrEnum):
    WAVE_RELEASED = "wave.released"
    TASK_ASSIGNED = "task.assigned"
    TASK_WITHDRAWN = "task.withdrawn"
    TASK_COMPLETED = "task.completed"
    SHORT_PICKED = "pick.short"
    PACKED = "pack.done"


class WaveReleased(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorEventType.WAVE_RELEASED.value
):
    wave_id: int
    code: str
    packing_line: str
    pick_mode: str
    orders: int
    task_ids: list[int]
    at: datetime


class TaskAssigned(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorEventType.TASK_ASSIGNED.value
):
    """A task now belongs to a picker (claimed on a PDA or assigned by a supervisor)."""

    task_id: int
    wave: str
    picker_id: int
    picker: str
    by: str  # "claim" or the supervisor's username
    at: datetime


class TaskWithdrawn(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorEventType.TASK_WITHDRAWN.value
):
    """Orders were taken out of a task (cancelled, intercepted, short picked). ``whole``: nothing is left to pick."""

    task_id: int
    order_ids: list[int]
    reason: str
    whole: bool
    message: str  # zh-CN, for the picker
    at: datetime


class TaskCompleted(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorEventType.TASK_COMPLETED.value
):
    task_id: int
    picker_id: int | None
    at: datetime


class ShortPicked(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorEventType.SHORT_PICKED.value
):
    task_id: int
    order_id: int
    sku: str
    location: str | None
    missing: int
    reason: str
    picker: str
    at: datetime


class PackDone(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag=FloorEventType.PACKED.value
):
    order_id: int
    pack_id: int
    measured_g: int
    packer: str
    at: datetime


FloorEvent = WaveReleased | TaskAssigned | TaskWithdrawn | TaskCompleted | ShortPicked | PackDone


def publish_floor(event: FloorEvent, warehouse_id: int, *, picker_id: int | None = None) -> None:
    topics = [warehouse_floor_topic(warehouse_id)]
    if picker_id is not None:
        topics.append(picker_topic(picker_id))
    publish_live_after_commit(event, *topics)

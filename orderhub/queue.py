"""The SAQ job queues: job names, the queue each runs on, keyed enqueueing with our retry/timeout policy.

SAQ's defaults (``retries=1``, ``timeout=10``) are wrong for us; every job goes out through :func:`enqueue`.
A job key is unique while the job is queued or active, so enqueueing the same order twice is a no-op.

Two queues on the same Redis: the order pipeline's (``ORDERHUB_QUEUE_NAME``) and the background queue
(``<name>-background``) for everything else — waves, pulls, stock sync, write-backs, notifications, approvals… —
so that during a surge the pipeline's workers spend no CPU on them (issue 22). :data:`JOB_ROLES` says which job
goes where; ``orderhub worker --role`` picks which queue(s) a process serves (``server/worker.py``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import redis.asyncio as aioredis
from saq import Queue
from saq.job import Job, Status
from saq.queue.redis import RedisQueue

from orderhub.settings import Settings, background_queue_name

__all__ = [
    "BACKFILL_KEY",
    "JOB_ROLES",
    "JobName",
    "OrderHubQueue",
    "QueueRole",
    "create_queue",
    "enqueue",
    "get_queue",
    "get_queues",
    "process_batch_key",
    "process_order_key",
    "set_queue",
]

log = logging.getLogger("orderhub.queue")


class JobName(StrEnum):
    PROCESS_ORDER = "process_order"
    PROCESS_ORDERS = "process_orders"
    SWEEP_STUCK_ORDERS = "sweep_stuck_orders"
    BACKFILL_AFTER_SURGE = "backfill_after_surge"
    PULL_CHANNEL = "pull_channel"
    PULL_DUE_CHANNELS = "pull_due_channels"
    SYNC_STOCK = "sync_stock"
    WRITE_BACK_SHIPMENT = "write_back_shipment"
    IMPORT_FILE = "import_file"
    BUILD_WAVES = "build_waves"
    SUBSCRIBE_TRACKING = "subscribe_tracking"
    POLL_PARCELS = "poll_parcels"
    SEND_NOTIFICATION = "send_notification"
    DISPATCH_NOTIFICATIONS = "dispatch_notifications"
    COLLECT_SMS_RECEIPTS = "collect_sms_receipts"
    SEND_APPROVAL_CARD = "send_approval_card"
    UPDATE_APPROVAL_CARD = "update_approval_card"
    DISPATCH_APPROVAL_CARDS = "dispatch_approval_cards"
    SUBMIT_APPROVAL_OA = "submit_approval_oa"
    CHECK_APPROVAL_OA = "check_approval_oa"
    RECONCILE_APPROVAL_OA = "reconcile_approval_oa"
    CANCEL_WAYBILL = "cancel_waybill"
    MINE_COPURCHASE = "mine_copurchase"


class QueueRole(StrEnum):
    """Which SAQ queue (and which ``orderhub worker --role``) a job belongs to."""

    PIPELINE = "pipeline"
    BACKGROUND = "background"


_P, _B = QueueRole.PIPELINE, QueueRole.BACKGROUND
# Every job name and its queue; tests/unit/test_queue_roles.py checks that each name is here and that each worker
# function is registered on the worker of its role. Only the order pipeline (and its own sweeper and backfill)
# runs on the pipeline queue.
JOB_ROLES: Mapping[JobName, QueueRole] = MappingProxyType(
    {
        JobName.PROCESS_ORDER: _P,
        JobName.PROCESS_ORDERS: _P,
        JobName.SWEEP_STUCK_ORDERS: _P,
        JobName.BACKFILL_AFTER_SURGE: _P,
        JobName.PULL_CHANNEL: _B,
        JobName.PULL_DUE_CHANNELS: _B,
        JobName.SYNC_STOCK: _B,
        JobName.WRITE_BACK_SHIPMENT: _B,
        JobName.IMPORT_FILE: _B,
        JobName.BUILD_WAVES: _B,
        JobName.SUBSCRIBE_TRACKING: _B,
        JobName.POLL_PARCELS: _B,
        JobName.SEND_NOTIFICATION: _B,
        JobName.DISPATCH_NOTIFICATIONS: _B,
        JobName.COLLECT_SMS_RECEIPTS: _B,
        JobName.SEND_APPROVAL_CARD: _B,
        JobName.UPDATE_APPROVAL_CARD: _B,
        JobName.DISPATCH_APPROVAL_CARDS: _B,
        JobName.SUBMIT_APPROVAL_OA: _B,
        JobName.CHECK_APPROVAL_OA: _B,
        JobName.RECONCILE_APPROVAL_OA: _B,
        JobName.CANCEL_WAYBILL: _B,
        JobName.MINE_COPURCHASE: _B,
    }
)

BACKFILL_KEY = "pipeline:backfill"


def process_order_key(order_id: int) -> str:
    return f"order:{order_id}:process"


def process_batch_key(order_ids: Sequence[int]) -> str:
    """Unique per set of orders: the same batch queued twice is one job."""
    digest = hashlib.sha1(",".join(map(str, sorted(order_ids))).encode(), usedforsecurity=False).hexdigest()
    return f"orders:{digest[:20]}:process"


# The active list and each job, read once per sweep by whichever worker holds the sweep lock (as upstream does).
_SWEEP_READ = """
local id_jobs = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        id_jobs[i] = {v, redis.call('GET', v)}
    end
end
return id_jobs
"""


class OrderHubQueue(RedisQueue):
    """SAQ's Redis queue, with two sweep fixes.

    * The sweep lock follows the sweep interval: upstream holds it for 60 s whatever the worker's sweep timer is,
      so a job abandoned by a killed worker could wait a minute before another worker retries it.
    * A job a worker has just taken (moved to the active list, not yet marked active) is not "abandoned": upstream
      sweeps it then (tobymao/saq#124, #277) — aborting it and running it again, i.e. a pull or a platform
      write-back twice. Here a job still queued in the active list is swept only when an earlier sweep already saw
      it so (one sweep interval later: a worker that really died holding it).
    """

    def __init__(self, redis: aioredis.Redis, *, name: str, sweep_lock: int) -> None:
        super().__init__(redis, name=name)
        self.sweep_lock = sweep_lock
        self._sweep_read: Any = None

    async def _just_taken(self, job: Job) -> bool:
        """True the first time a sweep sees this take of the job queued in the active list (remembered across
        workers). Keyed jobs reuse their id: the marker names the take (when it was queued, which attempt), so a
        later take of the same key is not mistaken for one already seen."""
        seen = f"{self.name}:sweep-seen:{job.id}:{job.queued}:{job.attempts}"
        first = await self.redis.set(seen, b"1", nx=True, ex=3 * self.sweep_lock + 10)
        return bool(first)

    async def sweep(self, lock: int | None = None, abort: float = 5.0) -> list[str]:
        if self._sweep_read is None:
            self._sweep_read = self.redis.register_script(_SWEEP_READ)
        id_jobs = await self._sweep_read(keys=[self._sweep, self._active], args=[lock or self.sweep_lock])
        swept: list[bytes] = []
        for job_id, job_bytes in id_jobs:
            job = self.deserialize(job_bytes)
            if job is None:
                swept.append(job_id)
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, job_id)
                    pipe.zrem(self._incomplete, job_id)
                    await pipe.execute()
                log.info("swept missing job", extra={"job": job_id.decode()})
                continue
            if job.status == Status.ACTIVE and not job.stuck:
                continue
            if job.status == Status.QUEUED and await self._just_taken(job):
                continue  # a worker took it a moment ago; the next sweep decides
            log.info("sweeping job", extra={"job": job_id.decode(), "status": str(job.status)})
            swept.append(job_id)
            await self.abort(job, error=self.swept_error_message)
            try:
                await job.refresh(abort)
            except TimeoutError:
                log.info("could not abort swept job", extra={"job": job_id.decode()})
            if job.retryable:
                await self.retry(job, error=self.swept_error_message)
            else:
                await self.finish(job, Status.ABORTED, error=self.swept_error_message)
        return [job_id.decode("utf-8") for job_id in swept]


def create_queue(redis: aioredis.Redis, settings: Settings, role: QueueRole = QueueRole.PIPELINE) -> Queue:
    """The queue of ``role``. Both share the Redis client; SAQ keeps each queue's lists, sweep lock, cron keys and
    worker info under its own name (``saq:<name>:…``, saq/queue/redis.py ``RedisQueue.namespace``)."""
    name = settings.queue_name if role == QueueRole.PIPELINE else settings.background_queue_name
    return OrderHubQueue(redis, name=name, sweep_lock=max(1, settings.saq_sweep_interval - 1))


_queues: dict[QueueRole, Queue] = {}
_settings: Settings | None = None


def set_queue(queue: Queue | None, settings: Settings | None = None, *, background: Queue | None = None) -> None:
    """This process's queues: ``queue`` the pipeline's, ``background`` the other one. Without ``background``, a
    queue on the same Redis named after ``queue`` (``<name>-background``) takes the background jobs, so a process
    that only enqueues (a test, the demo seeder) needs to name one queue."""
    global _settings
    _queues.clear()
    _settings = settings
    if queue is None:
        return
    _queues[QueueRole.PIPELINE] = queue
    if background is None:
        if not isinstance(queue, RedisQueue):
            raise TypeError(f"no background queue given and none can be derived from {queue!r}")
        background = RedisQueue(queue.redis, name=background_queue_name(queue.name))
    _queues[QueueRole.BACKGROUND] = background


def get_queue(role: QueueRole = QueueRole.PIPELINE) -> Queue:
    queue = _queues.get(role)
    if queue is None:
        raise RuntimeError("queue not configured")
    return queue


def get_queues() -> dict[QueueRole, Queue]:
    """Both queues by role (for the depth on /readyz and /metrics)."""
    if not _queues:
        raise RuntimeError("queue not configured")
    return dict(_queues)


async def enqueue(name: JobName, *, key: str, timeout: int | None = None, **kwargs: Any) -> bool:
    """Enqueue a keyed job. True when queued now; False when a job with the key is already queued or running,
    or when the queue is unreachable (the sweeper picks the work up).

    ``timeout`` overrides the configured job timeout (for long passes such as the surge backfill). The job goes
    to the queue of its role (:data:`JOB_ROLES`)."""
    queue = get_queue(JOB_ROLES[name])
    settings = _settings
    timeout = timeout or (settings.job_timeout if settings else 60)
    retries = settings.job_retries if settings else 5
    try:
        job = await queue.enqueue(
            name.value,
            key=key,
            timeout=timeout,
            retries=retries,
            retry_delay=0.5,
            retry_backoff=30.0,
            ttl=600,
            **kwargs,
        )
    except Exception as exc:
        log.warning("enqueue failed; the sweeper will retry", extra={"job": name.value, "key": key, "error": repr(exc)})
        return False
    return job is not None  # None: a job with this key is already queued or running

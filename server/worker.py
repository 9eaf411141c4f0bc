"""The SAQ workers: job functions, crons, lifecycle. ``orderhub worker [--role pipeline|background|all]`` runs
:func:`run_worker`: the pipeline queue's worker, the background queue's, or both in one process
(orderhub.queue.JOB_ROLES)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import msgspec
from saq import CronJob, Worker
from saq.types import PartialTimersDict

from orderhub import clock, db
from orderhub.approvals import cards as approval_cards
from orderhub.approvals import engine as approvals
from orderhub.approvals import oa as approval_oa
from orderhub.channels import pull, stock_sync, tokens, writeback
from orderhub.channels.erp_file import imports
from orderhub.finance import pull as finance_pull
from orderhub.finance import reconcile as finance_reconcile
from orderhub.finance.pull import SETTLEMENTS_CRON
from orderhub.finance.reconcile import PAYOUTS_CRON
from orderhub.insights import alerts, copurchase, health
from orderhub.insights import upkeep as rollups
from orderhub.logistics import tracking, voids
from orderhub.metrics import JOB_LATENCY, ORDER_ACK_TO_READY
from orderhub.notifications import outbox
from orderhub.orders import pipeline, sla, surge
from orderhub.orders.state import OrderStatus
from orderhub.orders.tables import Order, awaiting_backfill
from orderhub.picking import waves
from orderhub.queue import BACKFILL_KEY, JOB_ROLES, JobName, QueueRole, enqueue, process_order_key
from orderhub.reports import service as reports
from orderhub.runtime import Runtime, start_runtime
from orderhub.settings import Settings
from server.wiring import wire, wiring_report

__all__ = [
    "BACKGROUND_FUNCTIONS",
    "PIPELINE_FUNCTIONS",
    "WORKER_ROLES",
    "WORKER_ROLE_ALL",
    "build_worker",
    "cron_jobs",
    "moved_to_background",
    "roles_of",
    "run_worker",
]

log = logging.getLogger("orderhub.worker")


async def process_order(ctx: dict[str, Any], *, order_id: int) -> str:
    outcomes = await _process([order_id], retry_failed=False)
    return outcomes[order_id]


async def process_orders(ctx: dict[str, Any], *, order_ids: list[int]) -> dict[str, int]:
    """A batch: on PostgreSQL the orders on the plain way are made ready together, set-based (one transaction, a
    fixed number of statements: orderhub.orders.pipeline.batch), with those that end held or in exception there;
    the others go one by one, with rules and warehouses read once for the batch. An order that fails gets a job of
    its own (with retries)."""
    async with pipeline.batch_scope():
        started = time.perf_counter()
        done = await pipeline.process_batch(order_ids)
        if done.ready:
            JOB_LATENCY.labels("process_batch", "ready").observe(time.perf_counter() - started)
            now = clock.now()
            for received_at in done.ready.values():
                ORDER_ACK_TO_READY.observe((now - received_at).total_seconds())
        outcomes = await _process(done.rest, retry_failed=True)
    counts = Counter(outcomes.values())
    if done.ready:
        counts[OrderStatus.READY.value] += len(done.ready)
    counts.update(done.settled.values())
    return dict(counts)


async def _process(order_ids: list[int], *, retry_failed: bool) -> dict[int, str]:
    outcomes: dict[int, str] = {}
    became_ready: list[int] = []
    for order_id in order_ids:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await pipeline.process_order(order_id)
            outcome = result.status
        except Exception as exc:
            if not retry_failed:
                raise  # SAQ retries this job with backoff
            log.warning("order failed in a batch; retried on its own", extra={"order_id": order_id, "error": repr(exc)})
            await enqueue(JobName.PROCESS_ORDER, key=process_order_key(order_id), order_id=order_id)
            outcome = "retry"
            continue
        finally:
            JOB_LATENCY.labels("process_order", outcome).observe(time.perf_counter() - started)
            outcomes[order_id] = outcome
        if result.advanced and result.status == OrderStatus.READY.value:  # once per order, not per retry
            became_ready.append(order_id)
    if became_ready:
        now = clock.now()
        for part in db.chunks(became_ready):  # one job's batch: ORDERHUB_PIPELINE_BATCH_SIZE has no upper bound
            for row in await Order.select(Order.received_at).where(Order.id.is_in(list(part))):
                ORDER_ACK_TO_READY.observe((now - row["received_at"]).total_seconds())
    return outcomes


async def sweep_stuck_orders(ctx: dict[str, Any]) -> int:
    settings: Settings = ctx["settings"]
    await pipeline.retry_awaiting_stock(settings.awaiting_stock_retry_seconds)
    await sla.mark_at_risk(margin_minutes=settings.at_risk_margin_minutes)
    await writeback.enqueue_due_writebacks()
    # Orders a surge marked and no backfill has reached yet (e.g. Redis restarted mid-surge).
    if await surge.current_mode() == surge.Mode.NORMAL and await Order.exists().where(awaiting_backfill()):
        await enqueue_backfill()
    return await pipeline.sweep_stuck_orders(settings.stuck_after_seconds)


async def backfill_after_surge(ctx: dict[str, Any]) -> int:
    if await surge.current_mode() == surge.Mode.SURGE:
        return 0  # a new surge began: the next end will backfill
    return await pipeline.backfill_after_surge()


async def pull_channel(ctx: dict[str, Any], *, code: str, trigger: str, asked: str = "") -> dict[str, Any]:
    run = await pull.pull_channel(code, trigger=trigger)  # pull_again_if_asked runs in after_job
    return {"run": run.id, "status": run.status, "new": run.new, "updated": run.updated}


async def sync_stock(ctx: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    return await (stock_sync.resync() if full else stock_sync.sync_dirty())


async def write_back_shipment(ctx: dict[str, Any], *, writeback_id: int) -> str:
    return await writeback.write_back(writeback_id)


async def import_file(ctx: dict[str, Any], *, job_id: int) -> str:
    return (await imports.run_import(job_id)).status


async def pull_due_channels(ctx: dict[str, Any]) -> list[str]:
    return await pull.enqueue_due_pulls()


async def subscribe_tracking(ctx: dict[str, Any], *, tracking_id: int) -> bool:
    return await tracking.subscribe(tracking_id)


async def cancel_waybill(ctx: dict[str, Any], *, waybill_id: int) -> str:
    return await voids.cancel_at_carrier(waybill_id)


async def poll_parcels(ctx: dict[str, Any]) -> dict[str, int]:
    return await tracking.poll_parcels()


async def send_notification(ctx: dict[str, Any], *, notification_id: int) -> str:
    return await outbox.send(notification_id)


async def dispatch_notifications(ctx: dict[str, Any]) -> int:
    return await outbox.dispatch_due()


async def collect_sms_receipts(ctx: dict[str, Any]) -> int:
    return await outbox.collect_receipts()


async def build_waves(ctx: dict[str, Any]) -> dict[str, int]:
    return await waves.run_auto_waves()


async def recompute_health(ctx: dict[str, Any]) -> dict[str, Any]:
    """Yesterday's (Asia/Shanghai) health index: history rows and rectifications (idempotent; docs/health.md)."""
    report = await health.recompute(health.today() - timedelta(days=1))
    return {"scored": report.scored, "opened": report.opened, "closed": report.closed}


async def weekly_report(ctx: dict[str, Any]) -> dict[str, Any]:
    """Monday 08:00 Asia/Shanghai: last week's report, kept and pushed to the managers through WeCom, once
    (docs/reports.md)."""
    view = await reports.run_weekly_cron()
    return {"report": view.id if view else None}


async def refresh_payouts(ctx: dict[str, Any]) -> dict[str, int]:
    """Expected payouts of orders shipped or refunded since the last run, and their reconciliation (docs/finance.md)."""
    return {"computed": await finance_reconcile.refresh_stale()}


async def pull_settlements(ctx: dict[str, Any]) -> dict[str, int]:
    """The platforms' settlement data: every due bill day of every channel with a settlement source."""
    outcomes = await finance_pull.pull_due()
    return {"days": len(outcomes), "lines": sum(o.lines for o in outcomes)}


async def look_after_tokens(ctx: dict[str, Any]) -> dict[str, Any]:
    """Shop authorisations: access tokens refreshed ahead of expiry, the staff told what only the seller can renew
    (docs/channels.md#authorisation)."""
    return msgspec.structs.asdict(await tokens.run())


async def evaluate_alerts(ctx: dict[str, Any]) -> dict[str, Any]:
    report = await alerts.evaluate()
    return {"rules": report.rules, "fired": report.fired, "cleared": report.cleared, "lost": report.lost}


async def sweep_approvals(ctx: dict[str, Any]) -> dict[str, int]:
    """Approvals due: reminders, escalations to the approver's manager, the steps' final actions (docs/approvals.md)."""
    return msgspec.structs.asdict(await approvals.sweep_due())


async def send_approval_card(ctx: dict[str, Any], *, card_row_id: int) -> str:
    """An approval card to one person in WeCom, within the per-member limit (orderhub.approvals.cards)."""
    return await approval_cards.send(card_row_id)


async def update_approval_card(ctx: dict[str, Any], *, card_row_id: int) -> str:
    """An approval card's buttons greyed out with what happened ("已由张三同意")."""
    return await approval_cards.update(card_row_id)


async def dispatch_approval_cards(ctx: dict[str, Any]) -> int:
    return await approval_cards.dispatch_due()


async def submit_approval_oa(ctx: dict[str, Any], *, request_id: int) -> str:
    """A request whose flow runs in WeCom's 审批 app, submitted there once (oa/applyevent; orderhub.approvals.oa)."""
    return await approval_oa.submit(request_id)


async def check_approval_oa(ctx: dict[str, Any], *, request_id: int) -> str:
    """A native request still open, read from WeCom (oa/getapprovaldetail) in case its callback was lost."""
    return await approval_oa.check(request_id)


async def reconcile_approval_oa(ctx: dict[str, Any]) -> int:
    return await approval_oa.reconcile_due()


async def mine_copurchase(ctx: dict[str, Any], *, run_id: int) -> dict[str, Any]:
    """A co-purchase mining run (docs/insights-mining.md): count the baskets, keep the patterns, close the run."""
    run = await copurchase.run_mining(run_id)
    return {"run": run.id, "status": run.status, "orders": run.orders, "patterns": run.patterns, "ms": run.took_ms}


async def requeue_copurchase(ctx: dict[str, Any]) -> int:
    """Mining runs whose job was never queued (Redis down at the start) or whose worker died."""
    return await copurchase.requeue_stale_runs()


async def enqueue_backfill() -> None:
    # A big surge leaves tens of thousands of orders to backfill (~15,000/min): give the pass time; a retry
    # after a timeout continues where it stopped (the mark is cleared order by order).
    await enqueue(JobName.BACKFILL_AFTER_SURGE, key=BACKFILL_KEY, timeout=1800)


# The functions each queue's worker runs (orderhub.queue.JOB_ROLES says where each job is enqueued; the
# cron-only functions below run where their CronJob is). tests/unit/test_queue_roles.py keeps the two in step.
PIPELINE_FUNCTIONS: tuple[Callable[..., Awaitable[Any]], ...] = (
    process_order,
    process_orders,
    sweep_stuck_orders,
    backfill_after_surge,
)
_BACKGROUND_JOB_NAMES = frozenset(name.value for name, role in JOB_ROLES.items() if role == QueueRole.BACKGROUND)
BACKGROUND_FUNCTIONS: tuple[Callable[..., Awaitable[Any]], ...] = (
    pull_channel,
    sync_stock,
    write_back_shipment,
    import_file,
    build_waves,
    subscribe_tracking,
    cancel_waybill,
    poll_parcels,
    send_notification,
    send_approval_card,
    update_approval_card,
    submit_approval_oa,
    check_approval_oa,
    mine_copurchase,
)


async def moved_to_background(ctx: dict[str, Any], **kwargs: Any) -> str:
    """A background job found on the pipeline queue: queued there before the jobs had two queues (by a process of
    the previous version, during an upgrade). Queued again on the background queue, where its worker runs it; a
    cron's run is dropped (the background worker schedules its own). Without this SAQ would fail the job: a worker
    runs only the functions it registered (saq/worker.py ``Worker.process``: ``self.functions[job.function]``)."""
    job = ctx["job"]
    if job.function in _BACKGROUND_JOB_NAMES:
        queued = await enqueue(JobName(job.function), key=job.key, **kwargs)
        log.info("job moved to the background queue", extra={"job": job.function, "key": job.key, "queued": queued})
        return "moved"
    return "dropped"


def cron_jobs(settings: Settings, role: QueueRole) -> list[CronJob[Any]]:
    """The crons of ``role``'s worker. SAQ enqueues a CronJob on its worker's own queue under the key
    ``cron:<function>`` (saq/worker.py ``Worker.schedule``), unique per queue: each cron is on one role only, or it
    would run once per queue. The stuck-order sweeper stays with the pipeline; every other cron (the auto-wave
    builder included: 21 % of a peak worker's CPU in issue 22) is background work."""
    if role == QueueRole.PIPELINE:
        return [CronJob(sweep_stuck_orders, cron=settings.sweeper_cron, unique=True, timeout=60, retries=3, ttl=60)]
    return [
        CronJob(pull_due_channels, cron=settings.pull_cron, unique=True, timeout=60, retries=3, ttl=60),
        CronJob(build_waves, cron=settings.wave_cron, unique=True, timeout=120, retries=3, ttl=60),
        CronJob(poll_parcels, cron=settings.tracking_cron, unique=True, timeout=600, retries=3, ttl=600),
        CronJob(dispatch_notifications, cron=settings.notify_cron, unique=True, timeout=60, retries=3, ttl=30),
        CronJob(collect_sms_receipts, cron=settings.sms_receipts_cron, unique=True, timeout=300, retries=3, ttl=300),
        CronJob(recompute_health, cron=health.HEALTH_CRON, unique=True, timeout=600, retries=2, ttl=600),
        CronJob(weekly_report, cron=reports.WEEKLY_CRON, unique=True, timeout=600, retries=2, ttl=600),
        CronJob(refresh_payouts, cron=PAYOUTS_CRON, unique=True, timeout=120, retries=3, ttl=30),
        CronJob(pull_settlements, cron=SETTLEMENTS_CRON, unique=True, timeout=1800, retries=2, ttl=1800),
        CronJob(look_after_tokens, cron=settings.token_cron, unique=True, timeout=300, retries=2, ttl=300),
        CronJob(evaluate_alerts, cron=settings.alerts_cron, unique=True, timeout=25, retries=3, ttl=25),
        CronJob(sweep_approvals, cron=approvals.SWEEP_CRON, unique=True, timeout=25, retries=3, ttl=25),
        CronJob(dispatch_approval_cards, cron=approval_cards.DISPATCH_CRON, unique=True, timeout=25, retries=3, ttl=25),
        CronJob(reconcile_approval_oa, cron=approval_oa.RECONCILE_CRON, unique=True, timeout=25, retries=3, ttl=25),
        CronJob(requeue_copurchase, cron=copurchase.REQUEUE_CRON, unique=True, timeout=60, retries=3, ttl=60),
    ]


def roles_of(choice: str) -> tuple[QueueRole, ...]:
    """``orderhub worker --role``: ``pipeline``, ``background`` or ``all`` (both, in one process)."""
    if choice == WORKER_ROLE_ALL:
        return (QueueRole.PIPELINE, QueueRole.BACKGROUND)
    return (QueueRole(choice),)


WORKER_ROLE_ALL = "all"
WORKER_ROLES = (QueueRole.PIPELINE.value, QueueRole.BACKGROUND.value, WORKER_ROLE_ALL)


def build_worker(runtime: Runtime, role: QueueRole, *, concurrency: int | None = None) -> Worker:
    """The SAQ worker of one queue. ``concurrency`` defaults to ``ORDERHUB_WORKER_CONCURRENCY`` for the pipeline and
    ``ORDERHUB_BACKGROUND_CONCURRENCY`` for the background queue.

    The background worker also runs the process's watchers — the surge monitor and the dashboards' rollups — which
    are not the pipeline's work either: a process running both roles (``--role all``) runs each of them once."""
    settings = runtime.settings
    background = role == QueueRole.BACKGROUND

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        if not background:
            return
        ctx["surge_monitor"] = asyncio.create_task(surge.monitor_forever(settings, on_ended=enqueue_backfill))
        if settings.rollups_interval_seconds > 0:  # the dashboards' counters (orderhub.insights.upkeep.catch_up)
            ctx["rollups_stop"] = stop = asyncio.Event()
            ctx["rollups"] = asyncio.create_task(rollups.keep_up(stop, every=settings.rollups_interval_seconds))

    async def after_job(ctx: dict[str, Any]) -> None:
        """After SAQ has finished a job (its key is free): a pull asked for while it ran is queued now."""
        job = ctx.get("job")
        if job is not None and job.function == JobName.PULL_CHANNEL.value and job.kwargs:
            kwargs = job.kwargs
            await pull.pull_again_if_asked(str(kwargs.get("code", "")), asked=str(kwargs.get("asked", "")))

    async def shutdown(ctx: dict[str, Any]) -> None:
        monitor = ctx.get("surge_monitor")
        if monitor is not None:
            monitor.cancel()
        stop = ctx.get("rollups_stop")
        if stop is not None:
            stop.set()
            await ctx["rollups"]

    timers: PartialTimersDict = {
        "sweep": settings.saq_sweep_interval,
        "schedule": 1,
        "worker_info": 10,
        "abort": 1,
    }
    default_concurrency = settings.background_concurrency if background else settings.worker_concurrency
    crons = cron_jobs(settings, role)
    functions: list[Any] = list(BACKGROUND_FUNCTIONS if background else PIPELINE_FUNCTIONS)
    if not background:  # what an earlier version left on this queue (SAQ takes (name, function) pairs)
        background_crons = {job.function.__qualname__ for job in cron_jobs(settings, QueueRole.BACKGROUND)}
        leftovers = _BACKGROUND_JOB_NAMES | background_crons
        functions += [(name, moved_to_background) for name in sorted(leftovers)]
    worker: Worker = Worker(
        runtime.queue_of(role),
        functions=functions,
        concurrency=concurrency or default_concurrency,
        cron_jobs=crons,
        startup=startup,
        shutdown=shutdown,
        after_process=after_job if background else None,
        timers=timers,
        shutdown_grace_period_s=5,  # in-flight jobs get this long; SAQ waits it out even when idle
        metadata={"role": role.value},
    )
    # Worker.start() points SIGINT/SIGTERM at its own stop event (loop.add_signal_handler, saq/worker.py): with two
    # workers in one loop the second would take the signal from the first. run_worker handles the signals instead
    # and stops every worker.
    worker.SIGNALS = []
    return worker


async def run_worker(settings: Settings, *, role: str = WORKER_ROLE_ALL, concurrency: int | None = None) -> None:
    """``orderhub worker``: the SAQ worker(s) of ``role`` in this process (``all``: the pipeline's and the background
    queue's, each with its own concurrency). ``concurrency`` applies to the pipeline worker."""
    wire()
    runtime = await start_runtime(settings)
    workers = [
        build_worker(runtime, r, concurrency=concurrency if r == QueueRole.PIPELINE else None) for r in roles_of(role)
    ]
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    tasks = [asyncio.create_task(worker.start()) for worker in workers]
    log.info(
        "worker started",
        extra={
            "role": role,
            "queues": {w.queue.name: w.concurrency for w in workers},
            "concurrency": sum(w.concurrency for w in workers),
            "nice": os.nice(0),
            "wiring": wiring_report(),
        },
    )
    failed: BaseException | None = None
    try:
        # One worker ending (its start() raised) ends the process: a half-running worker would look alive.
        await asyncio.wait([*tasks, asyncio.create_task(stopping.wait())], return_when=asyncio.FIRST_COMPLETED)
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error("worker failed", exc_info=outcome)
                failed = failed or outcome
        await runtime.close()
        log.info("worker stopped")
    if failed is not None:
        raise failed  # a non-zero exit: the supervisor restarts the process

"""Two SAQ queues (issue 22, part 3): every job has a queue, every worker function runs on the worker of that queue,
and enqueue() sends each job to its own queue."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as aioredis
from saq import Worker
from saq.queue.redis import RedisQueue

from orderhub import queue as queue_mod
from orderhub.queue import JOB_ROLES, JobName, QueueRole, enqueue, get_queue, get_queues, set_queue
from orderhub.runtime import Runtime
from orderhub.settings import Settings, SettingsError, load_settings
from server import worker as worker_mod
from server.worker import WORKER_ROLES, build_worker, cron_jobs, moved_to_background, roles_of


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        {"ORDERHUB_DATA_DIR": str(tmp_path), "ORDERHUB_SECRET_KEY": "k" * 64, "ORDERHUB_QUEUE_NAME": "hub"}
    )


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    client = aioredis.Redis()  # never connected: the workers are built, not started
    return Runtime(
        settings=settings,
        redis=client,
        queue=queue_mod.create_queue(client, settings, QueueRole.PIPELINE),
        background=queue_mod.create_queue(client, settings, QueueRole.BACKGROUND),
    )


def _workers(runtime: Runtime) -> dict[QueueRole, Worker]:
    return {role: build_worker(runtime, role) for role in QueueRole}


def test_every_job_name_has_a_queue() -> None:
    assert set(JOB_ROLES) == set(JobName)
    pipeline = {name for name, role in JOB_ROLES.items() if role == QueueRole.PIPELINE}
    assert pipeline == {
        JobName.PROCESS_ORDER,
        JobName.PROCESS_ORDERS,
        JobName.SWEEP_STUCK_ORDERS,
        JobName.BACKFILL_AFTER_SURGE,
    }


def test_every_job_runs_on_the_worker_of_its_queue(runtime: Runtime) -> None:
    workers = _workers(runtime)
    for name, role in JOB_ROLES.items():
        function = workers[role].functions.get(name.value)
        assert function is not None, f"{name} is queued on {role} but its worker cannot run it"
        assert function is not moved_to_background
        for other, worker in workers.items():
            if other != role:  # at most the shim that sends an earlier version's job on (pipeline worker only)
                assert worker.functions.get(name.value) in (None, moved_to_background), f"{name} runs on {other}"
    real = {name for name, f in workers[QueueRole.PIPELINE].functions.items() if f is not moved_to_background}
    # …and nothing else on the pipeline's worker: the crons there are the pipeline's own sweeper only
    assert real == {name.value for name, role in JOB_ROLES.items() if role == QueueRole.PIPELINE}
    assert moved_to_background not in workers[QueueRole.BACKGROUND].functions.values()
    shims = set(workers[QueueRole.PIPELINE].functions) - real
    assert shims == set(workers[QueueRole.BACKGROUND].functions)  # every background job and cron
    assert workers[QueueRole.PIPELINE].queue.name == "hub"
    assert workers[QueueRole.BACKGROUND].queue.name == "hub-background"


def test_each_cron_runs_on_one_queue_only(settings: Settings) -> None:
    by_role = {role: [job.function.__qualname__ for job in cron_jobs(settings, role)] for role in QueueRole}
    assert by_role[QueueRole.PIPELINE] == ["sweep_stuck_orders"]
    assert "build_waves" in by_role[QueueRole.BACKGROUND]
    assert "pull_due_channels" in by_role[QueueRole.BACKGROUND]
    every = [name for names in by_role.values() for name in names]
    assert len(every) == len(set(every))  # a cron on both queues would run twice (unique keys are per queue)


def test_concurrency_per_role(runtime: Runtime, settings: Settings) -> None:
    assert build_worker(runtime, QueueRole.PIPELINE).concurrency == settings.worker_concurrency == 10
    assert build_worker(runtime, QueueRole.BACKGROUND).concurrency == settings.background_concurrency == 4
    assert build_worker(runtime, QueueRole.PIPELINE, concurrency=3).concurrency == 3


def test_worker_roles(tmp_path: Path) -> None:
    assert roles_of("all") == (QueueRole.PIPELINE, QueueRole.BACKGROUND)
    assert roles_of("pipeline") == (QueueRole.PIPELINE,)
    assert roles_of("background") == (QueueRole.BACKGROUND,)
    assert WORKER_ROLES == ("pipeline", "background", "all")
    configured = load_settings(
        {
            "ORDERHUB_DATA_DIR": str(tmp_path),
            "ORDERHUB_SECRET_KEY": "k" * 64,
            "ORDERHUB_BACKGROUND_CONCURRENCY": "2",
        }
    )
    assert configured.background_concurrency == 2
    assert configured.background_queue_name == "orderhub-background"


async def test_the_watchers_run_once_with_the_background_worker(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The surge monitor and the rollups are not the pipeline's: `--role all` (both workers) starts each once,
    `--role pipeline` none."""
    started: list[str] = []

    async def monitor(settings: Settings, *, on_ended: Any = None) -> None:
        started.append("surge")
        await asyncio.Event().wait()

    async def keep_up(stop: asyncio.Event, *, every: float) -> None:
        started.append("rollups")
        await stop.wait()

    monkeypatch.setattr(worker_mod.surge, "monitor_forever", monitor)
    monkeypatch.setattr(worker_mod.rollups, "keep_up", keep_up)
    workers = [build_worker(runtime, role) for role in roles_of("all")]
    contexts: list[dict[str, Any]] = []
    for worker in workers:
        ctx: dict[str, Any] = {}
        for hook in worker.startup or []:
            await hook(ctx)
        contexts.append(ctx)
    await asyncio.sleep(0)
    assert sorted(started) == ["rollups", "surge"]
    assert all(ctx["settings"] is runtime.settings for ctx in contexts)
    for worker, ctx in zip(workers, contexts, strict=True):
        assert worker.shutdown is not None and callable(worker.shutdown)
        await worker.shutdown(ctx)
    assert all(w.SIGNALS == [] for w in workers)  # run_worker handles SIGTERM for both


class _Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.jobs: list[str] = []

    async def enqueue(self, function: str, **kwargs: Any) -> object:
        self.jobs.append(function)
        return object()


async def test_enqueue_sends_each_job_to_its_queue() -> None:
    pipeline, background = _Recorder("hub"), _Recorder("hub-background")
    set_queue(pipeline, background=background)  # type: ignore[arg-type]
    try:
        for name in JobName:
            assert await enqueue(name, key=f"k:{name.value}")
        assert get_queues() == {QueueRole.PIPELINE: pipeline, QueueRole.BACKGROUND: background}
    finally:
        set_queue(None)
    assert pipeline.jobs == [n.value for n in JobName if JOB_ROLES[n] == QueueRole.PIPELINE]
    assert background.jobs == [n.value for n in JobName if JOB_ROLES[n] == QueueRole.BACKGROUND]
    with pytest.raises(RuntimeError):
        get_queue(QueueRole.BACKGROUND)


def test_a_process_naming_one_queue_gets_the_background_queue_beside_it() -> None:
    client = aioredis.Redis()
    set_queue(RedisQueue(client, name="hub"))
    try:
        derived = get_queue(QueueRole.BACKGROUND)
        assert isinstance(derived, RedisQueue) and derived.name == "hub-background" and derived.redis is client
    finally:
        set_queue(None)


async def test_a_job_an_earlier_version_left_on_the_pipeline_queue_moves_to_the_background_queue() -> None:
    pipeline, background = _Recorder("hub"), _Recorder("hub-background")
    set_queue(pipeline, background=background)  # type: ignore[arg-type]
    try:
        job = SimpleNamespace(function="send_notification", key="notify:7")
        assert await moved_to_background({"job": job}, notification_id=7) == "moved"
        cron = SimpleNamespace(function="recompute_health", key="cron:recompute_health")
        assert await moved_to_background({"job": cron}) == "dropped"  # the background worker schedules its own
    finally:
        set_queue(None)
    assert (pipeline.jobs, background.jobs) == ([], ["send_notification"])


def test_background_worker_yields_the_cpu_to_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``orderhub worker --role background`` lowers its own CPU priority by ORDERHUB_BACKGROUND_NICE (default 10:
    its waves and rollup catch-ups took the CPU the handhelds' scans were waiting for); the pipeline's workers and
    ``--role all`` keep theirs."""
    from server import cli

    env = {"ORDERHUB_DATA_DIR": str(tmp_path), "ORDERHUB_SECRET_KEY": "k" * 64}
    assert load_settings(env).background_nice == 10
    assert load_settings({**env, "ORDERHUB_BACKGROUND_NICE": "0"}).background_nice == 0
    for bad in ("20", "-1", "high"):
        with pytest.raises(SettingsError, match="ORDERHUB_BACKGROUND_NICE"):
            load_settings({**env, "ORDERHUB_BACKGROUND_NICE": bad})

    niced: list[int] = []
    ran: list[str] = []

    async def run_worker(settings: Settings, *, role: str, concurrency: int | None = None) -> None:
        ran.append(role)

    monkeypatch.setattr(cli, "lower_priority", niced.append)
    monkeypatch.setattr(cli, "_configure_logging", lambda: None)
    monkeypatch.setattr(worker_mod, "run_worker", run_worker)
    for role, nice in (("background", "10"), ("pipeline", "10"), ("all", "10"), ("background", "0")):
        monkeypatch.setattr(cli, "_serving_settings", lambda nice=nice: load_settings(
            {**env, "ORDERHUB_BACKGROUND_NICE": nice}))
        assert cli.cmd_worker(argparse.Namespace(role=role, concurrency=None)) == 0
    assert ran == ["background", "pipeline", "all", "background"]
    assert niced == [10]


def test_lower_priority_raises_the_session_group_only_for_a_session_leader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With autogroup scheduling niceness ranks processes within a session only: a worker leading its own session
    lowers its session group's priority too; one sharing a session (a shell that also started `serve`) does not."""
    from server import cli

    niced: list[int] = []
    monkeypatch.setattr(cli.os, "nice", niced.append)
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 0\n")
    monkeypatch.setattr(cli.os, "getpid", lambda: 42)
    monkeypatch.setattr(cli.os, "getsid", lambda pid: 7)
    cli.lower_priority(10, autogroup=group)
    assert group.read_text() == "/autogroup-1 nice 0\n"
    monkeypatch.setattr(cli.os, "getsid", lambda pid: 42)
    cli.lower_priority(10, autogroup=group)
    assert group.read_text() == "10\n"
    cli.lower_priority(5, autogroup=tmp_path / "absent")
    assert niced == [10, 10, 5]

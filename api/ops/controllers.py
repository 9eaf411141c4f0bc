"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get
from litestar.channels import ChannelsPlugin

from orderhub import health
from orderhub.metrics import CONTENT_TYPE_LATEST, NOTIFICATIONS, QUEUE_DEPTH, render
from orderhub.notifications import outbox

__all__ = ["OpsController", "fanout_ok"]


class Health(msgspec.Struct, kw_only=True):
    status: str


class Ready(msgspec.Struct, kw_only=True):
    status: str
    checks: dict[str, str]


def fanout_ok(plugin: ChannelsPlugin) -> str:
    """Channels' publish/subscribe tasks die silently on a backend error; a dead one means no live updates."""
    for name in ("_pub_task", "_sub_task"):
        task = getattr(plugin, name, None)
        if task is None:
            return f"error: {name} not started"
        if task.done():
            return f"error: {name} stopped"
    return "ok"


class OpsController(Controller):
    path = "/"
    tags = ["ops"]
    include_in_schema = True

    @get("/healthz", summary="Process is alive", opt={"public": True})
    async def healthz(self) -> Health:
        return Health(status="ok")

    @get("/readyz", summary="Database, Redis, queue and fan-out all working (503 otherwise)", opt={"public": True})
    async def readyz(self, fanout: ChannelsPlugin) -> Response[Ready]:
        checks = await health.check_stores()
        checks["fanout"] = fanout_ok(fanout)
        ok = all(value == "ok" for value in checks.values())
        return Response(Ready(status="ok" if ok else "unavailable", checks=checks), status_code=200 if ok else 503)

    @get("/metrics", summary="Prometheus metrics", opt={"public": True}, include_in_schema=False)
    async def metrics(self) -> Response[bytes]:
        try:
            for state, count in (await health.queue_depth()).items():
                QUEUE_DEPTH.labels(state).set(count)
        except Exception:  # metrics must render even when Redis is down
            pass
        try:
            rows = await outbox.counts()
            # every series is rewritten: a status that dropped to nothing reads 0, not its last count
            NOTIFICATIONS.clear()
            for channel in {c for c, _, _ in rows} | set(outbox.CHANNELS):
                for status in outbox.STATUSES:
                    NOTIFICATIONS.labels(channel, status).set(0)
            for channel, status, count in rows:
                NOTIFICATIONS.labels(channel, status).set(count)
        except Exception:  # …or the database
            pass
        return Response(render(), media_type=CONTENT_TYPE_LATEST)

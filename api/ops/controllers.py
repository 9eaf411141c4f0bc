"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.channels import ChannelsPlugin

from orderhub import health
from orderhub.errors import AuthenticationFailed, PermissionDenied
from orderhub.metrics import CONTENT_TYPE_LATEST, NOTIFICATIONS, QUEUE_DEPTH, render
from orderhub.notifications import outbox
from orderhub.settings import get_settings

__all__ = ["OpsController", "check_metrics_access", "fanout_ok"]


class Health(msgspec.Struct, kw_only=True):
    status: str


class Ready(msgspec.Struct, kw_only=True):
    status: str
    checks: dict[str, str]


def fanout_ok(plugin: ChannelsPlugin) -> str:
    """Channels' publish/subscribe tasks die silently on a backend error; a dead one means no live updates. The
    backend (``realtime.fanout``) reconnects after losing Redis and says ``error: reconnecting`` meanwhile."""
    for name in ("_pub_task", "_sub_task"):
        task = getattr(plugin, name, None)
        if task is None:
            return f"error: {name} not started"
        if task.done():
            return f"error: {name} stopped"
    status = getattr(getattr(plugin, "_backend", None), "status", "ok")
    return status if isinstance(status, str) else "ok"


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_metrics_access(token: str | None, authorization: str | None, client_host: str | None) -> None:
    """``/metrics`` tells queue depths, order and notification volumes: with ORDERHUB_METRICS_TOKEN set, only a
    scraper presenting ``Authorization: Bearer <token>`` reads it; without one, only this host (loopback) does.
    Behind a reverse proxy on this host, uvicorn takes the client's address from X-Forwarded-For
    (``orderhub serve`` trusts the header from 127.0.0.1 only), so proxied outsiders are not loopback."""
    if token:
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
            raise AuthenticationFailed("读取监控指标需要 Authorization: Bearer <ORDERHUB_METRICS_TOKEN>")
        return
    if not _loopback(client_host):
        raise PermissionDenied("监控指标仅允许本机读取；从其他机器读取请配置 ORDERHUB_METRICS_TOKEN")


class OpsController(Controller):
    path = "/"
    tags = ["ops"]
    include_in_schema = True

    @get(
        "/healthz",
        summary="Process is alive",
        opt={"public": True},
        description="Liveness: answers 200 while the API process serves requests; checks nothing else. No credential "
        "needed.",
    )
    async def healthz(self) -> Health:
        return Health(status="ok")

    @get(
        "/readyz",
        summary="Database, Redis, queue and fan-out all working (503 otherwise)",
        opt={"public": True},
        description="Readiness for a load balancer: checks the database, Redis, the job queue and the websocket "
        "fan-out; 503 with the failing check when one is down. No credential needed.",
    )
    async def readyz(self, fanout: ChannelsPlugin) -> Response[Ready]:
        checks = await health.check_stores()
        checks["fanout"] = fanout_ok(fanout)
        ok = all(value == "ok" for value in checks.values())
        return Response(Ready(status="ok" if ok else "unavailable", checks=checks), status_code=200 if ok else 503)

    @get("/metrics", summary="Prometheus metrics", opt={"public": True}, include_in_schema=False)
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        check_metrics_access(
            get_settings().metrics_token,
            request.headers.get("authorization"),
            request.client.host if request.client else None,
        )
        try:
            for role, depth in (await health.queue_depths()).items():
                for state, count in depth.items():
                    QUEUE_DEPTH.labels(role.value, state).set(count)
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

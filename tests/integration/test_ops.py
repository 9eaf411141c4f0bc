"""Operations endpoints."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from tests.support.factories import Api
from tests.support.hub import Hub, provision, running


async def test_health_ready_metrics_schema(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")
        schema = await client.get("/schema/openapi.json")
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "queue": "ok", "fanout": "ok"}
    assert "orderhub_http_requests_total" in metrics.text
    assert "orderhub_queue_depth" in metrics.text
    paths = schema.json()["paths"]
    ingest = paths["/api/v1/orders/ingest"]["post"]
    props = ingest["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(props) == {"channel", "orders"}
    assert "/api/v1/stock/adjustments" in paths and "/api/v1/auth/login" in paths


async def test_unknown_route_is_problem_json(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"


async def test_metrics_are_for_this_host_only_without_a_token(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        local = await client.get("/metrics")
        # Through a reverse proxy on this host: uvicorn takes the client from X-Forwarded-For (trusted from loopback).
        proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert local.status_code == 200
    assert proxied.status_code == 403
    assert proxied.headers["content-type"].startswith("application/problem+json")
    assert proxied.json()["code"] == "forbidden"
    assert "orderhub_" not in proxied.text


def test_metrics_want_the_token_when_one_is_configured(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    with running(provision("sqlite", tmp_path / "hub", redis_db=0, extra_env={"ORDERHUB_METRICS_TOKEN": token})) as hub:
        hub.start_api()
        absent = httpx.get(f"{hub.url}/metrics")
        wrong = httpx.get(f"{hub.url}/metrics", headers={"Authorization": "Bearer not-the-token"})
        right = httpx.get(
            f"{hub.url}/metrics", headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.7"}
        )
    for refused in (absent, wrong):
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "unauthenticated"
    assert right.status_code == 200 and "orderhub_http_requests_total" in right.text


async def test_request_logs_name_the_route_not_the_path(api: Api, store: Hub) -> None:
    """Paths carry secrets and personal data — a customer's phone (``/notify/contacts/{phone}``), a tracking page's
    token (``/t/{token}``): the API's request log names the route template instead, so neither is written."""
    phone = f"137{secrets.randbelow(10**8):08d}"
    token = secrets.token_urlsafe(16)
    async with api.client() as client:
        r = await client.put(f"/api/v1/notify/contacts/{phone}", json={"oa_openid": "o-" + token[:8]})
        assert r.status_code in (200, 201, 422), r.text
        await client.get(f"/t/{token}")
    log = (store.workdir / "api.log").read_text(errors="replace")
    assert '"route":"/api/v1/notify/contacts/{phone}"' in log.replace(" ", "")
    assert phone not in log and token not in log

"""Operations endpoints."""

from __future__ import annotations

import httpx

from tests.support.factories import Api


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

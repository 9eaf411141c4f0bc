"""Platform message pushes (webhooks). Public paths: each verifies the platform's own signature."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from orderhub.channels import push

__all__ = ["WebhookController"]


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["webhooks"]

    @post(
        "/douyin/{code:str}",
        status_code=200,
        summary="抖店 message push for channel {code}: verified by event-sign (md5 of app_key + body + app_secret)",
        description='Answers {"code":0,"msg":"success"} as 抖店 expects; relevant messages queue a pull.',
    )
    async def douyin(self, request: Request[Any, Any, Any], code: str) -> Response[bytes]:
        body = await request.body()
        await push.receive_push("douyin", code, body, request.headers)
        return Response(push.push_reply("douyin"), media_type="application/json")

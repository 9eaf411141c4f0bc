"""The composition root: ``create_app()`` wires plugins, error mapping, routers and the lifespan."""

from __future__ import annotations

import gc
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Request, Response
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import ASGIMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins import InitPluginProtocol
from litestar.types import ASGIApp, Receive, Scope, Send

from api.auth.controllers import AuthController
from api.catalog.controllers import SkuController
from api.channels.controllers import ChannelController, WritebackController
from api.decoding import error_field
from api.imports.controllers import ImportController
from api.inventory.controllers import LocationController, StockController, WarehouseController
from api.logistics.controllers import (
    CarrierAccountController,
    CarrierChoiceController,
    TrackingController,
    TrackingWebhookController,
    WaveLabelController,
    WaybillController,
)
from api.logistics.page import TrackingPageController
from api.notify.controllers import NotificationController, NotifySetupController
from api.ops.controllers import OpsController
from api.orders.controllers import OrderController
from api.picking.controllers import PickingController
from api.pipeline.controllers import PipelineController
from api.rules.controllers import RuleController
from api.security import Tokens, build_jwt_auth
from api.users.controllers import UserController
from api.webhooks.controllers import WebhookController
from miniprogram_api.customer import CustomerController
from orderhub import __version__
from orderhub import redis as redis_mod
from orderhub.carriers.port import CarrierError, CarrierUnavailable
from orderhub.errors import (
    AuthenticationFailed,
    CommonError,
    Conflict,
    ErrorCode,
    HttpError,
    InvalidTransition,
    NotFound,
    OrderHubError,
    PermissionDenied,
    ServiceUnavailable,
    ValidationFailed,
)
from orderhub.events import Topic
from orderhub.inventory.service import StockShortage
from orderhub.logs import configure_logging
from orderhub.metrics import REQUEST_LATENCY, REQUESTS
from orderhub.runtime import start_runtime
from orderhub.settings import Settings, get_settings
from pda.controllers import PdaController
from realtime.floor import floor_socket
from server.errors_doc import code_list
from server.openapi_errors import document_errors
from server.wiring import wire, wiring_report

__all__ = ["create_app"]

log = logging.getLogger("orderhub.api")

PROBLEM_JSON = "application/problem+json"
_STATUS: list[tuple[type[OrderHubError], int]] = [
    (ValidationFailed, 422),
    (CarrierUnavailable, 503),
    (CarrierError, 422),
    (NotFound, 404),
    (StockShortage, 409),
    (InvalidTransition, 409),
    (Conflict, 409),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (ServiceUnavailable, 503),
]
_HTTP_CODES: dict[int, tuple[ErrorCode, str]] = {
    400: (HttpError.BAD_REQUEST, HttpError.BAD_REQUEST.message),
    401: (CommonError.UNAUTHENTICATED, "请先登录或提供有效的令牌"),
    403: (CommonError.FORBIDDEN, CommonError.FORBIDDEN.message),
    404: (CommonError.NOT_FOUND, CommonError.NOT_FOUND.message),
    405: (HttpError.METHOD_NOT_ALLOWED, HttpError.METHOD_NOT_ALLOWED.message),
    413: (HttpError.PAYLOAD_TOO_LARGE, HttpError.PAYLOAD_TOO_LARGE.message),
    415: (HttpError.UNSUPPORTED_MEDIA_TYPE, HttpError.UNSUPPORTED_MEDIA_TYPE.message),
    429: (HttpError.TOO_MANY_REQUESTS, HttpError.TOO_MANY_REQUESTS.message),
}
_HTTP_OTHER = (HttpError.HTTP_ERROR, HttpError.HTTP_ERROR.message)  # any other status the framework answers with


def status_for(error: type[OrderHubError]) -> int:
    """The HTTP status an error of this class answers with (the first matching class in ``_STATUS``)."""
    return next((status for cls, status in _STATUS if issubclass(error, cls)), 400)


def _problem(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    message: str,
    field: str | None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"urn:orderhub:problem:{code}",
        "title": message,
        "status": status,
        "code": code,
        "message": message,
        "field": field,
        "instance": request.url.path,
    }
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


def _orderhub_error(request: Request[Any, Any, Any], exc: OrderHubError) -> Response[dict[str, Any]]:
    return _problem(request, status_for(type(exc)), exc.code, exc.message, exc.field, exc.extra)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    field = None
    detail = str(exc.detail)
    extra = exc.extra if isinstance(exc.extra, list) else []
    if extra and isinstance(extra[0], dict):
        detail = str(extra[0].get("message") or detail)
        key = extra[0].get("key")
        # "data" is litestar's name for the whole body; the field is then in msgspec's message.
        field = error_field(detail) or (key if key and key != "data" else None)
    message = f"请求不合法：{detail}"
    return _problem(request, 422, CommonError.VALIDATION_ERROR, message, field)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    code, message = _HTTP_CODES.get(exc.status_code, _HTTP_OTHER)
    return _problem(request, exc.status_code, code, message, None)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # Safety nets for constraints that input checks should already have caught: answer as the client's
    # error, never as a 500 (e.g. two concurrent creates of one code, a value out of the column's range).
    if isinstance(exc, asyncpg.UniqueViolationError) or (
        isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)
    ):
        return _problem(request, 409, HttpError.DUPLICATE, HttpError.DUPLICATE.message, None)
    if isinstance(exc, asyncpg.DataError):
        return _problem(request, 422, HttpError.VALUE_OUT_OF_RANGE, HttpError.VALUE_OUT_OF_RANGE.message, None)
    if isinstance(exc, RecursionError) and "deserializing" in str(exc):
        # msgspec (litestar's body decoding and ours, api/decoding.py) gives up on JSON nested past Python's
        # recursion limit with a RecursionError, not a DecodeError: the body is at fault, whichever endpoint.
        return _problem(request, 400, HttpError.JSON_TOO_DEEP, HttpError.JSON_TOO_DEEP.message, None)
    log.exception("unhandled error", extra={"path": request.url.path})
    return _problem(request, 500, HttpError.INTERNAL_ERROR, HttpError.INTERNAL_ERROR.message, None)


class FanoutDependency(InitPluginProtocol):
    """Offers the ChannelsPlugin as the ``fanout`` dependency instead of ``channels`` (it must come after it in
    ``plugins``). Litestar files a body or query field's validation error under an app dependency of the same name as
    the dependency's own failure (a 500): carrier rules' ``channels`` field collided with it."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.dependencies["fanout"] = app_config.dependencies.pop("channels")
        return app_config


class MetricsMiddleware(ASGIMiddleware):
    """Counts and times every HTTP request by route template, and writes one JSON access-log line."""

    scopes = ("http",)  # type: ignore[assignment]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, send_wrapper)
        finally:
            handler = scope.get("route_handler")
            route = next(iter(sorted(handler.paths)), "?") if handler is not None else "unmatched"
            elapsed = time.perf_counter() - started
            method = scope.get("method", "?")
            REQUESTS.labels(method, route, str(status_holder["status"])).inc()
            REQUEST_LATENCY.labels(method, route).observe(elapsed)
            if route not in ("/healthz", "/metrics"):
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope.get("path"),
                        "status": status_holder["status"],
                        "ms": round(elapsed * 1000, 2),
                    },
                )


def _openapi(settings: Settings) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="OrderHub 订单中枢 API",
        version=__version__,
        description=(
            "Back-office, ingest and operations API. Money is integer fen; times are ISO 8601 with offset.\n\n"
            "Errors are `application/problem+json` with a stable `code`, a zh-CN `message` and the `field` at fault; "
            "docs/errors.md lists each code with its status and message. The codes: "
            + ", ".join(f"`{code}`" for code in code_list())
            + "."
        ),
        path="/schema",
    )


def create_app(settings: Settings | None = None) -> Litestar:
    wire()
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if not settings.redis_url:
        raise RuntimeError("ORDERHUB_REDIS_URL must be set for the API (orderhub run sets it for you)")
    client = redis_mod.create_client(settings.redis_url)
    jwt_auth = build_jwt_auth(settings)
    tokens = Tokens(jwt_auth, settings.token_ttl_seconds)
    channels = ChannelsPlugin(
        backend=RedisChannelsPubSubBackend(redis=client),
        channels=[topic.value for topic in Topic],
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
        create_ws_route_handlers=False,
    )

    @asynccontextmanager
    async def runtime_lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, client=client)
        app.state.runtime = runtime
        log.info("api started", extra={"wiring": wiring_report()})
        # What startup built lives as long as the process: keep it out of the cyclic GC's full collections,
        # which otherwise walk ~100k objects (≈50 ms) in the middle of a request now and then.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await runtime.close()

    app = Litestar(
        signature_namespace={"Tokens": Tokens},
        route_handlers=[
            OpsController,
            CustomerController,
            AuthController,
            OrderController,
            ChannelController,
            WritebackController,
            WarehouseController,
            LocationController,
            SkuController,
            StockController,
            UserController,
            RuleController,
            PipelineController,
            WebhookController,
            ImportController,
            PickingController,
            CarrierAccountController,
            WaybillController,
            CarrierChoiceController,
            WaveLabelController,
            TrackingController,
            TrackingWebhookController,
            TrackingPageController,
            NotifySetupController,
            NotificationController,
            PdaController,
            floor_socket,
        ],
        dependencies={"tokens": Provide(lambda: tokens, sync_to_thread=False)},
        on_app_init=[jwt_auth.on_app_init],
        plugins=[channels, FanoutDependency()],
        lifespan=[runtime_lifespan],
        middleware=[MetricsMiddleware()],
        exception_handlers={
            OrderHubError: _orderhub_error,
            ValidationException: _validation_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        openapi_config=_openapi(settings),
        logging_config=None,
        request_max_body_size=20 * 1024 * 1024,
        debug=False,
    )
    document_errors(app)  # every operation's 400/401/403/404/409/422 problem+json answers, with their codes
    return app

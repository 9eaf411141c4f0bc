"""The composition root: ``create_app()`` wires plugins, error mapping, routers and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Request, Response
from litestar.channels import ChannelsPlugin
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import ASGIMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins import InitPluginProtocol
from litestar.types import ASGIApp, Receive, Scope, Send

from api.aftersales.controllers import AfterSaleController
from api.alerts.controllers import AlertController, AlertRuleController
from api.approvals.controllers import (
    ApprovalAuditController,
    ApprovalFlowController,
    ApprovalInboxController,
    ApprovalRequestController,
)
from api.auth.controllers import AuthController
from api.catalog.controllers import SkuController
from api.channels.controllers import ChannelController, WritebackController
from api.customs.controllers import RulePackController, SkuCustomsController
from api.customs.documents import CustomsDocumentController
from api.dash.controllers import DashController
from api.decoding import error_field, explain
from api.finance.controllers import FinanceController
from api.finance.imports import SettlementImportController
from api.finance.reports import ReportsController
from api.health.controllers import HealthController, InquiryController
from api.imports.controllers import ImportController
from api.insights.controllers import CopurchaseController, PeaksController
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
from api.offers.controllers import OfferController
from api.ops.controllers import OpsController
from api.orders.controllers import OrderController
from api.picking.controllers import PickingController
from api.pipeline.controllers import PipelineController
from api.rules.controllers import RuleController
from api.security import Tokens, authorize, build_jwt_auth
from api.users.controllers import UserController
from api.webhooks.controllers import WebhookController
from api.wecom.controllers import WeComCallbackController
from miniprogram_api.customer import CustomerController
from miniprogram_api.staff import StaffApprovalController, StaffController
from orderhub import __version__
from orderhub import redis as redis_mod
from orderhub.carriers.port import CarrierError, CarrierUnavailable
from orderhub.channels.port import DecryptRefused, PlatformError, PlatformUnavailable
from orderhub.clock import to_shanghai
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
    TooManyAttempts,
    ValidationFailed,
)
from orderhub.inventory.service import StockShortage
from orderhub.logistics.printing import PrinterAddressRefused, PrinterUnreachable
from orderhub.logs import configure_logging
from orderhub.metrics import REQUEST_LATENCY, REQUESTS
from orderhub.picking.sessions import listen_for_ended_sessions
from orderhub.runtime import start_runtime
from orderhub.settings import Settings, get_settings
from pda.controllers import PdaController
from pda.returns import ReturnsController
from realtime.dashboard import dash_socket
from realtime.fanout import KEEPALIVE_CHANNEL, ReconnectingPubSubBackend
from realtime.floor import floor_socket
from server.api_docs import docs_router, render_plugins
from server.console import console_router
from server.errors_doc import code_list
from server.openapi_errors import document_errors
from server.outages import RETRY_AFTER_SECONDS, outage_error
from server.pda_pages import pda_pages
from server.wiring import wire, wiring_report

__all__ = ["create_app"]

log = logging.getLogger("orderhub.api")

PROBLEM_JSON = "application/problem+json"
_STATUS: list[tuple[type[OrderHubError], int]] = [
    (ValidationFailed, 422),
    (CarrierUnavailable, 503),
    (CarrierError, 422),
    (DecryptRefused, 409),  # the platform will not decrypt: print through its e-waybill service instead
    (PlatformUnavailable, 503),
    (PlatformError, 502),
    (PrinterUnreachable, 502),  # the pack station's network label printer (orderhub.logistics.printing)
    (PrinterAddressRefused, 422),  # … at an address the hub never writes to (loopback, link-local, multicast)
    (NotFound, 404),
    (StockShortage, 409),
    (InvalidTransition, 409),
    (Conflict, 409),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (ServiceUnavailable, 503),
    (TooManyAttempts, 429),
]
_MISSING_PARAM = re.compile(r"^Missing required \w+ parameter '([^']+)'")
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
    answer = _problem(request, status_for(type(exc)), exc.code, exc.message, exc.field, exc.extra)
    if isinstance(exc.extra.get("retry_after"), int):  # a throttled sign-in: when to try again
        answer.headers["Retry-After"] = str(exc.extra["retry_after"])
    elif answer.status_code == 503:  # something we depend on is down: say when to try again
        answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return answer


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    field = None
    detail = str(exc.detail)
    extra = exc.extra if isinstance(exc.extra, list) else []
    if extra and isinstance(extra[0], dict):
        detail = str(extra[0].get("message") or detail)
        key = extra[0].get("key")
        # "data" is litestar's name for the whole body; the field is then in msgspec's message.
        field = error_field(detail) or (key if key and key != "data" else None)
    elif (missing := _MISSING_PARAM.match(detail)) is not None:
        field = missing.group(1)
    message = f"请求不合法：{explain(detail)}"
    return _problem(request, 422, CommonError.VALIDATION_ERROR, message, field)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    code, message = _HTTP_CODES.get(exc.status_code, _HTTP_OTHER)
    return _problem(request, exc.status_code, code, message, None)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if (outage := outage_error(exc)) is not None:  # a store is down, not a bug: 503, when to retry, no traceback
        log.warning(
            "store unavailable", extra={"code": outage.code, "route": _route_of(request.scope), "error": repr(exc)}
        )
        return _orderhub_error(request, outage)
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
    log.exception("unhandled error", extra={"route": _route_of(request.scope)})
    return _problem(request, 500, HttpError.INTERNAL_ERROR, HttpError.INTERNAL_ERROR.message, None)


# A time the domain wrote into an event's data as text (``ship_by``, ``signed_at``: stored as UTC).
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


_TIME_KEYS = frozenset({"at", "ship_by", "cutoff", "since", "until"})


def _is_time_key(key: Any) -> bool:
    return isinstance(key, str) and (key in _TIME_KEYS or key.endswith("_at"))


def _shown_in_shanghai(value: Any, key: Any = None) -> Any:
    if isinstance(value, datetime):
        return to_shanghai(value) if value.tzinfo is not None else value
    # Text is re-expressed only under a time's name (``*_at``, ``ship_by`` …): a memo or a tag that merely looks
    # like a time is the user's data and is answered as given.
    if isinstance(value, str) and _is_time_key(key) and len(value) <= 35 and _RFC3339.fullmatch(value):
        return to_shanghai(datetime.fromisoformat(value)).isoformat()
    if isinstance(value, dict):
        return {k: _shown_in_shanghai(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown_in_shanghai(v, key) for v in value]
    return value


async def _times_in_shanghai(response: Response[Any]) -> Response[Any]:
    """One rule for every JSON answer: times are shown in Asia/Shanghai (+08:00), whichever zone the domain handed
    over (stored UTC, a vendor's time, a computed deadline). Inputs may carry any offset."""
    content = getattr(response, "content", None)  # file and stream answers have none
    if getattr(response, "media_type", None) == "application/json" and isinstance(
        content, dict | list | msgspec.Struct
    ):
        response.content = _shown_in_shanghai(msgspec.to_builtins(content, builtin_types=(datetime,)))
    return response


class FanoutDependency(InitPluginProtocol):
    """Offers the ChannelsPlugin as the ``fanout`` dependency instead of ``channels`` (it must come after it in
    ``plugins``). Litestar files a body or query field's validation error under an app dependency of the same name as
    the dependency's own failure (a 500): carrier rules' ``channels`` field collided with it."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.dependencies["fanout"] = app_config.dependencies.pop("channels")
        return app_config


def _route_of(scope: Any) -> str:
    """The route's template (``/t/{token}``), never the path itself: paths carry tracking-page tokens and
    customers' phone numbers (``/api/v1/notify/contacts/{phone}``), which stay out of logs and metrics."""
    template = scope.get("path_template")
    if template:
        return str(template)
    handler = scope.get("route_handler")
    return next(iter(sorted(handler.paths)), "?") if handler is not None else "unmatched"


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
            route = _route_of(scope)
            elapsed = time.perf_counter() - started
            method = scope.get("method", "?")
            REQUESTS.labels(method, route, str(status_holder["status"])).inc()
            REQUEST_LATENCY.labels(method, route).observe(elapsed)
            if route not in ("/healthz", "/metrics"):
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": route,
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
        openapi_router=docs_router("/schema"),  # Redoc and Swagger UI from the hub's own copies, no CDN
        render_plugins=render_plugins(),
        use_handler_docstrings=True,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    wire()
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if not settings.redis_url:
        raise RuntimeError("ORDERHUB_REDIS_URL must be set for the API (orderhub run sets it for you)")
    redis_url: str = settings.redis_url
    client = redis_mod.create_client(redis_url)
    jwt_auth = build_jwt_auth(settings)
    tokens = Tokens(jwt_auth, settings.token_ttl_seconds)
    channels = ChannelsPlugin(
        backend=ReconnectingPubSubBackend(settings.redis_url),  # reconnects after a Redis restart
        channels=[KEEPALIVE_CHANNEL],  # the rest on demand (realtime/fanout.py)
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=1000,
        subscriber_backlog_strategy="dropleft",
        create_ws_route_handlers=False,
    )

    @asynccontextmanager
    async def runtime_lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, client=client)
        app.state.runtime = runtime
        # the handhelds' sessions are cached per process while this hears which ones end (orderhub/picking/sessions.py)
        sessions_ended = asyncio.create_task(listen_for_ended_sessions(redis_url), name="pda-sessions-ended")
        log.info("api started", extra={"wiring": wiring_report()})
        # What startup built lives as long as the process: keep it out of the cyclic GC's full collections,
        # which otherwise walk ~100k objects (≈50 ms) in the middle of a request now and then.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            sessions_ended.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sessions_ended
            await runtime.close()

    app = Litestar(
        signature_namespace={"Tokens": Tokens},
        route_handlers=[
            OpsController,
            CustomerController,
            StaffController,
            StaffApprovalController,
            AuthController,
            OrderController,
            ChannelController,
            WritebackController,
            WarehouseController,
            LocationController,
            SkuController,
            SkuCustomsController,  # SKUs' customs data and its import (docs/customs.md)
            RulePackController,  # destination rule packs (docs/customs.md)
            CustomsDocumentController,  # packing list, CN 22 / CN 23 PDFs (docs/customs.md)
            StockController,
            UserController,
            RuleController,
            OfferController,  # add-on offers and the storefront's offers query (docs/offers.md)
            PipelineController,
            WebhookController,
            WeComCallbackController,  # the approval cards' WeCom callback
            ImportController,
            PickingController,
            CarrierAccountController,
            WaybillController,
            CarrierChoiceController,
            WaveLabelController,
            TrackingController,
            TrackingWebhookController,
            TrackingPageController,
            console_router(),  # the managers' H5 console at /m/ (docs/console.md)
            NotifySetupController,
            NotificationController,
            AlertRuleController,
            AlertController,
            PdaController,
            *pda_pages(),  # the handhelds' H5 client at /pda/ and /pda/pack (docs/pda-client.md)
            ReturnsController,  # receiving returned goods (after-sales)
            DashController,
            HealthController,
            FinanceController,
            SettlementImportController,  # bill files (docs/finance.md)
            ReportsController,  # the weekly report, the daily reconciliation's XLSX and PDF (docs/reports.md)
            InquiryController,
            CopurchaseController,  # co-purchase mining and time-of-week peaks (docs/insights-mining.md)
            PeaksController,
            ApprovalFlowController,
            ApprovalRequestController,
            ApprovalInboxController,
            ApprovalAuditController,
            AfterSaleController,
            floor_socket,
            dash_socket,
        ],
        dependencies={"tokens": Provide(lambda: tokens, sync_to_thread=False)},
        guards=[authorize],  # every operation's roles and scope: orderhub/auth/policy.py
        on_app_init=[jwt_auth.on_app_init],
        plugins=[channels, FanoutDependency()],
        lifespan=[runtime_lifespan],
        middleware=[MetricsMiddleware()],
        after_request=_times_in_shanghai,
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

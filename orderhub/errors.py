"""One error hierarchy for the whole hub, and the catalogue of its codes.

Every error carries a stable English ``code`` (clients branch on it), a zh-CN ``message`` (people read it) and,
where one input is at fault, the ``field``. No HTTP status lives here: ``server.app`` maps errors to statuses.

Codes are never string literals at the raise site: each context declares its codes next to its code, in its own
``errors.py``, as an :class:`ErrorCode` catalogue (a ``StrEnum``; each member is the code, its default zh-CN message
and a one-line English description)::

    class OrderError(ErrorCode):
        NOT_PACKED = "not_packed", "订单打包完成后才能取运单号", "The order is not packed yet."

    raise Conflict(OrderError.NOT_PACKED)                                  # the default message
    raise Conflict("称重通过后才能取运单号", code=OrderError.NOT_PACKED, field="pack_id")  # a specific one

The codes shared by every context (and the ones the app's own handlers answer with) are below. ``docs/errors.md``
lists them all (``python -m server.errors_doc``); ``tests/unit/test_error_catalogue.py`` keeps them unique.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "CommonError",
    "Conflict",
    "ErrorCode",
    "HttpError",
    "InvalidTransition",
    "NotFound",
    "OrderHubError",
    "PermissionDenied",
    "ServiceUnavailable",
    "TooManyAttempts",
    "ValidationFailed",
    "catalogues",
]


class ErrorCode(StrEnum):
    """The base of every context's catalogue of error codes. A member is ``NAME = code, zh-CN message, description``:
    it compares equal to (and serialises as) its code; ``.message`` is the default zh-CN text people read and
    ``.description`` a one-line English note for the published list."""

    message: str
    description: str

    def __new__(cls, code: str, message: str = "", description: str = "") -> ErrorCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.message = message
        member.description = description
        return member


def catalogues() -> list[type[ErrorCode]]:
    """Every catalogue declared so far (the modules declaring them must have been imported)."""
    found: list[type[ErrorCode]] = []
    pending: list[type[ErrorCode]] = [ErrorCode]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.append(sub)
            pending.append(sub)
    return found


class CommonError(ErrorCode):
    """Codes every context uses: the hierarchy's defaults and a few shared situations."""

    ERROR = "error", "请求无法完成", "The request could not be completed (no more specific code)."
    VALIDATION_ERROR = "validation_error", "输入不合法", "An input is invalid; `field` names it."
    NOT_FOUND = "not_found", "找不到该资源", "The resource does not exist (or is outside your scope)."
    CONFLICT = "conflict", "与现有数据冲突", "The request conflicts with the current data."
    INVALID_TRANSITION = "invalid_transition", "订单当前状态不允许此操作", "The order's status does not allow this."
    UNAUTHENTICATED = "unauthenticated", "身份验证失败", "No valid token or device session."
    FORBIDDEN = "forbidden", "没有权限执行此操作", "Your role or scope does not allow this."
    FORBIDDEN_WAREHOUSE = (
        "forbidden_warehouse", "只能操作本仓库的数据", "You are bound to one warehouse; this belongs to another."
    )
    FORBIDDEN_GLOBAL = (
        "forbidden_global", "绑定仓库的账号不能修改全局配置", "Hub-wide settings are for users bound to no warehouse."
    )
    SERVICE_UNAVAILABLE = "service_unavailable", "服务暂不可用，请稍后重试", "A service we depend on is down; retry."
    DATABASE_UNAVAILABLE = (
        "database_unavailable",
        "数据库暂不可用，请稍后重试",
        "The database cannot be reached (down, restarting, out of connections); retry after `Retry-After` seconds.",
    )
    REDIS_UNAVAILABLE = (
        "redis_unavailable",
        "缓存与队列服务暂不可用，请稍后重试",
        "Redis (sessions, job queue, replay guard) cannot be reached; retry after `Retry-After` seconds.",
    )
    DUPLICATE_CODE = "duplicate_code", "编码已存在", "A warehouse, location, SKU or channel with this code exists."
    CONCURRENT_UPDATE = (
        "concurrent_update", "数据已被其他操作修改，请刷新后重试", "Another operation changed the record first; reload."
    )


class HttpError(ErrorCode):
    """Codes the app's own handlers answer with (framework errors and safety nets), not raised by the domain."""

    BAD_REQUEST = "bad_request", "请求格式不正确", "The request is malformed."
    JSON_TOO_DEEP = "json_too_deep", "JSON 嵌套层数过多", "The JSON body nests deeper than the decoder allows."
    METHOD_NOT_ALLOWED = "method_not_allowed", "不支持该请求方法", "The route does not accept this method."
    PAYLOAD_TOO_LARGE = "payload_too_large", "请求体过大", "The body exceeds the 20 MB limit."
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", "不支持的内容类型", "The body's content type is not accepted."
    TOO_MANY_REQUESTS = "too_many_requests", "请求过于频繁", "Rate limited; retry later."
    HTTP_ERROR = "http_error", "请求无法完成", "Any other HTTP-level refusal (its status is the response's)."
    DUPLICATE = "duplicate", "数据已存在（可能是并发提交）", "A unique constraint fired (two concurrent creates)."
    VALUE_OUT_OF_RANGE = "value_out_of_range", "数值或文本超出允许范围", "A value does not fit its column."
    INTERNAL_ERROR = "internal_error", "服务器内部错误，请稍后重试", "An unexpected error (logged); retry later."


class OrderHubError(Exception):
    code: ClassVar[ErrorCode] = CommonError.ERROR
    default_message: ClassVar[str] = CommonError.ERROR.message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__ and "default_message" not in cls.__dict__:
            cls.default_message = cls.code.message

    def __init__(
        self,
        message: str | ErrorCode | None = None,
        *,
        code: ErrorCode | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(message, ErrorCode):  # raise NotFound(PickingError.TASK_NOT_FOUND): its default message
            code, message = code or message, message.message
        self.message = message or (code.message if code is not None else self.default_message)
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.field = field
        self.extra = extra or {}
        super().__init__(f"{self.code}: {self.message}")


class ValidationFailed(OrderHubError):
    code: ClassVar[ErrorCode] = CommonError.VALIDATION_ERROR


class NotFound(OrderHubError):
    code: ClassVar[ErrorCode] = CommonError.NOT_FOUND


class Conflict(OrderHubError):
    code: ClassVar[ErrorCode] = CommonError.CONFLICT


class InvalidTransition(OrderHubError):
    code: ClassVar[ErrorCode] = CommonError.INVALID_TRANSITION


class AuthenticationFailed(OrderHubError):
    code: ClassVar[ErrorCode] = CommonError.UNAUTHENTICATED


class PermissionDenied(OrderHubError):
    code: ClassVar[ErrorCode] = CommonError.FORBIDDEN


class ServiceUnavailable(OrderHubError):
    code: ClassVar[ErrorCode] = CommonError.SERVICE_UNAVAILABLE


class TooManyAttempts(OrderHubError):
    """Refused before it is looked at: too many failed attempts (sign-in throttling, a locked account). ``extra``
    carries ``retry_after`` (seconds), which the app also sends as the ``Retry-After`` header."""

    code: ClassVar[ErrorCode] = HttpError.TOO_MANY_REQUESTS

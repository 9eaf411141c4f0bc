"""One error hierarchy for the whole hub.

Every error carries a stable English ``code`` (clients branch on it), a zh-CN ``message`` (people read it) and,
where one input is at fault, the ``field``. No HTTP status lives here: ``server.app`` maps codes to statuses.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "InvalidTransition",
    "NotFound",
    "OrderHubError",
    "PermissionDenied",
    "ServiceUnavailable",
    "ValidationFailed",
]


class OrderHubError(Exception):
    code: ClassVar[str] = "error"
    default_message: ClassVar[str] = "请求无法完成"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.field = field
        self.extra = extra or {}
        super().__init__(f"{self.code}: {self.message}")


class ValidationFailed(OrderHubError):
    code = "validation_error"
    default_message = "输入不合法"


class NotFound(OrderHubError):
    code = "not_found"
    default_message = "找不到该资源"


class Conflict(OrderHubError):
    code = "conflict"
    default_message = "与现有数据冲突"


class InvalidTransition(OrderHubError):
    code = "invalid_transition"
    default_message = "订单当前状态不允许此操作"


class AuthenticationFailed(OrderHubError):
    code = "unauthenticated"
    default_message = "身份验证失败"


class PermissionDenied(OrderHubError):
    code = "forbidden"
    default_message = "没有权限执行此操作"


class ServiceUnavailable(OrderHubError):
    code = "service_unavailable"
    default_message = "服务暂不可用，请稍后重试"

"""Bearer-token (JWT) authentication and role guards for the back-office API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from orderhub.auth.service import Role, UserView, get_user
from orderhub.errors import AuthenticationFailed, CommonError, PermissionDenied
from orderhub.settings import Settings

__all__ = ["PUBLIC_PATHS", "Tokens", "build_jwt_auth", "requires", "roles_of"]

# Regular expressions matched against the whole path (litestar searches them anywhere, hence the anchors).
PUBLIC_PATHS = [
    "^/api/v1/auth/login$",
    "^/api/v1/orders/ingest$",  # admin bearer OR channel signature, checked in the handler
    "^/api/v1/webhooks/douyin/[^/]+$",  # the platform's push signature, checked in the handler
    "^/api/v1/webhooks/kuaidi100/[0-9]+$",  # 快递100's sign with the parcel's salt, checked in the handler
    "^/healthz$",
    "^/readyz$",
    "^/metrics$",
    "^/schema(/|$)",
    "^/pda/v1/",  # device sessions (pda.controllers), not back-office bearer tokens
    "^/ws/floor$",  # ?token= device session, checked by the websocket handler
    "^/t/[^/]+$",  # the customer's tracking page: its unguessable token is the key
]


async def _retrieve_user(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> UserView | None:
    try:
        user = await get_user(int(token.sub))
    except ValueError:
        return None
    return user if user is not None and user.active else None


def build_jwt_auth(settings: Settings) -> JWTAuth[UserView, Token]:
    return JWTAuth[UserView, Token](
        retrieve_user_handler=_retrieve_user,
        token_secret=settings.secret_key,
        default_token_expiration=timedelta(seconds=settings.token_ttl_seconds),
        exclude=PUBLIC_PATHS,
        exclude_opt_key="public",
    )


class Tokens:
    """Issues and checks bearer tokens (injected as ``tokens``; wraps the app's JWTAuth)."""

    def __init__(self, jwt_auth: JWTAuth[UserView, Token], ttl_seconds: int) -> None:
        self.jwt_auth = jwt_auth
        self.ttl_seconds = ttl_seconds

    def issue(self, user: UserView) -> str:
        return self.jwt_auth.create_token(identifier=str(user.id), token_extras={"role": user.role})

    async def user_for(self, authorization: str) -> UserView:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "bearer" or not encoded:
            raise AuthenticationFailed("Authorization 头格式应为 Bearer <token>", code=CommonError.UNAUTHENTICATED)
        try:
            token = Token.decode(encoded, secret=self.jwt_auth.token_secret, algorithm=self.jwt_auth.algorithm)
        except Exception as exc:
            raise AuthenticationFailed("令牌无效或已过期", code=CommonError.UNAUTHENTICATED) from exc
        user = await _retrieve_user(token, None)  # type: ignore[arg-type]
        if user is None:
            raise AuthenticationFailed("令牌对应的账号不存在或已停用", code=CommonError.UNAUTHENTICATED)
        return user


def roles_of(*roles: Role) -> frozenset[str]:
    return frozenset(r.value for r in roles)


def requires(*roles: Role) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    allowed = roles_of(*roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if getattr(handler, "http_methods", None) == {"OPTIONS"}:
            # The OPTIONS answer litestar adds to each path (204 + Allow) is owned by the path's controller, so its
            # guards run on it, unauthenticated (auth skips OPTIONS): answer it as on unguarded paths.
            return
        user = connection.scope.get("user")  # unset outside authentication (connection.user would raise: a 500)
        if not isinstance(user, UserView) or user.role not in allowed:
            raise PermissionDenied(f"需要以下角色之一：{'、'.join(sorted(allowed))}")

    return guard

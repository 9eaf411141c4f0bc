"""Bearer-token (JWT) authentication and role guards for the back-office API."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from orderhub.auth import revocation
from orderhub.auth.miniprogram import session_matches
from orderhub.auth.policy import Scope, check_role, check_scope, operation_key, rule_for
from orderhub.auth.service import UserView, get_user
from orderhub.errors import AuthenticationFailed, CommonError, PermissionDenied
from orderhub.settings import Settings

log = logging.getLogger("orderhub.api")

__all__ = ["PUBLIC_PATHS", "Tokens", "authorize", "build_jwt_auth"]

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
    "^/pda(/|$)",  # the handhelds' H5 client: static files (server.pda_pages); data via /pda/v1 with a device token
    "^/ws/floor$",  # device session (header or first message), checked by the websocket handler
    "^/ws/dash$",  # bearer token (header or first message), checked by the websocket handler (realtime.dashboard)
    "^/t/[^/]+$",  # the customer's tracking page: its unguessable token is the key
    "^/m(/|$)",  # the managers' H5 console: static files; its data comes from the API with a bearer token
]


async def _retrieve_user(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> UserView | None:
    """The token's user, unless the token was revoked: signed out (its ``jti``), or issued before the user's
    ``token_version`` moved on (a password, role, warehouse or active change, or signing out everywhere)."""
    try:
        user = await get_user(int(token.sub))
    except ValueError:
        return None
    if user is None or not user.active or token.extras.get("ver", 0) != user.token_version:
        return None
    if "mp" in token.extras and not session_matches(user, token.extras["mp"]):
        return None  # a mini-program session whose WeChat binding was removed or moved on
    if isinstance(token.jti, str) and await revocation.is_revoked(token.jti):
        return None
    return user


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

    def issue(self, user: UserView, *, mp_session: str | None = None) -> str:
        """A bearer token for the user; ``mp_session`` (``orderhub.auth.miniprogram.session_key``) makes it a
        mini-program session, which also ends when the account's WeChat binding is removed or changed."""
        extras: dict[str, Any] = {"role": user.role, "ver": user.token_version}
        if mp_session is not None:
            extras["mp"] = mp_session
        return self.jwt_auth.create_token(
            identifier=str(user.id),
            token_unique_jwt_id=secrets.token_urlsafe(16),  # what signing out revokes
            token_extras=extras,
        )

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


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The app's one guard: the operation's rule in ``orderhub.auth.policy.POLICY`` (roles, and the scope the guard
    can check without a lookup: hub-wide operations refused to bound users, another warehouse named in the path or
    the query). Public and device operations check their own key (the handler, ``pda.controllers``); an operation
    missing from the table is refused.

    A coroutine though it awaits nothing: litestar runs a plain function guard in its thread pool (``sync_to_thread``),
    a hand-off to a thread and back on every request (py-spy on bench.pda: the pool's submit alone ≈ 2 % of an API
    process's busy time, plus the wake-ups)."""
    scope = connection.scope
    method = str(scope.get("method") or "WEBSOCKET")
    if method == "OPTIONS":
        return  # litestar's automatic OPTIONS answer (204 + Allow), unauthenticated as on every path
    template = str(scope.get("path_template") or connection.url.path)
    rule = rule_for(method, template)
    if rule is not None and rule.scope in (Scope.PUBLIC, Scope.DEVICE):
        return
    key = operation_key(method, template)
    user = scope.get("user")  # unset outside authentication (connection.user would raise: a 500)
    if rule is None:
        log.warning("operation has no policy entry: add it to orderhub/auth/policy.py", extra={"operation": key})
    if not isinstance(user, UserView):
        raise PermissionDenied("需要登录后台账号")
    check_role(rule, user.role, key)
    assert rule is not None
    params: dict[str, object] = dict(connection.path_params)
    if "warehouse" not in params and (named := connection.query_params.get("warehouse")):
        params["warehouse"] = named
    check_scope(rule, user.warehouse, params)

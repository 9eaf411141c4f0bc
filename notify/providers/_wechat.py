"""What the three WeChat providers share: wechatpy clients pointed at a configurable host with one access token per
app shared through Redis, the errcode → notifier error table, and the sync-call wrapper.

wechatpy's own token handling (1.8.18, ``wechatpy/client/base.py``), and what we change:

* ``access_token`` reads the token from the session storage; with :class:`RedisStorage` every process sees the
  token any process fetched. Kept — but wechatpy re-fetches when *its own* ``expires_at`` says so (each process
  keeps a private clock), so our property trusts the Redis key alone (stored with a TTL a little under
  ``expires_in``) and refreshes under a Redis lock.
* on errcode 40001 / 40014 / 42001 (``auto_retry=True``) it calls ``fetch_access_token()`` unconditionally and
  re-issues the request *recursively without a bound*: every process that sees the error fetches its own token,
  and a token that keeps failing recurses until ``RecursionError``. We build the clients with ``auto_retry=False``
  and retry exactly once in :meth:`SharedTokenClient._request`; before fetching, the refresh checks under the lock
  whether another process already replaced the stale token, so one expiry costs one fetch, not one per process.
* ``_fetch_access_token`` hard-codes no URL (the subclasses' ``fetch_access_token`` do): ours pass the configured
  token URL to it. It calls ``requests`` without a timeout, so the session gets an adapter with a default timeout.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests
from redis.exceptions import LockError
from requests.adapters import HTTPAdapter
from wechatpy.client import WeChatClient
from wechatpy.client.api import WeChatWxa
from wechatpy.client.base import BaseWeChatClient
from wechatpy.enterprise.client import WeChatClient as WeComClientBase
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from orderhub.notifications.port import (
    NotifyError,
    PermanentNotifyError,
    RecipientRefused,
    ThrottledNotifyError,
    TransientNotifyError,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ERRCODE_ERRORS",
    "MP_BASE_URL",
    "REDIS_PREFIX",
    "TOKEN_ERRCODES",
    "WECOM_BASE_URL",
    "AccessTokenError",
    "MiniProgramClient",
    "OfficialAccountClient",
    "SharedTokenClient",
    "SubscribeWxa",
    "WeComClient",
    "call_wechat",
    "optional_key",
    "redact",
    "redis_session",
    "required_keys",
    "run_wechat",
    "timeout_from",
    "to_notify_error",
]

MP_BASE_URL = "https://api.weixin.qq.com/"  # 公众号 and 小程序
WECOM_BASE_URL = "https://qyapi.weixin.qq.com/"  # 企业微信
REDIS_PREFIX = "orderhub:wechatpy"
DEFAULT_TIMEOUT = 10.0
TOKEN_TTL_MARGIN = 300  # seconds: cache a token this much shorter than expires_in, so it is replaced before it dies
REFRESH_LOCK_TIMEOUT = 30.0  # a refresh holding the lock longer than this is presumed dead
REFRESH_WAIT = 15.0  # how long a process waits for another's refresh

# The access token was refused: refresh it (once) and retry.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})  # invalid credential, invalid access_token, access_token expired

# errcode → what the outbox does. Anything not listed is permanent (40003 invalid openid, 40037 invalid
# template_id, 47003 argument invalid, 40013 invalid appid, 40125 invalid appsecret, 40056 invalid agentid,
# 81013 WeCom user & party & tag all invalid …).
ERRCODE_ERRORS: dict[int, type[NotifyError]] = {
    -1: TransientNotifyError,  # system busy (系统繁忙)
    43101: RecipientRefused,  # user refuse to accept the msg (小程序订阅消息)
    # a token error still there after the one refresh: try again later rather than drop the message
    40001: TransientNotifyError,
    40014: TransientNotifyError,
    42001: TransientNotifyError,
}


# quota / flow control: the message waits (retry_after seconds, or until midnight) without using up an attempt
THROTTLE_ERRCODES: dict[int, tuple[float, bool]] = {
    45009: (0.0, True),  # reach max api daily quota limit (resets at midnight)
    45011: (60.0, False),  # api minute-quota reach limit
    45033: (1.0, False),  # WeCom: api concurrent out of limit
}


class AccessTokenError(WeChatClientException):
    """Fetching the access token failed (40013 invalid appid, 40125 invalid appsecret, WeCom 40001 invalid secret):
    a configuration error, not an expired token."""


# A URL's query string (``?access_token=…&…``, also in the bare paths urllib3 puts in its messages: "Max retries
# exceeded with url: /cgi-bin/oa/applyevent?access_token=…") and any ``name=value`` of a secret left elsewhere.
_QUERY = re.compile(r"\?[A-Za-z0-9_.%-]+=[^\s'\"()<>]*")
_SECRET = re.compile(r"\b(access_token|corpsecret|appsecret|secret|js_code|signature)=[^\s&'\"()<>]*", re.I)


def redact(text: str) -> str:
    """An error message fit to be stored: the query strings of its URLs dropped (the access token travels in them),
    any ``access_token=`` / ``secret=`` … left elsewhere masked."""
    return _SECRET.sub(r"\1=***", _QUERY.sub("", text))


def to_notify_error(exc: BaseException) -> NotifyError | None:
    """The notifier error for what wechatpy / requests raised, or None when it is not theirs. Messages are
    :func:`redact`-ed: requests' own name the URL called, access token included, and they end up stored."""
    if isinstance(exc, requests.Timeout):
        return TransientNotifyError("timeout", redact(str(exc)))
    if isinstance(exc, requests.RequestException):
        return TransientNotifyError("network", redact(str(exc)))
    if not isinstance(exc, WeChatClientException):
        return None
    if exc.errcode is None:  # an HTTP error status (wechatpy raises this from raise_for_status)
        status = getattr(exc.response, "status_code", 0) or 0
        message = redact(str(getattr(exc.response, "reason", "") or ""))
        if status >= 500 or status in (0, 408, 429):
            return TransientNotifyError(f"http_{status}", message)
        return PermanentNotifyError(f"http_{status}", message)
    errmsg = redact(str(exc.errmsg or ""))
    try:
        errcode = int(exc.errcode)
    except (TypeError, ValueError):
        return PermanentNotifyError(str(exc.errcode), errmsg)
    if errcode in THROTTLE_ERRCODES:
        retry_after, daily = THROTTLE_ERRCODES[errcode]
        return ThrottledNotifyError(str(errcode), errmsg, retry_after=retry_after, daily=daily)
    kind = ERRCODE_ERRORS.get(errcode, PermanentNotifyError)
    if isinstance(exc, AccessTokenError) and errcode in TOKEN_ERRCODES:
        kind = PermanentNotifyError  # WeCom answers 40001 to a wrong corpsecret
    return kind(str(errcode), errmsg)


def call_wechat(call: Callable[[], Any]) -> dict[str, Any]:
    """Run one wechatpy call (sync), translating its failures into notifier errors."""
    try:
        result = call()
    except (WeChatClientException, requests.RequestException) as exc:
        error = to_notify_error(exc)
        assert error is not None
        raise error from exc
    if not isinstance(result, dict):  # wechatpy hands back the raw response when it is not JSON
        status = getattr(result, "status_code", 0)
        raise TransientNotifyError("bad_response", f"not a JSON answer (HTTP {status})")
    return result


async def run_wechat(call: Callable[[], Any]) -> dict[str, Any]:
    """:func:`call_wechat` on a worker thread (wechatpy is synchronous)."""
    return await asyncio.to_thread(call_wechat, call)


# --- configuration ----------------------------------------------------------------------------------------------


def required_keys(config: Mapping[str, str], provider: str, *keys: str) -> dict[str, str]:
    missing = [key for key in keys if not str(config.get(key) or "").strip()]
    if missing:
        names = ", ".join(repr(key) for key in missing)
        raise ValueError(f"{provider} notifier config is missing {names} (needs {', '.join(keys)})")
    return {key: str(config[key]).strip() for key in keys}


def optional_key(config: Mapping[str, str], key: str, default: str = "") -> str:
    return str(config.get(key) or "").strip() or default


def timeout_from(config: Mapping[str, str], provider: str) -> float:
    raw = optional_key(config, "timeout")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{provider} notifier config: timeout must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{provider} notifier config: timeout must be positive")
    return value


def redis_session(redis: Any) -> Any:
    """wechatpy's Redis session storage over the process's sync ``redis.Redis`` client (None: in-memory)."""
    if redis is None:
        return None
    return RedisStorage(redis, prefix=REDIS_PREFIX)


# --- clients ----------------------------------------------------------------------------------------------------


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request of a session a timeout (wechatpy's token fetch passes none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def _root(base_url: str) -> str:
    return base_url.rstrip("/") + "/"


class SharedTokenClient(BaseWeChatClient):
    """Mixed in before a wechatpy client: configured host, a token shared through the session (Redis), one refresh
    per expiry across processes, one retry per request."""

    token_path = ""  # under the base URL: "cgi-bin/token" / "cgi-bin/gettoken"
    token_url = ""
    _local_lock: threading.Lock

    def _configure(self, base_url: str, timeout: float) -> None:
        root = _root(base_url)
        self.API_BASE_URL = root + "cgi-bin/"  # per instance: wechatpy reads self.API_BASE_URL
        self.token_url = root + self.token_path
        self._local_lock = threading.Lock()
        adapter = _TimeoutAdapter(timeout)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)

    def _token_params(self) -> dict[str, str]:
        raise NotImplementedError

    def fetch_access_token(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self._fetch_access_token(self.token_url, self._token_params())
        except WeChatClientException as exc:
            if exc.errcode is None:
                raise
            raise AccessTokenError(
                exc.errcode, exc.errmsg, client=self, request=exc.request, response=exc.response
            ) from exc
        expires_in = int(result.get("expires_in") or 7200)
        ttl = expires_in - TOKEN_TTL_MARGIN if expires_in > 2 * TOKEN_TTL_MARGIN else max(expires_in // 2, 1)
        self.session.set(self.access_token_key, result["access_token"], ttl)
        return result

    @property
    def access_token(self) -> str:
        token = self.session.get(self.access_token_key)
        if token:
            return str(token)
        return self.refresh_access_token(stale=None)

    def refresh_access_token(self, stale: str | None) -> str:
        """A fresh token replacing ``stale`` (None: there is none): the one another process already stored, or one
        fetched by us while holding the refresh lock."""
        current = self.session.get(self.access_token_key)
        if current and current != stale:
            return str(current)
        with self._refresh_lock():
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return str(current)
            self.fetch_access_token()
            return str(self.session.get(self.access_token_key))

    def _refresh_lock(self) -> Any:
        if isinstance(self.session, RedisStorage):
            name = self.session.key_name(f"{self.access_token_key}:refresh")
            return _LenientRedisLock(
                self.session.redis.lock(name, timeout=REFRESH_LOCK_TIMEOUT, blocking_timeout=REFRESH_WAIT)
            )
        return self._local_lock

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        params = kwargs.get("params")
        if params is not None and (not isinstance(params, dict) or "access_token" in params):
            return super()._request(method, url_or_endpoint, **kwargs)  # the caller brings its own token
        token = self.access_token
        try:
            return super()._request(method, url_or_endpoint, **_with_token(kwargs, params, token))
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRCODES or isinstance(exc, AccessTokenError):
                raise
        fresh = self.refresh_access_token(stale=token)
        return super()._request(method, url_or_endpoint, **_with_token(kwargs, params, fresh))


def _with_token(kwargs: dict[str, Any], params: dict[str, Any] | None, token: str) -> dict[str, Any]:
    return {**kwargs, "params": {**(params or {}), "access_token": token}}


class _LenientRedisLock:
    """The Redis refresh lock; when it cannot be had in time (a stuck holder), refresh anyway."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._held = False

    def __enter__(self) -> None:
        self._held = bool(self._lock.acquire())

    def __exit__(self, *exc: object) -> None:
        if self._held:
            try:
                self._lock.release()
            except LockError:  # it expired meanwhile (LockNotOwnedError): nothing to release
                pass


class OfficialAccountClient(SharedTokenClient, WeChatClient):
    """公众号 client (``/cgi-bin/token``, ``/cgi-bin/message/template/send``) on a configurable host."""

    token_path = "cgi-bin/token"

    def __init__(
        self, appid: str, secret: str, *, session: Any = None, base_url: str = MP_BASE_URL, timeout: float
    ) -> None:
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        self._configure(base_url, timeout)

    def _token_params(self) -> dict[str, str]:
        return {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}


class SubscribeWxa(WeChatWxa):
    """wechatpy's wxa API, whose ``send_subscribe_message`` also takes ``miniprogram_state`` and ``lang`` (fields of
    subscribeMessage.send that wechatpy 1.8 does not pass)."""

    def send_subscribe_message(
        self,
        user_id: str,
        template_id: str,
        data: dict[str, Any],
        page: str | None = None,
        miniprogram_state: str | None = None,
        lang: str | None = None,
    ) -> Any:
        body = {"touser": user_id, "template_id": template_id, "page": page, "data": data}
        body.update({"miniprogram_state": miniprogram_state, "lang": lang})
        return self._post("cgi-bin/message/subscribe/send", data={k: v for k, v in body.items() if v is not None})

    def get_phone_number(self, code: str) -> Any:
        """``wxa/business/getuserphonenumber``: the number a user shared through the getPhoneNumber button
        (wechatpy 1.8 has no call for it)."""
        return self._post("wxa/business/getuserphonenumber", data={"code": code})


class MiniProgramClient(OfficialAccountClient):
    """小程序 client: the same token endpoint; ``wxa`` (its own ``API_BASE_URL``, the host root) set per instance."""

    wxa = SubscribeWxa()

    def __init__(
        self, appid: str, secret: str, *, session: Any = None, base_url: str = MP_BASE_URL, timeout: float
    ) -> None:
        super().__init__(appid, secret, session=session, base_url=base_url, timeout=timeout)
        self.wxa.API_BASE_URL = _root(base_url)  # BaseWeChatAPI._post sends api_base_url=self.API_BASE_URL


class WeComClient(SharedTokenClient, WeComClientBase):
    """企业微信 client (``/cgi-bin/gettoken``, ``/cgi-bin/message/send``) on a configurable host."""

    token_path = "cgi-bin/gettoken"

    def __init__(
        self, corp_id: str, secret: str, *, session: Any = None, base_url: str = WECOM_BASE_URL, timeout: float
    ) -> None:
        super().__init__(corp_id, secret, session=session, timeout=timeout, auto_retry=False)
        self._configure(base_url, timeout)

    def _token_params(self) -> dict[str, str]:
        return {"corpid": self.corp_id, "corpsecret": self.secret}

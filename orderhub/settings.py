"""Settings read from the environment (``ORDERHUB_*``), once per process."""

from __future__ import annotations

import math
import os
import secrets
import string
import tempfile
import time
import zlib
from functools import lru_cache
from pathlib import Path

import msgspec

__all__ = [
    "Settings",
    "SettingsError",
    "background_queue_name",
    "check_secret_key",
    "get_settings",
    "load_settings",
    "private_dir",
    "reset_settings",
    "secret_key_bits",
]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str = ""
    admin_user: str | None = None
    admin_password: str | None = None
    # The pipeline's SAQ queue; everything else (waves, pulls, stock sync, notifications, …) runs on
    # :attr:`background_queue_name`, served by its own SAQ worker (``orderhub worker --role``, docs/architecture.md).
    queue_name: str = "orderhub"
    job_timeout: int = 60
    job_retries: int = 5
    worker_concurrency: int = 10
    # Jobs one process runs at once from the background queue (the pipeline worker's is worker_concurrency).
    background_concurrency: int = 4
    # The CPU niceness (0–19) `orderhub worker --role background` adds to itself: waves, rollups, pulls and
    # notifications can wait a few milliseconds, a picker waiting for the beep cannot. When they share cores with the
    # API, a wave build or a rollup catch-up then takes CPU only when the API's event loops do not need it.
    background_nice: int = 10
    saq_sweep_interval: int = 30
    stuck_after_seconds: int = 120
    sweeper_cron: str = "* * * * * */15"
    token_ttl_seconds: int = 12 * 3600
    signature_window_seconds: int = 300
    db_pool_size: int = 10
    log_level: str = "INFO"
    # The event loop of `serve` and `worker`: "auto" takes uvloop where it is installed (a dependency on Linux and
    # macOS), "asyncio" the standard library's (to tell a uvloop fault from ours).
    event_loop: str = "auto"
    log_json: bool = True
    # GET /metrics: with a token, only `Authorization: Bearer <token>`; without one, only from this host (loopback).
    metrics_token: str | None = None
    packing_b_weight_g: int = 5000
    packing_b_volume_cm3: int = 30000
    at_risk_margin_minutes: int = 240
    awaiting_stock_retry_seconds: int = 60
    merge_window_minutes: int = 720
    # Decrypts of encrypted receivers the hub asks one shop's platform for per day (Asia/Shanghai), below the
    # platform's own quota so that waybills never find it used up by people looking (orderhub.channels.decrypt).
    decrypt_daily_limit: int = 2000
    surge_threshold_per_min: int = 500
    surge_alert_per_min: int = 2000
    surge_cooldown_seconds: int = 60
    surge_check_seconds: int = 5
    pipeline_batch_size: int = 25
    pull_lookback_hours: int = 24
    pull_overlap_minutes: int = 10
    pull_retries: int = 4
    pull_retry_seconds: float = 2.0
    pull_cron: str = "* * * * * 0"
    # Automatic waves: how often the wave rules run (croniter with seconds; default every 20 s).
    wave_cron: str = "* * * * * */20"
    # Parcel tracking: poll parcels whose pushes stopped, flag stalled ones (default every 30 min).
    tracking_cron: str = "*/30 * * * * 0"
    # Notifications: send what is due (deferred by quiet hours, backoff or rate limits; default every 10 s), and
    # collect SMS delivery receipts (default every 5 min).
    notify_cron: str = "* * * * * */10"
    sms_receipts_cron: str = "*/5 * * * * 0"
    # Threshold alerts (docs/alerts.md): how often the rules are evaluated (croniter with seconds; every 30 s).
    alerts_cron: str = "* * * * * */30"
    # Shop authorisations (orderhub.channels.tokens, docs/channels.md#authorisation): how often they are looked
    # after (default every 10 min), how long before expiry an access token is refreshed, and how many days before
    # an authorisation the hub cannot renew expires the staff are told (each once per expiry date).
    token_cron: str = "*/10 * * * * 0"
    token_refresh_lead_minutes: int = 120
    token_notice_days: tuple[int, ...] = (7, 1)
    stock_sync_debounce_seconds: int = 5
    # Dashboards: how often each worker counts the new order events into the rollups (seconds; 0 stops it).
    rollups_interval_seconds: float = 0.5
    # Label printers on this machine's own addresses (127.0.0.0/8, ::1): refused unless allowed — the hub writes raw
    # bytes to the address a manager typed, and its own Redis and database listen there. Tests and the demo allow it.
    printer_allow_loopback: bool = False

    @property
    def background_queue_name(self) -> str:
        return background_queue_name(self.queue_name)

    @property
    def is_sqlite(self) -> bool:
        return not (self.database_url or "").startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> Path:
        url = self.database_url or ""
        if not url:
            return self.data_dir / "orderhub.sqlite3"
        if url.startswith("sqlite:///"):
            return Path(url[len("sqlite:///") :])
        return Path(url)


def background_queue_name(queue_name: str) -> str:
    """The background jobs' queue beside the pipeline queue ``queue_name``: ``orderhub`` → ``orderhub-background``."""
    return f"{queue_name}-background"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw not in (None, "") else default


def _days(env: dict[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = env.get(name) or ""
    try:
        days = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}, reverse=True))
    except ValueError as exc:
        raise SettingsError(f"{name} must be whole days separated by commas (e.g. 7,1), not {raw!r}") from exc
    if any(day < 1 for day in days):
        raise SettingsError(f"{name} must be whole days of at least 1, not {raw!r}")
    return days or default


def _nice(env: dict[str, str], name: str, default: int) -> int:
    try:
        value = _int(env, name, default)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number 0–19, not {env.get(name)!r}") from exc
    if not 0 <= value <= 19:
        raise SettingsError(f"{name} must be 0–19 (0: the API's priority), not {value}")
    return value


def _event_loop(value: str) -> str:
    if value not in EVENT_LOOPS:
        raise SettingsError(f"ORDERHUB_EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, not {value!r}")
    return value


EVENT_LOOPS = ("auto", "asyncio", "uvloop")


class SettingsError(ValueError):
    """A setting that cannot work (the message says which and what to do); the ``orderhub`` command prints it and
    exits instead of starting."""


# A configured key must carry at least this much entropy: 32 bytes, what ``secrets.token_urlsafe(32)`` (43
# characters) or 64 hex digits give.
MIN_SECRET_KEY_BITS = 256
_HEX = frozenset("0123456789abcdef")
_BASE64 = frozenset(string.ascii_letters + string.digits + "-_+/=")


def secret_key_bits(key: str) -> float:
    """A generous estimate of a key's entropy: its length times log2 of the alphabet it draws from (hex digits; or
    the union of digits, lower case, upper case and other characters it uses), but never more than what it
    compresses to (zlib): a repeated pattern (``aaaa…``, ``abcdabcd…``, ``0123456789abcdef`` × 4) compresses to a few
    bytes whatever its length, a random key hardly at all."""
    if not key:
        return 0.0
    chars = set(key)
    if chars <= _HEX or chars <= frozenset("0123456789ABCDEF"):
        alphabet = 16
    elif chars <= _BASE64 and len(chars) >= 16:
        alphabet = 64  # token_urlsafe / base64 output: 43 of its characters are 256 bits even if no digit came up
    else:
        alphabet = 0
        alphabet += 10 if any(c.isdigit() for c in chars) else 0
        alphabet += 26 if any(c.islower() for c in chars) else 0
        alphabet += 26 if any(c.isupper() for c in chars) else 0
        alphabet += 33 if any(not (c.isdigit() or c.islower() or c.isupper()) for c in chars) else 0
    alphabet = min(alphabet, len(chars) * 4)  # a handful of characters repeated is not a big alphabet
    # zlib's 6 bytes of header and checksum count as slack: a random key of 43 URL-safe characters (258 bits) can
    # deflate to a few bytes under its length, and ``token_urlsafe(32)`` must always pass.
    compressed = 8 * len(zlib.compress(key.encode(), 9))
    return min(len(key) * math.log2(max(alphabet, 2)), float(compressed))


def check_secret_key(key: str) -> None:
    """Refuse a configured ORDERHUB_SECRET_KEY too weak to sign tokens and seal credentials with: ``serve``,
    ``worker`` and ``run`` call it before they start. ``migrate`` signs and seals nothing, and a scratch database
    (a benchmark's) may be migrated with a throwaway key. A generated key always passes."""
    if len(key.encode()) < 32 or secret_key_bits(key) < MIN_SECRET_KEY_BITS:
        raise SettingsError(
            f"ORDERHUB_SECRET_KEY is too weak ({len(key)} characters, about {secret_key_bits(key):.0f} bits): it "
            f"needs at least {MIN_SECRET_KEY_BITS // 8} bytes of entropy, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`; or unset it to use the key generated "
            "in the data directory"
        )


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) for our private state: the directory itself is 0700."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _create_exclusively(path: Path, content: str) -> None:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return  # another process won the race
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


def _secret_key(data_dir: Path, given: str | None) -> str:
    """Use the configured key, or one generated once and kept (0600) in the data dir.

    Several processes may start on a fresh data dir at once (``orderhub run``'s API, worker and supervisor; or two
    ``serve`` processes): each writes a complete candidate to a private temporary file and hard-links it to
    ``secret_key``, which fails for all but the first. The file never exists half-written, and every process ends
    up with the winner's key."""
    if given:
        return given  # checked by the processes that sign and seal with it (check_secret_key), not by migrate
    path = data_dir / "secret_key"
    if not path.exists():
        private_dir(data_dir)
        fd, tmp = tempfile.mkstemp(prefix=".secret_key.", dir=data_dir)  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won the race: use its key
            except OSError:  # a file system without hard links: create it exclusively (readers wait for content)
                _create_exclusively(path, Path(tmp).read_text())
        finally:
            os.unlink(tmp)
    key = path.read_text().strip()
    for _ in range(50):  # written by a racing process without hard links: wait for its content
        if key:
            break
        time.sleep(0.02)
        key = path.read_text().strip()
    if not key:
        raise SettingsError(f"{path} is empty: delete it (a new key is generated) or set ORDERHUB_SECRET_KEY")
    return key


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("ORDERHUB_DATA_DIR") or "./var").resolve()
    return Settings(
        data_dir=data_dir,
        database_url=env.get("ORDERHUB_DATABASE_URL") or None,
        redis_url=env.get("ORDERHUB_REDIS_URL") or None,
        secret_key=_secret_key(data_dir, env.get("ORDERHUB_SECRET_KEY")),
        admin_user=env.get("ORDERHUB_ADMIN_USER") or None,
        admin_password=env.get("ORDERHUB_ADMIN_PASSWORD") or None,
        queue_name=env.get("ORDERHUB_QUEUE_NAME") or "orderhub",
        job_timeout=_int(env, "ORDERHUB_JOB_TIMEOUT", 60),
        job_retries=_int(env, "ORDERHUB_JOB_RETRIES", 5),
        worker_concurrency=_int(env, "ORDERHUB_WORKER_CONCURRENCY", 10),
        background_concurrency=_int(env, "ORDERHUB_BACKGROUND_CONCURRENCY", 4),
        background_nice=_nice(env, "ORDERHUB_BACKGROUND_NICE", 10),
        saq_sweep_interval=_int(env, "ORDERHUB_SAQ_SWEEP_INTERVAL", 30),
        stuck_after_seconds=_int(env, "ORDERHUB_STUCK_AFTER_SECONDS", 120),
        sweeper_cron=env.get("ORDERHUB_SWEEPER_CRON") or "* * * * * */15",
        token_ttl_seconds=_int(env, "ORDERHUB_TOKEN_TTL_SECONDS", 12 * 3600),
        signature_window_seconds=_int(env, "ORDERHUB_SIGNATURE_WINDOW_SECONDS", 300),
        db_pool_size=_int(env, "ORDERHUB_DB_POOL_SIZE", 10),
        log_level=env.get("ORDERHUB_LOG_LEVEL") or "INFO",
        event_loop=_event_loop(env.get("ORDERHUB_EVENT_LOOP") or "auto"),
        log_json=(env.get("ORDERHUB_LOG_FORMAT") or "json") == "json",
        metrics_token=env.get("ORDERHUB_METRICS_TOKEN") or None,
        packing_b_weight_g=_int(env, "ORDERHUB_PACKING_B_WEIGHT_G", 5000),
        packing_b_volume_cm3=_int(env, "ORDERHUB_PACKING_B_VOLUME_CM3", 30000),
        at_risk_margin_minutes=_int(env, "ORDERHUB_AT_RISK_MARGIN_MINUTES", 240),
        awaiting_stock_retry_seconds=_int(env, "ORDERHUB_AWAITING_STOCK_RETRY_SECONDS", 60),
        merge_window_minutes=_int(env, "ORDERHUB_MERGE_WINDOW_MINUTES", 720),
        decrypt_daily_limit=_int(env, "ORDERHUB_DECRYPT_DAILY_LIMIT", 2000),
        surge_threshold_per_min=_int(env, "ORDERHUB_SURGE_THRESHOLD_PER_MIN", 500),
        surge_alert_per_min=_int(env, "ORDERHUB_SURGE_ALERT_PER_MIN", 2000),
        surge_cooldown_seconds=_int(env, "ORDERHUB_SURGE_COOLDOWN_SECONDS", 60),
        surge_check_seconds=_int(env, "ORDERHUB_SURGE_CHECK_SECONDS", 5),
        pipeline_batch_size=_int(env, "ORDERHUB_PIPELINE_BATCH_SIZE", 25),
        pull_lookback_hours=_int(env, "ORDERHUB_PULL_LOOKBACK_HOURS", 24),
        pull_overlap_minutes=_int(env, "ORDERHUB_PULL_OVERLAP_MINUTES", 10),
        pull_retries=_int(env, "ORDERHUB_PULL_RETRIES", 4),
        pull_retry_seconds=float(env.get("ORDERHUB_PULL_RETRY_SECONDS") or 2.0),
        pull_cron=env.get("ORDERHUB_PULL_CRON") or "* * * * * 0",
        wave_cron=env.get("ORDERHUB_WAVE_CRON") or "* * * * * */20",
        tracking_cron=env.get("ORDERHUB_TRACKING_CRON") or "*/30 * * * * 0",
        notify_cron=env.get("ORDERHUB_NOTIFY_CRON") or "* * * * * */10",
        sms_receipts_cron=env.get("ORDERHUB_SMS_RECEIPTS_CRON") or "*/5 * * * * 0",
        alerts_cron=env.get("ORDERHUB_ALERTS_CRON") or "* * * * * */30",
        token_cron=env.get("ORDERHUB_TOKEN_CRON") or "*/10 * * * * 0",
        token_refresh_lead_minutes=_int(env, "ORDERHUB_TOKEN_REFRESH_LEAD_MINUTES", 120),
        token_notice_days=_days(env, "ORDERHUB_TOKEN_NOTICE_DAYS", (7, 1)),
        stock_sync_debounce_seconds=_int(env, "ORDERHUB_STOCK_SYNC_DEBOUNCE_SECONDS", 5),
        rollups_interval_seconds=float(env.get("ORDERHUB_ROLLUPS_INTERVAL_SECONDS") or 0.5),
        printer_allow_loopback=(env.get("ORDERHUB_PRINTER_ALLOW_LOOPBACK") or "0").lower() in ("1", "true", "yes"),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    get_settings.cache_clear()

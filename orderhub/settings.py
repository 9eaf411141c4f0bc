"""Settings read from the environment (``ORDERHUB_*``), once per process."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

import msgspec

__all__ = ["Settings", "get_settings", "load_settings", "reset_settings"]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str = ""
    admin_user: str | None = None
    admin_password: str | None = None
    queue_name: str = "orderhub"
    job_timeout: int = 60
    job_retries: int = 5
    worker_concurrency: int = 10
    saq_sweep_interval: int = 30
    stuck_after_seconds: int = 120
    sweeper_cron: str = "* * * * * */15"
    token_ttl_seconds: int = 12 * 3600
    signature_window_seconds: int = 300
    db_pool_size: int = 10
    log_level: str = "INFO"
    log_json: bool = True
    packing_b_weight_g: int = 5000
    packing_b_volume_cm3: int = 30000
    at_risk_margin_minutes: int = 240
    awaiting_stock_retry_seconds: int = 60
    merge_window_minutes: int = 720
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
    stock_sync_debounce_seconds: int = 5

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


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw not in (None, "") else default


def _secret_key(data_dir: Path, given: str | None) -> str:
    """Use the configured key, or one generated once and kept (0600) in the data dir."""
    if given:
        return given
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
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
        saq_sweep_interval=_int(env, "ORDERHUB_SAQ_SWEEP_INTERVAL", 30),
        stuck_after_seconds=_int(env, "ORDERHUB_STUCK_AFTER_SECONDS", 120),
        sweeper_cron=env.get("ORDERHUB_SWEEPER_CRON") or "* * * * * */15",
        token_ttl_seconds=_int(env, "ORDERHUB_TOKEN_TTL_SECONDS", 12 * 3600),
        signature_window_seconds=_int(env, "ORDERHUB_SIGNATURE_WINDOW_SECONDS", 300),
        db_pool_size=_int(env, "ORDERHUB_DB_POOL_SIZE", 10),
        log_level=env.get("ORDERHUB_LOG_LEVEL") or "INFO",
        log_json=(env.get("ORDERHUB_LOG_FORMAT") or "json") == "json",
        packing_b_weight_g=_int(env, "ORDERHUB_PACKING_B_WEIGHT_G", 5000),
        packing_b_volume_cm3=_int(env, "ORDERHUB_PACKING_B_VOLUME_CM3", 30000),
        at_risk_margin_minutes=_int(env, "ORDERHUB_AT_RISK_MARGIN_MINUTES", 240),
        awaiting_stock_retry_seconds=_int(env, "ORDERHUB_AWAITING_STOCK_RETRY_SECONDS", 60),
        merge_window_minutes=_int(env, "ORDERHUB_MERGE_WINDOW_MINUTES", 720),
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
        stock_sync_debounce_seconds=_int(env, "ORDERHUB_STOCK_SYNC_DEBOUNCE_SECONDS", 5),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    get_settings.cache_clear()

"""The state OrderHub keeps on disk is private and sound: the generated secret key (created once, whole, however many
processes start together), the refusal of a weak configured key, 0600 files in 0700 directories (SQLite with its
-wal/-shm, the embedded Redis's AOF), and who may read /metrics."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.ops.controllers import check_metrics_access
from orderhub.db import create_engine
from orderhub.errors import AuthenticationFailed, PermissionDenied
from orderhub.redis import EmbeddedRedis
from orderhub.settings import Settings, SettingsError, check_secret_key, load_settings, secret_key_bits


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _start_and_read_key(data_dir: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    try:
        out.put(("ok", load_settings({"ORDERHUB_DATA_DIR": data_dir}).secret_key))
    except BaseException as exc:
        out.put(("error", repr(exc)))


def test_processes_starting_together_on_a_fresh_data_dir_share_one_whole_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    trials, starters = 20, 4
    for trial in range(trials):
        data_dir = tmp_path / f"trial-{trial}" / "var"
        barrier = ctx.Barrier(starters)
        out: Any = ctx.Queue()
        procs = [ctx.Process(target=_start_and_read_key, args=(str(data_dir), barrier, out)) for _ in range(starters)]
        for proc in procs:
            proc.start()
        results = [out.get(timeout=30) for _ in procs]
        for proc in procs:
            proc.join(10)
        errors = [detail for status, detail in results if status == "error"]
        keys = {detail for status, detail in results if status == "ok"}
        assert not errors, f"trial {trial}: {errors}"
        assert len(keys) == 1 and len(keys.pop()) >= 43, f"trial {trial}: {results}"
        assert _mode(data_dir / "secret_key") == 0o600
        assert _mode(data_dir) == 0o700
        assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]  # no temporary file left behind


@pytest.mark.parametrize(
    "key",
    [
        "x",
        "change-me",
        "a" * 64,
        "ab" * 40,
        "0123456789abcdef0123456789abcdef",  # 32 hex digits: 16 bytes
        pytest.param(secrets.token_urlsafe(16), id="random-16-bytes"),  # ids stay the same in every xdist worker
        "a" * 1000,  # long, but one character: no entropy at all
        "abcd" * 20,
        "0123456789abcdef" * 4,  # 64 hex digits, a pattern
    ],
)
def test_a_weak_configured_secret_key_is_refused(tmp_path: Path, key: str) -> None:
    settings = load_settings({"ORDERHUB_DATA_DIR": str(tmp_path), "ORDERHUB_SECRET_KEY": key})
    with pytest.raises(SettingsError, match="ORDERHUB_SECRET_KEY is too weak"):
        check_secret_key(settings.secret_key)


def test_generated_keys_always_pass() -> None:
    # CI once refused a test hub's key one run in ~2,500: the estimate capped the alphabet by the characters one
    # random key happened to use, and zlib's header was not counted as slack.
    for make in (lambda: secrets.token_urlsafe(32), lambda: secrets.token_urlsafe(48), lambda: secrets.token_hex(32)):
        assert all(secret_key_bits(make()) >= 256 for _ in range(20_000))


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(48),
        secrets.token_hex(32),
    ],
    ids=["urlsafe-32", "urlsafe-48", "hex-32"],  # the same in every xdist worker (and no key in a test's name)
)
def test_a_strong_configured_secret_key_is_used(tmp_path: Path, key: str) -> None:
    assert secret_key_bits(key) >= 256
    check_secret_key(key)
    assert load_settings({"ORDERHUB_DATA_DIR": str(tmp_path), "ORDERHUB_SECRET_KEY": key}).secret_key == key


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"], ["run", "--no-demo"]])
def test_the_serving_commands_refuse_to_start_with_a_weak_key(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHUB_")}
    env.update(ORDERHUB_DATA_DIR=str(tmp_path), ORDERHUB_SECRET_KEY="x")
    if command[0] == "run":
        command = [*command, "--data-dir", str(tmp_path)]
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: ORDERHUB_SECRET_KEY is too weak"), out.stderr
    assert "Traceback" not in out.stderr


def test_migrate_takes_a_throwaway_key(tmp_path: Path) -> None:
    """migrate signs and seals nothing: a scratch database (the physical-floor benchmark's) is migrated with a
    throwaway key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHUB_")}
    env.update(ORDERHUB_DATA_DIR=str(tmp_path), ORDERHUB_SECRET_KEY="pg-min")
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr


def test_the_sqlite_database_and_its_wal_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", secret_key="k")
    create_engine(settings)
    db_file = settings.sqlite_path
    with sqlite3.connect(db_file) as conn:  # a write leaves the -wal and -shm files
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert _mode(db_file.with_name(db_file.name + "-wal")) == 0o600
        assert _mode(db_file.with_name(db_file.name + "-shm")) == 0o600
    assert _mode(db_file) == 0o600
    assert _mode(tmp_path / "var") == 0o700

    db_file.chmod(0o644)  # as an older version left it
    create_engine(settings)
    assert _mode(db_file) == 0o600


def test_the_embedded_redis_files_are_private(tmp_path: Path) -> None:
    import redis

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir(mode=0o755)
    (redis_dir / "redis.aof").write_text("")
    (redis_dir / "redis.aof").chmod(0o644)  # left by an older version
    embedded = EmbeddedRedis(redis_dir)
    url = embedded.start()
    try:
        client = redis.Redis.from_url(url)
        client.set("order:1", "payload")
        client.bgrewriteaof()
        client.close()
    finally:
        embedded.stop()
    assert _mode(redis_dir) == 0o700
    files = [p for p in redis_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("redis.aof") for p in files)
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_metrics_without_a_token_are_for_this_host_only() -> None:
    check_metrics_access(None, None, "127.0.0.1")
    check_metrics_access(None, None, "::1")
    for outsider in ("203.0.113.7", "10.0.0.5", "testclient", None):
        with pytest.raises(PermissionDenied):
            check_metrics_access(None, None, outsider)


def test_metrics_with_a_token_want_it_from_everyone() -> None:
    token = secrets.token_urlsafe(24)
    check_metrics_access(token, f"Bearer {token}", "203.0.113.7")
    for authorization in (None, "", f"Bearer {token}x", token, f"Basic {token}"):
        for host in ("127.0.0.1", "203.0.113.7"):
            with pytest.raises(AuthenticationFailed):
                check_metrics_access(token, authorization, host)


def test_a_data_dir_without_hard_links_still_gets_one_private_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some mounts (SMB, vfat, certain bind mounts) refuse hard links: the key is then created exclusively."""

    def no_links(src: str, dst: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    data_dir = tmp_path / "data"
    first = load_settings({"ORDERHUB_DATA_DIR": str(data_dir)}).secret_key
    again = load_settings({"ORDERHUB_DATA_DIR": str(data_dir)}).secret_key
    assert first and first == again
    assert _mode(data_dir / "secret_key") == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]

"""`orderhub run` on a fresh data dir, as a newcomer meets it: a calm terminal whose banner stays on screen and ends
with what to try first, the admin's password shown once and never logged, and private state files."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from server.cli import _print_banner
from tests.support.hub import free_port

BANNER = "OrderHub 订单中枢 is running"
WATCH_SECONDS = 20


class _Lines:
    """Lines read from one stream, each with the time it arrived."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def read(self, fd: int) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty's other end closed
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            with self.lock:
                self.lines += [(time.monotonic(), line.decode(errors="replace").rstrip("\r")) for line in complete]
        with self.lock:
            if pending:
                self.lines.append((time.monotonic(), pending.decode(errors="replace")))

    def snapshot(self) -> list[tuple[float, str]]:
        with self.lock:
            return list(self.lines)


def test_run_is_calm_and_its_banner_ends_with_what_to_try_first(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERHUB_", "PROMETHEUS_"))}
    # stdout on a terminal (a pty), as for a person; stderr — the log stream — apart, to see what it carries.
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "run", "--data-dir", str(data_dir), "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(slave)
    out, err = _Lines(), _Lines()
    assert proc.stderr is not None
    readers = [
        threading.Thread(target=out.read, args=(master,), daemon=True),
        threading.Thread(target=err.read, args=(proc.stderr.fileno(),), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 180
        banner_done: float | None = None
        while banner_done is None:
            assert proc.poll() is None, f"run exited with {proc.returncode}: {out.snapshot()} {err.snapshot()}"
            assert time.monotonic() < deadline, f"no banner: {out.snapshot()} {err.snapshot()}"
            banner_done = next((t for t, line in out.snapshot() if "/api/v1/orders?limit=5" in line), None)
            time.sleep(0.2)
        time.sleep(WATCH_SECONDS)

        stdout, stderr = out.snapshot(), err.snapshot()
        text = [line for _, line in stdout]
        start = next(i for i, line in enumerate(text) if BANNER in line)
        end = next(i for i, line in enumerate(text) if "/api/v1/orders?limit=5" in line)
        banner = text[start : end + 1]
        before = [line for t, line in stdout[:start] + stderr if t < banner_done and line.strip()]
        after = [line for t, line in stdout[end + 1 :] + stderr if t > banner_done and line.strip()]

        assert sum(BANNER in line for line in text) == 1
        assert not [line for line in before + after if line.lstrip().startswith("{")], "JSON log lines"
        assert len(before) < 10, before  # no migration listing, no INFO logs
        assert len(after) < WATCH_SECONDS, after  # the banner stays on screen
        # The banner ends with what to try first: a browser URL, signing in, the newest orders.
        try_first = banner[next(i for i, line in enumerate(banner) if line.startswith("Try first")) :]
        assert any(f"'http://127.0.0.1:{port}/schema/swagger'" in line for line in try_first)
        assert any(f"'http://127.0.0.1:{port}/api/v1/auth/login'" in line for line in try_first)
        assert banner[-1].strip().startswith(f"curl -s 'http://127.0.0.1:{port}/api/v1/orders?limit=5'")

        # The admin's password: once, on the terminal; never in the log stream.
        password = (data_dir / "admin_password").read_text().strip()
        assert sum(line.count(password) for line in text) == 1
        assert not any(password in line for _, line in stderr)

        # The try-first commands work as printed.
        if shutil.which("curl") and shutil.which("bash"):
            script = "\n".join(line.strip() for line in try_first if not line.startswith(("Try", "  open", "  sign")))
            done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
            assert done.returncode == 0 and '"items"' in done.stdout, (script, done.stdout, done.stderr)

        # Everything run keeps is private: files 0600 (or tighter), directories 0700.
        # SQLite's -wal and -shm files come and go with its connections: one gone between listing and stat is fine.
        for path in [data_dir, *data_dir.rglob("*")]:
            try:
                mode = path.stat().st_mode
            except FileNotFoundError:
                continue
            assert mode & 0o077 == 0, f"{path} is {oct(mode & 0o777)}"
        assert (data_dir / "redis" / "redis.aof").exists() and (data_dir / "orderhub.sqlite3").exists()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        os.close(master)
    assert proc.returncode == 0


def test_captured_output_gets_where_the_password_is_not_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password_file = tmp_path / "admin_password"
    _print_banner(
        "http://127.0.0.1:8000",
        tmp_path,
        None,
        None,
        "admin",
        password_file,
        "s3cret-Pass-xyz",
        [],
    )
    printed = capsys.readouterr().out  # not a terminal: a log file, docker, journald
    assert "s3cret-Pass-xyz" not in printed
    assert f"admin / <password kept in {password_file}>" in printed
    assert f"$(cat {password_file})" in printed  # the try-first sign-in reads it from there

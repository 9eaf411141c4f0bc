"""`orderhub run` with the demo's simulated floor crew: within a minute of the banner the crew, signed in on their own
handhelds, has picked tasks and packed orders (and the past week is there to compare with); Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from server.demo.seed import DEMO_CREW, DEMO_WAREHOUSES
from tests.support.hub import free_port

BANNER_DONE = "/api/v1/orders?limit=5"
WITHIN_S = 60


def _wait_banner(proc: subprocess.Popen[bytes], out: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace") if out.exists() else ""
        if BANNER_DONE in text:
            return text
        assert proc.poll() is None, f"run exited with {proc.returncode}: {text}"
        time.sleep(0.5)
    raise AssertionError(f"no banner: {out.read_text(errors='replace')}")


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response.json()


def test_the_demo_crew_picks_and_packs_within_a_minute(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERHUB_", "PROMETHEUS_"))}
    env["ORDERHUB_DEMO_PACE"] = "0.15"  # the crew's pauses, sped up: the test watches one minute
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "run", "--data-dir", str(data_dir), "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        banner = _wait_banner(proc, out, 180)
        base = f"http://127.0.0.1:{port}"
        assert f"console    {base}/m/" in banner and "sign in as manager / demo-manager-1" in banner
        assert f"floor: {len(DEMO_CREW)} simulated pickers and packers" in banner
        started = time.monotonic()

        password = (data_dir / "admin_password").read_text().strip()
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
            client.headers["authorization"] = f"Bearer {login.json()['access_token']}"
            # the past week is there, finished: delivered orders placed before today
            assert _get(client, "/api/v1/orders", status="delivered", limit=1)["items"]

            picked: set[int] = set()
            packed: set[int] = set()
            crew = {name for _, name, *_ in DEMO_CREW}
            while not (picked and packed):
                assert time.monotonic() - started < WITHIN_S, (
                    f"picked {picked}, packed {packed}: {out.read_text(errors='replace')[-2000:]}"
                )
                if not picked:  # the supervisor releases waves now rather than after the demo's one-minute wait
                    for warehouse in DEMO_WAREHOUSES:
                        client.post(f"/api/v1/picking/{warehouse.code}/waves/run", params={"force": "true"})
                for warehouse in DEMO_WAREHOUSES:
                    for task in _get(client, f"/api/v1/picking/{warehouse.code}/tasks", status="done"):
                        assert task["picker"] in crew or task["picker"] is None, task
                        picked.add(task["id"])
                        view = _get(client, f"/api/v1/picking/tasks/{task['id']}")
                        for order in view["orders"]:
                            status = _get(client, f"/api/v1/orders/{order['order_id']}")["status"]
                            if status in ("packed", "shipped", "delivered"):
                                packed.add(order["order_id"])
                time.sleep(2)

            # the simulated operators are who the operations tier shows, with their units
            dash = client.get("/api/v1/dash/operations")
            if dash.status_code != 404:  # the dashboards' endpoint (issue 16 item 3)
                deadline = time.monotonic() + 15
                while True:
                    rows = dash.json().get("operators", []) if dash.status_code == 200 else []
                    if any(row["name"] in crew and row["units"] > 0 for row in rows):
                        break
                    assert time.monotonic() < deadline, (dash.status_code, dash.text[:500])
                    time.sleep(1)
                    dash = client.get("/api/v1/dash/operations")
        assert "[演示作业]" in out.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    assert proc.returncode == 0, err.read_text(errors="replace")[-2000:]

"""A simulated floor crew for the demo: pickers and packers working a running hub through the handheld API, at a
human pace, so the managers' dashboards have operators, units per hour, errors and orders moving through every
status.

    python -m sandbox.demo_floor --url http://127.0.0.1:8000 --floor-file var/demo_floor.json [--pace 1]

The floor file (written by the demo seed, ``server/demo/seed.py``) names the crew — per warehouse two pickers and a
packer, each with a badge and a device of their own — and the SKUs' barcodes (what a handheld reads off the goods).
Each member signs in by badge (``POST /pda/v1/login``) and works like a person with a PDA, one keep-alive
connection each, waiting for every beep:

* **pickers** ask for the next task (``GET /pda/v1/tasks/next``), claim it, walk its stops in route order — scan the
  shelf, then each unit (with the shelf it came from) — and complete it; the totes go to the warehouse's pack
  station. About 2 % of scans are wrong (the next shelf, a neighbouring product: the hub refuses them and the picker
  scans again) and about one line in a hundred is reported short (缺货: the order goes to exception, the supervisor
  is alerted, the units are written off).
* **packers** scan a tote (``POST /pda/v1/pack``), verify each unit, weigh (now and then the parcel is weighed with
  something on the scale: ``weight_mismatch``, weighed again), take the waybill and, every couple of minutes when
  the courier comes, hand the parcels over (the order ships; the carrier simulator delivers it minutes later).

A scan every 1–3 s (the pack bench a little faster), ``--pace`` scales every pause (``0.1``: ten times faster, for
tests). Totals once a minute (``--summary-every``) instead of a line per scan. The hub briefly unreachable: the
scan is sent again with the same ``client_id`` (scans are idempotent). SIGINT / SIGTERM stop it cleanly: the
parcels already packed are handed over first.

Independent of ``orderhub`` on purpose (``sandbox`` imports none of it): it speaks the PDA API only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "CrewMember",
    "Floor",
    "Habits",
    "Scan",
    "load_floor",
    "main",
    "pick_scans",
    "reading",
    "wrong_location",
]

SHORT_REASON = "货位缺货"
_LABEL = "[演示作业]"



# The simulated pickers leave a new task to people for this long (scaled by the pace, as every pause), so someone
# trying the picker's pages (/pda/) on the demo finds work instead of a crew that claims everything at once.
PEOPLE_FIRST_SECONDS = 60


def _fresh(task: dict[str, Any], seconds: float) -> bool:
    try:
        created = datetime.fromisoformat(str(task["created_at"]))
    except (KeyError, ValueError):
        return False
    return (datetime.now(created.tzinfo) - created).total_seconds() < seconds


@dataclass(frozen=True)
class CrewMember:
    username: str
    name: str
    role: str  # picker | packer
    warehouse: str
    badge: str
    device: str


def load_floor(path: Path) -> tuple[list[CrewMember], dict[str, str]]:
    """The crew and SKU code → barcode from the floor file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    crew = [
        CrewMember(
            username=str(m["username"]),
            name=str(m.get("name") or m["username"]),
            role=str(m["role"]),
            warehouse=str(m["warehouse"]),
            badge=str(m["badge"]),
            device=str(m["device"]),
        )
        for m in data.get("crew", [])
        if m.get("role") in ("picker", "packer")
    ]
    barcodes = {str(k): str(v) for k, v in (data.get("barcodes") or {}).items()}
    if not crew:
        raise ValueError(f"{path}: no crew")
    return crew, barcodes


@dataclass(frozen=True)
class Habits:
    """How the crew works: pauses (seconds) and how often a person slips."""

    pick_pause: tuple[float, float] = (1.0, 3.0)
    pack_pause: tuple[float, float] = (0.8, 2.0)
    idle_pause: tuple[float, float] = (3.0, 6.0)  # between looks for work when there is none
    wrong_scan: float = 0.02  # per scan
    short_pick: float = 0.01  # per line
    weight_slip: float = 0.015  # per weighing
    pace: float = 1.0  # scales every pause

    def pause(self, rng: random.Random, kind: str = "pick") -> float:
        low, high = {"pick": self.pick_pause, "pack": self.pack_pause, "idle": self.idle_pause}[kind]
        return rng.uniform(low, high) * self.pace


@dataclass(frozen=True)
class Scan:
    """One PDA scan the picker will make; ``ok`` is what they expect the hub to answer."""

    kind: str  # location | item | short
    barcode: str = ""
    location: str | None = None
    reason: str = ""
    ok: bool = True


def wrong_location(location: str) -> str:
    """A neighbouring shelf's code: the level above (or below) on the same bay — the classic slip."""
    head, sep, level = location.rpartition("-")
    if sep and level.isdigit():
        return f"{head}-{int(level) + 1 if int(level) < 3 else int(level) - 1}"
    return location + "-X"


def _other_barcode(rng: random.Random, right: str, barcodes: Sequence[str]) -> str:
    others = [b for b in barcodes if b != right]
    return rng.choice(others) if others else right[:-1] + ("0" if right[-1:] != "0" else "1")


def pick_scans(
    rng: random.Random, habits: Habits, stop: dict[str, Any], barcodes: dict[str, str], all_barcodes: Sequence[str]
) -> list[Scan]:
    """The scans for one stop of a task: the shelf, then each unit still to pick (with the shelf it came from);
    now and then a wrong shelf or a wrong product first (refused, scanned again), now and then the line reported
    short after picking what the shelf still had."""
    location: str | None = stop.get("location")
    barcode = barcodes.get(str(stop["sku"]), "")
    left = int(stop["qty"]) - int(stop.get("picked") or 0)
    scans: list[Scan] = []
    if left <= 0:
        return scans
    if location:
        if rng.random() < habits.wrong_scan:
            scans.append(Scan("location", wrong_location(location), ok=False))
        scans.append(Scan("location", location))
    short = not barcode or rng.random() < habits.short_pick
    units = (rng.randrange(0, left) if left > 1 else 0) if short else left
    for _ in range(units):
        if rng.random() < habits.wrong_scan:
            scans.append(Scan("item", _other_barcode(rng, barcode, all_barcodes), location, ok=False))
        scans.append(Scan("item", barcode, location))
    if short:
        scans.append(Scan("short", reason=SHORT_REASON))
    return scans


def reading(rng: random.Random, habits: Habits, expected_g: int, tolerance_g: int, *, slip: bool) -> int:
    """What the scale shows: within a third of the tolerance, or (a slip: the tape dispenser left on the scale)
    well outside it."""
    if slip:
        return max(1, expected_g + tolerance_g + rng.randrange(30, 250))
    spread = max(1, tolerance_g // 3)
    return max(1, expected_g + rng.randrange(-spread, spread + 1))


@dataclass
class Tally:
    """What the crew did since the last summary."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def summary(self, seconds: float) -> str | None:
        c = self.counts
        if not c and not self.problems:
            return None
        parts = [
            f"拣货 {c['units']} 件 / {c['tasks']} 个任务",
            f"打包 {c['packed']} 单",
            f"交接发货 {c['shipped']} 单",
            f"错扫 {c['wrong']} 次",
            f"缺货登记 {c['short']} 次",
            f"称重不符 {c['weight']} 次",
        ]
        line = f"{_LABEL} 最近 {seconds:g} 秒：" + "，".join(parts)
        if self.problems:
            line += f"；问题 {len(self.problems)} 个（最近：{self.problems[-1]}）"
        self.counts = Counter()
        self.problems = []
        return line


class _Gone(Exception):
    """This member cannot work (badge refused): they go home."""


class _Stopped(Exception):
    """The shift ended while signing in."""


class Device:
    """One handheld or pack station: its own keep-alive connection and device session."""

    def __init__(self, floor: Floor, member: CrewMember) -> None:
        self.floor = floor
        self.member = member
        self.client = httpx.AsyncClient(base_url=floor.url, timeout=15.0)
        self.token: str | None = None

    async def close(self) -> None:
        await self.client.aclose()

    async def login(self) -> None:
        while not self.floor.stopping.is_set():
            try:
                response = await self.client.post(
                    "/pda/v1/login", json={"device": self.member.device, "badge": self.member.badge}
                )
            except httpx.HTTPError as exc:
                self.floor.problem(f"{self.member.name} 登录：中枢暂不可达（{type(exc).__name__}）")
                await self.floor.sleep(5)
                continue
            if response.status_code == 200:
                self.token = str(response.json()["token"])
                return
            if response.status_code == 429:
                await self.floor.sleep(float(response.headers.get("retry-after") or 30))
                continue
            if response.status_code >= 500:
                await self.floor.sleep(5)
                continue
            who = f"{self.member.name} 无法登录 {self.member.device}"
            raise _Gone(f"{who}：HTTP {response.status_code} {_code(response)}")
        raise _Stopped

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """One request; signs in again when the session ended, and sends again (same body: same client_id) while
        the hub is unreachable or busy."""
        while True:
            if self.token is None:
                await self.login()
            try:
                response = await self.client.request(
                    method, path, json=body, headers={"authorization": f"Bearer {self.token}"}
                )
            except httpx.HTTPError as exc:
                if self.floor.stopping.is_set():  # the hub is stopping too: the shift is over
                    raise _Stopped from exc
                self.floor.problem(f"{self.member.name}：中枢暂不可达（{type(exc).__name__}）")
                await self.floor.sleep(3, always=True)
                continue
            if response.status_code == 401:
                self.token = None
                continue
            if response.status_code >= 500 or response.status_code == 429:
                if self.floor.stopping.is_set():
                    raise _Stopped
                await self.floor.sleep(float(response.headers.get("retry-after") or 3), always=True)
                continue
            return response


def _code(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return str(data.get("code") or f"HTTP {response.status_code}") if isinstance(data, dict) else ""


class Floor:
    def __init__(
        self,
        url: str,
        crew: Sequence[CrewMember],
        barcodes: dict[str, str],
        *,
        habits: Habits | None = None,
        seed: int | None = None,
        handover_every: float = 120.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.crew = list(crew)
        self.barcodes = barcodes
        self.all_barcodes = sorted(set(barcodes.values()))
        self.habits = habits or Habits()
        self.rng = random.Random(seed)
        self.handover_every = handover_every
        self.stopping = asyncio.Event()
        self.totes: dict[str, asyncio.Queue[str]] = {}  # warehouse → tote / order codes waiting at its pack station
        self.tally = Tally()

    def problem(self, text: str) -> None:
        if text not in self.tally.problems[-3:]:
            self.tally.problems.append(text)

    async def sleep(self, seconds: float, *, always: bool = False) -> None:
        """Pause (interrupted by stop, unless ``always``: a request in flight is finished first)."""
        if always:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass

    def queue(self, warehouse: str) -> asyncio.Queue[str]:
        return self.totes.setdefault(warehouse, asyncio.Queue())

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for index, member in enumerate(self.crew):
                rng = random.Random(self.rng.random())
                worker = self._picker(member, rng) if member.role == "picker" else self._packer(member, rng)
                group.create_task(self._shift(member, worker, delay=index * 0.3 * self.habits.pace))

    async def _shift(self, member: CrewMember, work: Any, *, delay: float) -> None:
        await self.sleep(delay)
        try:
            await work
        except _Gone as gone:
            print(f"{_LABEL} {gone}", flush=True)
        except _Stopped:
            pass

    # ------------------------------------------------------------------------------------------- picking

    async def _picker(self, member: CrewMember, rng: random.Random) -> None:
        device = Device(self, member)
        try:
            while not self.stopping.is_set():
                response = await device.call("GET", "/pda/v1/tasks/next")
                task = response.json().get("task") if response.status_code == 200 else None
                if task is None:
                    await self.sleep(self.habits.pause(rng, "idle"))
                    continue
                if task["status"] != "claimed" and _fresh(task, PEOPLE_FIRST_SECONDS * self.habits.pace):
                    # a person on the tour's handheld (/pda/) gets the first minute of every task
                    await self.sleep(self.habits.pause(rng, "idle"))
                    continue
                if task["status"] != "claimed":
                    claimed = await device.call("POST", f"/pda/v1/tasks/{task['id']}/claim")
                    if claimed.status_code != 200:  # another picker was quicker
                        await self.sleep(self.habits.pause(rng))
                        continue
                await self._pick_task(device, rng, int(task["id"]))
        finally:
            await device.close()

    async def _pick_task(self, device: Device, rng: random.Random, task_id: int) -> None:
        habits = self.habits
        for _ in range(3):  # a second pass when the hub says lines are still open (an answer lost, a change)
            response = await device.call("GET", f"/pda/v1/tasks/{task_id}")
            if response.status_code != 200:
                return
            view = response.json()
            if view["status"] != "claimed":
                return
            for stop in view["stops"]:
                if stop["status"] != "pending":
                    continue
                for scan in pick_scans(rng, habits, stop, self.barcodes, self.all_barcodes):
                    await self.sleep(habits.pause(rng))
                    if self.stopping.is_set():
                        return
                    body: dict[str, Any] = {
                        "client_id": uuid.uuid4().hex,
                        "task_id": task_id,
                        "line_id": stop["line_id"],
                        "kind": scan.kind,
                        "barcode": scan.barcode,
                    }
                    if scan.location:
                        body["location"] = scan.location
                    if scan.reason:
                        body["reason"] = scan.reason
                    answer = await device.call("POST", "/pda/v1/scans", body)
                    code = _code(answer)
                    if answer.status_code == 200:
                        if scan.kind == "item" and code == "ok":
                            self.tally.counts["units"] += 1
                        elif scan.kind == "short":
                            self.tally.counts["short"] += 1
                        if code == "line_withdrawn":
                            break  # the order left the task: on to the next stop
                    elif answer.status_code == 422:
                        if not scan.ok:
                            self.tally.counts["wrong"] += 1
                            continue
                        break  # not what this stop expected any more: look at the task again
                    else:
                        return  # the task is not ours any more (withdrawn, reassigned)
            await self.sleep(habits.pause(rng))
            done = await device.call("POST", f"/pda/v1/tasks/{task_id}/complete")
            if done.status_code == 200:
                finished = done.json()
                self.tally.counts["tasks"] += 1
                for order in finished.get("orders", []):
                    if order.get("status") == "active":
                        slot = int(order.get("tote_slot") or 0)
                        code = f"T{task_id}-{slot}" if slot else str(order["order_id"])
                        self.queue(device.member.warehouse).put_nowait(code)
                return
            if _code(done) != "task_incomplete":
                return

    # ------------------------------------------------------------------------------------------- packing

    async def _packer(self, member: CrewMember, rng: random.Random) -> None:
        device = Device(self, member)
        totes = self.queue(member.warehouse)
        packed: list[int] = []  # pack ids with a waybill, waiting for the courier
        last_round = time.monotonic()
        try:
            while not self.stopping.is_set():
                if packed and time.monotonic() - last_round >= self.handover_every:
                    await self._hand_over(device, packed)
                    last_round = time.monotonic()
                try:
                    code = totes.get_nowait()
                except asyncio.QueueEmpty:
                    await self.sleep(self.habits.pause(rng, "idle") / 2)
                    continue
                pack_id = await self._pack(device, rng, code)
                if pack_id is not None:
                    packed.append(pack_id)
            if packed:  # the courier takes what is packed before the shift ends
                await asyncio.wait_for(self._hand_over(device, packed), timeout=5)
        except (TimeoutError, _Stopped):
            pass
        finally:
            await device.close()

    async def _pack(self, device: Device, rng: random.Random, code: str) -> int | None:
        """Verify and weigh one order; its pack id once packed and with a waybill, else None (left for the
        supervisor). Scanning the tote again resumes the open pack, so an answer lost is a round more."""
        habits = self.habits
        for _ in range(3):
            await self.sleep(habits.pause(rng, "pack"))
            started = await device.call("POST", "/pda/v1/pack", {"code": code})
            if started.status_code != 200:
                return None  # withdrawn, already packed, not there: the supervisor's
            view = started.json()
            pack_id = int(view["id"])
            mine = {self.barcodes.get(str(item["sku"]), "") for item in view["items"]}
            others = [b for b in self.all_barcodes if b not in mine]
            for item in view["items"]:
                barcode = self.barcodes.get(str(item["sku"]), "")
                for _ in range(int(item["qty"]) - int(item["verified"])):
                    slip = others and rng.random() < habits.wrong_scan
                    for attempt in [rng.choice(others), barcode] if slip else [barcode]:
                        await self.sleep(habits.pause(rng, "pack"))
                        body = {"client_id": uuid.uuid4().hex, "barcode": attempt}
                        answer = await device.call("POST", f"/pda/v1/pack/{pack_id}/scans", body)
                        if answer.status_code == 422 and attempt != barcode:
                            self.tally.counts["wrong"] += 1
                        elif answer.status_code not in (200, 422):
                            return None
            outcome = await self._weigh(device, rng, pack_id, view)
            if outcome == "items_missing":
                continue
            if outcome != "ok":
                return None
            self.tally.counts["packed"] += 1
            waybill = await device.call("POST", f"/pda/v1/pack/{pack_id}/waybill")
            if waybill.status_code != 200:
                self.problem(f"{device.member.name} 取面单：{_code(waybill)}")
                return None
            return pack_id
        return None

    async def _weigh(self, device: Device, rng: random.Random, pack_id: int, view: dict[str, Any]) -> str:
        habits = self.habits
        slip = rng.random() < habits.weight_slip
        for weighing in (True, False) if slip else (False,):
            await self.sleep(habits.pause(rng, "pack"))
            grams = reading(rng, habits, int(view["expected_g"]), int(view["tolerance_g"]), slip=weighing)
            answer = await device.call(
                "POST", f"/pda/v1/pack/{pack_id}/weigh", {"client_id": uuid.uuid4().hex, "weight_g": grams}
            )
            if answer.status_code == 200:
                return "ok"
            code = _code(answer)
            if code != "weight_mismatch":
                self.problem(f"{device.member.name} 称重：{code}")
                return code
            self.tally.counts["weight"] += 1
        return "weight_mismatch"

    async def _hand_over(self, device: Device, packed: list[int]) -> None:
        while packed:
            pack_id = packed.pop(0)
            answer = await device.call("POST", f"/pda/v1/pack/{pack_id}/handover")
            if answer.status_code == 200:
                self.tally.counts["shipped"] += 1
            else:
                self.problem(f"{device.member.name} 交接：{_code(answer)}")


# ------------------------------------------------------------------------------------------------ command line


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo_floor", description="演示作业：模拟拣货员与打包员")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="hub base URL")
    parser.add_argument("--floor-file", required=True, type=Path, help="JSON: the crew and the SKUs' barcodes")
    parser.add_argument("--pace", type=float, default=1.0, help="scales every pause (0.1 = ten times faster)")
    parser.add_argument("--handover-every", type=float, default=120.0, help="seconds between the courier's rounds")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument(
        "--summary-every", type=float, default=60.0, help="print a line of totals this often (0: never)"
    )
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace, crew: list[CrewMember], barcodes: dict[str, str]) -> None:
    floor = Floor(
        args.url,
        crew,
        barcodes,
        habits=Habits(pace=max(0.01, args.pace)),
        seed=args.seed,
        handover_every=args.handover_every * max(0.01, args.pace),
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, floor.stopping.set)

    async def summaries() -> None:
        while not floor.stopping.is_set():
            await floor.sleep(args.summary_every)
            if line := floor.tally.summary(args.summary_every):
                print(line, flush=True)

    reporter = asyncio.create_task(summaries()) if args.summary_every > 0 else None
    try:
        await floor.run()
    finally:
        if reporter is not None:
            reporter.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        crew, barcodes = load_floor(args.floor_file)
    except (OSError, ValueError, KeyError) as exc:
        print(f"{_LABEL} 无法启动：{exc}", file=sys.stderr)
        return 2
    pickers = sum(m.role == "picker" for m in crew)
    warehouses = len({m.warehouse for m in crew})
    print(
        f"{_LABEL} {warehouses} 个仓库的模拟作业员上岗：拣货 {pickers} 人，打包 {len(crew) - pickers} 人"
        f"（PDA 扫码约每 1–3 秒一次，每 {args.summary_every:g} 秒汇总一次，Ctrl-C 停止）",
        flush=True,
    )
    asyncio.run(_main(args, crew, barcodes))
    print(f"{_LABEL} 已下班", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


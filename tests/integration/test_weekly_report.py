"""The weekly report and the daily reconciliation files (issue 18 items 5 and 7, docs/reports.md) through a real hub:
a constructed week (rollup rows for this week and last, two regions, two channels, floor mistakes in the month) drawn
as a PDF that opens, renders to PNG with pdftoppm (charts on the page, not blank) and carries the Chinese headings in
its text layer (pdftotext); kept and downloaded over HTTP; the daily reconciliation XLSX whose 合计 equals the sum of
its lines; the Monday cron at 00:00 UTC (08:00 Asia/Shanghai); the WeCom push written to the outbox once."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from croniter import croniter
from openpyxl import load_workbook

from orderhub import clock, db
from orderhub.finance.model import CauseTotal, DailyReport, DailyReportRow
from orderhub.reports import daily, pdf, service, weekly
from orderhub.reports.fonts import find_cjk_font
from orderhub.settings import get_settings
from tests.support.factories import Api, create_channel, create_sku, create_warehouse, unique

MONDAY = date(2025, 6, 2)  # a week nothing else in the suite writes rollups for (test_health uses March 2025)
HEADINGS = ("订单中心周报", "核心指标", "健康指数", "各渠道订单量", "结算对账", "本月差错分析")
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")


async def _id(table: str, code: str) -> int:
    rows = await db.fetch_as(dict[str, Any], f"SELECT id FROM {table} WHERE code = {{}}", code)
    return int(rows[0]["id"])


async def _day(day: date, *, warehouse: int, channel: int, orders: int, good: bool) -> None:
    at = datetime(day.year, day.month, day.day, 10, 0, tzinfo=clock.SHANGHAI)
    await db.execute(
        "INSERT INTO rollup_order_bucket (bucket_start, channel, warehouse, shard, received, received_fen, routed, "
        "packed, shipped, shipped_with_sla, shipped_on_time, cycle_count, cycle_seconds, cycle_le_60, cycle_le_120, "
        "cycle_le_240) VALUES ({}, {}, {}, 0, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        at, channel, warehouse, orders, orders * 9900, orders, orders, orders, orders,
        orders if good else orders * 9 // 10, orders, orders * 3600, orders // 2, orders - orders // 2 - (0 if good else
                                                                                                         orders // 5),
        0 if good else orders // 5,
    )  # fmt: skip
    start = int(at.timestamp())
    await db.execute(
        "INSERT INTO rollup_operator_day (day, warehouse, user_id, role, scans, orders_packed, first_pass_ok, "
        "first_scan_s, last_scan_s) VALUES ({}, {}, {}, 'pack', 10, {}, {}, {}, {})",
        day, warehouse, 980000 + warehouse, orders, orders if good else orders * 97 // 100, start, start + 4 * 3600,
    )  # fmt: skip
    await db.execute(
        "INSERT INTO rollup_inquiry_day (day, channel, warehouse, source, orders) VALUES ({}, {}, {}, 'phone', {})",
        day, channel, warehouse, orders // 50 if good else orders // 10,
    )  # fmt: skip


class World:
    async def setup(self, api: Api) -> None:
        self.api = api
        wa, wb = await create_warehouse(api, name="周报华东仓"), await create_warehouse(api, name="周报华南仓")
        self.a, self.b = await _id("warehouse", wa["code"]), await _id("warehouse", wb["code"])
        self.region_a, self.region_b = unique("华东"), unique("华南")
        await db.execute("UPDATE warehouse SET region = {} WHERE id = {}", self.region_a, self.a)
        await db.execute("UPDATE warehouse SET region = {} WHERE id = {}", self.region_b, self.b)
        code_a, _ = await create_channel(api, warehouse=wa["code"])
        code_b, _ = await create_channel(api, warehouse=wb["code"])
        self.ch_a, self.ch_b = await _id("channel", code_a), await _id("channel", code_b)
        await db.execute("UPDATE channel SET name = {} WHERE id = {}", "周报淘宝店", self.ch_a)
        await db.execute("UPDATE channel SET name = {} WHERE id = {}", "周报抖店", self.ch_b)
        for n in range(7):
            for week, good_b in ((MONDAY - timedelta(days=7), True), (MONDAY, False)):
                day = week + timedelta(days=n)
                await _day(day, warehouse=self.a, channel=self.ch_a, orders=100 + 10 * n, good=True)
                await _day(day, warehouse=self.b, channel=self.ch_b, orders=60 + 5 * n, good=good_b)
        # floor mistakes in June 2025: a picker's wrong items and short picks on one SKU
        self.sku = await create_sku(api, name="周报蓝色T恤")
        sku_id = await _id("sku", self.sku)
        self.picker = unique("wpk")
        async with api.client() as client:
            r = await client.post(
                "/api/v1/users", json={"username": self.picker, "password": "weekly-pass-2026", "role": "picker"}
            )
            assert r.status_code == 201, r.text
            picker_id = int(r.json()["id"])
        at = datetime(2025, 6, 3, 2, 0, tzinfo=UTC)
        for i, (kind, ok, error) in enumerate([("item", False, "wrong_item")] * 3 + [("short", True, "")] * 2):
            await db.execute(
                "INSERT INTO pda_scan (device, client_id, picker, warehouse, sku, kind, barcode, qty, ok, error, "
                "answer, scanned_at, received_at) VALUES ('dev-weekly', {}, {}, {}, {}, {}, '', 1, {}, {}, {}, {}, {})",
                unique("c"), picker_id, self.a, sku_id, kind, ok, error, "{}", at + timedelta(minutes=i),
                at + timedelta(minutes=i),
            )  # fmt: skip


@pytest.fixture(scope="module")
async def world(api: Api) -> World:
    w = World()
    await w.setup(api)
    return w


def _render(pdf_bytes: bytes, out: Path) -> tuple[list[Path], str]:
    """The PDF's pages as PNGs (pdftoppm, 80 dpi) and its text layer (pdftotext)."""
    source = out / "report.pdf"
    source.write_bytes(pdf_bytes)
    info = subprocess.run(["pdfinfo", str(source)], capture_output=True, text=True, check=True).stdout
    assert "Pages:" in info
    subprocess.run(["pdftoppm", "-r", "80", "-png", str(source), str(out / "page")], check=True)
    text = subprocess.run(["pdftotext", "-layout", str(source), "-"], capture_output=True, text=True, check=True)
    return sorted(out.glob("page*.png")), text.stdout


def _ink(png: Path) -> tuple[float, int]:
    """Share of non-white pixels, and how many distinct colours (charts bring blues, oranges, reds)."""
    from PIL import Image

    with Image.open(png) as image:
        raw = image.convert("RGB").tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    inked = sum(1 for p in pixels if sum(p) < 720)
    colours = {(r // 32, g // 32, b // 32) for r, g, b in pixels if max(r, g, b) - min(r, g, b) > 60}
    return inked / len(pixels), len(colours)


async def test_gather_week(world: World) -> None:
    data = await weekly.gather(MONDAY + timedelta(days=3))
    assert data.week_start == MONDAY and data.week_end == MONDAY + timedelta(days=6) and data.label == "2025-W23"
    kpis = {k.name: k for k in data.kpis}
    assert list(kpis) == list(weekly.HEADLINE_KPIS)
    assert kpis["cycle_time"].value is not None and kpis["cycle_time"].last_week is not None
    fpa, query = kpis["first_pass_accuracy"], kpis["query_rate"]
    assert fpa.value is not None and fpa.last_week is not None and fpa.value < fpa.last_week  # B's bad week
    assert query.value is not None and query.last_week is not None and query.value > query.last_week
    regions = {r.name: r for r in data.regions if r.kind == "region"}
    assert regions[world.region_a].score == 100.0 and regions[world.region_a].last_week == 100.0
    assert (regions[world.region_b].score or 0) < 100.0 == regions[world.region_b].last_week
    channels = {c.channel_id: c for c in data.channels}
    assert channels[world.ch_a].per_day == [100 + 10 * n for n in range(7)]
    assert channels[world.ch_a].orders == sum(channels[world.ch_a].per_day) == channels[world.ch_a].last_week_orders
    assert data.errors.month == "2025-06"
    picker = next(r for r in data.errors.by_picker if r.name == world.picker)
    assert picker.errors == {"wrong_item": 3, "short_pick": 2} and picker.total == 5
    assert any(r.key == world.sku and r.total == 5 for r in data.errors.by_sku)


@needs_poppler
async def test_weekly_pdf_renders_with_charts_and_chinese(world: World, api: Api, tmp_path: Path) -> None:
    assert find_cjk_font() is not None, "fonts-wqy-zenhei (scripts/test installs it) is needed for the Chinese"
    async with api.client() as client:
        r = await client.post("/api/v1/finance/reports/weekly", json={"week": MONDAY.isoformat()})
        assert r.status_code == 201, r.text
        kept = r.json()
        assert kept["kind"] == "weekly" and kept["period"] == "2025-W23" and kept["format"] == "pdf"
        r = await client.get(f"/api/v1/finance/reports/{kept['id']}/download")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/pdf")
        assert r.content.startswith(b"%PDF") and len(r.content) == kept["size"]
        listed = (await client.get("/api/v1/finance/reports", params={"kind": "weekly"})).json()
        assert kept["id"] in [k["id"] for k in listed]
    pages, text = _render(r.content, tmp_path)
    assert len(pages) >= 2
    for heading in HEADINGS:
        assert heading in text, f"{heading} missing from the text layer"
    assert world.region_a in text and "周报淘宝店" in text and world.picker in text
    inks = [_ink(p) for p in pages]
    assert all(share > 0.01 for share, _ in inks), inks  # no blank page
    assert inks[0][1] >= 3, inks  # the KPI and health charts' colours on the first page
    shutil.copy(pages[0], Path("/tmp") / "weekly-report-page-1.png")  # for a person to look at


async def test_signed_link_and_push(world: World, api: Api) -> None:
    view = await service.generate_weekly(MONDAY, actor="test")
    link = service.signed_link(view.id, api.base_url)
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as client:  # no sign-in: the link is the key
        path = link.removeprefix(api.base_url)
        r = await client.get(path)
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        r = await client.get(path.replace("sig=", "sig=0"))
        assert r.status_code == 403 and r.json()["code"] == "report_link_invalid"
    why = await service.push_weekly(view.id)
    assert why in ("", "no_channel", "no_recipient")
    again = await service.push_weekly(view.id)  # the outbox's dedup key: one message per report and person
    rows = await db.fetch_as(
        dict[str, Any], "SELECT recipient FROM notification WHERE subject = {}", f"report:{view.id}"
    )
    assert len(rows) == len({r["recipient"] for r in rows}) and again == why


def _report(day: date) -> DailyReport:
    def row(channel_id: int, name: str, causes: list[CauseTotal], expected: int, orders: int) -> DailyReportRow:
        difference = sum(c.amount for c in causes)
        return DailyReportRow(
            channel_id=channel_id, channel_name=name, platform="taobao", day=day, orders=orders,
            settled=expected + difference, expected=expected, difference=difference, causes=causes, flagged=1,
        )  # fmt: skip

    rows = [
        row(1, "淘宝", [CauseTotal(cause="shipping_subsidy", name="运费补贴未计入", amount=5000, orders=10)],
            8_000_000, 120),
        row(2, "拼多多", [CauseTotal(cause="refund_not_synced", name="退款延迟同步", amount=-1_020_000, orders=12)],
            5_000_000, 80),
        row(3, "抖店", [CauseTotal(cause="coupon_diff", name="优惠券抵扣方式不同", amount=-715_000, orders=30),
                      CauseTotal(cause="commission_diff", name="佣金差异", amount=1_234, orders=3)], 3_333_333, 51),
    ]  # fmt: skip
    return DailyReport(
        day=day,
        generated_at=clock.now(),
        rows=rows,
        settled=sum(r.settled for r in rows),
        expected=sum(r.expected for r in rows),
        difference=sum(r.difference for r in rows),
    )


def test_daily_xlsx_totals_are_the_sums_of_lines() -> None:
    table = daily.recon_table(_report(MONDAY))
    book = load_workbook(io.BytesIO(daily.daily_xlsx(table)))
    sheet = book["对账日报"]
    rows = [r for r in sheet.iter_rows(values_only=True)]
    header = rows.index(daily.HEADERS)
    lines, total = rows[header + 1 : -1], rows[-1]
    assert [r[0] for r in lines] == ["淘宝", "拼多多", "抖店"] and total[0] == "合计"
    fen = [[round(v * 100) if 2 <= i <= 4 else v for i, v in enumerate(r)] for r in [*lines, total]]  # yuan → fen
    lines_fen, total_fen = fen[:-1], fen[-1]
    for column in (1, 2, 3, 4):
        assert total_fen[column] == sum(r[column] for r in lines_fen), daily.HEADERS[column]
    for r in lines_fen:
        assert r[2] - r[3] == r[4]  # 差额 = 平台结算 − 系统记录
    assert total_fen[4] == 5000 - 1_020_000 - 715_000 + 1_234
    assert "运费补贴未计入 +50.00" in lines[0][5] and "退款延迟同步 -10,200.00" in lines[1][5]
    assert "优惠券抵扣方式不同 -7,150.00" in lines[2][5]
    causes = list(book["原因明细"].iter_rows(values_only=True))[1:]
    for r, r_fen in zip(lines, lines_fen, strict=True):  # each channel's causes add up to its difference
        assert sum(round(c[4] * 100) for c in causes if c[0] == r[0]) == r_fen[4]


@needs_poppler
def test_daily_pdf_renders(tmp_path: Path) -> None:
    pages, text = _render(pdf.daily_recon_pdf(daily.recon_table(_report(MONDAY))), tmp_path)
    assert len(pages) == 1 and _ink(pages[0])[0] > 0.01
    for word in ("结算对账日报", "渠道", "平台结算", "系统记录", "差额", "主要原因", "合计", "退款延迟同步"):
        assert word in text
    assert "-17,287.66" in text  # the total difference: 50.00 − 10,200.00 − 7,150.00 + 12.34


def test_week_summary_sums_days() -> None:
    reports = [_report(MONDAY + timedelta(days=n)) for n in range(3)]
    summary = weekly.summarise_reconciliation(reports)
    assert summary.available and summary.settled == sum(r.settled for r in reports)
    assert summary.difference == sum(c.difference for c in summary.channels) == sum(r.difference for r in reports)
    assert [c.name for c in summary.causes][:2] == ["退款延迟同步", "优惠券抵扣方式不同"]
    assert summary.causes[0].amount == -1_020_000 * 3


async def test_daily_reconciliation_downloads(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/api/v1/finance/reconciliation/daily.xlsx", params={"day": MONDAY.isoformat()})
        assert r.status_code == 200, r.text
        sheet = load_workbook(io.BytesIO(r.content))["对账日报"]
        assert list(sheet.iter_rows(values_only=True))[-1][0] == "合计"
        r = await client.get("/api/v1/finance/reconciliation/daily.pdf", params={"day": MONDAY.isoformat()})
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        tomorrow = clock.to_shanghai(clock.now()).date() + timedelta(days=2)
        r = await client.get("/api/v1/finance/reconciliation/daily.xlsx", params={"day": tomorrow.isoformat()})
        assert r.status_code == 422 and r.json()["code"] == "report_bad_day"


async def test_cron_is_monday_midnight_utc(queue: Any) -> None:
    from orderhub.queue import QueueRole
    from server.worker import cron_jobs

    crons = {job.function.__name__: job for job in cron_jobs(get_settings(), QueueRole.BACKGROUND)}
    assert crons["weekly_report"].cron == service.WEEKLY_CRON == "0 0 * * 1 0"
    sunday_noon = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    fired = croniter(service.WEEKLY_CRON, sunday_noon).get_next(datetime)
    assert fired == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # Monday
    assert clock.to_shanghai(fired).hour == 8 and clock.to_shanghai(fired).weekday() == 0
    assert weekly.last_full_week(fired) == date(2026, 11, 30)

"""The reports' PDFs, assembled with reportlab: the weekly report (charts from :mod:`orderhub.reports.charts` and
tables) and the daily reconciliation report. Chinese is set in the CJK TrueType font
(:func:`orderhub.reports.fonts.find_cjk_font`, registered with reportlab once); without one, Helvetica, with a line at
the top of the first page saying the Chinese cannot be shown."""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from orderhub import clock
from orderhub.offers.effect import OfferEffect, Proportion
from orderhub.reports import charts
from orderhub.reports.daily import HEADERS, ReconTable, main_causes, yuan_text
from orderhub.reports.fonts import find_cjk_font
from orderhub.reports.weekly import ErrorAnalysis, KpiLine, WeeklyData

__all__ = ["daily_recon_pdf", "font_name", "weekly_pdf"]

FONT = "OrderHubCJK"
_WIDTH = A4[0] - 36 * mm  # the frame's width (18 mm margins)
_GRID = colors.HexColor("#9aa9b9")
_HEAD = colors.HexColor("#dde6f0")
_RED = colors.HexColor("#c0392b")
_GREEN = colors.HexColor("#2e7d4f")


@functools.cache
def font_name() -> str:
    """The registered CJK font's name, or Helvetica when the machine has none."""
    path = find_cjk_font()
    if path is None:
        return "Helvetica"
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0) if path.lower().endswith(".ttc") else TTFont(FONT, path))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = font_name()
    base = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=23, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", parent=base, textColor=colors.HexColor("#555555")),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12.5, leading=17, spaceBefore=10, spaceAfter=5),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10.5),
        "note": ParagraphStyle("note", parent=base, fontSize=8, textColor=colors.HexColor("#666666")),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _image(png: bytes, width: float = _WIDTH) -> Image:
    from reportlab.lib.utils import ImageReader

    reader = ImageReader(io.BytesIO(png))
    w, h = reader.getSize()
    return Image(io.BytesIO(png), width=width, height=width * h / w)


def _table(
    rows: Sequence[Sequence[Any]], widths: Sequence[float], *, total: bool = False, numeric_from: int = 1
) -> Table:
    table = Table([list(r) for r in rows], colWidths=list(widths), repeatRows=1)
    style = [
        ("FONT", (0, 0), (-1, -1), font_name(), 8),
        ("BACKGROUND", (0, 0), (-1, 0), _HEAD),
        ("GRID", (0, 0), (-1, -1), 0.4, _GRID),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"),
        ("ALIGN", (0, 0), (-1, 0), "CENTER"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if total:
        style += [("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f3f5f8"))]
    table.setStyle(TableStyle(style))
    return table


def _footer(title: str) -> Any:
    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font_name(), 7.5)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(18 * mm, 10 * mm, title)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    return draw


def _build(story: list[Flowable], title: str) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="OrderHub",
        creator="OrderHub",
    )
    if font_name() == "Helvetica":
        story.insert(
            0,
            _p(
                "CJK font not found on the server (install fonts-wqy-zenhei): Chinese cannot be shown.",
                _styles()["note"],
            ),
        )
    doc.build(story, onFirstPage=_footer(title), onLaterPages=_footer(title))
    return buffer.getvalue()


# -- the weekly report -------------------------------------------------------------------------------------------------


def _kpi_value(kpi: KpiLine, value: float | None) -> str:
    if value is None:
        return "—"
    if kpi.unit == "ratio":
        return f"{value * 100:.2f}%"
    if kpi.unit == "min":
        return f"{value:.1f} 分钟"
    return f"{value:.1f} 单"


def _kpi_change(kpi: KpiLine) -> str:
    change = kpi.change
    if change is None:
        return "—"
    if kpi.unit == "ratio":
        text = f"{change * 100:+.2f} 个百分点"
    else:
        text = f"{change:+.1f}"
    better = change < 0 if kpi.better == "lower" else change > 0
    return f"{text}（{'改善' if better else '变差' if change else '持平'}）"


def _cn_day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def weekly_pdf(data: WeeklyData) -> bytes:
    """The weekly report as a PDF: five sections, each a chart and its table."""
    s = _styles()
    title = f"订单中心周报 {data.label}（{_cn_day(data.week_start)}–{_cn_day(data.week_end)}）"
    story: list[Flowable] = [
        _p(title, s["title"]),
        _p(
            f"统计周期：{data.week_start.isoformat()} 至 {data.week_end.isoformat()}（北京时间，周一至周日）；"
            f"生成于 {clock.to_shanghai(data.generated_at).strftime('%Y-%m-%d %H:%M')}",
            s["subtitle"],
        ),
        Spacer(1, 4),
        _p("一、核心指标", s["h2"]),
        _image(charts.headline_kpis(data.kpis)),
    ]
    rows: list[list[Any]] = [["指标", "本周", "目标", "上周", "环比", "达标"]]
    for kpi in data.kpis:
        target = f"{'≤' if kpi.better == 'lower' else '≥'} {_kpi_value(kpi, kpi.target)}"
        met = {True: "达标", False: "未达标", None: "—"}[kpi.meets_target]
        rows.append(
            [
                _p(kpi.label, s["cell"]),
                _kpi_value(kpi, kpi.value),
                target,
                _kpi_value(kpi, kpi.last_week),
                _kpi_change(kpi),
                met,
            ]
        )
    kpi_table = _table(rows, [_WIDTH * f for f in (0.27, 0.13, 0.14, 0.13, 0.24, 0.09)])
    for i, kpi in enumerate(data.kpis, start=1):
        if kpi.meets_target is not None:
            kpi_table.setStyle(TableStyle([("TEXTCOLOR", (5, i), (5, i), _GREEN if kpi.meets_target else _RED)]))
    story += [kpi_table, _p("口径见 docs/kpis.md：数据来自汇总表，按北京时间自然日统计。", s["note"])]

    kind = "区域" if data.region_kind == "region" else "仓库"
    story.append(KeepTogether([_p(f"二、健康指数（按{kind}）", s["h2"]), _image(charts.region_health(data.regions))]))
    rows = [[kind, "本周", "上周", "变化", "扣分最多的指标"]]
    for r in data.regions:
        change = f"{r.score - r.last_week:+.1f}" if r.score is not None and r.last_week is not None else "—"
        rows.append(
            [
                "全部（全局）" if r.kind == "hub" else r.name,
                f"{r.score:.1f}" if r.score is not None else "—",
                f"{r.last_week:.1f}" if r.last_week is not None else "—",
                change,
                _p(r.worst or "—", s["cell"]),
            ]
        )
    story += [
        _table(rows, [_WIDTH * f for f in (0.24, 0.13, 0.13, 0.13, 0.37)]),
        _p("整周的各项指标按日分数的同一公式计分（docs/health.md），低于 80 分需整改。", s["note"]),
    ]

    day_labels = [f"{d.month}/{d.day} 周{'一二三四五六日'[d.weekday()]}" for d in data.days]
    volume = charts.channel_volume(data.channels, day_labels)
    story.append(KeepTogether([_p("三、各渠道订单量", s["h2"]), _image(volume)]))
    rows = [["渠道", "本周订单", "上周订单", "环比", "发货", "GMV（元）"]]
    for c in data.channels:
        ratio = f"{(c.orders - c.last_week_orders) / c.last_week_orders * 100:+.1f}%" if c.last_week_orders else "—"
        rows.append([c.name, c.orders, c.last_week_orders, ratio, c.shipped, yuan_text(c.gmv_fen)])
    rows.append(
        [
            "合计",
            sum(c.orders for c in data.channels),
            sum(c.last_week_orders for c in data.channels),
            "",
            sum(c.shipped for c in data.channels),
            yuan_text(sum(c.gmv_fen for c in data.channels)),
        ]
    )
    story.append(_table(rows, [_WIDTH * f for f in (0.28, 0.14, 0.14, 0.12, 0.12, 0.2)], total=True))

    recon = data.reconciliation
    story += [_p("四、结算对账", s["h2"])]
    if not recon.available or not recon.channels:
        story.append(_p(recon.note, s["body"]))
    else:
        story.append(
            _p(
                f"本周平台结算 {yuan_text(recon.settled)} 元，系统记录 {yuan_text(recon.expected)} 元，差额 "
                f"{yuan_text(recon.difference, signed=True)} 元；待处理差异 {recon.flagged} 笔。主要原因：",
                s["body"],
            )
        )
        story.append(_image(charts.reconciliation_causes(recon)))
        rows = [["渠道", "订单数", "平台结算（元）", "系统记录（元）", "差额（元）", "待处理"]]
        for rc in recon.channels:
            rows.append(
                [
                    rc.name,
                    rc.orders,
                    yuan_text(rc.settled),
                    yuan_text(rc.expected),
                    yuan_text(rc.difference, signed=True),
                    rc.flagged,
                ]
            )
        rows.append(
            [
                "合计",
                sum(c.orders for c in recon.channels),
                yuan_text(recon.settled),
                yuan_text(recon.expected),
                yuan_text(recon.difference, signed=True),
                recon.flagged,
            ]
        )
        story.append(_table(rows, [_WIDTH * f for f in (0.24, 0.1, 0.18, 0.18, 0.18, 0.12)], total=True))

    errors = data.errors
    story += [_p(f"五、本月差错分析（{errors.month}）", s["h2"])]
    if errors.totals:
        names = charts._ERROR_NAMES
        story.append(
            _p("本月累计：" + "，".join(f"{names.get(k, k)} {v} 次" for k, v in errors.totals.items()), s["body"])
        )
    story.append(_image(charts.error_analysis(errors)))
    pickers: list[list[Any]] = [["拣货员", "差错次数", "每行差错率"]]
    for line in errors.by_picker:
        rate = f"{line.error_rate * 100:.2f}%" if line.error_rate is not None else "—"
        pickers.append([line.name, line.total, rate])
    skus: list[list[Any]] = [["SKU", "名称", "差错次数"]]
    for line in errors.by_sku:
        skus.append([line.key, _p(line.name, s["cell"]), line.total])
    half = _WIDTH / 2 - 3 * mm
    side = Table(
        [
            [
                _table(pickers, [half * 0.5, half * 0.25, half * 0.25]),
                _table(skus, [half * 0.3, half * 0.45, half * 0.25], numeric_from=2),
            ]
        ],
        colWidths=[half + 3 * mm, half + 3 * mm],
    )
    side.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(KeepTogether([side]) if errors.by_picker or errors.by_sku else _p("本月没有差错记录。", s["body"]))
    story += _fair_errors(errors, s)
    story += _offer_effects(data.offers, s)
    return _build(story, f"订单中心周报 {data.label}")


def _fair_errors(errors: ErrorAnalysis, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Issue 20 B4: the pickers' error lines per 1,000 with Wilson intervals, the wrong-item pairs, the clusters."""
    out: list[Flowable] = []
    if errors.picker_rates:
        rows: list[list[Any]] = [["排名", "拣货员", "拣货行", "差错行", "每千行", "95% 区间", "备注"]]
        for r in errors.picker_rates:
            rows.append(
                [
                    r.rank if r.rank is not None else "—",
                    _p(r.name, s["cell"]),
                    r.lines,
                    r.error_lines,
                    f"{r.per_1000:.1f}",
                    f"{r.low_per_1000:.1f}–{r.high_per_1000:.1f}",
                    r.note,
                ]
            )
        out.append(
            KeepTogether(
                [
                    _p("拣货员差错率（每千行）", s["body"]),
                    _table(rows, [_WIDTH * f for f in (0.08, 0.24, 0.12, 0.1, 0.12, 0.2, 0.14)]),
                    _p(
                        f"按 95% Wilson 区间的下限排名（至少有这么高）；本月拣货少于 {errors.min_lines} 行的标为"
                        "样本不足，不参与排名。",
                        s["note"],
                    ),
                ]
            )
        )
    if errors.confusions:
        rows = [["应拣 SKU", "应拣商品", "库位", "扫到 SKU", "扫到商品", "库位", "次数"]]
        for c in errors.confusions:
            rows.append(
                [
                    c.expected_sku,
                    _p(c.expected_name, s["cell"]),
                    c.expected_location or "—",
                    c.scanned_sku,
                    _p(c.scanned_name, s["cell"]),
                    c.scanned_location or "—",
                    c.count,
                ]
            )
        widths = [_WIDTH * f for f in (0.14, 0.2, 0.1, 0.14, 0.2, 0.1, 0.12)]
        out.append(
            KeepTogether(
                [
                    _p("易混商品（应拣 A，扫到 B）", s["body"]),
                    _table(rows, widths, numeric_from=6),
                    _p(errors.confusion_hint, s["note"]),
                ]
            )
        )
    if errors.clusters:
        rows = [["SKU", "商品", "库位", "该库位差错", "差错占比", "拣货行占比"]]
        for k in errors.clusters:
            rows.append(
                [
                    k.sku,
                    _p(k.name, s["cell"]),
                    k.location,
                    f"{k.location_error_lines}/{k.error_lines}",
                    f"{k.error_share:.0%}",
                    f"{k.pick_share:.0%}",
                ]
            )
        out.append(
            KeepTogether(
                [
                    _p("差错集中在一个库位的 SKU", s["body"]),
                    _table(rows, [_WIDTH * f for f in (0.16, 0.3, 0.14, 0.14, 0.13, 0.13)], numeric_from=3),
                    _p("该库位的差错占比显著高于它的拣货行占比：请检查库位标签、照明、相邻商品或混放。", s["note"]),
                ]
            )
        )
    return out


# -- the daily reconciliation report -----------------------------------------------------------------------------------


def daily_recon_pdf(table: ReconTable) -> bytes:
    """The seed's table for one day: a row per channel and 合计 (the sums of the rows), then each channel's causes."""
    s = _styles()
    title = f"结算对账日报 {table.day.isoformat()}"
    story: list[Flowable] = [
        _p(title, s["title"]),
        _p(
            f"北京时间；金额单位：元；差额 = 平台结算 - 系统记录；生成于 "
            f"{clock.to_shanghai(clock.now()).strftime('%Y-%m-%d %H:%M')}",
            s["subtitle"],
        ),
        Spacer(1, 6),
    ]
    rows: list[list[Any]] = [list(HEADERS)]
    for line in table.lines:
        rows.append(
            [
                _p(line.channel, s["cell"]),
                line.orders,
                yuan_text(line.settled),
                yuan_text(line.expected),
                yuan_text(line.difference, signed=True),
                _p(main_causes(line.causes), s["cell"]),
            ]
        )
    rows.append(
        [
            "合计",
            table.orders,
            yuan_text(table.settled),
            yuan_text(table.expected),
            yuan_text(table.difference, signed=True),
            f"待处理 {table.flagged} 笔" if table.flagged else "",
        ]
    )
    story.append(_table(rows, [_WIDTH * f for f in (0.16, 0.09, 0.15, 0.15, 0.14, 0.31)], total=True))
    detail: list[list[Any]] = [["渠道", "原因", "订单数", "金额（元）"]]
    for line in table.lines:
        for cause in line.causes:
            detail.append([line.channel, cause.name, cause.orders, yuan_text(cause.amount, signed=True)])
    if len(detail) > 1:
        widths = [_WIDTH * f for f in (0.25, 0.35, 0.15, 0.25)]
        story += [_p("原因明细", s["h2"]), _table(detail, widths, numeric_from=2)]
    if not table.lines:
        story.append(_p("当日没有结算数据。", s["body"]))
    return _build(story, title)


def _offer_effects(offers: Sequence[OfferEffect], s: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Issue 20 B3: each add-on offer's attach rate, shown to buyers against its hold-out, with 95 % intervals."""

    def rate(p: Proportion) -> str:
        if p.rate is None or p.low is None or p.high is None:
            return "—"
        return f"{p.rate * 100:.1f}%（{p.low * 100:.1f}–{p.high * 100:.1f}）{p.hits}/{p.n}"

    out: list[Flowable] = [_p("六、加购优惠效果", s["h2"])]
    if not offers:
        return [*out, _p("本周没有上线中的加购优惠。", s["body"])]
    rows: list[list[Any]] = [["优惠", "上线前", "实验组（展示）", "对照组（不展示）", "差值（95% 区间）"]]
    for o in offers:
        diff = (
            f"{o.effect.estimate * 100:+.1f} 点（{o.effect.low * 100:+.1f}~{o.effect.high * 100:+.1f}）"
            if o.effect is not None
            else "样本不足"
        )
        cells = [o.name, rate(o.before), rate(o.treatment), rate(o.holdout), diff]
        rows.append([_p(c, s["cell"]) for c in cells])
    notes = [_p(f"{o.name}：{o.note}", s["note"]) for o in offers]
    out += [
        _table(rows, [_WIDTH * f for f in (0.24, 0.19, 0.19, 0.19, 0.19)]),
        *notes,
        _p(
            "加购率 = 加购过的买家 ÷ 有满足触发条件订单的买家（按买家计，不含赠品行、取消单和补发单），"
            "括号内为 Wilson 95% 区间；"
            "差值为实验组减对照组，区间用 Newcombe 混合得分法。对照组按买家稳定哈希划分，口径见 docs/offers.md。",
            s["note"],
        ),
    ]
    return out

"""The weekly report's charts, drawn on the server without a browser: matplotlib's Agg backend (no display, no
pyplot state: each chart is its own ``Figure``, so charts can be drawn in worker threads), Chinese with the CJK font
:func:`orderhub.reports.fonts.find_cjk_font` finds (a Latin fallback draws boxes, and the log says so). Each function
returns PNG bytes."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before anything else of matplotlib: no display on a server

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from orderhub.reports.fonts import find_cjk_font
from orderhub.reports.weekly import ChannelVolume, ErrorAnalysis, KpiLine, ReconSummary, RegionHealth

__all__ = ["channel_volume", "error_analysis", "headline_kpis", "reconciliation_causes", "region_health"]

# matplotlib warns on every draw that the CJK font has no "normal" weight (WenQuanYi's is "medium"): harmless
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
DPI = 150
_THIS, _LAST, _TARGET, _BAD = "#2f6fb0", "#b8c7d9", "#d9822b", "#c0392b"
_PALETTE = ("#2f6fb0", "#d9822b", "#3a9d5d", "#8e5ea2", "#c0392b", "#6c7a89", "#e0b000", "#1abc9c")
_ERROR_NAMES = {
    "wrong_location": "库位错误",
    "location_not_scanned": "未扫库位",
    "wrong_item": "拣错商品",
    "over_pick": "多拣",
    "short_pick": "缺货短拣",
    "extra_item": "多装",
    "items_missing": "少装",
    "weight_mismatch": "称重不符",
}


@functools.cache
def _font_family() -> str:
    """Register the CJK font with matplotlib once; its family name, or DejaVu Sans without one."""
    path = find_cjk_font()
    if path is None:
        return "DejaVu Sans"
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def _figure(width: float, height: float) -> Figure:
    family = _font_family()
    matplotlib.rcParams["font.family"] = [family, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False  # the CJK font has no U+2212 minus
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def _display(value: float | None, unit: str) -> float:
    if value is None:
        return 0.0
    return value * 100 if unit == "ratio" else value


def _suffix(unit: str) -> str:
    return {"ratio": "%", "min": " 分钟", "orders": " 单"}.get(unit, "")


def headline_kpis(kpis: Sequence[KpiLine]) -> bytes:
    """One small panel per KPI: last week and this week as bars, the target as a dashed line (red bar: off target)."""
    fig = _figure(8.0, 2.6)
    axes = fig.subplots(1, max(1, len(kpis)))
    for ax, kpi in zip(axes if len(kpis) > 1 else [axes], kpis, strict=False):
        this, last = _display(kpi.value, kpi.unit), _display(kpi.last_week, kpi.unit)
        target = _display(kpi.target, kpi.unit)
        colour = _BAD if kpi.meets_target is False else _THIS
        bars = ax.bar(["上周", "本周"], [last, this], color=[_LAST, colour], width=0.6)
        ax.axhline(target, color=_TARGET, linestyle="--", linewidth=1.2, label="目标")
        for bar, raw in zip(bars, (kpi.last_week, kpi.value), strict=True):
            text = "无数据" if raw is None else f"{_display(raw, kpi.unit):.1f}"
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
        top = max(this, last, target) or 1.0
        ax.set_ylim(0, top * 1.25)
        title = kpi.label.split("（")[0]
        ax.set_title(f"{title}\n目标 {'≤' if kpi.better == 'lower' else '≥'} {target:g}{_suffix(kpi.unit)}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def region_health(rows: Sequence[RegionHealth]) -> bytes:
    """Horizontal bars: each scope's health index this week, last week's as a marker, the threshold of 80 dashed."""
    shown = list(rows)[:12] or [RegionHealth(kind="hub", id="all", name="无数据", score=None, last_week=None, worst="")]
    fig = _figure(8.0, 0.45 * len(shown) + 1.0)
    ax = fig.subplots()
    names = [r.name for r in shown][::-1]
    scores = [r.score or 0.0 for r in shown][::-1]
    last = [r.last_week for r in shown][::-1]
    colours = [_BAD if (r.score or 0) < 80 else _THIS for r in shown][::-1]
    ax.barh(names, scores, color=colours, height=0.55, label="本周")
    marks = [(v, i) for i, v in enumerate(last) if v is not None]
    if marks:
        ax.scatter(
            [v for v, _ in marks], [i for _, i in marks], marker="|", s=250, color="#333333", label="上周", zorder=3
        )
    for i, value in enumerate(scores):
        ax.text(value + 1, i, f"{value:.1f}", va="center", fontsize=8)
    ax.axvline(80, color=_TARGET, linestyle="--", linewidth=1, label="整改线 80")
    ax.set_xlim(0, 110)
    ax.set_xlabel("健康指数", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def channel_volume(channels: Sequence[ChannelVolume], day_labels: Sequence[str]) -> bytes:
    """Stacked bars: orders received per day, one colour per channel (the seven largest, the rest as 其他)."""
    fig = _figure(8.0, 3.0)
    ax = fig.subplots()
    shown = list(channels)[:7]
    rest = list(channels)[7:]
    series = [(c.name, c.per_day) for c in shown]
    if rest:
        series.append(("其他", [sum(c.per_day[i] for c in rest) for i in range(len(day_labels))]))
    bottom = [0] * len(day_labels)
    for n, (name, values) in enumerate(series):
        ax.bar(day_labels, values, bottom=bottom, color=_PALETTE[n % len(_PALETTE)], label=name, width=0.65)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, total in enumerate(bottom):
        ax.text(i, total, str(total), ha="center", va="bottom", fontsize=7)
    if not series:
        ax.text(0.5, 0.5, "本周没有订单", transform=ax.transAxes, ha="center", fontsize=10)
    ax.set_ylabel("订单数", fontsize=8)
    ax.tick_params(labelsize=8)
    if series:
        ax.legend(fontsize=7, ncols=min(4, len(series)), loc="upper left", bbox_to_anchor=(0, -0.12))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def reconciliation_causes(summary: ReconSummary) -> bytes:
    """Horizontal bars: the week's top causes of differences in yuan (negative: the platform paid less)."""
    fig = _figure(8.0, 0.5 * max(1, len(summary.causes)) + 1.1)
    ax = fig.subplots()
    if not summary.causes:
        ax.text(0.5, 0.5, summary.note or "本周没有差异", transform=ax.transAxes, ha="center", va="center", fontsize=10)
        ax.set_axis_off()
        return _png(fig)
    causes = list(summary.causes)[::-1]
    values = [c.amount / 100 for c in causes]
    ax.barh([c.name for c in causes], values, color=[_BAD if v < 0 else _THIS for v in values], height=0.55)
    for i, c in enumerate(causes):
        ax.text(
            values[i],
            i,
            f" {values[i]:,.2f} 元（{c.orders} 单）",
            va="center",
            fontsize=7,
            ha="left" if values[i] >= 0 else "right",
        )
    ax.axvline(0, color="#333333", linewidth=0.8)
    span = max(abs(v) for v in values) or 1.0
    ax.set_xlim(-span * 1.6, span * 1.6)
    ax.set_xlabel("差额（元，平台结算 - 系统记录）", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def error_analysis(errors: ErrorAnalysis) -> bytes:
    """Two panels: errors per picker and per SKU, stacked by error type (the month so far)."""
    fig = _figure(8.0, 3.4)
    left, right = fig.subplots(1, 2)
    kinds = [k for k in _ERROR_NAMES if any(k in r.errors for r in [*errors.by_picker, *errors.by_sku])]
    for ax, rows, title in ((left, errors.by_picker, "按拣货员"), (right, errors.by_sku, "按 SKU")):
        shown = list(rows)[:8][::-1]
        ax.set_title(f"{title}（{errors.month}）", fontsize=9)
        if not shown:
            ax.text(0.5, 0.5, "本月没有差错", transform=ax.transAxes, ha="center", va="center", fontsize=9)
            ax.set_axis_off()
            continue
        labels = [(r.name or r.key)[:10] for r in shown]
        left_edge = [0] * len(shown)
        for n, kind in enumerate(kinds):
            values = [r.errors.get(kind, 0) for r in shown]
            ax.barh(
                labels, values, left=left_edge, color=_PALETTE[n % len(_PALETTE)], height=0.6, label=_ERROR_NAMES[kind]
            )
            left_edge = [a + b for a, b in zip(left_edge, values, strict=True)]
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    if kinds and (errors.by_picker or errors.by_sku):
        handles, names = (left if errors.by_picker else right).get_legend_handles_labels()
        fig.legend(handles, names, fontsize=7, loc="outside lower center", ncols=min(4, len(kinds)))
    return _png(fig)

"""Notices and their wording: which notice an order event causes, who hears it, and the zh-CN text per channel.

A *notice* is what a person is told ("your parcel is out for delivery"); it is sent through one channel per
recipient. Customers hear ``shipped``, ``out_for_delivery``, ``signed`` and ``delayed``; staff hear ``staff_*``
notices in WeCom. Every notice has shipped default wording per channel; a seller overrides it (and must set the
provider's template id for WeChat and SMS — those templates are approved per account) through the API.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from orderhub import clock, db
from orderhub.errors import NotFound, ValidationFailed
from orderhub.notifications.errors import NotificationError
from orderhub.notifications.tables import NotifyTemplate
from orderhub.orders.events import OrderEventType

__all__ = [
    "CUSTOMER_NOTICES",
    "DEFAULTS",
    "NOTICES",
    "STAFF_ROLES",
    "Notice",
    "Template",
    "TemplateIn",
    "TemplateRow",
    "delete_template",
    "list_templates",
    "notices_for",
    "put_template",
    "render",
    "shanghai_text",
    "template_for",
]


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    audience: str  # customer, staff
    label: str  # zh-CN, for the back office


NOTICES: dict[str, Notice] = {
    n.code: n
    for n in (
        Notice(code="shipped", audience="customer", label="订单已发货"),
        Notice(code="out_for_delivery", audience="customer", label="快递派送中"),
        Notice(code="signed", audience="customer", label="包裹已签收"),
        Notice(code="delayed", audience="customer", label="物流延误"),
        Notice(code="staff_surge", audience="staff", label="进单高峰"),
        Notice(code="staff_at_risk", audience="staff", label="订单即将超时"),
        Notice(code="staff_short_pick", audience="staff", label="拣货缺货"),
        Notice(code="staff_parcel_stalled", audience="staff", label="包裹 48 小时无轨迹"),
        Notice(code="staff_writeback_failed", audience="staff", label="发货回传被平台拒绝"),
        Notice(code="staff_alert", audience="staff", label="指标告警"),
        Notice(code="staff_alert_cleared", audience="staff", label="指标告警解除"),
        Notice(code="staff_weekly_report", audience="staff", label="运营周报"),
        Notice(code="staff_token_expiring", audience="staff", label="店铺授权即将过期"),
        Notice(code="staff_token_refused", audience="staff", label="店铺授权已失效"),
    )
}
CUSTOMER_NOTICES = frozenset(code for code, n in NOTICES.items() if n.audience == "customer")
# Who hears a staff notice: these roles, in the order's warehouse (or all warehouses when not scoped).
STAFF_ROLES: dict[str, tuple[str, ...]] = {
    "staff_surge": ("admin", "manager"),
    "staff_at_risk": ("manager",),
    "staff_short_pick": ("manager",),
    "staff_parcel_stalled": ("manager",),
    "staff_writeback_failed": ("manager",),
    # threshold alerts (orderhub.insights.alerts): a warehouse's go to those bound to it, hub-wide ones to the unbound
    "staff_alert": ("admin", "manager"),
    "staff_alert_cleared": ("admin", "manager"),
    # the weekly report (orderhub.reports.service.push_weekly): hub-wide, to those bound to no warehouse
    "staff_weekly_report": ("admin", "manager", "finance"),
    # shop authorisations (orderhub.channels.tokens): hub-wide, to those bound to no warehouse
    "staff_token_expiring": ("admin", "manager"),
    "staff_token_refused": ("admin", "manager"),
}


# Order event → the notices it causes; a parcel update's depend on its reason. Every order event passes here (a
# peak's pipeline records four or five per order): one lookup, most finding nothing.
_NOTICES: dict[OrderEventType, tuple[str, ...]] = {
    OrderEventType.SHIPPED: ("shipped",),
    OrderEventType.PARCEL_STALLED: ("delayed", "staff_parcel_stalled"),
    OrderEventType.AT_RISK: ("staff_at_risk",),
    OrderEventType.SHORT_PICKED: ("staff_short_pick",),
    OrderEventType.WRITEBACK_FAILED: ("staff_writeback_failed",),
}
_PARCEL_NOTICES = {"out_for_delivery": ("out_for_delivery",), "signed": ("signed",)}


def notices_for(event_type: OrderEventType, reason: str | None) -> list[str]:
    """The notices an order event causes (most cause none)."""
    if event_type == OrderEventType.PARCEL_UPDATED:
        return list(_PARCEL_NOTICES.get(reason or "", ()))
    return list(_NOTICES.get(event_type, ()))


class TemplateIn(msgspec.Struct, frozen=True, kw_only=True):
    """``fields``: provider field → zh-CN text with ``{placeholders}`` (WeChat template / subscribe data, SMS
    TemplateParam); ``title`` / ``text``: WeCom card and the wording shown in the back office."""

    template_id: str = ""
    fields: dict[str, str] = {}
    title: str = ""
    text: str = ""
    urgent: bool = False
    enabled: bool = True


class Template(TemplateIn, frozen=True, kw_only=True):
    event: str
    channel: str
    customised: bool = False


_OA, _MINI, _SMS, _WECOM = "wechat_template", "wechat_subscribe", "aliyun_sms", "wecom"
_CUSTOMER_TEXT = {
    "shipped": ("您的订单已发货", "您在{shop}的订单 {order_no} 已由{carrier_name}发出，运单号 {waybill_no}。"),
    "out_for_delivery": ("快递员正在派送", "您的包裹（{carrier_name} {waybill_no}）正在派送，请保持电话畅通。"),
    "signed": ("包裹已签收", "您的包裹（{carrier_name} {waybill_no}）已签收，感谢您的购买。"),
    "delayed": ("物流延误提醒", "您的包裹（{carrier_name} {waybill_no}）暂时没有新的物流信息，我们正在跟进。"),
}
_STAFF_TEXT = {
    "staff_surge": ("进单高峰", "每分钟进单 {inflow_per_min} 单（阈值 {threshold}），{mode_text}。"),
    "staff_at_risk": (
        "订单即将超时",
        "{warehouse} 近 5 分钟有 {count} 个订单即将超时（其中已超时 {overdue} 个），"
        "最早需在 {ship_by} 前发出：{orders}。",
    ),
    "staff_short_pick": ("拣货缺货", "订单 {order_no} 在库位 {location} 缺 {sku} × {missing}，请盘点。"),
    "staff_parcel_stalled": (
        "包裹 48 小时无轨迹",
        "订单 {order_no} 的包裹 {carrier_name} {waybill_no} 已 48 小时无轨迹，请联系快递。",
    ),
    "staff_writeback_failed": (
        "发货回传被平台拒绝",
        "订单 {order_no}（{shop}）的发货回传被平台拒绝：{platform_message}。已停止重试，请核对后在回传队列中重试。",
    ),
    "staff_alert": (
        "指标告警：{rule}", "{scope}{metric_text}当前为 {value}，{comparison_text}阈值 {threshold}（{fired_at}）。"
    ),
    "staff_alert_cleared": ("告警解除：{rule}", "{scope}{metric_text}已恢复为 {value}（解除线 {clear_level}）。"),
    "staff_weekly_report": (
        "运营周报 {week}", "{period} 的运营周报已生成（核心指标、健康指数、渠道订单量、对账、差错分析）。{download}"
    ),
    "staff_token_expiring": (
        "店铺授权即将过期：{shop}",
        "店铺 {shop}（{platform}）的授权将于 {expires} 过期，请在此之前到{where}重新授权；"
        "过期后将无法拉取订单、回传发货。",
    ),
    "staff_token_refused": (
        "店铺授权已失效：{shop}",
        "店铺 {shop}（{platform}）的授权已失效（平台代码 {platform_code}），请到{where}重新授权；"
        "在此之前无法拉取订单、回传发货。",
    ),
}


def _defaults() -> dict[tuple[str, str], Template]:
    out: dict[tuple[str, str], Template] = {}
    for event, (title, text) in _CUSTOMER_TEXT.items():
        urgent = event == "out_for_delivery"  # the courier is on the way: worth hearing at 22:30
        out[(event, _OA)] = Template(
            event=event, channel=_OA, title=title, text=text, urgent=urgent,
            fields={"first": title, "keyword1": "{order_no}", "keyword2": "{carrier_name}",
                    "keyword3": "{waybill_no}", "remark": "点击查看物流详情"},
        )
        out[(event, _MINI)] = Template(
            event=event, channel=_MINI, title=title, text=text, urgent=urgent,
            fields={"character_string1": "{order_no}", "thing2": "{carrier_name}",
                    "character_string3": "{waybill_no}", "thing4": title},
        )
        out[(event, _SMS)] = Template(
            event=event, channel=_SMS, title=title, text=text, urgent=urgent,
            fields={"order": "{order_no}", "carrier": "{carrier_name}", "no": "{waybill_no}", "link": "{tracking_url}"},
        )
    for event, (title, text) in _STAFF_TEXT.items():
        out[(event, _WECOM)] = Template(event=event, channel=_WECOM, title=title, text=text, urgent=True)
    return out


DEFAULTS: dict[tuple[str, str], Template] = _defaults()
# Values in WeChat subscribe messages are bounded by their kind (thing ≤ 20 characters, character_string ≤ 32).
_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "name": 10, "number": 32}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(text: str, context: Mapping[str, Any]) -> str:
    return string.Formatter().vformat(text, (), _Blank(context))


def render(template: Template, context: Mapping[str, Any]) -> tuple[dict[str, str], str, str]:
    """The template's fields, title and text filled from the context (missing values stay empty)."""
    fields: dict[str, str] = {}
    for key, text in template.fields.items():
        value = _fill(text, context)
        kind = key.rstrip("0123456789")
        if template.channel == _MINI and kind in _LIMITS:
            value = value[: _LIMITS[kind]]
        fields[key] = value
    return fields, _fill(template.title, context), _fill(template.text, context)


def _check(event: str, channel: str, data: TemplateIn) -> None:
    notice = NOTICES.get(event)
    if notice is None:
        raise NotFound(f"未知的通知类型 {event}", code=NotificationError.UNKNOWN_NOTICE, field="event")
    allowed = (_WECOM,) if notice.audience == "staff" else (_OA, _MINI, _SMS)
    if channel not in allowed:
        raise ValidationFailed(f"{notice.label}只能通过 {'、'.join(allowed)} 发送", field="channel")
    for key, text in [*data.fields.items(), ("title", data.title), ("text", data.text)]:
        where = f"fields.{key}" if key in data.fields else key
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValidationFailed(f"模板文字 {key} 的占位符写法有误：{exc}", field=where) from exc
        for _literal, name, spec, conversion in parsed:
            # only plain names ({waybill_no}): positions, indexes, attributes, conversions and format specs fail
            # or leak at render time
            if name is not None and (not name.isidentifier() or spec or conversion):
                raise ValidationFailed(
                    f"模板文字 {key} 的占位符只能写成 {{名称}}（如 {{waybill_no}}），不能是 {{{name}"
                    f"{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}",
                    code=NotificationError.BAD_PLACEHOLDER,
                    field=where,
                )


async def put_template(event: str, channel: str, data: TemplateIn, *, actor: str) -> Template:
    _check(event, channel, data)
    now = clock.now()
    fields = msgspec.json.encode(data.fields).decode()
    await db.execute(  # raw: an upsert on (event, channel)
        "INSERT INTO notify_template (event, channel, template_id, fields, title, text, urgent, enabled, updated_by, "
        "updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (event, channel) DO UPDATE SET "
        "template_id = EXCLUDED.template_id, fields = EXCLUDED.fields, title = EXCLUDED.title, text = EXCLUDED.text, "
        "urgent = EXCLUDED.urgent, enabled = EXCLUDED.enabled, updated_by = EXCLUDED.updated_by, "
        "updated_at = EXCLUDED.updated_at",
        event, channel, data.template_id, fields, data.title, data.text, data.urgent, data.enabled, actor[:64], now,
    )
    return await template_for(event, channel) or Template(event=event, channel=channel)


async def delete_template(event: str, channel: str) -> None:
    """Back to the shipped wording."""
    deleted = await NotifyTemplate.delete().where(
        NotifyTemplate.event == event, NotifyTemplate.channel == channel
    ).returning(NotifyTemplate.id)
    if not deleted:
        raise NotFound(NotificationError.TEMPLATE_NOT_FOUND, field="channel")


class TemplateRow(msgspec.Struct, kw_only=True):
    """A ``notify_template`` row: a seller's wording of one notice on one channel."""

    event: str
    channel: str
    template_id: str
    fields: str  # JSON object: the provider's field → zh-CN text with {placeholders}
    title: str
    text: str
    urgent: bool
    enabled: bool


def _row(row: TemplateRow) -> Template:
    return Template(
        event=row.event,
        channel=row.channel,
        template_id=row.template_id,
        fields=msgspec.json.decode(row.fields or "{}", type=dict[str, str]),
        title=row.title,
        text=row.text,
        urgent=row.urgent,
        enabled=row.enabled,
        customised=True,
    )


async def template_for(event: str, channel: str) -> Template | None:
    rows = await NotifyTemplate.select().where(NotifyTemplate.event == event, NotifyTemplate.channel == channel)
    if rows:
        return _row(db.rows_as(TemplateRow, rows)[0])
    return DEFAULTS.get((event, channel))


async def list_templates() -> list[Template]:
    custom = {(t.event, t.channel): t for t in map(_row, db.rows_as(TemplateRow, await NotifyTemplate.select()))}
    merged = {**DEFAULTS, **custom}
    return [merged[key] for key in sorted(merged)]


def shanghai_text(moment: datetime | None) -> str:
    return clock.to_shanghai(moment).strftime("%m-%d %H:%M") if moment else ""

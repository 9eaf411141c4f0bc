"""The customer's tracking page: ``/t/{token}`` — public, mobile-first H5 in zh-CN. The token is unguessable and
per parcel; the page shows the carrier, waybill number, status and the route, and masks personal data."""

from __future__ import annotations

from html import escape

from litestar import Controller, Response, get

from orderhub.errors import NotFound
from orderhub.insights import inquiries
from orderhub.logistics import tracking
from orderhub.logistics.labels import carrier_name

__all__ = ["TrackingPageController", "render"]

_COLORS = {
    "pending": "#8c8c8c",
    "out_for_delivery": "#fa8c16",
    "signed": "#52c41a",
    "exception": "#f5222d",
    "returned": "#f5222d",
}

_STYLE = """
body{margin:0;font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f5f5f5;color:#222}
.card{background:#fff;margin:12px;border-radius:12px;padding:16px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
.status{font-size:22px;font-weight:600}.meta{color:#666;font-size:14px;margin-top:6px}
ol.timeline{list-style:none;margin:0;padding:0}
ol.timeline li{position:relative;padding:0 0 18px 22px;border-left:2px solid #e5e5e5;margin-left:6px}
ol.timeline li:last-child{border-left-color:transparent}
ol.timeline li::before{content:"";position:absolute;left:-7px;top:2px;width:12px;height:12px;border-radius:50%;
background:#d9d9d9}
ol.timeline li.latest::before{background:var(--accent)}
.when{color:#999;font-size:12px}.what{font-size:15px;margin-top:2px}.latest .what{font-weight:600}
.empty{color:#999}
"""


def render(view: tracking.TrackingView, receiver: str) -> str:
    label, color = tracking.status_text(view), _COLORS.get(view.state, "#1677ff")
    items = "".join(
        f'<li class="{"latest" if i == 0 else ""}"><div class="when">{escape(e.at.strftime("%Y-%m-%d %H:%M"))}'
        f'{" · " + escape(e.location) if e.location else ""}</div><div class="what">{escape(e.description)}</div></li>'
        for i, e in enumerate(view.events)
    )
    empty = '<p class="empty">包裹已交给快递，稍后会有物流信息</p>'
    timeline = f'<ol class="timeline">{items}</ol>' if items else empty
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>物流查询 · {escape(view.waybill_no)}</title><style>{_STYLE}</style></head>"
        f'<body style="--accent:{color}"><div class="card"><div class="status" style="color:{color}" '
        f'id="status">{escape(label)}</div><div class="meta">{escape(carrier_name(view.carrier))} '
        f'运单号 <span id="waybill">{escape(view.waybill_no)}</span></div>'
        f'<div class="meta">收件人 {escape(receiver)}</div></div>'
        f'<div class="card" id="timeline">{timeline}</div></body></html>'
    )


# A public page whose URL is a secret (the token): nothing may run, load, frame it or learn its address.
PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-robots-tag": "noindex",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class TrackingPageController(Controller):
    path = "/t"
    tags = ["tracking page"]
    include_in_schema = False

    @get("/{token:str}", summary="The customer's tracking page")
    async def page(self, token: str) -> Response[str]:
        try:
            view = await tracking.tracking_by_token(token)
        except NotFound:
            html = '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><p>查询不到该包裹，请核对链接</p></html>'
            return Response(html, status_code=404, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
        # The customer asked about the parcel before delivery: counted once per order (the KPIs' query rate).
        await inquiries.page_opened(
            view.order_id, source=inquiries.Source.TRACKING_PAGE, delivered=view.delivered_at is not None
        )
        return Response(
            render(view, await tracking.receiver_label(view.order_id)),
            media_type="text/html; charset=utf-8",
            headers=PAGE_HEADERS,
        )

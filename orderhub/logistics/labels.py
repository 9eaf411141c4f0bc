"""Shipping labels (电子面单): a 76 × 130 mm PDF page per parcel (reportlab: Code128 waybill barcode, QR code,
sort code / 大头笔, masked receiver name and phone, sender, pieces and weight) and the same label as ZPL for
thermal printers. One PDF can hold a whole wave's labels, one page each.

Receiver name and phone are masked on the label (隐私面单): the courier reaches the receiver through the carrier's
systems; the address stays whole, it is where the parcel goes.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import msgspec
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128, qr
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from orderhub import clock
from orderhub.carriers.catalogue import name_of
from orderhub.orders.pii import mask_name, mask_phone

__all__ = [
    "LABEL_SIZE_MM",
    "LabelData",
    "LabelDocument",
    "carrier_name",
    "label_pdf",
    "label_zpl",
    "labels_document",
    "mask_name",
    "mask_phone",
    "privacy_note",
]

LABEL_SIZE_MM = (76, 130)
_FONT = "STSong-Light"  # reportlab's built-in CJK CID font: the fallback when no CJK TrueType font is installed


def carrier_name(code: str) -> str:
    """The name people know a carrier by (顺丰速运), from the hub's carrier code (SF)."""
    return name_of(code)


class LabelData(msgspec.Struct, frozen=True, kw_only=True):
    carrier: str  # the hub's carrier code
    waybill_no: str
    sort_code: str = ""  # 大头笔 / 三段码
    receiver_name: str
    receiver_phone: str
    receiver_address: str
    sender_name: str
    sender_phone: str
    sender_address: str
    pieces: int = 1
    weight_g: int = 0
    order_ref: str = ""
    qr_text: str = ""  # what the QR code carries (the tracking link when there is one; else the waybill number)
    printed_at: datetime | None = None
    # The platform whose encrypted receiver this is ("douyin", "pdd", "taobao"), "" for a receiver the hub holds in
    # clear: the label says it is a platform privacy waybill (隐私面单) and carries only the masked receiver.
    privacy: str = ""


_PRIVACY_NOTE = {
    "douyin": "抖音隐私面单：收件人信息由平台加密",
    "pdd": "拼多多隐私面单：收件人信息由平台加密",
    "taobao": "菜鸟隐私面单：收件人信息由平台加密",
}


def privacy_note(label: LabelData) -> str:
    """The label's footer: an encrypted platform receiver says so; every label hides the receiver's name and phone."""
    if label.privacy:
        return "已验视 · " + _PRIVACY_NOTE.get(label.privacy, "平台隐私面单：收件人信息由平台加密")
    return "已验视 · 隐私面单：收件人信息已隐藏"


# A CJK TrueType font to embed (subset) when one is installed: a PDF with only the built-in CID font needs the
# reader to have the Adobe-GB1 fonts (poppler without poppler-data, many printer drivers don't).
_TTF_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
_EMBEDDED = "OrderHubCJK"


@functools.cache
def _font() -> str:
    configured = os.environ.get("ORDERHUB_LABEL_FONT", "")
    for path in (configured, *_TTF_CANDIDATES):
        if path and Path(path).is_file():
            try:
                pdfmetrics.registerFont(TTFont(_EMBEDDED, path, subfontIndex=0))
            except Exception:  # an unreadable or CFF-only font file: try the next one
                continue
            return _EMBEDDED
    pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    return _FONT


def address_line(*parts: str) -> str:
    """省 市 区县 and the detail as one line for the label, each part once: a municipality's city (上海市上海市 →
    上海市), a SAR's, and a province-administered county-level unit's (河南省济源市济源市 → 河南省济源市)."""
    out: list[str] = []
    for part in parts:
        text = part.strip()
        if text and (not out or text != out[-1]):
            out.append(text)
    return "".join(out)


# Layout (mm from the page's top-left corner). The QR code's box: nothing else is drawn in it.
QR_BOX_MM = (43.0, 92.0, 30.0, 30.0)  # x, top, width, height
_MARGIN_MM = 3.0
_MIN_PT = 6.0  # the smallest text still read on a 203 dpi thermal print; below it the last line ends with …
_ELLIPSIS = "…"
# Runs of Latin letters and digits (house numbers, 1688, SOHO, T1, 3204) stay on one line, a number keeps the
# character after it (its unit: 3 号库, 1688号, 29栋) and punctuation stays with what it follows; anything else may
# break between characters.
_TOKEN = re.compile(
    r"\s+|(?:[0-9][0-9A-Za-z#./-]*\s?[\u4e00-\u9fff]|[0-9A-Za-z][0-9A-Za-z#./-]*|\S)[，。、；：）)】」,.;:]*"
)


def _wrap(text: str, width: float, font: str, size: float) -> list[str]:
    """``text`` in lines no wider than ``width`` (points) at ``size``, measured with ``font``'s metrics; breaks
    between characters, keeping a number or word whole unless it alone is wider than a line. Spaces at a break
    fall away; no other character does."""

    def fits(line: str) -> bool:
        return pdfmetrics.stringWidth(line, font, size) <= width

    lines: list[str] = []
    line = ""
    for token in _TOKEN.findall(text):
        if token.isspace():
            line = line + " " if line else line
            continue
        if fits(line + token):
            line += token
            continue
        if fits(token):  # to the next line, whole
            if line.strip():
                lines.append(line.rstrip())
            line = token
            continue
        for char in token:  # a token wider than a line anyway: break it between characters, from here on
            if line and not fits(line + char):
                lines.append(line.rstrip())
                line = ""
            line += char
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def _fit(
    text: str,
    *,
    font: str,
    width: float,
    height: float,
    size: float,
    min_size: float,
    leading: float = 1.3,
    step: float = 0.5,
) -> tuple[float, list[str]]:
    """The largest size from ``size`` down to ``min_size`` (by ``step``; points, or any one unit) at which all of
    ``text`` wraps into a ``width`` × ``height`` box (first line ``size`` high, then ``leading`` × size apart), and
    its lines. When it does not fit even at ``min_size``: the lines that fit there, the last one ending with … —
    shrink before cut, and cut only past the smallest size."""
    current = size
    while True:
        lines = _wrap(text, width, font, current)
        capacity = max(1, int((height - current) / (current * leading) + 1e-6) + 1)
        if len(lines) <= capacity:
            return current, lines
        if current - step < min_size - 1e-9:
            break
        current = round(current - step, 3)
    kept = lines[:capacity]
    last = kept[-1]
    while last and pdfmetrics.stringWidth(last + _ELLIPSIS, font, current) > width:
        last = last[:-1]
    kept[-1] = last + _ELLIPSIS
    return current, kept


def _text_box(
    c: canvas.Canvas,
    text: str,
    *,
    font: str,
    x_mm: float,
    top_mm: float,
    width_mm: float,
    height_mm: float,
    size: float,
    min_size: float = _MIN_PT,
    align: str = "left",
) -> None:
    """Draw ``text`` inside a box given from the page's top (wrapped, shrunk to fit; see :func:`_fit`)."""
    size, lines = _fit(text, font=font, width=width_mm * mm, height=height_mm * mm, size=size, min_size=min_size)
    c.setFont(font, size)
    page_top = LABEL_SIZE_MM[1] * mm
    for i, line in enumerate(lines):
        baseline = page_top - top_mm * mm - size * 0.88 - i * size * 1.3
        if align == "centre":
            c.drawCentredString((x_mm + width_mm / 2) * mm, baseline, line)
        else:
            c.drawString(x_mm * mm, baseline, line)


def _draw(c: canvas.Canvas, label: LabelData) -> None:
    font = _font()
    width, height = LABEL_SIZE_MM[0] * mm, LABEL_SIZE_MM[1] * mm
    margin = _MARGIN_MM * mm
    inner_mm = LABEL_SIZE_MM[0] - 2 * _MARGIN_MM
    # header: carrier and sort code
    c.setFont(font, 11)
    c.drawString(margin, height - 8 * mm, carrier_name(label.carrier))
    c.setFont(font, 8)
    printed = clock.to_shanghai(label.printed_at or clock.now())
    c.drawRightString(width - margin, height - 8 * mm, printed.strftime("%Y-%m-%d %H:%M"))
    if label.sort_code:
        _text_box(
            c,
            label.sort_code,
            font=font,
            x_mm=_MARGIN_MM,
            top_mm=12.5,
            width_mm=inner_mm,
            height_mm=8.5,
            size=22,
            min_size=10,
            align="centre",
        )
    c.line(margin, height - 23 * mm, width - margin, height - 23 * mm)
    # waybill barcode
    barcode = code128.Code128(label.waybill_no, barHeight=14 * mm, barWidth=0.33 * mm, humanReadable=False)
    bx = max(margin, (width - barcode.width) / 2)
    barcode.drawOn(c, bx, height - 40 * mm)
    c.setFont(font, 11)
    c.drawCentredString(width / 2, height - 45 * mm, label.waybill_no)
    c.line(margin, height - 47 * mm, width - margin, height - 47 * mm)
    # receiver: the address whole, wrapped by measured width and shrunk to fit its box
    text_x = _MARGIN_MM + 6
    text_w = LABEL_SIZE_MM[0] - _MARGIN_MM - text_x
    c.setFont(font, 8)
    c.drawString(margin, height - 52 * mm, "收")
    receiver = f"{mask_name(label.receiver_name)}  {mask_phone(label.receiver_phone)}"
    _text_box(c, receiver, font=font, x_mm=text_x, top_mm=48.2, width_mm=text_w, height_mm=4.5, size=11)
    _text_box(c, label.receiver_address, font=font, x_mm=text_x, top_mm=53.6, width_mm=text_w, height_mm=17, size=9)
    c.line(margin, height - 71 * mm, width - margin, height - 71 * mm)
    # sender
    c.setFont(font, 8)
    c.drawString(margin, height - 76 * mm, "寄")
    sender = f"{label.sender_name}  {mask_phone(label.sender_phone)}"
    _text_box(c, sender, font=font, x_mm=text_x, top_mm=73.2, width_mm=text_w, height_mm=3.3, size=8)
    _text_box(c, label.sender_address, font=font, x_mm=text_x, top_mm=77.2, width_mm=text_w, height_mm=10.4, size=8)
    c.line(margin, height - 88 * mm, width - margin, height - 88 * mm)
    # pieces, weight, order (left of the QR code's box, never under it); QR code
    qr_x, qr_top, qr_w, qr_h = QR_BOX_MM
    left_w = qr_x - 2 - _MARGIN_MM
    c.setFont(font, 9)
    c.drawString(margin, height - 94 * mm, f"件数：{label.pieces}")
    c.drawString(margin, height - 99 * mm, f"重量：{label.weight_g / 1000:.2f} kg")
    if label.order_ref:
        order = f"订单：{label.order_ref}"
        one_line = pdfmetrics.stringWidth(order, font, 7) <= left_w * mm
        _text_box(
            c,
            order,
            font=font,
            x_mm=_MARGIN_MM,
            top_mm=101.3,
            width_mm=left_w,
            height_mm=3.5 if one_line else qr_top + qr_h - 101.3,
            size=9,
            min_size=7 if one_line else _MIN_PT,
        )
    code = qr.QrCodeWidget(label.qr_text or label.waybill_no)
    x0, y0, x1, y1 = code.getBounds()
    drawing = Drawing(qr_w * mm, qr_h * mm, transform=[qr_w * mm / (x1 - x0), 0, 0, qr_h * mm / (y1 - y0), 0, 0])
    drawing.add(code)
    renderPDF.draw(drawing, c, qr_x * mm, height - (qr_top + qr_h) * mm)
    c.setFont(font, 7)
    c.drawString(margin, 4 * mm, privacy_note(label))


def label_pdf(labels: Sequence[LabelData], *, compress: bool = True) -> bytes:
    """One 76 × 130 mm page per label (a whole wave in one file)."""
    if not labels:
        raise ValueError("no labels to print")
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=(LABEL_SIZE_MM[0] * mm, LABEL_SIZE_MM[1] * mm), pageCompression=int(compress))
    c.setTitle(f"{labels[0].carrier} {labels[0].waybill_no}" + (f" +{len(labels) - 1}" if len(labels) > 1 else ""))
    for label in labels:
        _draw(c, label)
        c.showPage()
    c.save()
    return buffer.getvalue()


def _zpl_text(text: str) -> str:
    """ZPL field data: ^ and ~ are ZPL's command prefixes, and no control character (a line break in a platform's
    field) goes through either — the hub writes this to a raw TCP port (orderhub.logistics.printing)."""
    return "".join(" " if c in "^~" or ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def label_zpl(label: LabelData, *, dpi: int = 203) -> str:
    """The same label in ZPL II for a thermal printer (UTF-8 with ^CI28; CJK needs a printer-resident font,
    referenced as E:SIMSUN.TTF — load it once on the printer)."""
    dots = round(dpi / 25.4 * LABEL_SIZE_MM[0]), round(dpi / 25.4 * LABEL_SIZE_MM[1])
    d = dpi / 25.4  # dots per mm

    def at(x_mm: float, y_mm: float) -> str:
        return f"^FO{round(x_mm * d)},{round(y_mm * d)}"

    cjk = "^A@N,{h},{h},E:SIMSUN.TTF"
    font = _font()

    def box(text: str, x_mm: float, top_mm: float, width_mm: float, height_mm: float, size_mm: float) -> list[str]:
        """One field per line, wrapped and shrunk here by measured width (the embedded font's CJK glyphs are as
        wide as SimSun's, its Latin ones wider), in whole dots: a ^FB block overprints its last line with the rest."""
        size, wrapped = _fit(
            text,
            font=font,
            width=(width_mm - 0.5) * d,
            height=height_mm * d,
            size=round(size_mm * d),
            min_size=round(_MIN_PT / 72 * dpi),
            step=1,
        )
        h = cjk.format(h=round(size))
        top = round(top_mm * d)
        return [
            f"^FO{round(x_mm * d)},{top + round(i * size * 1.3)}{h}^FD{_zpl_text(line)}^FS"
            for i, line in enumerate(wrapped)
        ]

    lines = [
        "^XA",
        "^CI28",
        f"^PW{dots[0]}",
        f"^LL{dots[1]}",
        at(3, 3) + cjk.format(h=round(4 * d)) + f"^FD{carrier_name(label.carrier)}^FS",
    ]
    if label.sort_code:
        lines += box(label.sort_code, 3, 10, 70, 9, 9)
    lines += [
        at(4, 24) + f"^BY2^BCN,{round(14 * d)},N,N,N^FD{_zpl_text(label.waybill_no)}^FS",
        at(4, 40) + f"^A0N,{round(4 * d)},{round(4 * d)}^FD{_zpl_text(label.waybill_no)}^FS",
        *box(f"收 {mask_name(label.receiver_name)} {mask_phone(label.receiver_phone)}", 3, 49, 70, 4, 4),
        *box(label.receiver_address, 3, 55, 70, 16, 3.2),
        *box(f"寄 {label.sender_name} {mask_phone(label.sender_phone)}", 3, 73, 70, 3, 3),
        *box(label.sender_address, 3, 78, 70, 10, 2.8),
        at(3, 92) + cjk.format(h=round(3.2 * d)) + f"^FD件数 {label.pieces}  重量 {label.weight_g / 1000:.2f}kg^FS",
    ]
    if label.order_ref:  # left of the QR code (at 44 mm), never under it
        lines += box(f"订单 {label.order_ref}", 3, 97, 39, 20, 3.2)
    lines += box(privacy_note(label), 3, 124, 70, 4, 2.6)
    lines += [at(44, 90) + f"^BQN,2,4^FDLA,{_zpl_text(label.qr_text or label.waybill_no)}^FS", "^XZ"]
    return "\n".join(lines) + "\n"


class LabelDocument(msgspec.Struct, frozen=True, kw_only=True):
    body: bytes
    media_type: str
    filename: str


def labels_document(labels: Sequence[LabelData], *, format: str, name: str) -> LabelDocument:
    """Many labels as one document (a wave): PDF pages, or ZPL labels back to back."""
    if format == "zpl":
        body = "".join(label_zpl(d) for d in labels).encode()
        return LabelDocument(body=body, media_type="text/plain; charset=utf-8", filename=f"{name}.zpl")
    return LabelDocument(body=label_pdf(list(labels)), media_type="application/pdf", filename=f"{name}.pdf")

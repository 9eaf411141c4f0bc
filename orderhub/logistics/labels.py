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
from orderhub.address.phones import phone_digits
from orderhub.carriers.catalogue import name_of

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


def mask_name(name: str) -> str:
    """王小明 → 王*明, 王明 → 王*, A → A."""
    text = name.strip()
    if len(text) <= 1:
        return text
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(phone: str) -> str:
    """13912345678 → 139****5678 (extensions and landlines keep their last four digits)."""
    digits = phone_digits(phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


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


def _wrap(text: str, width_chars: int, lines: int) -> list[str]:
    out = [text[i : i + width_chars] for i in range(0, len(text), width_chars)] or [""]
    return out[:lines]


def _draw(c: canvas.Canvas, label: LabelData) -> None:
    font = _font()
    width, height = LABEL_SIZE_MM[0] * mm, LABEL_SIZE_MM[1] * mm
    margin = 3 * mm
    # header: carrier and sort code
    c.setFont(font, 11)
    c.drawString(margin, height - 8 * mm, carrier_name(label.carrier))
    c.setFont(font, 8)
    printed = clock.to_shanghai(label.printed_at or clock.now())
    c.drawRightString(width - margin, height - 8 * mm, printed.strftime("%Y-%m-%d %H:%M"))
    if label.sort_code:
        c.setFont(font, 22)
        c.drawCentredString(width / 2, height - 20 * mm, label.sort_code[:12])
    c.line(margin, height - 23 * mm, width - margin, height - 23 * mm)
    # waybill barcode
    barcode = code128.Code128(label.waybill_no, barHeight=14 * mm, barWidth=0.33 * mm, humanReadable=False)
    bx = max(margin, (width - barcode.width) / 2)
    barcode.drawOn(c, bx, height - 40 * mm)
    c.setFont(font, 11)
    c.drawCentredString(width / 2, height - 45 * mm, label.waybill_no)
    c.line(margin, height - 47 * mm, width - margin, height - 47 * mm)
    # receiver
    c.setFont(font, 8)
    c.drawString(margin, height - 52 * mm, "收")
    c.setFont(font, 11)
    c.drawString(
        margin + 6 * mm, height - 52 * mm, f"{mask_name(label.receiver_name)}  {mask_phone(label.receiver_phone)}"
    )
    c.setFont(font, 9)
    for i, line in enumerate(_wrap(label.receiver_address, 24, 3)):
        c.drawString(margin + 6 * mm, height - (57 + 4.5 * i) * mm, line)
    c.line(margin, height - 71 * mm, width - margin, height - 71 * mm)
    # sender
    c.setFont(font, 8)
    c.drawString(margin, height - 76 * mm, "寄")
    c.drawString(margin + 6 * mm, height - 76 * mm, f"{label.sender_name}  {mask_phone(label.sender_phone)}")
    for i, line in enumerate(_wrap(label.sender_address, 30, 2)):
        c.drawString(margin + 6 * mm, height - (80 + 3.8 * i) * mm, line)
    c.line(margin, height - 88 * mm, width - margin, height - 88 * mm)
    # pieces, weight, order; QR code
    c.setFont(font, 9)
    c.drawString(margin, height - 94 * mm, f"件数：{label.pieces}")
    c.drawString(margin, height - 99 * mm, f"重量：{label.weight_g / 1000:.2f} kg")
    if label.order_ref:
        c.drawString(margin, height - 104 * mm, f"订单：{label.order_ref[:24]}")
    code = qr.QrCodeWidget(label.qr_text or label.waybill_no)
    x0, y0, x1, y1 = code.getBounds()
    size = 30 * mm
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(code)
    renderPDF.draw(drawing, c, width - margin - size, height - 122 * mm)
    c.setFont(font, 7)
    c.drawString(margin, 4 * mm, "已验视 · 隐私面单：收件人信息已隐藏")


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
    """ZPL field data: ^ and ~ are control characters."""
    return text.replace("^", " ").replace("~", " ")


def label_zpl(label: LabelData, *, dpi: int = 203) -> str:
    """The same label in ZPL II for a thermal printer (UTF-8 with ^CI28; CJK needs a printer-resident font,
    referenced as E:SIMSUN.TTF — load it once on the printer)."""
    dots = round(dpi / 25.4 * LABEL_SIZE_MM[0]), round(dpi / 25.4 * LABEL_SIZE_MM[1])
    d = dpi / 25.4  # dots per mm

    def at(x_mm: float, y_mm: float) -> str:
        return f"^FO{round(x_mm * d)},{round(y_mm * d)}"

    cjk = "^A@N,{h},{h},E:SIMSUN.TTF"
    lines = [
        "^XA",
        "^CI28",
        f"^PW{dots[0]}",
        f"^LL{dots[1]}",
        at(3, 3) + cjk.format(h=round(4 * d)) + f"^FD{carrier_name(label.carrier)}^FS",
    ]
    if label.sort_code:
        lines.append(at(3, 10) + cjk.format(h=round(9 * d)) + f"^FD{_zpl_text(label.sort_code[:12])}^FS")
    lines += [
        at(4, 24) + f"^BY2^BCN,{round(14 * d)},N,N,N^FD{_zpl_text(label.waybill_no)}^FS",
        at(4, 40) + f"^A0N,{round(4 * d)},{round(4 * d)}^FD{_zpl_text(label.waybill_no)}^FS",
        at(3, 49)
        + cjk.format(h=round(4 * d))
        + f"^FD收 {_zpl_text(mask_name(label.receiver_name))} {mask_phone(label.receiver_phone)}^FS",
        at(3, 55) + cjk.format(h=round(3.2 * d)) + f"^FB{round(70 * d)},3,0,L^FD{_zpl_text(label.receiver_address)}^FS",
        at(3, 73)
        + cjk.format(h=round(3 * d))
        + f"^FD寄 {_zpl_text(label.sender_name)} {mask_phone(label.sender_phone)}^FS",
        at(3, 78) + cjk.format(h=round(2.8 * d)) + f"^FB{round(70 * d)},2,0,L^FD{_zpl_text(label.sender_address)}^FS",
        at(3, 92) + cjk.format(h=round(3.2 * d)) + f"^FD件数 {label.pieces}  重量 {label.weight_g / 1000:.2f}kg^FS",
        at(44, 90) + f"^BQN,2,4^FDLA,{_zpl_text(label.qr_text or label.waybill_no)}^FS",
        "^XZ",
    ]
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

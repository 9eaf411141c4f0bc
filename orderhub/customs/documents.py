"""The customs documents drawn from a :class:`~orderhub.customs.model.Declaration`: the packing list (A4 landscape,
headings in Chinese, English and the destination's language) and the UPU customs declaration, CN 22 or CN 23.

The forms follow the UPU layout (Convention Regulations, forms CN 22 and CN 23), read from:
- CN 23 — the form reproduced in OECD, *Misuse of Small Parcels for Trade in Counterfeit Goods* (2018), Annex A
  (https://docslib.org/doc/3085148/annex-a-cn-23-customs-declaration-form-81): From / To blocks, importer's reference,
  (1) detailed description of contents, (2) quantity, (3) net weight (kg), (4) total gross weight, (5) value,
  (6) total value, (7) HS tariff number, (8) country of origin of goods, (9) postal charges/fees, (10) category of
  item — gift, documents, commercial sample, returned goods, sale of goods, other (explanation), (11) comments,
  (12) licence, (13) certificate, (14) invoice numbers, (15) date and sender's signature; Hongkong Post's
  instructions for the same boxes (https://www.hongkongpost.hk/en/sending_mail/clearance/cn23.html: quantity with
  its unit, net weight of each article in kg, value with the currency used, HS number and origin required for
  commercial items, postage paid under (9)).
- CN 22 — India Post's form and instructions (https://indiacustomercare.com/customs-declaration-cn-22): the category
  boxes, quantity and detailed description (1), weight in kg (2), value (3) with its currency, HS tariff number (4,
  six digits of the WCO Harmonized System) and country of origin (5) for commercial items, total weight (6), total
  value (7), the sender's certificate and "Date and sender's signature (8)"; "If the value of the contents is over
  300 SDR, you must use a CN 23 form" — the limit a destination's rule pack carries as ``cn22_max_value``.

Sizes: the packing list is A4 landscape (eleven columns with headings in three languages need the width). The CN 22 is
drawn on a 100 × 150 mm page — the thermal label stock warehouse label printers take, so it prints beside the
waybill and sticks to the parcel as the form asks (the UPU's own CN 22 is a small label of about that size; more
lines than fit continue on a second label). The CN 23 is A4 portrait, printed and put in the parcel's document pouch.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Literal

import msgspec
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from orderhub import clock
from orderhub.customs import documents_fonts as fonts
from orderhub.customs.codes import to_major
from orderhub.customs.model import Declaration, DeclarationLine
from orderhub.customs.rules import DEFAULT_CN22_MAX_CNY_FEN, convert_from_cny

__all__ = [
    "LABELS",
    "DocumentTemplate",
    "cn22_pdf",
    "cn23_pdf",
    "customs_form",
    "customs_form_pdf",
    "money_text",
    "packing_list_pdf",
    "template_for",
    "weight_kg",
]

Form = Literal["cn22", "cn23"]

# -- headings per language ---------------------------------------------------------------------------------------------

# zh-CN, English, and the destination languages the shipped rule packs name (th, ms, vi). A language missing here
# gets Chinese + English headings only; its product names are still printed.
LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "装箱单",
        "no": "序号",
        "sku": "SKU",
        "names": "品名",
        "hs": "HS 编码",
        "origin": "原产国",
        "qty": "数量",
        "unit_weight": "单件重量 kg",
        "total_weight": "总重量 kg",
        "unit_value": "单价",
        "total_value": "总价",
        "certificates": "证书编号",
        "sender": "发件人",
        "receiver": "收件人",
        "order": "订单号",
        "date": "日期",
        "total": "合计",
        "gross_weight": "毛重 kg",
        "currency": "币种",
        "duty_estimate": "预估税费",
    },
    "en": {
        "title": "Packing List",
        "no": "No.",
        "sku": "SKU",
        "names": "Description",
        "hs": "HS code",
        "origin": "Origin",
        "qty": "Qty",
        "unit_weight": "Unit weight kg",
        "total_weight": "Total weight kg",
        "unit_value": "Unit value",
        "total_value": "Total value",
        "certificates": "Certificate No.",
        "sender": "Sender",
        "receiver": "Receiver",
        "order": "Order No.",
        "date": "Date",
        "total": "Total",
        "gross_weight": "Gross weight kg",
        "currency": "Currency",
        "duty_estimate": "Estimated duty and VAT",
    },
    "th": {
        "title": "ใบรายการบรรจุสินค้า",
        "no": "ลำดับ",
        "sku": "รหัสสินค้า",
        "names": "ชื่อสินค้า",
        "hs": "พิกัดศุลกากร",
        "origin": "ประเทศกำเนิด",
        "qty": "จำนวน",
        "unit_weight": "น้ำหนักต่อหน่วย",
        "total_weight": "น้ำหนักรวม",
        "unit_value": "ราคาต่อหน่วย",
        "total_value": "มูลค่ารวม",
        "certificates": "เลขที่ใบรับรอง",
        "sender": "ผู้ส่ง",
        "receiver": "ผู้รับ",
        "order": "เลขที่คำสั่งซื้อ",
        "date": "วันที่",
        "total": "รวม",
        "gross_weight": "น้ำหนักรวมหีบห่อ",
        "currency": "สกุลเงิน",
        "duty_estimate": "ประมาณการอากรและภาษีมูลค่าเพิ่ม",
    },
    "ms": {
        "title": "Senarai Pembungkusan",
        "no": "Bil.",
        "sku": "SKU",
        "names": "Nama barang",
        "hs": "Kod HS",
        "origin": "Negara asal",
        "qty": "Kuantiti",
        "unit_weight": "Berat seunit",
        "total_weight": "Jumlah berat",
        "unit_value": "Nilai seunit",
        "total_value": "Jumlah nilai",
        "certificates": "No. sijil",
        "sender": "Pengirim",
        "receiver": "Penerima",
        "order": "No. pesanan",
        "date": "Tarikh",
        "total": "Jumlah",
        "gross_weight": "Berat kasar",
        "currency": "Mata wang",
        "duty_estimate": "Anggaran duti dan cukai",
    },
    "vi": {
        "title": "Phiếu đóng gói",
        "no": "STT",
        "sku": "Mã SKU",
        "names": "Tên hàng",
        "hs": "Mã HS",
        "origin": "Xuất xứ",
        "qty": "Số lượng",
        "unit_weight": "Trọng lượng đơn vị",
        "total_weight": "Tổng trọng lượng",
        "unit_value": "Đơn giá",
        "total_value": "Thành tiền",
        "certificates": "Số chứng nhận",
        "sender": "Người gửi",
        "receiver": "Người nhận",
        "order": "Số đơn hàng",
        "date": "Ngày",
        "total": "Tổng cộng",
        "gross_weight": "Trọng lượng cả bì",
        "currency": "Tiền tệ",
        "duty_estimate": "Thuế nhập khẩu và VAT ước tính",
    },
}


class DocumentTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """A destination's packing-list template: the languages of the headings, in order (Chinese and English always
    first, then the destination's language when :data:`LABELS` has it), and whether each line prints its local name.
    """

    destination: str
    languages: tuple[str, ...] = ("zh", "en")
    local_language: str = ""  # the names' third language ("th"); "" = none


def template_for(declaration: Declaration) -> DocumentTemplate:
    """The template for the declaration's destination: zh + en, plus its local language where the declaration carries
    one (Thailand: Thai headings and each line's Thai name)."""
    local = declaration.local_language.strip().lower()
    languages: tuple[str, ...] = ("zh", "en")
    if local and local in LABELS and local not in languages:
        languages = (*languages, local)
    return DocumentTemplate(destination=declaration.destination, languages=languages, local_language=local)


# -- formatting --------------------------------------------------------------------------------------------------------


def money_text(amount: int, currency: str) -> str:
    """Minor units as a decimal amount, with the currency's own minor-unit digits (ISO 4217, the table the estimate
    uses — :func:`orderhub.customs.codes.to_major`): 12345 THB → 123.45; VND and JPY have none (1,250,000); KWD
    three (12.345)."""
    return f"{to_major(amount, currency):,f}"


def weight_kg(grams: int) -> str:
    return f"{grams / 1000:.3f}"


def _certificates(line: DeclarationLine) -> str:
    return "\n".join(f"{scheme} {number}" for scheme, number in sorted(line.certificates.items()) if number)


def _shown_date(declaration: Declaration, today: date | None) -> str:
    day = declaration.placed_on or today or clock.to_shanghai(clock.now()).date()
    return day.isoformat()


# -- shared drawing ----------------------------------------------------------------------------------------------------

_GRID = colors.HexColor("#6f7f90")
_HEAD = colors.HexColor("#e4ebf3")
_NOTE = colors.HexColor("#b03a2e")


def _style(name: str, size: float, *, leading: float | None = None, color: Any = colors.black) -> ParagraphStyle:
    return ParagraphStyle(
        name, fontName=fonts.base(), fontSize=size, leading=leading or size * 1.32, textColor=color, wordWrap="CJK"
    )


def _font_warnings(declaration: Declaration) -> list[str]:
    """What the page cannot show on this server, said on the page (as the reports do)."""
    notes = []
    if not fonts.has_cjk_font():
        notes.append("CJK font not found on the server (install fonts-wqy-zenhei): Chinese cannot be shown.")
    if declaration.local_language == "th" and not fonts.has_thai_font():
        notes.append("Thai font not found on the server (install fonts-tlwg-garuda-ttf): Thai cannot be shown.")
    return notes


def _build(
    story: list[Flowable],
    *,
    pagesize: tuple[float, float],
    margin: float,
    title: str,
    footer: Callable[[Any, Any], None] | None = None,
) -> bytes:
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + 3 * mm,
        title=title,
        author="OrderHub",
        creator="OrderHub",
    )
    frame = Frame(
        margin,
        margin + 3 * mm,
        pagesize[0] - 2 * margin,
        pagesize[1] - 2 * margin - 3 * mm,
        id="body",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=footer or (lambda c, d: None))])
    doc.build(story)
    return buffer.getvalue()


def _page_footer(
    text: str, pagesize: tuple[float, float], margin: float, size: float = 7
) -> Callable[[Any, Any], None]:
    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(fonts.base(), size)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(margin, margin, text)
        canvas.drawRightString(pagesize[0] - margin, margin, f"{doc.page}")
        canvas.restoreState()

    return draw


# -- the packing list --------------------------------------------------------------------------------------------------


def _heading(key: str, languages: Sequence[str], style: ParagraphStyle) -> list[Flowable]:
    """A heading cell: one paragraph per language (each drawn in its own font)."""
    seen: list[str] = []
    for lang in languages:
        text = LABELS[lang][key]
        if text not in seen:
            seen.append(text)
    return [fonts.para(text, style) for text in seen]


def packing_list_pdf(
    declaration: Declaration, *, template: DocumentTemplate | None = None, today: date | None = None
) -> bytes:
    """The packing list: sender and receiver, order number and date, a line per SKU (names in Chinese, English and
    the template's local language, HS code, origin, quantity, unit and total weight, unit and total value in the
    declared currency, certificate numbers), totals, and the duty and VAT estimate when the declaration has one."""
    template = template or template_for(declaration)
    langs = template.languages
    pagesize = landscape(A4)
    margin = 12 * mm
    width = pagesize[0] - 2 * margin
    title_style = _style("title", 15, leading=19)
    head_style = _style("head", 7, leading=8.6)
    cell = _style("cell", 7.8, leading=9.8)
    small = _style("small", 7.2, leading=9.2)
    note = _style("note", 8, color=_NOTE)
    cur = declaration.currency.upper()

    story: list[Flowable] = [fonts.para(text, note) for text in _font_warnings(declaration)]
    titles = " / ".join(dict.fromkeys(LABELS[lang]["title"] for lang in langs))
    story += [fonts.para(LABELS[lang]["title"], title_style) for lang in langs[:1]]
    story += [fonts.para(LABELS[lang]["title"], _style("title2", 10.5, leading=13.5)) for lang in langs[1:]]
    story.append(Spacer(1, 3 * mm))

    def label(key: str) -> str:
        return " / ".join(dict.fromkeys(LABELS[lang][key] for lang in langs))

    meta = Table(
        [
            [
                [
                    fonts.para(label("order"), head_style),
                    fonts.para(declaration.external_id or str(declaration.order_id), cell),
                ],
                [fonts.para(label("date"), head_style), fonts.para(_shown_date(declaration, today), cell)],
                [fonts.para(label("currency"), head_style), fonts.para(cur, cell)],
            ],
            [
                [fonts.para(label("sender"), head_style), *_party(declaration, "sender", cell)],
                [fonts.para(label("receiver"), head_style), *_party(declaration, "receiver", cell)],
                "",
            ],
        ],
        colWidths=[width * 0.36, width * 0.44, width * 0.20],
    )
    meta.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, _GRID),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("SPAN", (1, 1), (2, 1)),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    story += [meta, Spacer(1, 4 * mm)]

    keys = (
        "no",
        "sku",
        "names",
        "hs",
        "origin",
        "qty",
        "unit_weight",
        "total_weight",
        "unit_value",
        "total_value",
        "certificates",
    )
    fractions = (0.04, 0.09, 0.25, 0.075, 0.07, 0.05, 0.07, 0.07, 0.075, 0.08, 0.125)
    rows: list[list[Any]] = [[_heading(key, langs, head_style) for key in keys]]
    qty_total = net_total = value_total = 0
    for i, line in enumerate(declaration.lines, start=1):
        names = [fonts.para(line.name_zh, cell), fonts.para(line.name_en, cell)]
        if template.local_language and line.name_local:
            names.append(fonts.para(line.name_local, cell))
        if line.is_gift:
            names.append(fonts.para("赠品 / Gift", small))
        line_weight = line.unit_weight_g * line.qty
        line_value = line.unit_value * line.qty
        qty_total += line.qty
        net_total += line_weight
        value_total += line_value
        rows.append(
            [
                str(i),
                fonts.para(line.sku, cell),
                names,
                fonts.para(line.hs_code, cell),
                fonts.para(line.origin_country, cell),
                str(line.qty),
                weight_kg(line.unit_weight_g),
                weight_kg(line_weight),
                money_text(line.unit_value, cur),
                money_text(line_value, cur),
                fonts.para(_certificates(line), small),
            ]
        )
    rows.append(
        [
            _heading("total", langs, head_style),
            "",
            "",
            "",
            "",
            str(qty_total),
            "",
            weight_kg(net_total),
            "",
            f"{money_text(value_total, cur)} {cur}",
            "",
        ]
    )
    table = Table(rows, colWidths=[width * f for f in fractions], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), fonts.base(), 7.8),
                ("GRID", (0, 0), (-1, -1), 0.5, _GRID),
                ("BACKGROUND", (0, 0), (-1, 0), _HEAD),
                ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f3f5f8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (5, 1), (9, -1), "RIGHT"),
                ("SPAN", (0, -1), (4, -1)),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    story.append(table)
    summary = [
        f"{label('gross_weight')}: {weight_kg(declaration.total_weight_g)}",
        f"{label('total_value')}: {money_text(declaration.total_value, cur)} {cur}",
    ]
    estimate = declaration.estimate
    if estimate is not None:
        ecur = estimate.currency.upper()
        summary.append(
            f"{label('duty_estimate')}: {money_text(estimate.total, ecur)} {ecur} "
            f"(duty {money_text(estimate.duty, ecur)} + VAT {money_text(estimate.vat, ecur)}; "
            f"goods {money_text(estimate.goods_value, ecur)} {ecur})"
        )
    story.append(Spacer(1, 3 * mm))
    story += [fonts.para(text, cell) for text in summary]
    plain = " / ".join(dict.fromkeys(LABELS[lang]["title"] for lang in ("zh", "en")))  # the footer is drawn in one font
    footer = _page_footer(f"{plain} · {declaration.external_id or declaration.order_id}", pagesize, margin)
    return _build(story, pagesize=pagesize, margin=margin, title=titles, footer=footer)


def _party(declaration: Declaration, who: Literal["sender", "receiver"], style: ParagraphStyle) -> list[Flowable]:
    d = declaration
    if who == "sender":
        lines = [d.sender_name, d.sender_address, d.sender_country, d.sender_phone]
    else:
        place = ", ".join(part for part in (d.receiver_city, d.receiver_region, d.receiver_postcode) if part)
        lines = [d.receiver_name, d.receiver_address, place, d.receiver_country, d.receiver_phone]
    return [fonts.para(text, style) for text in lines if text]


# -- CN 22 / CN 23 -----------------------------------------------------------------------------------------------------

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("gift", "Gift"),
    ("documents", "Documents"),
    ("commercial_sample", "Commercial sample"),
    ("returned_goods", "Returned goods"),
    ("sale_of_goods", "Sale of goods"),
    ("other", "Other"),
)
_CERTIFY = (
    "I, the undersigned, whose name and address are given on the item, certify that the particulars given in this "
    "declaration are correct and that this item does not contain any dangerous article or articles prohibited by "
    "legislation or by postal or customs regulations."
)


def customs_form(declaration: Declaration, cn22_max_value: int | None) -> Form:
    """CN 22 while the contents' value is at most ``cn22_max_value`` (the rule pack's limit, in the destination
    currency's minor units), CN 23 above it. The value compared is the estimate's goods value (already in the
    destination currency) when the declaration has one, else the declared total (same currency assumed). Without a
    limit the declaration's own document list decides (cn23 listed without cn22 → CN 23; cn22 listed → CN 22, the
    pack's limit already applied by the service). When it lists neither — a destination without a rule pack — the
    UPU's 300 SDR still holds: :data:`orderhub.customs.rules.DEFAULT_CN22_MAX_CNY_FEN`, converted to the estimate's
    currency at its rate as the estimate converts; a declaration in a currency it cannot convert to gets the CN 23
    (valid at any value)."""
    value = declaration.estimate.goods_value if declaration.estimate is not None else declaration.total_value
    if cn22_max_value is not None:
        return "cn23" if value > cn22_max_value else "cn22"
    if "cn23" in declaration.documents and "cn22" not in declaration.documents:
        return "cn23"
    if "cn22" in declaration.documents:
        return "cn22"
    if declaration.estimate is not None:
        estimate = declaration.estimate
        limit = convert_from_cny(DEFAULT_CN22_MAX_CNY_FEN, estimate.currency, estimate.fx_per_cny)
    elif declaration.currency == "CNY":
        limit = DEFAULT_CN22_MAX_CNY_FEN
    else:
        return "cn23"
    return "cn23" if value > limit else "cn22"


def customs_form_pdf(declaration: Declaration, cn22_max_value: int | None) -> tuple[Form, bytes]:
    form = customs_form(declaration, cn22_max_value)
    return form, (cn23_pdf(declaration) if form == "cn23" else cn22_pdf(declaration))


def _description(line: DeclarationLine, local: bool) -> str:
    parts = [line.name_en or line.name_zh]
    if line.material:
        parts[0] += f" ({line.material})"
    if local and line.name_local:
        parts.append(line.name_local)
    return "\n".join(parts)


def _categories(declaration: Declaration, style: ParagraphStyle, columns: int) -> Table:
    cells = [fonts.para(f"{fonts.box(code == declaration.category)} {text}", style) for code, text in CATEGORIES]
    rows = [cells[i : i + columns] for i in range(0, len(cells), columns)]
    table = Table(rows)
    table.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 1),
                ("TOPPADDING", (0, 0), (-1, -1), 0.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5),
            ]
        )
    )
    return table


def _contents_rows(
    declaration: Declaration, numbers: dict[str, str], cell: ParagraphStyle, head: ParagraphStyle, local: bool
) -> list[list[Any]]:
    cur = declaration.currency.upper()
    rows: list[list[Any]] = [
        [
            fonts.para(f"Detailed description of contents ({numbers['description']})", head),
            fonts.para(f"Quantity ({numbers['qty']})", head),
            fonts.para(f"Net weight (kg) ({numbers['weight']})", head),
            fonts.para(f"Value ({numbers['value']}) {cur}", head),
            fonts.para(f"HS tariff number ({numbers['hs']})", head),
            fonts.para(f"Country of origin ({numbers['origin']})", head),
        ]
    ]
    for line in declaration.lines:
        rows.append(
            [
                fonts.para(_description(line, local), cell),
                str(line.qty),
                weight_kg(line.unit_weight_g * line.qty),
                money_text(line.unit_value * line.qty, cur),
                fonts.para(line.hs_code, cell),
                fonts.para(line.origin_country, cell),
            ]
        )
    return rows


def _grid(table: Table, font_size: float, *, numeric: tuple[int, int] = (1, 3), head_rows: int = 1) -> Table:
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), fonts.base(), font_size),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("BACKGROUND", (0, 0), (-1, head_rows - 1), _HEAD),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (numeric[0], head_rows), (numeric[1], -1), "RIGHT"),
                ("LEFTPADDING", (0, 0), (-1, -1), 1.5),
                ("RIGHTPADDING", (0, 0), (-1, -1), 1.5),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return table


def cn22_pdf(declaration: Declaration, *, today: date | None = None) -> bytes:
    """The CN 22 on a 100 × 150 mm label: the category boxes, a line per article (description in English and the
    destination's language, quantity, net weight, value, HS tariff number, origin), total gross weight and total
    value, the sender's certificate and the date and signature line."""
    pagesize = (100 * mm, 150 * mm)
    margin = 4 * mm
    width = pagesize[0] - 2 * margin
    head = _style("cn-head", 5.6, leading=6.6)
    cell = _style("cn-cell", 6.4, leading=7.8)
    small = _style("cn-small", 5.4, leading=6.5)
    note = _style("cn-note", 6, color=_NOTE)
    cur = declaration.currency.upper()
    local = bool(declaration.local_language)

    top = Table(
        [
            [
                fonts.para("CUSTOMS DECLARATION", _style("cn-title", 9.5, leading=11)),
                fonts.para("CN 22", _style("cn-form", 12, leading=13)),
            ],
            [
                fonts.para(
                    f"May be opened officially · Order {declaration.external_id or declaration.order_id}", small
                ),
                fonts.para(f"To {declaration.receiver_country}", small),
            ],
        ],
        colWidths=[width * 0.72, width * 0.28],
    )
    top.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.8, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    story: list[Flowable] = [fonts.para(text, note) for text in _font_warnings(declaration)]
    story += [top, Spacer(1, 1.2 * mm), _categories(declaration, small, 3), Spacer(1, 1 * mm)]
    # The CN 22's first box is "Quantity and detailed description of contents (1)": the quantity leads the line.
    rows: list[list[Any]] = [
        [
            fonts.para("Quantity and detailed description of contents (1)", head),
            fonts.para("Weight (kg) (2)", head),
            fonts.para(f"Value (3) {cur}", head),
            fonts.para("HS tariff number (4)", head),
            fonts.para("Country of origin (5)", head),
        ]
    ]
    for line in declaration.lines:
        rows.append(
            [
                fonts.para(f"{line.qty} × {_description(line, local)}", cell),
                weight_kg(line.unit_weight_g * line.qty),
                money_text(line.unit_value * line.qty, cur),
                fonts.para(line.hs_code, cell),
                fonts.para(line.origin_country, cell),
            ]
        )
    rows.append(
        [
            fonts.para("Total weight (kg) (6) / Total value (7)", head),
            weight_kg(declaration.total_weight_g),
            f"{money_text(declaration.total_value, cur)}",
            "",
            "",
        ]
    )
    widths = [width * f for f in (0.44, 0.13, 0.15, 0.16, 0.12)]
    contents = _grid(Table(rows, colWidths=widths, repeatRows=1), 6.2, numeric=(1, 2))
    story += [
        contents,
        Spacer(1, 1.2 * mm),
        fonts.para("For commercial items only: HS tariff number (4) and country of origin of goods (5).", small),
        Spacer(1, 1 * mm),
        fonts.para(_CERTIFY, small),
        Spacer(1, 2 * mm),
        fonts.para(
            f"Date and sender's signature (8): {_shown_date(declaration, today)}   {declaration.sender_name}", cell
        ),
        fonts.para("_" * 46, cell),
    ]
    footer = _page_footer("CN 22", pagesize, 3 * mm, size=5)
    return _build(story, pagesize=pagesize, margin=margin, title="CN 22", footer=footer)


def cn23_pdf(declaration: Declaration, *, today: date | None = None) -> bytes:
    """The CN 23 on A4: From and To, importer's reference, the contents (1)–(8), postal charges (9), category (10),
    comments (11), licence (12), certificate (13) and invoice (14) numbers, date and sender's signature (15)."""
    d = declaration
    pagesize = A4
    margin = 12 * mm
    width = pagesize[0] - 2 * margin
    head = _style("c23-head", 6.8, leading=8.2)
    cell = _style("c23-cell", 8, leading=10)
    small = _style("c23-small", 6.8, leading=8.4)
    note = _style("c23-note", 8, color=_NOTE)
    cur = d.currency.upper()
    local = bool(d.local_language)

    def block(title: str, lines: list[str]) -> list[Flowable]:
        return [fonts.para(title, head), *(fonts.para(text, cell) for text in lines if text)]

    receiver_place = ", ".join(part for part in (d.receiver_city, d.receiver_region, d.receiver_postcode) if part)
    header = Table(
        [
            [
                fonts.para("CUSTOMS DECLARATION", _style("c23-title", 13, leading=16)),
                fonts.para("CN 23", _style("c23-form", 16, leading=18)),
                fonts.para(f"No. of item: {d.external_id or d.order_id}\nMay be opened officially", small),
            ],
            [
                block(
                    "From",
                    [
                        f"Name: {d.sender_name}",
                        f"Address: {d.sender_address}",
                        f"Country: {d.sender_country}",
                        f"Tel. No.: {d.sender_phone}",
                    ],
                ),
                "",
                block("Sender's customs reference (if any)", [""]),
            ],
            [
                block(
                    "To",
                    [
                        f"Name: {d.receiver_name}",
                        f"Address: {d.receiver_address}",
                        receiver_place,
                        f"Country: {d.receiver_country}",
                        f"Tel. No.: {d.receiver_phone}",
                    ],
                ),
                "",
                block("Importer's reference (if any) (tax code/VAT No./importer code)", [""])
                + block("Importer's telephone/fax/e-mail (if known)", [d.receiver_phone]),
            ],
        ],
        colWidths=[width * 0.52, width * 0.14, width * 0.34],
    )
    header.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("SPAN", (0, 1), (1, 1)),
                ("SPAN", (0, 2), (1, 2)),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )

    numbers = {"description": "1", "qty": "2", "weight": "3", "value": "5", "hs": "7", "origin": "8"}
    rows = _contents_rows(d, numbers, cell, head, local)
    rows.append(
        [
            fonts.para("Total gross weight (kg) (4) / Total value (6)", head),
            "",
            weight_kg(d.total_weight_g),
            f"{money_text(d.total_value, cur)}",
            fonts.para(f"Postal charges/Fees (9): {money_text(d.shipping, cur)} {cur}", head),
            "",
        ]
    )
    contents = _grid(Table(rows, colWidths=[width * f for f in (0.38, 0.08, 0.12, 0.13, 0.15, 0.14)], repeatRows=1), 8)
    contents.setStyle(TableStyle([("SPAN", (0, -1), (1, -1)), ("SPAN", (4, -1), (5, -1))]))

    certificates = sorted({f"{s} {n}" for line in d.lines for s, n in line.certificates.items() if n})
    comments = "Commercial items: invoice attached." if d.category == "sale_of_goods" else ""
    if certificates:
        comments += " Goods under a certification scheme: " + ", ".join(sorted({c.split()[0] for c in certificates}))
    explanation = "" if d.category != "other" else "Other"
    category = Table(
        [
            [
                [
                    fonts.para("Category of item (10)", head),
                    _categories(d, cell, 2),
                    fonts.para(f"Explanation: {explanation}", small),
                ],
                [
                    fonts.para(
                        "Comments (11): (e.g. goods subject to quarantine, sanitary/phytosanitary inspection or "
                        "other restrictions)",
                        head,
                    ),
                    fonts.para(comments.strip(), cell),
                ],
            ],
            [
                [fonts.para(f"{fonts.box(False)} Licence (12)  No(s). of licence(s):", head)],
                [
                    fonts.para(f"{fonts.box(bool(certificates))} Certificate (13)  No(s). of certificate(s):", head),
                    *(fonts.para(c, cell) for c in certificates),
                ],
            ],
            [
                [
                    fonts.para(f"{fonts.box(True)} Invoice (14)  No. of invoice:", head),
                    fonts.para(d.external_id or str(d.order_id), cell),
                ],
                [fonts.para("Office of origin / Date of posting", head), fonts.para(_shown_date(d, today), cell)],
            ],
        ],
        colWidths=[width * 0.5, width * 0.5],
    )
    category.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )

    story: list[Flowable] = [fonts.para(text, note) for text in _font_warnings(d)]
    story += [
        header,
        Spacer(1, 2 * mm),
        contents,
        fonts.para("For commercial items only: HS tariff number (7) and country of origin of goods (8).", small),
        Spacer(1, 2 * mm),
        category,
        Spacer(1, 3 * mm),
        fonts.para(_CERTIFY, cell),
        Spacer(1, 4 * mm),
        fonts.para(f"Date and sender's signature (15): {_shown_date(d, today)}   {d.sender_name}", cell),
        Spacer(1, 6 * mm),
        fonts.para("_" * 60, cell),
    ]
    footer = _page_footer(f"CN 23 · {d.external_id or d.order_id}", pagesize, margin)
    return _build(story, pagesize=pagesize, margin=margin, title="CN 23", footer=footer)

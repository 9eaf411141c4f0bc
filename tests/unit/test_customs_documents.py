"""The customs documents drawn from a hand-made Thai declaration: the packing list and the CN 22 / CN 23 render (pages
to PNG with pdftoppm), their text layer (pdftotext) carries the Chinese and Thai names, the HS codes and the TISI
numbers, the Thai is drawn with a Thai font (embedded, and its glyphs inked — not the empty or boxed .notdef a font
without Thai draws), and the form follows the destination's CN 22 value limit.

The PNGs are kept under the test's tmp_path; with ``TEST_ARTEFACTS=/some/dir`` they are copied there too, to
be looked at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from msgspec.structs import replace
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from orderhub.customs import documents, rules
from orderhub.customs import documents_fonts as fonts
from orderhub.customs.model import Declaration, DeclarationLine, DutyEstimate

needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
needs_thai_font = pytest.mark.skipif(not fonts.has_thai_font(), reason="no Thai font (fonts-tlwg-garuda-ttf)")

FEEDER_TH = "เครื่องให้อาหารสัตว์เลี้ยงอัตโนมัติ"
FOUNTAIN_TH = "น้ำพุสำหรับสัตว์เลี้ยง ปั๊มน้ำเงียบ"


def _line(**kw: object) -> DeclarationLine:
    base: dict[str, object] = {
        "sku": "PET-FEEDER-01",
        "name_zh": "智能宠物喂食器",
        "name_en": "Automatic pet feeder",
        "name_local": FEEDER_TH,
        "hs_code": "8436800090",
        "material": "ABS plastic",
        "usage": "feeding pets",
        "origin_country": "CN",
        "qty": 2,
        "unit_weight_g": 1450,
        "unit_value": 89900,
        "certificates": {"TISI": "TIS 1195-2561/0042"},
    }
    base.update(kw)
    return DeclarationLine(**base)  # type: ignore[arg-type]


def thai_declaration(*, lines: list[DeclarationLine] | None = None, documents_: list[str] | None = None) -> Declaration:
    lines = lines or [
        _line(),
        _line(
            sku="PET-FOUNTAIN-02",
            name_zh="宠物饮水机",
            name_en="Pet water fountain",
            name_local=FOUNTAIN_TH,
            hs_code="8413702090",
            material="PP plastic",
            qty=1,
            unit_weight_g=980,
            unit_value=45900,
            certificates={"TISI": "TIS 60335-2-41"},
        ),
        _line(
            sku="PET-BOWL-03",
            name_zh="不锈钢宠物碗",
            name_en="Stainless steel pet bowl",
            name_local="ชามอาหารสแตนเลส",
            hs_code="732393",
            qty=1,
            unit_weight_g=300,
            unit_value=0,
            certificates={},
            is_gift=True,
        ),
    ]
    value = sum(ln.unit_value * ln.qty for ln in lines)
    return Declaration(
        order_id=42,
        external_id="TH-20260115-0042",
        destination="TH",
        local_language="th",
        currency="THB",
        sender_name="深圳宠趣科技有限公司",
        sender_phone="+86 755 8888 0000",
        sender_address="广东省深圳市南山区科技园南区 8 栋 501",
        sender_country="CN",
        receiver_name="สมชาย ใจดี (Somchai Jaidee)",
        receiver_phone="+66 81 234 5678",
        receiver_address="99/12 ถนนสุขุมวิท ซอย 21, แขวงคลองเตยเหนือ เขตวัฒนา",
        receiver_city="กรุงเทพมหานคร",
        receiver_region="Bangkok",
        receiver_postcode="10110",
        receiver_country="TH",
        lines=lines,
        total_weight_g=sum(ln.unit_weight_g * ln.qty for ln in lines),
        total_value=value,
        shipping=25000,
        documents=documents_ if documents_ is not None else ["packing_list", "cn22"],
        estimate=DutyEstimate(
            currency="THB", fx_per_cny=4.8, goods_value=value, shipping=25000, duty=0, vat=16415, total=16415
        ),
        placed_on=date(2026, 1, 15),
    )


# -- helpers -----------------------------------------------------------------------------------------------------------


def thai_key(text: str) -> str:
    """Thai text compared as a reader sees it: NFKD (canonical mark order, SARA AM as NIKHAHIT + SARA AA) without the
    NIKHAHIT, whose place HarfBuzz moves before the tone mark when it decomposes SARA AM (น้ำ reads back as นํ้า)."""
    return unicodedata.normalize("NFKD", text).replace("\u0e4d", "")


def render(pdf: bytes, out: Path, name: str, *, dpi: int = 110) -> tuple[list[Path], str]:
    """The PDF's pages as PNGs (pdftoppm) and its text layer (pdftotext), kept in ``out`` (and the artefacts dir)."""
    out.mkdir(parents=True, exist_ok=True)
    source = out / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(source), str(out / name)], check=True, timeout=60)
    text = subprocess.run(["pdftotext", "-raw", str(source), "-"], capture_output=True, text=True, check=True)
    pages = sorted(out.glob(f"{name}*.png"))
    artefacts = os.environ.get("TEST_ARTEFACTS", "").strip()
    if artefacts:
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        for path in [source, *pages]:
            shutil.copy(path, Path(artefacts) / path.name)
    return pages, text.stdout


def ink(png: Path, box: tuple[int, int, int, int] | None = None) -> float:
    """Share of dark pixels (in ``box`` when given)."""
    from PIL import Image

    with Image.open(png) as image:
        gray = image.convert("L")
        if box is not None:
            gray = gray.crop(box)
        data = gray.tobytes()
    return sum(1 for v in data if v < 128) / max(1, len(data))


def dark_mask(png: Path) -> set[tuple[int, int]]:
    from PIL import Image

    with Image.open(png) as image:
        gray = image.convert("L")
        w = gray.size[0]
        data = gray.tobytes()
    return {(i % w, i // w) for i, v in enumerate(data) if v < 128}


def word_boxes(pdf: Path) -> list[tuple[str, float, float, float, float]]:
    """(word, xMin, yMin, xMax, yMax) in points, page 1, from pdftotext -bbox."""
    html = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    return [(w, float(a), float(b), float(c), float(d)) for a, b, c, d, w in re.findall(pattern, html)]


# -- the packing list --------------------------------------------------------------------------------------------------


@needs_poppler
@needs_thai_font
def test_packing_list_shows_chinese_thai_and_hs_codes(tmp_path: Path) -> None:
    declaration = thai_declaration()
    pages, text = render(documents.packing_list_pdf(declaration), tmp_path, "packing-list-th")
    assert len(pages) == 1 and ink(pages[0]) > 0.01
    for expected in ("装箱单", "Packing List", "智能宠物喂食器", "宠物饮水机", "不锈钢宠物碗", "深圳宠趣科技有限公司"):
        assert expected in text, expected
    for hs in ("8436800090", "8413702090", "732393"):
        assert hs in text
    assert "TISI TIS 1195-2561/0042" in text and "TISI TIS 60335-2-41" in text
    # Thai: the headings and each line's Thai name, as a reader copying the text gets them
    readable = thai_key(text)
    for expected in ("ใบรายการบรรจุสินค้า", "ชื่อสินค้า", "พิกัดศุลกากร", FEEDER_TH, FOUNTAIN_TH, "ชามอาหารสแตนเลส"):
        assert thai_key(expected) in readable, expected
    assert "\uf70b" not in text and not re.search("[\uf700-\uf71a]", text)  # no PUA glyph codes in the text layer
    # totals: 2 × 899.00 + 459.00 + 0 = 2,257.00 THB; 2 × 1.450 + 0.980 + 0.300 = 4.180 kg; the estimate
    assert "2,257.00 THB" in text and "4.180" in text and "164.15 THB" in text
    fonts_used = subprocess.run(["pdffonts", str(tmp_path / "packing-list-th.pdf")], capture_output=True, text=True)
    assert "Garuda" in fonts_used.stdout or "Loma" in fonts_used.stdout or "Thai" in fonts_used.stdout


@needs_poppler
@needs_thai_font
def test_the_thai_name_is_inked_glyphs_not_tofu(tmp_path: Path) -> None:
    """Where the packing list draws the Thai name there is ink; and the same string drawn through the documents'
    font selection differs from it drawn with fonts that lack Thai (their .notdef: empty in WenQuanYi, a box in
    DejaVu)."""
    declaration = thai_declaration()
    dpi = 200
    pages, _ = render(documents.packing_list_pdf(declaration), tmp_path, "packing-list-hi", dpi=dpi)
    # pdftotext may cut a long Thai word where HarfBuzz moved a mark: its first part is enough to find it
    start = thai_key(FEEDER_TH[:15])
    boxes = [b for b in word_boxes(tmp_path / "packing-list-hi.pdf") if thai_key(b[0]).startswith(start)]
    assert boxes, "the Thai name is not in the text layer"
    _, x0, y0, x1, y1 = boxes[0]
    k = dpi / 72
    assert ink(pages[0], (int(x0 * k), int(y0 * k), int(x1 * k), int(y1 * k))) > 0.08

    style = ParagraphStyle("probe", fontName=fonts.base(), fontSize=20, leading=28)

    def draw(name: str, paragraph: Paragraph) -> Path:
        canvas = Canvas(str(tmp_path / f"{name}.pdf"), pagesize=(420, 60))
        paragraph.wrap(400, 50)
        paragraph.drawOn(canvas, 10, 12)
        canvas.save()
        subprocess.run(
            ["pdftoppm", "-r", "100", "-png", "-singlefile", str(tmp_path / f"{name}.pdf"), str(tmp_path / name)],
            check=True,
        )
        return tmp_path / f"{name}.png"

    thai = dark_mask(draw("thai", fonts.para(FEEDER_TH, style)))
    assert len(thai) > 400
    for font in {fonts.base(), fonts.LATIN if fonts.has_cjk_font() else fonts.base()}:
        tofu = dark_mask(draw(f"tofu-{font}", Paragraph(f'<font name="{font}">{FEEDER_TH}</font>', style)))
        assert len(thai ^ tofu) > 0.6 * len(thai | tofu), font


@needs_poppler
@needs_thai_font
def test_thai_is_shaped_marks_lowered_and_tails_dropped(tmp_path: Path) -> None:
    """HarfBuzz picks the font's positioned variants: a tone mark over a consonant without an upper vowel is the
    lowered one, ญ above a below-vowel loses its tail (both TLWG PUA glyphs, U+F70A… / U+F70F) — and the text layer
    still reads the Thai characters."""
    if not fonts.shaping_available():
        pytest.skip("uharfbuzz not installed: Thai is drawn unshaped")
    style = ParagraphStyle("probe", fontName=fonts.base(), fontSize=12, leading=16)
    paragraph = fonts.para("ให้ ญู", style)
    paragraph.wrap(300, 50)
    drawn = "".join(str(getattr(w, "text", "")) for line in paragraph.blPara.lines for w in line.words)
    assert "\uf70b" in drawn and "\uf70f" in drawn
    assert fonts.thai_pua_to_unicode(0xF70B) == "\u0e49" and fonts.thai_pua_to_unicode(0xF70F) == "\u0e0d"
    canvas = Canvas(str(tmp_path / "shaped.pdf"), pagesize=(300, 60))
    paragraph.drawOn(canvas, 10, 20)
    canvas.save()
    text = subprocess.run(["pdftotext", str(tmp_path / "shaped.pdf"), "-"], capture_output=True, text=True).stdout
    assert thai_key("ให้") in thai_key(text) and thai_key("ญู") in thai_key(text)


# -- CN 22 / CN 23 -----------------------------------------------------------------------------------------------------


@needs_poppler
@needs_thai_font
def test_cn22_label(tmp_path: Path) -> None:
    declaration = thai_declaration()
    form, pdf = documents.customs_form_pdf(declaration, cn22_max_value=500_000)
    assert form == "cn22"
    pages, text = render(pdf, tmp_path, "cn22-th")
    info = subprocess.run(["pdfinfo", str(tmp_path / "cn22-th.pdf")], capture_output=True, text=True).stdout
    assert re.search(r"Page size:\s+283\.\d+ x 425\.\d+ pts", info), info  # 100 × 150 mm
    assert ink(pages[0]) > 0.01
    for expected in ("CUSTOMS DECLARATION", "CN 22", "Gift", "Documents", "Commercial sample", "Returned goods",
                     "Sale of goods", "Other", "HS tariff", "8436800090", "8413702090", "732393",
                     "2 × Automatic pet feeder (ABS plastic)", "2,257.00", "Date and sender's signature"):  # fmt: skip
        assert expected in text, expected
    assert "\u2612 Sale of goods" in text and "\u2610 Gift" in text
    assert thai_key(FEEDER_TH) in thai_key(text)


@needs_poppler
@needs_thai_font
def test_cn23_above_the_limit(tmp_path: Path) -> None:
    declaration = thai_declaration()
    form, pdf = documents.customs_form_pdf(declaration, cn22_max_value=150_000)  # 2,257.00 THB > 1,500.00 THB
    assert form == "cn23"
    pages, text = render(pdf, tmp_path, "cn23-th")
    assert len(pages) == 1 and ink(pages[0]) > 0.01
    for expected in ("CN 23", "From", "To", "Importer's reference", "Detailed description of contents (1)",
                     "Net weight (kg) (3)", "HS tariff number (7)", "Country of origin (8)", "Postal charges/Fees (9)",
                     "Category of item (10)", "Comments (11)", "Licence (12)", "Certificate (13)", "Invoice (14)",
                     "sender's signature (15)", "TISI TIS 1195-2561/0042", "8436800090", "250.00 THB",
                     "深圳宠趣科技有限公司"):  # fmt: skip
        assert expected in text, expected
    assert thai_key("สมชาย ใจดี") in thai_key(text)


def test_form_follows_the_limit_or_the_documents_list() -> None:
    declaration = thai_declaration()  # goods value 225,700 satang
    assert documents.customs_form(declaration, 225_700) == "cn22"
    assert documents.customs_form(declaration, 225_699) == "cn23"
    assert documents.customs_form(declaration, None) == "cn22"
    assert documents.customs_form(thai_declaration(documents_=["packing_list", "cn23"]), None) == "cn23"


def test_without_a_pack_the_upu_limit_still_chooses_the_cn23() -> None:
    """A destination without a rule pack: no limit, no documents list, no estimate, values in CNY — still a CN 23
    above 300 SDR (the default CNY 2,700)."""
    limit = rules.DEFAULT_CN22_MAX_CNY_FEN
    bare = replace(thai_declaration(documents_=[]), destination="SG", currency="CNY", estimate=None)
    assert documents.customs_form(replace(bare, total_value=limit), None) == "cn22"
    assert documents.customs_form(replace(bare, total_value=limit + 1), None) == "cn23"
    # an estimate without a limit (a pack lacking cn22_max_value): the default in its currency, at its rate
    estimated = thai_declaration(documents_=[])  # goods 225,700 satang at 4.8 THB per CNY: limit 1,296,000
    assert estimated.estimate is not None
    assert documents.customs_form(estimated, None) == "cn22"
    weaker = replace(estimated.estimate, fx_per_cny=0.8)  # limit 216,000 satang
    assert documents.customs_form(replace(estimated, estimate=weaker), None) == "cn23"
    # a currency it cannot convert to: the CN 23, valid at any value
    assert documents.customs_form(replace(bare, currency="USD", total_value=1), None) == "cn23"


# -- templates, formatting, missing fonts ------------------------------------------------------------------------------


def test_labels_cover_every_key_in_every_language() -> None:
    keys = set(documents.LABELS["en"])
    assert all(set(labels) == keys for labels in documents.LABELS.values())


def test_template_per_destination() -> None:
    th = documents.template_for(thai_declaration())
    assert th.languages == ("zh", "en", "th") and th.local_language == "th"
    my = documents.template_for(replace(thai_declaration(), destination="MY", local_language="ms"))
    assert my.languages == ("zh", "en", "ms")
    xx = documents.template_for(replace(thai_declaration(), destination="SG", local_language=""))
    assert xx.languages == ("zh", "en") and xx.local_language == ""


def test_money_and_weight_text() -> None:
    assert documents.money_text(225_700, "THB") == "2,257.00"
    assert documents.money_text(5, "CNY") == "0.05"
    assert documents.money_text(1_250_000, "VND") == "1,250,000"
    assert documents.money_text(-5, "CNY") == "-0.05"
    # the minor units the estimate uses (orderhub.customs.codes), not a list of its own
    assert documents.money_text(1_250, "JPY") == "1,250"
    assert documents.money_text(12_345, "KWD") == "12.345"
    assert documents.money_text(1_500, "BHD") == "1.500"
    assert documents.money_text(70_000, "PYG") == "70,000"
    assert documents.money_text(1_250_000, "IDR") == "12,500.00"  # ISO 4217: IDR has 2 digits
    assert documents.weight_kg(1450) == "1.450"


@needs_poppler
def test_vietnamese_headings_are_drawn_with_a_font_that_has_them(tmp_path: Path) -> None:
    line = _line(name_local="Máy cho thú cưng ăn tự động", certificates={"CR": "VN-CR-2026-001"})
    declaration = replace(thai_declaration(lines=[line]), destination="VN", local_language="vi")
    _, text = render(documents.packing_list_pdf(declaration), tmp_path, "packing-list-vn")
    for expected in ("Phiếu đóng gói", "Xuất xứ", "Máy cho thú cưng ăn tự động", "CR VN-CR-2026-001"):
        assert unicodedata.normalize("NFC", expected) in unicodedata.normalize("NFC", text), expected


@needs_poppler
def test_without_a_thai_font_the_page_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "find_thai_font", lambda: None)
    fonts._fonts.cache_clear()
    try:
        assert not fonts.has_thai_font()
        _, text = render(documents.packing_list_pdf(thai_declaration()), tmp_path, "packing-list-nofont")
        assert "Thai font not found on the server" in text
        assert "8436800090" in text and "智能宠物喂食器" in text
    finally:
        monkeypatch.undo()
        fonts._fonts.cache_clear()
    assert fonts.has_thai_font() == (fonts.find_thai_font() is not None)


def test_thai_font_override_and_absence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orderhub.reports import fonts as report_fonts

    found = report_fonts.find_thai_font()
    try:
        fake = tmp_path / "MyThai.ttf"
        fake.write_bytes(b"\0")
        monkeypatch.setenv("ORDERHUB_THAI_FONT", str(fake))
        report_fonts.find_thai_font.cache_clear()
        assert report_fonts.find_thai_font() == str(fake)
        monkeypatch.setenv("ORDERHUB_THAI_FONT", str(tmp_path / "missing.otf"))  # not a usable TTF: looked elsewhere
        monkeypatch.setattr(report_fonts, "THAI_CANDIDATES", ())
        monkeypatch.setattr(report_fonts.shutil, "which", lambda name: None)
        report_fonts.find_thai_font.cache_clear()
        assert report_fonts.find_thai_font() is None
    finally:
        monkeypatch.undo()
        report_fonts.find_thai_font.cache_clear()
    assert report_fonts.find_thai_font() == found

"""Fonts for the customs documents: each run of text is drawn with a font that has its glyphs.

reportlab draws a string with one font and does not fall back per glyph, so :func:`para` splits a text into runs:
Thai (U+0E00–U+0E7F) with the Thai font (:func:`orderhub.reports.fonts.find_thai_font`, TLWG Garuda on Debian),
everything else with the CJK font (:func:`orderhub.reports.fonts.find_cjk_font`, 文泉驿正黑) when it has the glyph, else
with DejaVu Sans (Vietnamese letters such as ế ư ơ, the ☐ ☒ boxes), else the CJK font anyway (a box on the page).

Thai is shaped with HarfBuzz (reportlab's ``TTFont.shapable`` + ``ParagraphStyle(shaping=1)``, available when the
``uharfbuzz`` package is installed — reportlab ``pdfbase/ttfonts.py`` ``hbFace``/``shapeFragWord``): the tone marks
are lowered over consonants without an upper vowel and shifted left of the tall consonants ป ฝ ฟ, and ญ ฐ lose their
tails above a below-vowel. TLWG fonts hold those positioned variants in the Private Use Area (U+F700–U+F71A, the
Thai PUA convention Windows and TLWG share); reportlab's ToUnicode map would then give the PUA code points to a reader
copying the text, so :class:`ThaiTTFont` maps them back to the Thai characters they stand for. (One difference stays
in the text layer: HarfBuzz decomposes SARA AM ำ into NIKHAHIT ํ + SARA AA า, so น้ำ copies as นํ้า.)

reportlab shapes a whole word (text between spaces) with the font of its first run, so a paragraph is shaped only
when its text has no CJK beside the Thai (then every character of it is drawn with the Thai font, which has Latin
letters and digits too); a text mixing Thai and Chinese is drawn run by run, unshaped — TLWG fonts are designed to
read acceptably that way.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph

from orderhub.reports.fonts import find_cjk_font, find_thai_font

__all__ = [
    "CJK",
    "LATIN",
    "THAI",
    "ThaiTTFont",
    "base",
    "box",
    "has_cjk_font",
    "has_thai_font",
    "para",
    "shaping_available",
    "thai_pua_to_unicode",
]

log = logging.getLogger("orderhub.customs")

CJK = "OrderHubDocCJK"
THAI = "OrderHubDocThai"
LATIN = "OrderHubDocLatin"

_DEJAVU = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)

# The Thai Private Use Area glyphs (positioned variants) → the character each one draws.
_THAI_PUA: dict[int, str] = {
    0xF700: "\u0e10",  # ฐ without its tail
    0xF701: "\u0e34",  # ิ  shifted left
    0xF702: "\u0e35",
    0xF703: "\u0e36",
    0xF704: "\u0e37",
    0xF705: "\u0e48",  # ่  lowered and shifted left
    0xF706: "\u0e49",
    0xF707: "\u0e4a",
    0xF708: "\u0e4b",
    0xF709: "\u0e4c",
    0xF70A: "\u0e48",  # ่  lowered
    0xF70B: "\u0e49",
    0xF70C: "\u0e4a",
    0xF70D: "\u0e4b",
    0xF70E: "\u0e4c",
    0xF70F: "\u0e0d",  # ญ without its tail
    0xF710: "\u0e31",  # ั  shifted left
    0xF711: "\u0e4d",
    0xF712: "\u0e47",
    0xF713: "\u0e48",  # ่  shifted left
    0xF714: "\u0e49",
    0xF715: "\u0e4a",
    0xF716: "\u0e4b",
    0xF717: "\u0e4c",
    0xF718: "\u0e38",  # ุ  lowered
    0xF719: "\u0e39",
    0xF71A: "\u0e3a",
}


def thai_pua_to_unicode(code: int) -> str:
    """The text a glyph code point stands for: a Thai PUA variant's character, otherwise the code point itself."""
    return _THAI_PUA.get(code, chr(code))


def _utf16_hex(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab's ToUnicode CMap (``ttfonts.makeToUnicodeCMap``) with the Thai PUA variants mapped to Thai."""
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo",
        f"<< /Registry ({fontname})",
        f"/Ordering ({fontname})",
        "/Supplement 0",
        ">> def",
        f"/CMapName /{fontname} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>",
        "endcodespacerange",
        f"{len(subset)} beginbfchar",
        *(f"<{i:02X}> <{_utf16_hex(thai_pua_to_unicode(v))}>" for i, v in enumerate(subset)),
        "endbfchar",
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines)


class ThaiTTFont(TTFont):
    """A TrueType font whose ToUnicode map reads the Thai PUA variants as the Thai characters they draw.

    reportlab builds the map in ``TTFont.addObjects`` through the module function ``makeToUnicodeCMap``; this swaps
    that function for the call. The replacement maps every other code point as reportlab does, so another font
    written at the same moment (another thread) gets the same map it would have had."""

    def addObjects(self, doc: Any) -> None:
        original = ttfonts.makeToUnicodeCMap
        ttfonts.makeToUnicodeCMap = _to_unicode_cmap
        try:
            super().addObjects(doc)
        finally:
            ttfonts.makeToUnicodeCMap = original


def _register(name: str, path: str, *, thai: bool = False) -> bool:
    try:
        if thai:
            font: TTFont = ThaiTTFont(name, path, shapable=True)
        elif path.lower().endswith(".ttc"):
            font = TTFont(name, path, subfontIndex=0, shapable=False)
        else:
            font = TTFont(name, path, shapable=False)
        pdfmetrics.registerFont(font)
    except Exception:  # an unreadable or CFF-only font file
        log.warning("font file could not be read", extra={"path": path, "event": "customs_font_unreadable"})
        return False
    return True


@functools.cache
def _fonts() -> dict[str, str]:
    """The registered document fonts by role (cjk, thai, latin); a role whose font is missing falls back."""
    roles: dict[str, str] = {}
    cjk = find_cjk_font()
    if cjk and _register(CJK, cjk):
        roles["cjk"] = CJK
    latin = next((p for p in _DEJAVU if Path(p).is_file()), None)
    if latin and _register(LATIN, latin):
        roles["latin"] = LATIN
    thai = find_thai_font()
    if thai and _register(THAI, thai, thai=True):
        roles["thai"] = THAI
    fallback = roles.get("cjk") or roles.get("latin") or "Helvetica"
    roles.setdefault("cjk", fallback)
    roles.setdefault("latin", fallback)
    roles.setdefault("thai", roles["latin"])
    return roles


def base() -> str:
    """The font for text without Thai (the CJK font, or what stands in for it)."""
    return _fonts()["cjk"]


def has_cjk_font() -> bool:
    return _fonts()["cjk"] == CJK


def has_thai_font() -> bool:
    return _fonts()["thai"] == THAI


def shaping_available() -> bool:
    return has_thai_font() and bool(pdfmetrics.getFont(THAI).shapable)


def _covers(font: str, ch: str) -> bool:
    if font == "Helvetica":
        return ord(ch) < 256
    return ord(ch) in pdfmetrics.getFont(font).face.charToGlyph


_THAI_CHAR = re.compile(r"[\u0e00-\u0e7f]")
_CJK_CHAR = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")


def _font_for(ch: str, order: tuple[str, ...], fonts: dict[str, str]) -> str:
    if _THAI_CHAR.match(ch):
        return fonts["thai"]
    if ch.isspace():
        return ""  # stays in the run it is in
    for role in order:
        if _covers(fonts[role], ch):
            return fonts[role]
    return fonts["cjk"]


def runs(text: str) -> list[tuple[str, str]]:
    """``(font, text)`` runs: each character with a font that has it (spaces join the run they are in). In a text
    with Thai and no Chinese, Latin letters and digits go with the Thai font too, so its words are one font each."""
    fonts = _fonts()
    thai_first = bool(_THAI_CHAR.search(text)) and not _CJK_CHAR.search(text)
    order: tuple[str, ...] = ("cjk", "latin")
    if thai_first:
        order = ("thai", "cjk", "latin")
    elif not _CJK_CHAR.search(text) and not all(_covers(fonts["cjk"], c) for c in text if not c.isspace()):
        order = ("latin", "cjk")  # e.g. Vietnamese: the whole text in the font that has its letters
    out: list[tuple[str, str]] = []
    current, buf = "", ""
    for ch in text:
        font = _font_for(ch, order, fonts) or current or fonts["cjk"]
        if font != current and buf:
            out.append((current, buf))
            buf = ""
        current = font
        buf += ch
    if buf:
        out.append((current, buf))
    return out


def _one_font_per_word(parts: list[tuple[str, str]]) -> bool:
    """True when no word (text between spaces) is drawn with two fonts: reportlab shapes a word with one font."""
    previous, in_word = "", False
    for font, chunk in parts:
        if in_word and font != previous and not chunk[0].isspace():
            return False
        previous, in_word = font, not chunk[-1].isspace()
    return True


def para(text: str, style: ParagraphStyle) -> Paragraph:
    """A Paragraph of ``text`` (plain, newlines kept) drawn run by run in fonts that have its glyphs; Thai shaped
    with HarfBuzz when no word mixes fonts (always, for a text of Thai and Latin)."""
    parts = runs(text)
    markup = "".join(f'<font name="{font}">{escape(chunk).replace(chr(10), "<br/>")}</font>' for font, chunk in parts)
    extra: dict[str, Any] = {"fontName": parts[0][0] if parts else _fonts()["cjk"]}
    if any(font == THAI for font, _ in parts):
        # reportlab shapes in its word wrap, not in the CJK one; a tone mark stacked over an upper vowel rises about
        # 1.3 em above the baseline: room above the first line and between wrapped lines, so it clears the line above
        extra.update(
            wordWrap=None,
            spaceBefore=max(style.spaceBefore, style.fontSize * 0.3),
            leading=max(style.leading, style.fontSize * 1.5),
        )
        if shaping_available() and _one_font_per_word(parts):
            extra.update(shaping=1, fontName=THAI)  # the style's font decides whether reportlab shapes
    return Paragraph(markup, ParagraphStyle(f"{style.name}-run", parent=style, **extra))


def box(checked: bool) -> str:
    """A check box character (☒ / ☐) when a font has it, else [X] / [ ]."""
    if _fonts()["latin"] == LATIN:
        return "\u2612" if checked else "\u2610"
    return "[X]" if checked else "[ ]"

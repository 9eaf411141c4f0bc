"""The CJK font the reports draw Chinese with (charts and PDFs rendered on the server, no browser).

The Debian package ``fonts-wqy-zenhei`` (文泉驿正黑; ``scripts/test`` installs it) is looked for first, then other
common CJK fonts, then whatever fontconfig (``fc-match``) answers for a Chinese family. ``ORDERHUB_REPORT_FONT`` names
a TTF / TTC / OTF file explicitly. Without one the reports are still produced, with a Latin font: the Chinese shows as
empty boxes, the log says why (warning ``report_font_missing``) and :func:`find_cjk_font` answers None so callers can
say so on the page.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["CANDIDATES", "THAI_CANDIDATES", "find_cjk_font", "find_thai_font"]

log = logging.getLogger("orderhub.reports")

# Well-known paths, most likely first (Debian / Ubuntu packages, then other distributions and macOS).
CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
_FAMILIES = ("WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "AR PL UMing CN")
# reportlab reads TrueType outlines only (a .ttc's first face is TrueType for WenQuanYi; Noto's OTF/CFF is not)
_SUFFIXES = (".ttf", ".ttc")


def _usable(path: str) -> bool:
    return path.lower().endswith(_SUFFIXES) and Path(path).is_file()


def _fc_match(family: str) -> str | None:
    fc = shutil.which("fc-match")
    if fc is None:
        return None
    try:
        out = subprocess.run(
            [fc, "-f", "%{file}", f"{family}:lang=zh-cn"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out and _usable(out) else None


@functools.cache
def find_cjk_font() -> str | None:
    """The path of a TrueType (TTF / TTC) font with Chinese glyphs, or None (logged once) when the machine has none."""
    explicit = os.environ.get("ORDERHUB_REPORT_FONT", "").strip()
    if explicit:
        if _usable(explicit):
            return explicit
        log.warning("ORDERHUB_REPORT_FONT is not a TTF/TTC file; looking elsewhere", extra={"path": explicit})
    for path in CANDIDATES:
        if _usable(path):
            return path
    for family in _FAMILIES:
        found = _fc_match(family)
        if found and ("wqy" in found.lower() or "cjk" in found.lower() or "uming" in found.lower()):
            return found
    log.warning(
        "no CJK font found: reports are drawn with a Latin font and Chinese shows as boxes "
        "(install the Debian package fonts-wqy-zenhei, or set ORDERHUB_REPORT_FONT)",
        extra={"event": "report_font_missing"},
    )
    return None


# Thai (the customs documents, orderhub.customs.documents): TLWG's Garuda / Loma (Debian fonts-tlwg-garuda-ttf,
# fonts-tlwg-loma-ttf — TrueType, with the positioned variants of the marks that a shaper picks), then Noto Sans Thai
# (fonts-noto-core; TrueType outlines).
THAI_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/tlwg/Garuda.ttf",
    "/usr/share/fonts/truetype/tlwg/Loma.ttf",
    "/usr/share/fonts/truetype/tlwg/Norasi.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSerifThai-Regular.ttf",
)
_THAI_FAMILIES = ("Garuda", "Loma", "Noto Sans Thai")


@functools.cache
def find_thai_font() -> str | None:
    """The path of a TrueType font with Thai glyphs (``ORDERHUB_THAI_FONT`` first), or None (logged once)."""
    explicit = os.environ.get("ORDERHUB_THAI_FONT", "").strip()
    if explicit:
        if _usable(explicit):
            return explicit
        log.warning("ORDERHUB_THAI_FONT is not a TTF file; looking elsewhere", extra={"path": explicit})
    for path in THAI_CANDIDATES:
        if _usable(path):
            return path
    fc = shutil.which("fc-match")
    for family in _THAI_FAMILIES:
        if fc is None:
            break
        try:
            out = subprocess.run(
                [fc, "-f", "%{file}", f"{family}:lang=th"], capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out and _usable(out) and ("tlwg" in out.lower() or "thai" in out.lower()):
            return out
    log.warning(
        "no Thai font found: Thai text is drawn with a fallback font and shows as boxes "
        "(install the Debian package fonts-tlwg-garuda-ttf, or set ORDERHUB_THAI_FONT)",
        extra={"event": "thai_font_missing"},
    )
    return None

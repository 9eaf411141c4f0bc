"""Shipping labels: 76 × 130 mm pages, one per parcel, receiver masked; the ZPL twin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from orderhub.logistics.labels import LabelData, label_pdf, label_zpl, mask_name, mask_phone

LABEL = LabelData(
    carrier="SF",
    waybill_no="SF1234567890123",
    sort_code="755WE-021",
    receiver_name="王小明",
    receiver_phone="13912345678",
    receiver_address="上海市浦东新区世纪大道100号",
    sender_name="华东仓",
    sender_phone="02112345678",
    sender_address="上海市青浦区华新镇华志路 1 号",
    pieces=1,
    weight_g=1250,
    order_ref="OH-1024",
)


def _text(pdf: bytes, workdir: Path) -> str:
    """What a reader sees on the pages (poppler's pdftotext, the way a viewer extracts it)."""
    tool = shutil.which("pdftotext")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftotext is required on CI (scripts/test installs poppler-utils)")
        pytest.skip("pdftotext is not installed")
    source = workdir / "labels.pdf"
    source.write_bytes(pdf)
    return subprocess.run([tool, "-layout", str(source), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(
    ("name", "masked"), [("王小明", "王*明"), ("欧阳娜娜", "欧**娜"), ("王明", "王*"), ("A", "A"), ("", "")]
)
def test_names_are_masked(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_phones_are_masked() -> None:
    assert mask_phone("13912345678") == "139****5678"
    assert mask_phone("+86 139-1234-5678") == "139****5678"
    assert mask_phone("021-12345678") == "021****5678"
    assert mask_phone("123") == "***"


def test_a_wave_is_one_pdf_of_76_by_130_mm_pages_with_the_receiver_masked(tmp_path: Path) -> None:
    pdf = label_pdf([LABEL, LABEL], compress=False)
    assert pdf.startswith(b"%PDF-")
    assert re.findall(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", pdf)[0] == (b"215.4331", b"368.5039")  # 76 × 130 mm
    assert pdf.count(b"/Type /Page\n") == 2
    text = _text(pdf, tmp_path)
    assert text.count("SF1234567890123") == 2 and "755WE-021" in text
    assert "王*明" in text and "139****5678" in text
    assert "13912345678" not in text and "王小明" not in text
    assert "上海市浦东新区" in text  # the address is where the parcel goes: whole
    assert "件数：1" in text and "重量：1.25 kg" in text
    with pytest.raises(ValueError):
        label_pdf([])


def test_the_zpl_twin_has_the_barcode_qr_and_masked_receiver() -> None:
    zpl = label_zpl(LABEL)
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ") and "^CI28" in zpl
    assert "^BCN" in zpl and "^FDSF1234567890123^FS" in zpl and "^BQN" in zpl
    assert "王*明 139****5678" in zpl and "13912345678" not in zpl
    assert "^PW607" in zpl and "^LL1039" in zpl  # 76 × 130 mm at 203 dpi


def test_carriers_print_under_the_name_people_know() -> None:
    """Every carrier's name comes from the carrier catalogue; JD prints as 京东快递 (it printed the bare code "JD"
    before the catalogue)."""
    from orderhub.logistics.labels import carrier_name

    names = [carrier_name(code) for code in ("SF", "ZTO", "JT", "JD")]
    assert names == ["顺丰速运", "中通快递", "极兔速递", "京东快递"]
    assert carrier_name("XYZ") == "XYZ"  # an unknown code prints as it is

"""Shipping labels: 76 × 130 mm pages, one per parcel, receiver masked; the ZPL twin."""

from __future__ import annotations

import re

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


def _texts(pdf: bytes) -> list[str]:
    """The strings the pages draw (uncompressed PDF; the CJK font's strings are UTF-16BE)."""
    out = []
    for raw in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", pdf):
        data = re.sub(
            rb"\\([0-7]{3}|.)", lambda m: bytes([int(m.group(1), 8)]) if m.group(1).isdigit() else m.group(1), raw
        )
        try:
            out.append(data.decode("utf-16-be"))
        except UnicodeDecodeError:
            out.append(data.decode("latin-1"))
    return out


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


def test_a_wave_is_one_pdf_of_76_by_130_mm_pages_with_the_receiver_masked() -> None:
    pdf = label_pdf([LABEL, LABEL], compress=False)
    assert pdf.startswith(b"%PDF-")
    assert re.findall(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", pdf)[0] == (b"215.4331", b"368.5039")  # 76 × 130 mm
    assert pdf.count(b"/Type /Page\n") == 2
    texts = _texts(pdf)
    assert "SF1234567890123" in texts and "755WE-021" in texts
    assert any("王*明" in t and "139****5678" in t for t in texts)
    assert not any("13912345678" in t or "王小明" in t for t in texts)
    assert any("上海市浦东新区" in t for t in texts)  # the address is where the parcel goes: whole
    assert "件数：1" in texts and "重量：1.25 kg" in texts
    with pytest.raises(ValueError):
        label_pdf([])


def test_the_zpl_twin_has_the_barcode_qr_and_masked_receiver() -> None:
    zpl = label_zpl(LABEL)
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ") and "^CI28" in zpl
    assert "^BCN" in zpl and "^FDSF1234567890123^FS" in zpl and "^BQN" in zpl
    assert "王*明 139****5678" in zpl and "13912345678" not in zpl
    assert "^PW607" in zpl and "^LL1039" in zpl  # 76 × 130 mm at 203 dpi

"""Network label printing without a hub: the ZPL printer simulator (sandbox/printers/zpl_printer.py — a label per
^XA…^XZ however the bytes arrive, ~HS answered as Zebra's guide lays it out), the hub's raw TCP sender
(orderhub/logistics/printing.py) against it and against a port nobody listens on, and the checks on a station's
printer address and a SKU's picture."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from orderhub.catalog.service import clean_image_url
from orderhub.errors import ValidationFailed
from orderhub.logistics.labels import LabelData, label_zpl
from orderhub.logistics.printing import PrinterAddressRefused, PrinterUnreachable, refused_address, send_raw
from orderhub.picking.sessions import Printer, parse_printer_address
from sandbox.printers import ZplPrinter, running_printer

STX, ETX = "\x02", "\x03"


async def _send(printer: ZplPrinter, *chunks: bytes, read: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection(printer.host, printer.port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0.01)  # separate reads: tokens split across them
    answer = await asyncio.wait_for(reader.read(4096), 2) if read else b""
    writer.close()
    await writer.wait_closed()
    return answer


async def test_a_label_per_format_however_the_bytes_arrive() -> None:
    async with ZplPrinter() as printer:
        await _send(printer, b"noise ^X", b"A^FO10,10^FDone^FS^X", b"Z\n", b"\x02^FDtwo^FS\x03^XA^FDnever closed")
        labels = await printer.wait_for(2)
        await asyncio.sleep(0.05)
    assert [label.text for label in labels] == ["^XA^FO10,10^FDone^FS^XZ", f"{STX}^FDtwo^FS{ETX}"]
    assert printer.dropped == 1 and printer.ignored == len("noise") and printer.connections == 1


async def test_host_status_has_three_strings_and_none_when_the_head_is_open() -> None:
    async with ZplPrinter() as printer:
        printer.paused = True
        answer = (await _send(printer, b"^XA~H", b"S^XZ", read=True)).decode("ascii")
        strings = answer.split("\r\n")
        assert strings[-1] == "" and all(s.startswith(STX) and s.endswith(ETX) for s in strings[:-1])
        one, two, three = (s.strip(STX + ETX).split(",") for s in strings[:-1])
        assert len(one) == 12 and len(two) == 11 and len(three) == 2
        assert one[2] == "1" and one[7] == "1"  # paused; a format was open when ~HS came
        assert two[9] == "1"  # "format while printing" is always 1
        assert printer.labels == [] and printer.status_requests == 1  # ^XA~HS^XZ prints nothing

        printer.head_open = True
        reader, writer = await asyncio.open_connection(printer.host, printer.port)
        writer.write(b"~HS")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.3)
        writer.close()


async def test_the_hub_sends_a_label_whole_and_says_when_nobody_listens() -> None:
    label = LabelData(
        carrier="SF", waybill_no="SF1400000000001", sort_code="755W", receiver_name="张三",
        receiver_phone="13800138000", receiver_address="广东省深圳市南山区科技园路 1 号", sender_name="华东仓",
        sender_phone="02112345678",
        sender_address="上海市青浦区华新镇华志路 1 号", weight_g=1200, order_ref="T-1",
    )
    data = label_zpl(label).encode()
    async with ZplPrinter() as printer:
        sent = await send_raw(printer.host, printer.port, data, allow_loopback=True)
        (printed,) = await printer.wait_for(1)
    assert sent == len(data) and "^FDSF1400000000001^FS" in printed.text and "张三" not in printed.text

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(PrinterUnreachable) as refused:
        await send_raw("127.0.0.1", port, data, timeout=2, allow_loopback=True)
    assert time.monotonic() - started < 2
    assert refused.value.code == "printer_unreachable" and refused.value.extra == {"printer": f"127.0.0.1:{port}"}
    assert "打印机无法连接" in refused.value.message


def test_the_simulator_runs_on_a_thread_for_synchronous_callers() -> None:
    with running_printer() as printer, socket.create_connection((printer.host, printer.port)) as conn:
        conn.sendall("^XA^CI28^FO0,0^FD中文^FS^XZ".encode())
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 5
        while not printer.labels and time.monotonic() < deadline:
            time.sleep(0.02)
    assert [label.text for label in printer.labels] == ["^XA^CI28^FO0,0^FD中文^FS^XZ"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("192.168.1.50", Printer(host="192.168.1.50", port=9100)),
        (" zebra-01.floor.local:9101 ", Printer(host="zebra-01.floor.local", port=9101)),
        ("[fd00::5]:65535", Printer(host="fd00::5", port=65535)),
        ("[fd00::5]", Printer(host="fd00::5", port=9100)),
    ],
)
def test_printer_addresses(given: str, expected: Printer) -> None:
    assert parse_printer_address(given) == expected


@pytest.mark.parametrize(
    "given",
    ["", ":9100", "host:", "host:0", "host:65536", "host:91a", "a b:9100", "fd00::5", "[fd00::5", "[x]:1", "a..b"],
)
def test_bad_printer_addresses(given: str) -> None:
    with pytest.raises(ValidationFailed) as bad:
        parse_printer_address(given)
    assert bad.value.field == "printer_address"


def test_sku_pictures() -> None:
    for good in ("", "  ", "https://img.example.com/a.png?x=1", "HTTP://img.example.com/a.png", "/static/sku/a.png"):
        assert clean_image_url(good) == good.strip()
    for bad in ("ftp://x/a.png", "javascript:alert(1)", "//evil.example.com/a", "/\\evil.example.com", "a.png",
                "https:///a.png", "/a b.png", "/" + "a" * 500):
        with pytest.raises(ValidationFailed) as refused:
            clean_image_url(bad)
        assert refused.value.field == "image_url"


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("192.168.1.50", False),  # the shop's LAN: where printers are
        ("10.0.0.5", False),
        ("fd00::5", False),
        ("127.0.0.1", True),  # the hub itself: its Redis and database listen there
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("169.254.169.254", True),  # link-local: a cloud's metadata service
        ("fe80::1", True),
        ("224.0.0.1", True),
        ("0.0.0.0", True),
        ("240.0.0.1", True),
    ],
)
def test_addresses_a_label_never_goes_to(address: str, refused: bool) -> None:
    import ipaddress

    assert refused_address(ipaddress.ip_address(address), allow_loopback=False) is refused


async def test_a_printer_on_the_hubs_own_address_is_refused_before_connecting() -> None:
    async with ZplPrinter() as printer:
        with pytest.raises(PrinterAddressRefused) as refused:
            await send_raw("localhost", printer.port, b"^XA^XZ", allow_loopback=False)
        assert refused.value.code == "printer_address_refused" and refused.value.field == "printer_address"
        await asyncio.sleep(0.1)
        assert printer.labels == [] and printer.connections == 0  # never connected

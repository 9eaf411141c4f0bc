"""Labels sent to a network label printer: ZPL over a raw TCP connection (a Zebra's port 9100 — open, write, close).

A Zebra printer on the network takes label formats on a raw TCP port, 9100 by default (its ``ip.port`` setting,
Zebra's EPL/ZPL programming guides; the Link-OS SDK's ``TcpConnection.DEFAULT_ZPL_TCP_PORT``): whatever is written is
passed unchanged to the printer's ZPL parser, and each ``^XA`` … ``^XZ`` format prints one label. No reply is sent
for a format, so "sent" is all the hub can know: the connection was accepted and every byte was written and flushed
before the socket closed. A printer that refuses the connection, or does not accept it and the data within
``timeout`` seconds, is ``printer_unreachable`` (502).

Logs name the printer, the order id and the byte count, never what the label prints (receiver, address, phone).
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

import msgspec

from orderhub.errors import ErrorCode, OrderHubError
from orderhub.logistics import waybills
from orderhub.logistics.errors import LogisticsError
from orderhub.logistics.labels import label_zpl

__all__ = ["PrintResult", "PrinterUnreachable", "print_label", "send_raw"]

log = logging.getLogger("orderhub.logistics")

TIMEOUT_SECONDS = 5.0


class PrinterUnreachable(OrderHubError):
    """The network printer could not be reached or did not take the data in time (answered 502)."""

    code: ClassVar[ErrorCode] = LogisticsError.PRINTER_UNREACHABLE


class PrintResult(msgspec.Struct, frozen=True, kw_only=True):
    printed: bool  # the label was written to the printer's raw port (a Zebra sends no answer to a format)
    printer: str  # "host:port"
    bytes: int


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def send_raw(host: str, port: int, data: bytes, *, timeout: float = TIMEOUT_SECONDS) -> int:
    """Open a TCP connection to ``host:port``, write ``data``, close; the number of bytes written. Raises
    :class:`PrinterUnreachable` when the connection is refused or reset, or any step takes longer than ``timeout``."""
    where = _address(host, port)
    message = f"打印机无法连接（{where}），请检查打印机电源、网线和地址，或改用 PDF 打印"
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
            writer.write(data)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
    except (TimeoutError, OSError) as exc:
        if writer is not None:
            writer.transport.abort()
        reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        log.warning("label printer %s unreachable: %s", where, reason)
        raise PrinterUnreachable(message, field="printer_address", extra={"printer": where}) from None
    return len(data)


async def print_label(order_id: int, host: str, port: int, *, actor: str) -> PrintResult:
    """The order's label (its waybill's, as the PDF prints it) in ZPL, sent to the printer at ``host:port``."""
    data = label_zpl(await waybills.label_data(order_id, actor=actor)).encode()
    sent = await send_raw(host, port, data)
    where = _address(host, port)
    log.info("label of order %s sent to printer %s (%d bytes) by %s", order_id, where, sent, actor)
    return PrintResult(printed=True, printer=where, bytes=sent)

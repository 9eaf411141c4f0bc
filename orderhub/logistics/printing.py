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
import ipaddress
import logging
import socket
from typing import ClassVar

import msgspec

from orderhub.errors import ErrorCode, OrderHubError
from orderhub.logistics import waybills
from orderhub.logistics.errors import LogisticsError
from orderhub.logistics.labels import label_zpl
from orderhub.settings import get_settings

__all__ = ["PrintResult", "PrinterAddressRefused", "PrinterUnreachable", "print_label", "refused_address", "send_raw"]

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


class PrinterAddressRefused(OrderHubError):
    """The printer's address is one the hub never writes to (answered 422, field ``printer_address``)."""

    code: ClassVar[ErrorCode] = LogisticsError.PRINTER_ADDRESS_REFUSED


def refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool) -> bool:
    """Addresses a label never goes to: a printer sits on the shop's LAN (private ranges are fine), never on the hub
    itself (its Redis and database listen there), link-local (a cloud's metadata service is 169.254.169.254),
    multicast, unspecified or reserved."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return not allow_loopback
    return ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved


async def _resolve(host: str, port: int, *, allow_loopback: bool) -> str:
    """The address to connect to: ``host`` resolved once here and checked, so a name cannot point the connection
    somewhere else between the check and the connect."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise PrinterUnreachable(
            f"打印机地址 {host} 无法解析，请检查地址", field="printer_address", extra={"printer": _address(host, port)}
        ) from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or any(
        refused_address(ipaddress.ip_address(a.split("%")[0]), allow_loopback=allow_loopback) for a in addresses
    ):
        raise PrinterAddressRefused(
            "打印机地址不能是本机、链路本地或组播地址，请填写打印机在局域网中的地址", field="printer_address"
        )
    return addresses[0]


async def send_raw(
    host: str, port: int, data: bytes, *, timeout: float = TIMEOUT_SECONDS, allow_loopback: bool | None = None
) -> int:
    """Open a TCP connection to ``host:port``, write ``data``, close; the number of bytes written. Raises
    :class:`PrinterAddressRefused` for an address the hub never writes to (:func:`refused_address`), and
    :class:`PrinterUnreachable` when the connection is refused or reset, or any step takes longer than ``timeout``."""
    where = _address(host, port)
    message = f"打印机无法连接（{where}），请检查打印机电源、网线和地址，或改用 PDF 打印"
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            loopback = get_settings().printer_allow_loopback if allow_loopback is None else allow_loopback
            target = await _resolve(host, port, allow_loopback=loopback)
            _, writer = await asyncio.open_connection(target, port)
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

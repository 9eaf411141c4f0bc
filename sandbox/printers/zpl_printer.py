"""A network ZPL label printer (a Zebra on its raw TCP port), self-contained, for tests and the demo::

    async with ZplPrinter() as printer:          # an asyncio server in this event loop, on a free local port
        ...                                      # point a pack station at printer.address ("127.0.0.1:PORT")
        (label,) = await printer.wait_for(1)     # the labels received, one per ^XA … ^XZ format
        assert "^FDSF1234567890^FS" in label.text

    with running_printer() as printer:           # the same on a background thread (synchronous callers)
        ...

    python -m sandbox.printers.zpl_printer --port 9100    # stand-alone: prints each label it receives

Written from Zebra's documentation, not from the hub's client:

* **The raw port.** A Zebra print server listens for print data on a raw TCP port, "a type of TCP port in which data
  is passed unmodified to the receiving node" (ZebraNet PrintServer II User Guide 45537L-004, glossary,
  https://www.manualshelf.com/manual/zebra/printserver/user-guide-english/page-133.html). Its number is the printer
  setting ``ip.port`` / ``external_wired.ip.port``: "Normal TCP communications from the host should be directed to
  this port … Values: 1 - 65535 … Default: 9100" (EPL Programming Guide 14245L-003, SGD wired commands,
  https://manualsdump.com/en/manuals/zebra_technologies-14245l-003/44849/227); Zebra's Link-OS SDK names it
  ``TcpConnection.DEFAULT_ZPL_TCP_PORT`` ("The default TCP port for ZPL devices",
  https://techdocs.zebra.com/link-os/3-00/pc_net/content/html/e2b63881-758c-9ea9-f565-a065576f4cae). So: accept
  connections, read what is written, nothing is answered for a label. Several connections may be open at once ("The
  ZPL parser in the printer can handle many incoming connections simultaneously", ZPL Programming Guide, ZBI › Port
  usage › ZPL parser, https://docs.zebra.com/us/en/printers/software/zpl-pg/zbi-commands/port-usage-examples/zpl-parser.html).
* **A label is a format from ^XA to ^XZ.** "The ^XA command is used at the beginning of ZPL II code. It is the
  opening bracket and indicates the start of a new label format. This command is substituted with a single ASCII
  control character STX (control-B, hexadecimal 02)" (ZPL Programming Guide, ^XA,
  https://docs.zebra.com/us/en/printers/software/zpl-pg/zpl-pg/c-zpl-zpl-commands/r-zpl-xa.html). "The ^XZ command is
  the ending (closing) bracket. It indicates the end of a label format. When this command is received, a label will
  be printed. This command can also be issued as a single ASCII control character ETX (Control-C, Hex 03)" (ZPL II
  Programming Guide Vol. 1, ^XZ, http://38.142.81.21:8001/manual/zebra/ii/specifications-english/page-260.html).
  Format commands (``^``) "are intended to be run within formats … between the Start Format (^XA) and the End
  Format (^XZ)"; control commands (``~``) "have an immediate effect on printer operation … to get printer status …
  Control commands can be used within formats" (Zebra KR403 Software Integrator Guide P1026208-001, ZPL Basics,
  https://zebra.manymanuals.de/print-scan/kr403/specifications-33880/59). So: bytes outside a format are dropped;
  each ^XA (or STX) … ^XZ (or ETX) is one printed label, kept here in :attr:`ZplPrinter.labels`.
* **~HS host status.** "When the host sends ~HS to the printer, the printer sends three data strings back. Each
  string starts with an <STX> control code and is terminated by an <ETX><CR><LF> control code sequence", and
  "the printer will not send a response to the host if the printer is in one of these conditions: MEDIA OUT, RIBBON
  OUT, HEAD OPEN, REWINDER FULL, HEAD OVER-TEMPERATURE" (ZPL Programming Guide, ~HS,
  https://docs.zebra.com/us/en/printers/software/zpl-pg/zpl-commands/~hs4.html; the three strings' fields as the
  guide's pages 233–236 list them: ``aaa,b,c,dddd,eee,f,g,h,iii,j,k,l`` / ``mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www`` /
  ``xxxx,y``). :meth:`ZplPrinter.host_status` builds them; see there for the values this printer reports.

What the documentation does not settle, and this simulator assumes: a ``~HS`` inside a format is answered and
taken out of it, and a format left with nothing but white space prints no label (``^XA~HS^XZ`` is how some hosts
ask for the status); a second ^XA before ^XZ starts the format again (the first is dropped, counted in
:attr:`ZplPrinter.dropped`); a format still open when its connection closes is dropped too. The command prefix is
always ``^`` and the control prefix ``~`` (``^CC`` / ``~CT`` are not simulated), and commands are matched in upper
case only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

__all__ = ["DEFAULT_PORT", "Label", "ZplPrinter", "running_printer"]

DEFAULT_PORT = 9100  # ip.port's default (see the module docstring)
STX, ETX = b"\x02", b"\x03"
_START = (b"^XA", STX)  # ^XA, or its one-byte substitute STX
_END = (b"^XZ", ETX)  # ^XZ, or ETX
_STATUS = b"~HS"
_TOKENS = (*_START, *_END, _STATUS)
# What a read may end in that could be the start of a token split across two reads.
_PREFIXES = (b"^X", b"^", b"~H", b"~")


@dataclass(frozen=True)
class Label:
    """One printed label: the format as received, from its ^XA (or STX) to its ^XZ (or ETX)."""

    raw: bytes
    peer: str  # the client's "host:port"
    at: datetime

    @property
    def text(self) -> str:
        """The format as text (UTF-8, as ^CI28 selects; undecodable bytes replaced)."""
        return self.raw.decode("utf-8", errors="replace")


@dataclass
class _Connection:
    peer: str
    pending: bytearray = field(default_factory=bytearray)  # read but not yet parsed (a token may be split)
    format: bytearray | None = None  # the open format, from its ^XA


class ZplPrinter:
    """A ZPL printer on a raw TCP port. ``port=0`` (the default) picks a free one.

    State a test may set: :attr:`paused` (the ~HS pause flag), :attr:`media_out` and :attr:`head_open` (the printer
    then answers no ~HS, as Zebra's guide says). What it records: :attr:`labels`, :attr:`connections` (accepted),
    :attr:`received` (bytes read), :attr:`status_requests` (~HS received), :attr:`dropped` (formats never closed)
    and :attr:`ignored` (bytes outside any format, white space aside)."""

    # ~HS String 1's ``aaa`` (the serial interface settings, a decimal of the 9 bits a8..a0): 9600 baud (a8 a2 a1 a0 =
    # 0 110), 8 data bits (a3 = 1), 1 stop bit (a4 = 1), parity disabled (a5 = 0, a6 = 0), Xon/Xoff (a7 = 0):
    # 0b000011110 = 30.
    INTERFACE_SETTINGS = 0b0_0001_1110
    LABEL_LENGTH_DOTS = 1039  # 130 mm at 203 dpi (8 dots/mm): the hub's 76 × 130 mm label
    PRINT_MODE_TEAR_OFF = "2"  # String 2's ``r``: 0 rewind, 1 peel-off, 2 tear-off, 3 cutter …

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self.port = 0
        self.labels: list[Label] = []
        self.connections = 0
        self.received = 0
        self.status_requests = 0
        self.dropped = 0
        self.ignored = 0
        self.paused = False
        self.media_out = False
        self.head_open = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Condition | None = None

    # ------------------------------------------------------------------------------------------- running

    @property
    def address(self) -> str:
        """``host:port``, as a pack station's ``printer_address``."""
        if not self.port:
            raise RuntimeError("the ZPL printer is not running")
        return f"{self.host}:{self.port}"

    async def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("already started")
        self._changed = asyncio.Condition()
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._open):
                task.cancel()
            await asyncio.gather(*self._open, return_exceptions=True)
            await self._server.wait_closed()
        self._server = None
        self.port = 0

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_for(self, count: int, *, timeout: float = 5.0) -> list[Label]:
        """The labels once at least ``count`` were received (in this printer's event loop); TimeoutError if not."""
        assert self._changed is not None, "the ZPL printer is not running"
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.labels) >= count)
        return list(self.labels)

    # ------------------------------------------------------------------------------------------ the port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._open.add(task)
        peer = writer.get_extra_info("peername")
        conn = _Connection(peer=f"{peer[0]}:{peer[1]}" if peer else "?")
        self.connections += 1
        try:
            while data := await reader.read(65536):
                self.received += len(data)
                answer = await self._feed(conn, bytes(data))
                if answer:
                    writer.write(answer)
                    await writer.drain()
            await self._feed(conn, b"", closing=True)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._open.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _feed(self, conn: _Connection, data: bytes, *, closing: bool = False) -> bytes:
        """Parse what arrived: formats become labels, ~HS is answered; the bytes to send back."""
        conn.pending += data
        buf, answer, done = conn.pending, bytearray(), False
        at = 0
        while True:
            hits = [(i, token) for token in _TOKENS if (i := buf.find(token, at)) >= 0]
            if not hits:
                keep = 0 if closing else next((len(p) for p in _PREFIXES if buf.endswith(p)), 0)
                keep = min(keep, len(buf) - at)
                self._text(conn, bytes(buf[at : len(buf) - keep]))
                del buf[: len(buf) - keep]
                break
            pos, token = min(hits)
            self._text(conn, bytes(buf[at:pos]))
            at = pos + len(token)
            if token in _START:
                if conn.format is not None:
                    self.dropped += 1  # a new ^XA before the last one's ^XZ
                conn.format = bytearray(token)
            elif token in _END:
                if conn.format is not None:
                    conn.format += token
                    done = self._printed(conn) or done
                    conn.format = None
                else:
                    self.ignored += len(token)
            else:  # ~HS: answered at once (a control command), and not part of the label
                self.status_requests += 1
                answer += self.host_status(partial=conn.format is not None)
        if closing and conn.format is not None:
            self.dropped += 1
            conn.format = None
        if done and self._changed is not None:
            async with self._changed:
                self._changed.notify_all()
        return bytes(answer)

    def _text(self, conn: _Connection, chunk: bytes) -> None:
        if conn.format is not None:
            conn.format += chunk
        else:
            self.ignored += len(chunk.strip())

    def _printed(self, conn: _Connection) -> bool:
        raw = bytes(conn.format or b"")
        body = raw[1 if raw.startswith(STX) else 3 : -1 if raw.endswith(ETX) else -3]
        if not body.strip():
            return False  # nothing to print (e.g. ^XA~HS^XZ)
        self.labels.append(Label(raw=raw, peer=conn.peer, at=datetime.now(UTC)))
        return True

    def host_status(self, *, partial: bool = False) -> bytes:
        """The answer to ~HS: three <STX>…<ETX><CR><LF> strings — or nothing while the media is out or the head
        open (Zebra's guide: no response in those conditions). String 1 ``aaa,b,c,dddd,eee,f,g,h,iii,j,k,l``: the
        interface settings, paper out 0, the pause flag, the label length in dots, formats in the receive buffer
        000 (this printer prints at once), buffer full 0, diagnostic mode 0, partial format (1 while this connection
        has a format open), 000, corrupt RAM 0, under / over temperature 0. String 2
        ``mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www``: function settings 000 (die-cut media, direct thermal), unused 0, head
        up 0, ribbon out 0, thermal transfer 0, print mode tear-off, print width mode 0, label waiting 0, labels
        remaining 00000000, format while printing 1 (always 1), graphic images 000. String 3 ``xxxx,y``: 0000, static
        RAM not installed 0."""
        if self.media_out or self.head_open:
            return b""
        strings = [
            f"{self.INTERFACE_SETTINGS:03d},0,{int(self.paused)},{self.LABEL_LENGTH_DOTS:04d},000,0,0,"
            f"{int(partial)},000,0,0,0",
            f"000,0,0,0,0,{self.PRINT_MODE_TEAR_OFF},0,0,00000000,1,000",
            "0000,0",
        ]
        return b"".join(STX + s.encode("ascii") + ETX + b"\r\n" for s in strings)


@contextlib.contextmanager
def running_printer(*, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> Iterator[ZplPrinter]:
    """A :class:`ZplPrinter` served by its own event loop on a background thread (for synchronous callers: read
    :attr:`ZplPrinter.labels`, poll for new ones)."""
    printer = ZplPrinter(host=host, port=port)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="zpl-printer", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(printer.start(), loop).result(timeout)
        yield printer
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(printer.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()


async def _main(host: str, port: int) -> None:
    async with ZplPrinter(host=host, port=port) as printer:
        sys.stdout.write(f"ZPL printer listening on {printer.address}\n")
        sys.stdout.flush()
        seen = 0
        while True:
            await asyncio.sleep(0.2)
            for label in printer.labels[seen:]:
                sys.stdout.write(f"--- label from {label.peer} at {label.at.isoformat()} ---\n{label.text}\n")
            seen = len(printer.labels)
            sys.stdout.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A network ZPL label printer (raw TCP) that prints to stdout.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.port))

"""A tiny TCP proxy to put between a hub and a store, so a test can cut the store off by killing this process (every
connection through it drops at once, new ones are refused) and bring it back on the same port.

``python -m tests.support.tcp_proxy LISTEN_PORT TARGET_HOST TARGET_PORT`` — prints ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

__all__ = ["TcpProxy"]


class TcpProxy:
    """The proxy as a child process of the test: :meth:`start`, :meth:`kill` (SIGKILL), :meth:`start` again."""

    def __init__(self, listen_port: int, target_host: str, target_port: int) -> None:
        self.listen_port, self.target_host, self.target_port = listen_port, target_host, target_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "tests.support.tcp_proxy",
            str(self.listen_port),
            self.target_host,
            str(self.target_port),
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":  # EOF: it died (the port is taken …)
            self.kill()
            raise RuntimeError(f"tcp proxy did not start on {self.listen_port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _serve(listen_port: int, host: str, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))

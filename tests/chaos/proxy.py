"""A small asyncio TCP proxy that can cut and slow the connections through it.

The chaos suite puts one in front of PostgreSQL, RabbitMQ and the SMTP sink
and points the services at it (toxiproxy is not available here):

- ``cut(seconds)``: every open connection is reset at once, and new ones are
  refused (accepted and closed) until the time is up;
- ``slow(delay_s, seconds)``: every chunk, both ways, waits ``delay_s`` before
  it is forwarded, for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class Proxy:
    def __init__(self, name: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.name = name
        self.host = host
        self.upstream_port = upstream_port
        self.port = 0
        self.delay_s = 0.0
        self.cuts = 0
        self.slowdowns = 0
        self._refuse_until = 0.0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        sock: socket.socket = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._reset_all()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    @property
    def connections(self) -> int:
        return len(self._writers) // 2

    def cut(self, seconds: float) -> None:
        """Reset every connection now; refuse new ones for ``seconds``."""
        self.cuts += 1
        self._refuse_until = asyncio.get_running_loop().time() + seconds
        self._reset_all()

    async def slow(self, delay_s: float, seconds: float) -> None:
        self.slowdowns += 1
        self.delay_s = delay_s
        try:
            await asyncio.sleep(seconds)
        finally:
            self.delay_s = 0.0

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            with contextlib.suppress(Exception):
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # SO_LINGER 0: an RST, as a dropped network path looks to a client.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self._refuse_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, (writer, up_writer)))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while chunk := await source.read(65536):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                sink.write(chunk)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            pass
        finally:
            for writer in pair:
                self._writers.discard(writer)
                writer.transport.abort()

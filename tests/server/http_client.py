"""A small HTTP/1.1 client for the server tests: h11 over asyncio sockets, so a streamed
response can be read chunk by chunk and a request body sent while the response arrives."""
import asyncio
from dataclasses import dataclass

import h11
import orjson

# Bounded waits: a broken server fails the test instead of hanging it.
READ_TIMEOUT = 20.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return orjson.loads(self.body)


class Exchange:
    """One HTTP/1.1 request on its own connection; the response is read incrementally."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.connection = h11.Connection(h11.CLIENT)
        self.status = 0
        self.headers: dict[str, str] = {}
        self._buffer = b""
        self.ended = False

    @classmethod
    async def open(cls, port, method, path, *, headers=(), body=None, chunked=False):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        exchange = cls(reader, writer)
        all_headers = [("host", f"127.0.0.1:{port}"), *headers]
        if chunked:
            all_headers.append(("transfer-encoding", "chunked"))
        else:
            all_headers.append(("content-length", str(len(body or b""))))
        exchange._send(h11.Request(method=method, target=path, headers=all_headers))
        if body:
            exchange._send(h11.Data(data=body))
        if not chunked:
            exchange._send(h11.EndOfMessage())
        await writer.drain()
        return exchange

    def _send(self, event):
        self.writer.write(self.connection.send(event))

    async def send_chunk(self, data: bytes):
        self._send(h11.Data(data=data))
        await self.writer.drain()

    async def end_request(self):
        self._send(h11.EndOfMessage())
        await self.writer.drain()

    async def _event(self):
        while True:
            event = self.connection.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await asyncio.wait_for(self.reader.read(65536), READ_TIMEOUT)
            self.connection.receive_data(data)

    async def start(self):
        """Read the status line and headers."""
        while True:
            event = await self._event()
            if isinstance(event, h11.Response):
                self.status = event.status_code
                self.headers = {k.decode(): v.decode() for k, v in event.headers}
                return self

    async def chunk(self) -> bytes | None:
        """The next piece of the body as it arrives, or None at its end."""
        while True:
            event = await self._event()
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                self.ended = True
                return None

    async def line(self) -> bytes | None:
        """The next newline-terminated line of the body, or None at its end."""
        while b"\n" not in self._buffer:
            data = await self.chunk()
            if data is None:
                rest, self._buffer = self._buffer, b""
                return rest or None
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    async def body(self) -> bytes:
        parts = [self._buffer]
        self._buffer = b""
        while (data := await self.chunk()) is not None:
            parts.append(data)
        return b"".join(parts)

    async def close(self):
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


class Client:
    def __init__(self, port: int):
        self.port = port

    async def request(self, method, path, document=None, *, headers=()) -> Reply:
        body = orjson.dumps(document) if document is not None else None
        exchange = await self.stream(method, path, body, headers=headers)
        try:
            return Reply(exchange.status, exchange.headers, await exchange.body())
        finally:
            await exchange.close()

    async def stream(self, method, path, body=None, *, headers=(), chunked=False) -> Exchange:
        exchange = await Exchange.open(self.port, method, path, headers=headers, body=body,
                                       chunked=chunked)
        if not chunked:
            await exchange.start()
        return exchange

    async def ksql(self, sql, properties=None) -> Reply:
        return await self.request("POST", "/ksql", {"ksql": sql,
                                                     "streamsProperties": properties or {}})

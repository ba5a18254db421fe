"""Long-lived HTTP exchanges: query rows streamed as they arrive, inserts acknowledged as they land.

Each streamed row is its own body chunk (flushed at once). A push query ends at its LIMIT,
on /close-query, on server shutdown, or when the client goes away; in every case the
engine's query is closed here, so nothing outlives its response.
"""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Awaitable, Callable

from starlette.types import Receive, Scope, Send

from streamsql.errors import StreamSQLError
from streamsql.server import wire

logger = logging.getLogger("streamsql.server")


class ActiveQueries:
    """The push queries being streamed, by query id, so /close-query and shutdown can end them."""

    def __init__(self) -> None:
        self._stops: dict[str, asyncio.Event] = {}

    def register(self, query_id: str) -> asyncio.Event:
        stop = asyncio.Event()
        self._stops[query_id] = stop
        return stop

    def unregister(self, query_id: str) -> None:
        self._stops.pop(query_id, None)

    def close(self, query_id: str) -> bool:
        """Ask the response streaming `query_id` to end; False if no such query streams."""
        stop = self._stops.get(query_id)
        if stop is None:
            return False
        stop.set()
        return True

    def close_all(self) -> None:
        for stop in self._stops.values():
            stop.set()


class QueryStreamResponse:
    """Rows of a push query (or PRINT) written one chunk each until the query ends or is ended."""

    def __init__(self, rows: AsyncIterator[list], framing, *, stop: asyncio.Event,
                 final_message: str | None, on_close: Callable[[], None]):
        self.rows = rows
        self.framing = framing
        self.stop = stop
        self.final_message = final_message
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = disconnected = stopped = None
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": _content_type(self.framing.media_type)})
            http2 = scope.get("http_version") == "2"
            await _send_chunk(send, self.framing.opening(), http2=http2)
            pump = asyncio.create_task(self._pump(send, http2=http2))
            # Let the pump enter the query's generator before anything can cancel it: a
            # generator cancelled before it started skips its cleanup and the query would leak.
            await asyncio.sleep(0)
            disconnected = asyncio.create_task(_disconnected(receive))
            stopped = asyncio.create_task(self.stop.wait())
            done, _ = await asyncio.wait({pump, disconnected, stopped},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = [task for task in (pump, disconnected, stopped) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if pump is None:
                await discard(self.rows)
            else:
                await self.rows.aclose()
            self.on_close()
        if disconnected in done:
            return
        tail = b""
        final = None
        if pump in done:
            failure = pump.exception()
            if failure is None:
                final = self.final_message
            else:
                tail = self.framing.error(*_error_of(failure))
        await send({"type": "http.response.body", "body": tail + self.framing.closing(final),
                    "more_body": False})

    async def _pump(self, send: Send, *, http2: bool) -> None:
        async for values in self.rows:
            await _send_chunk(send, self.framing.row(values), http2=http2)


class QueryRowsResponse:
    """A result computed at once (a pull query), written as a push query's rows are: the
    header, then one chunk per row, so clients that read row by row read it the same way."""

    def __init__(self, rows: list[list], framing, *, final_message: str | None):
        self.rows = rows
        self.framing = framing
        self.final_message = final_message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        http2 = scope.get("http_version") == "2"
        await send({"type": "http.response.start", "status": 200,
                    "headers": _content_type(self.framing.media_type)})
        await _send_chunk(send, self.framing.opening(), http2=http2)
        for values in self.rows:
            await _send_chunk(send, self.framing.row(values), http2=http2)
        await send({"type": "http.response.body", "body": self.framing.closing(self.final_message),
                    "more_body": False})


async def _send_chunk(send: Send, body: bytes, *, http2: bool) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})
    if http2:
        # ksqlDB sends the header and each row in a DATA frame of its own, and clients read
        # one JSON document per frame (ksql-python-ng does); hypercorn merges body sends
        # made before its writer runs, so let it write this one first.
        await asyncio.sleep(0)


async def discard(rows: AsyncIterator[list]) -> None:
    """Close a query's rows unread. The generator is started, then cancelled, because closing
    one that never started skips its cleanup and would leave the engine's query open."""
    first = asyncio.ensure_future(rows.__anext__())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await rows.aclose()


def _error_of(failure: BaseException) -> tuple[int, str]:
    if isinstance(failure, StreamSQLError):
        return failure.error_code, failure.render()
    logger.error("push query failed", exc_info=failure)
    return wire.SERVER_ERROR, f"{type(failure).__name__}: {failure}"


async def _disconnected(receive: Receive) -> None:
    """Return when the client goes away (the request body was read before streaming began)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class PrintFraming:
    """PRINT over /query: the records as text lines, as ksqlDB writes them."""

    media_type = "text/plain"

    def opening(self) -> bytes:
        return b""

    def row(self, values: list) -> bytes:
        return f"{values[0]}\n".encode()

    def error(self, error_code: int, message: str) -> bytes:
        return f"{message}\n".encode()

    def closing(self, final_message: str | None) -> bytes:
        return b""


class JsonLinesExchange:
    """/inserts-stream: a request body of JSON lines, the first naming the target, each later
    line answered by one line as soon as it is handled, while the body is still arriving."""

    def __init__(self, open_target: Callable[[dict], Awaitable[object]],
                 handle_row: Callable[[object, int, dict], Awaitable[bytes]]):
        self.open_target = open_target
        self.handle_row = handle_row

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = None
        sequence = 0
        async for line in _json_lines(receive):
            if target is None:
                try:
                    target = await self.open_target(wire.parse_json_object(line))
                except wire.RequestError as err:
                    await _send_whole(send, 400, wire.request_error(err))
                    return
                await send({"type": "http.response.start", "status": 200,
                            "headers": _content_type(wire.DELIMITED)})
                continue
            try:
                answer = await self.handle_row(target, sequence, wire.parse_json_object(line))
            except wire.RequestError as err:
                answer = wire.insert_error(sequence, err.error_code, err.message)
            await send({"type": "http.response.body", "body": answer, "more_body": True})
            sequence += 1
        if target is None:
            await _send_whole(send, 400, wire.generic_error(
                wire.BAD_REQUEST, "The request must start with a JSON object naming the target"))
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _json_lines(receive: Receive) -> AsyncIterator[bytes]:
    """Non-empty lines of the request body as they arrive; the last may lack its newline."""
    pending = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        pending += message.get("body", b"")
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
        if not message.get("more_body", False):
            if pending.strip():
                yield pending
            return


async def _send_whole(send: Send, status: int, document: dict) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": _content_type(wire.JSON)})
    await send({"type": "http.response.body", "body": wire.dumps(document)})


def _content_type(media_type: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", media_type.encode())]

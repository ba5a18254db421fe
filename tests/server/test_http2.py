"""HTTP/2 cleartext on the HTTP/1.1 port, over real sockets: prior knowledge (httpx) with
requests multiplexed on one connection, and the `Upgrade: h2c` path (the h2 library)."""
import asyncio

import h2.config
import h2.connection
import h2.events
import httpx
import orjson
from test_endpoints import CREATE_ORDERS, EARLIEST, until

READ_TIMEOUT = 20.0


def h2_client(server_port: int) -> httpx.AsyncClient:
    """An HTTP/2-only client: it opens with the connection preface (prior knowledge)."""
    return httpx.AsyncClient(http1=False, http2=True, base_url=f"http://127.0.0.1:{server_port}",
                             timeout=READ_TIMEOUT)


def test_info_and_ksql_over_prior_knowledge_h2(served):
    async def body(client, engine):
        async with h2_client(client.port) as h2c:
            info = await h2c.get("/info")
            assert info.http_version == "HTTP/2"
            assert info.json()["KsqlServerInfo"]["serverStatus"] == "RUNNING"

            created = await h2c.post("/ksql", json={"ksql": CREATE_ORDERS})
            assert (created.http_version, created.status_code) == ("HTTP/2", 200)
            assert created.json()[0]["commandStatus"]["message"] == "Stream created"
            error = await h2c.post("/ksql", json={"ksql": "SELEC 1;"})
            assert error.status_code == 400
            assert error.json()["@type"] == "statement_error"

    served(body)


def test_query_stream_rows_arrive_over_h2_while_inserts_share_the_connection(served):
    async def body(client, engine):
        async with h2_client(client.port) as h2c:
            assert (await h2c.post("/ksql", json={"ksql": CREATE_ORDERS})).status_code == 200
            request = {"sql": "SELECT id, amount FROM orders EMIT CHANGES;",
                       "properties": EARLIEST}
            async with h2c.stream("POST", "/query-stream", json=request) as stream:
                assert stream.http_version == "HTTP/2"
                lines = stream.aiter_lines()
                header = orjson.loads(await anext(lines))
                assert header["columnNames"] == ["ID", "AMOUNT"]
                # while the query streams, another request on the same connection inserts
                for order_id, amount in (("a", 1), ("b", 2)):
                    inserted = await h2c.post("/ksql", json={
                        "ksql": f"INSERT INTO orders (id, amount) VALUES ('{order_id}', "
                                f"{amount});"})
                    assert inserted.status_code == 200
                    assert orjson.loads(await anext(lines)) == [order_id, amount]
                closed = await h2c.post("/close-query", json={"queryId": header["queryId"]})
                assert closed.status_code == 200
                assert [line async for line in lines if line] == []
        assert await until(lambda: not engine.push_queries)

    served(body)


class UpgradedConnection:
    """An HTTP/1.1 request that asks to switch to h2c; the response to it and any later
    request then travel as HTTP/2 frames on the same socket."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))

    @classmethod
    async def open(cls, port: int, method: str, path: str, body: bytes = b""):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connection = cls(reader, writer)
        settings = connection.h2.initiate_upgrade_connection().decode()
        headers = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   f"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                   f"HTTP2-Settings: {settings}\r\n")
        if body:
            headers += f"Content-Length: {len(body)}\r\n"
        writer.write(headers.encode() + b"\r\n" + body)
        await writer.drain()
        return connection

    async def status_line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), READ_TIMEOUT)

    async def switch(self) -> None:
        """Skip the 101's headers, then speak HTTP/2 (the upgraded request is stream 1)."""
        while (await asyncio.wait_for(self.reader.readline(), READ_TIMEOUT)) != b"\r\n":
            pass
        await self._flush()  # the connection preface, queued by initiate_upgrade_connection

    async def request(self, method: str, path: str, body: bytes) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, [(":method", method), (":path", path),
                                         (":scheme", "http"), (":authority", "127.0.0.1"),
                                         ("content-length", str(len(body)))])
        self.h2.send_data(stream_id, body, end_stream=True)
        await self._flush()
        return stream_id

    async def response(self, stream_id: int) -> tuple[int, bytes]:
        status, chunks = None, []
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), READ_TIMEOUT)
            assert data, "the server closed the connection"
            for event in self.h2.receive_data(data):
                if getattr(event, "stream_id", None) != stream_id:
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    chunks.append(event.data)
                    self.h2.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    await self._flush()
                    return status, b"".join(chunks)
            await self._flush()

    async def _flush(self) -> None:
        self.writer.write(self.h2.data_to_send())
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def test_upgrade_to_h2c_answers_over_http2_and_keeps_the_connection(served):
    async def body(client, engine):
        upgraded = await UpgradedConnection.open(client.port, "GET", "/info")
        try:
            assert (await upgraded.status_line()).startswith(b"HTTP/1.1 101")
            await upgraded.switch()
            status, info = await upgraded.response(1)
            assert status == 200
            assert orjson.loads(info)["KsqlServerInfo"]["ksqlServiceId"] == "default_"

            stream = await upgraded.request("POST", "/ksql",
                                            orjson.dumps({"ksql": CREATE_ORDERS}))
            status, created = await upgraded.response(stream)
            assert status == 200
            assert orjson.loads(created)[0]["commandId"] == "stream/ORDERS/create"
        finally:
            await upgraded.close()

    served(body)


def test_upgrade_request_with_a_body_is_answered_over_http1(served):
    async def body(client, engine):
        # hypercorn does not switch protocols in the middle of a request body
        upgraded = await UpgradedConnection.open(client.port, "POST", "/ksql",
                                                 orjson.dumps({"ksql": "SHOW STREAMS;"}))
        try:
            assert (await upgraded.status_line()).startswith(b"HTTP/1.1 200")
        finally:
            await upgraded.close()

    served(body)

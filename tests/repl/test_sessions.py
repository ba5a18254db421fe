"""The sessions under the shell: stopping a streamed Result frees its query, on the embedded
engine and on a server (what Ctrl-C relies on), read or not; credentials in a --server URL."""
import asyncio

import pytest

from repl.local import LocalSession
from repl.remote import RemoteSession
from repl.session import close_stream
from streamsql import __version__
from streamsql.engine import Engine
from streamsql.errors import StreamSQLError
from streamsql.server.app import Server
from streamsql.server.security import security_settings

SETUP = ("CREATE STREAM beats (id INT KEY, n INT) WITH (kafka_topic='beats', partitions=1, "
         "value_format='JSON'); INSERT INTO beats (id, n) VALUES (1, 10);")
ENDLESS = "SELECT id, n FROM beats EMIT CHANGES;"


async def results_of(session, text):
    return [result async for result in session.execute(text)]


async def test_closing_a_push_query_frees_it_in_the_engine(tmp_path):
    session = LocalSession(tmp_path / "data", {"auto.offset.reset": "earliest"}, {})
    await session.start()
    try:
        await results_of(session, SETUP)
        (read,) = await results_of(session, ENDLESS)
        assert await read.stream.__anext__() == [1, 10]
        (unread,) = await results_of(session, ENDLESS)
        assert len(session.engine.push_queries) == 2
        await close_stream(read.stream)
        await close_stream(unread.stream)
        assert session.engine.push_queries == {}
    finally:
        await session.close()


async def test_stopping_early_closes_the_push_queries_of_a_script(tmp_path):
    script = tmp_path / "two.sql"
    script.write_text(ENDLESS + "\n" + ENDLESS + "\n")
    session = LocalSession(tmp_path / "data", {"auto.offset.reset": "earliest"}, {})
    await session.start()
    try:
        await results_of(session, SETUP)
        results = session.execute(f"RUN SCRIPT '{script}';")
        first = await results.__anext__()  # the caller stops here, as after Ctrl-C
        await close_stream(first.stream)
        await results.aclose()
        assert session.engine.push_queries == {}
    finally:
        await session.close()


async def test_closing_a_remote_push_query_closes_it_on_the_server(tmp_path):
    async with Engine(tmp_path / "data") as engine:
        async with Server(engine, port=0) as server:
            session = RemoteSession(server.url, {"auto.offset.reset": "earliest"}, {})
            await session.start()
            await results_of(session, SETUP)
            (pushed,) = await results_of(session, ENDLESS)
            assert await pushed.stream.__anext__() == [1, 10]
            assert len(engine.push_queries) == 1
            await close_stream(pushed.stream)
            # /close-query has answered; the server ends the query's response right after
            for _ in range(200):
                if not engine.push_queries:
                    break
                await asyncio.sleep(0.05)
            assert engine.push_queries == {}


async def test_credentials_in_the_server_url_are_sent_as_basic_authentication(tmp_path):
    credentials = tmp_path / "password.properties"
    credentials.write_text("fred: letmein,admin\n")
    security = security_settings({"authentication.method": "BASIC",
                                  "authentication.basic.credentials.file": str(credentials)})
    async with Engine(tmp_path / "data") as engine:
        async with Server(engine, port=0, security=security) as server:
            address = f"127.0.0.1:{server.port}"
            anonymous = RemoteSession(f"http://{address}", {}, {})
            with pytest.raises(StreamSQLError, match="refused the session: Unauthorized"):
                await anonymous.start()

            fred = RemoteSession(f"http://fred:letmein@{address}", {}, {})
            await fred.start()
            assert fred.banner().startswith(f"streamsql {__version__} · server http://{address}")
            await results_of(fred, SETUP)
            assert (await fred.names()).streams == ("BEATS",)


async def test_remote_results_are_the_local_results(tmp_path):
    """The shell shows a server's answers as it shows the engine's own."""
    local = LocalSession(tmp_path / "data", {}, {})
    await local.start()
    try:
        await results_of(local, SETUP + "CREATE TABLE counts AS SELECT id, COUNT(*) AS c "
                                "FROM beats GROUP BY id;")
        async with Server(local.engine, port=0) as server:
            remote = RemoteSession(server.url, {}, {})
            await remote.start()
            for statement in ("SHOW STREAMS;", "SHOW TABLES;", "SHOW QUERIES;", "SHOW TOPICS;",
                              "DESCRIBE beats;", "DESCRIBE counts;", "DESCRIBE FUNCTION ABS;",
                              "SHOW FUNCTIONS;", "DEFINE who = 'me';", "SHOW VARIABLES;"):
                (here,) = await results_of(local, statement)
                (there,) = await results_of(remote, statement)
                if statement.startswith("DESCRIBE FUNCTION"):
                    # ksqlDB's function description carries no category
                    here.rows = [row for row in here.rows if row[0] != "Category"]
                assert (there.kind, there.columns, there.rows, there.message) == \
                    (here.kind, here.columns, here.rows, here.message), statement
            assert await remote.names() == await local.names()
    finally:
        await local.close()

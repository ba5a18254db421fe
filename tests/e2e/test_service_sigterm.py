"""SIGTERM to `streamsql run` mid-stream, then a restart fed over its own REST endpoint:
every record's result is in the output exactly once."""
import asyncio
import http.client
import re

import orjson

from test_service_crash import SERVICE_SQL, _preload, _read

N = 600_000  # enough that the backlog takes a few seconds, so SIGTERM lands mid-stream
LATER = 500  # records inserted through the restarted service's endpoint


def _insert(port: int, rows: list[dict]) -> None:
    body = b"\n".join(orjson.dumps(row) for row in [{"target": "READINGS"}, *rows])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", "/inserts-stream", body)
    acks = [orjson.loads(line) for line in connection.getresponse().read().splitlines()]
    connection.close()
    assert [ack["status"] for ack in acks] == ["ok"] * len(rows), acks[:3]


def test_sigterm_mid_stream_then_restart_gives_each_result_exactly_once(
        tmp_path, service_factory):
    data_dir = tmp_path / "data"
    asyncio.run(_preload(data_dir, N))
    sql_file = tmp_path / "service.sql"
    sql_file.write_text(SERVICE_SQL)
    args = ["run", str(sql_file), "--data-dir", str(data_dir), "-p", "auto.offset.reset=earliest"]

    first = service_factory(*args)
    first.wait_for("catching up")  # SIGTERM lands while the backlog is being processed
    assert first.stop() == 0
    stopped = asyncio.run(_read(data_dir, "SCALED"))
    assert 0 < len(stopped) < N, "the stop should come mid-stream for this test to mean much"

    second = service_factory(*args, "--http", "0")
    port = int(re.search(r":(\d+)\s*$", second.wait_for("serving ksqlDB's REST API")).group(1))
    _insert(port, [{"SENSOR": f"s{i % 100}", "SEQ": i, "READING": i % 50}
                   for i in range(N, N + LATER)])
    second.wait_for("caught up", timeout=180)
    assert second.stop() == 0

    seqs = [orjson.loads(r.value)["SEQ"] for r in asyncio.run(_read(data_dir, "SCALED"))]
    assert sorted(seqs) == list(range(N + LATER))  # each once: none lost, none repeated

"""Run a query file as a `streamsql run --http` service and talk to it over ksqlDB's REST API.

The examples' drivers use this; it needs only the standard library, as any client would.
"""
from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

READY = re.compile(r"serving ksqlDB's REST API on http://([\d.]+):(\d+)")


class Service:
    """`streamsql run FILE --http 0` in a subprocess; its log goes to `log_path`."""

    def __init__(self, sql_file: Path, data_dir: Path, log_path: Path, defines=()):
        command = [sys.executable, "-m", "streamsql.cli", "run", str(sql_file), "--http", "0",
                   "--data-dir", str(data_dir)]
        for define in defines:
            command += ["--define", define]
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self._ready = threading.Event()
        self.host, self.port = "", 0
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(60) or self.proc.poll() is not None:
            self.stop()
            raise SystemExit(f"the service did not start; see {log_path}")

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            found = READY.search(line)
            if found:
                self.host, self.port = found.group(1), int(found.group(2))
                self._ready.set()

    def stop(self) -> int:
        """SIGTERM: the service finishes its batch in flight, commits and exits."""
        self.proc.terminate()
        code = self.proc.wait(60)
        self._log.close()
        return code

    # ---- ksqlDB's REST API ------------------------------------------------------------
    def _post(self, path: str, body: bytes) -> bytes:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}: {payload.decode()}")
            return payload
        finally:
            connection.close()

    def ksql(self, statements: str) -> list[dict]:
        return json.loads(self._post("/ksql", json.dumps({"ksql": statements}).encode()))

    def insert(self, target: str, rows: list[dict]) -> None:
        """Rows through /inserts-stream; fails on the first row the server did not accept."""
        body = "\n".join(json.dumps(row) for row in [{"target": target}, *rows]).encode()
        for line in self._post("/inserts-stream", body).splitlines():
            ack = json.loads(line)
            if ack.get("status") != "ok":
                raise RuntimeError(f"insert into {target} failed: {ack}")

    def query(self, sql: str) -> tuple[list[str], list[list]]:
        """A pull query through /query-stream: (column names, rows)."""
        header, *rows = [json.loads(line) for line in
                         self._post("/query-stream", json.dumps({"sql": sql}).encode())
                         .splitlines() if line.strip()]
        return header["columnNames"], rows

    def wait_for(self, sql: str, done, timeout: float = 120.0) -> tuple[list[str], list[list]]:
        """Repeat a pull query until `done(rows)`: the service processes inserts asynchronously."""
        deadline = time.monotonic() + timeout
        while True:
            columns, rows = self.query(sql)
            if done(rows):
                return columns, rows
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer as expected to {sql} within {timeout:.0f} s; "
                                   f"the last was {rows[:10]}...; see {self.log_path}")
            time.sleep(0.2)


def print_table(columns: list[str], rows: list[list]) -> None:
    """Rows as an aligned text table, like the REPL prints them."""
    cells = [columns] + [["null" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(rule)
    for index, row in enumerate(cells):
        print("|" + "|".join(f" {value:<{w}} " for value, w in zip(row, widths)) + "|")
        if index == 0:
            print(rule)
    print(rule)

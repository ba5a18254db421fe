"""`streamsql --server URL`: the same shell driving a real `streamsql server` over its REST
API (/ksql, /query-stream, /query, /close-query)."""
import subprocess

from conftest import free_port, streamsql_command


def test_shell_drives_a_remote_server(terminal_factory, server_url):
    shell = terminal_factory("--server", server_url)
    shell.expect(rf"streamsql \d+\.\d+\.\d+ · server {server_url} · server version")
    shell.expect_prompt()

    shell.line("CREATE STREAM orders (id INT KEY, item STRING, amount DOUBLE)")
    shell.expect(r"-> ")
    shell.line("WITH (kafka_topic='orders', partitions=1, value_format='JSON');")
    shell.expect("Stream created")
    shell.line("INSERT INTO orders (id, item, amount) VALUES (1, 'tea', 3.5); "
               "INSERT INTO orders (id, item, amount) VALUES (2, 'cake', 4.25);")
    shell.line("DESCRIBE orders;")
    shell.expect(r"\| ID +\| INTEGER \(key\) +\|")
    shell.expect(r"\| AMOUNT +\| DOUBLE +\|")

    # the client's own SET goes with each query, as ksqlDB's CLI sends it
    shell.line("SET 'auto.offset.reset'='earliest';")
    shell.expect("Successfully changed local property 'auto.offset.reset' to 'earliest'")
    shell.line("SELECT item, amount FROM orders EMIT CHANGES LIMIT 2;")
    shell.expect(r"\| ITEM +\| AMOUNT +\|")
    shell.expect(r"\| tea +\| 3\.5 +\|")
    shell.expect(r"\| cake +\| 4\.25 +\|")
    shell.expect("Limit Reached")
    shell.expect_prompt()

    shell.line("SELECT item FROM orders EMIT CHANGES;")
    shell.expect(r"\| cake +\|")
    shell.send(shell.CTRL_C)
    shell.expect("Query terminated")
    shell.expect_prompt()

    # the server's error, caret included, and the session goes on
    shell.line("SELECT itme FROM orders;")
    shell.expect(r"line 1:8: SELECT column 'ITME' cannot be resolved\.")
    shell.expect(r"\n +\^{4}\n")
    shell.line("SELECT id, item FROM orders WHERE id = 2;")
    shell.expect(r"\| 2 +\| cake +\|")
    shell.line("PRINT 'orders' FROM BEGINNING LIMIT 1;")
    shell.expect(r"key: 1, value: \{.*\"ITEM\":\"tea\"")
    shell.expect_prompt()  # Ctrl-D quits at the prompt (while a query runs it is not a key)
    shell.send(shell.CTRL_D)
    assert shell.wait_exit() == 0


def test_execute_against_a_server(server_url, shell_env):
    def run(*args):
        return subprocess.run(streamsql_command() + ["--server", server_url, *args],
                              env=shell_env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    created = run("-e", "CREATE STREAM pings (host STRING KEY, ms INT) WITH "
                        "(kafka_topic='pings', partitions=1, value_format='JSON');"
                        "INSERT INTO pings (host, ms) VALUES ('a', 12);")
    assert created.returncode == 0, created.stderr
    assert "Stream created" in created.stdout

    shown = run("-e", "SHOW STREAMS; SELECT host, ms FROM pings;")
    assert shown.returncode == 0, shown.stderr
    assert "| PINGS " in shown.stdout
    assert "| a    | 12 |" in shown.stdout

    failed = run("-e", "DESCRIBE pongs;")
    assert failed.returncode == 1
    assert "Could not find STREAM/TABLE 'PONGS'" in failed.stderr


def test_unreachable_server_is_reported(shell_env):
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(streamsql_command() + ["--server", url, "-e", "SHOW STREAMS;"],
                            env=shell_env, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert f"Cannot reach the server at {url}" in result.stderr

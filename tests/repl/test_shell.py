"""The interactive shell on the embedded engine, typed at through a real pseudo-terminal."""
import re


def start_shell(terminal_factory, tmp_path, *extra):
    terminal = terminal_factory("--data-dir", str(tmp_path / "data"),
                                "-p", "auto.offset.reset=earliest", *extra)
    terminal.expect(r"streamsql \d+\.\d+\.\d+ · data dir .*data · backend embedded")
    terminal.expect_prompt()
    return terminal


def test_statements_push_queries_ctrl_c_errors_and_exit(terminal_factory, tmp_path):
    shell = start_shell(terminal_factory, tmp_path)

    # a statement over two lines: Enter before the `;` continues it
    shell.line("CREATE STREAM readings (sensor STRING KEY, temperature DOUBLE)")
    shell.expect(r"-> ")
    shell.line("WITH (kafka_topic='readings', partitions=1, value_format='JSON');")
    shell.expect("Stream created")
    shell.line("INSERT INTO readings (sensor, temperature) VALUES ('s-1', 21.5); "
               "INSERT INTO readings (sensor, temperature) VALUES ('s-2', 19.0);")

    shell.line("SELECT sensor, temperature FROM readings EMIT CHANGES LIMIT 2;")
    shell.expect(r"\| SENSOR +\| TEMPERATURE +\|")
    shell.expect(r"\| s-1 +\| 21\.5 +\|")
    shell.expect(r"\| s-2 +\| 19\.0 +\|")
    shell.expect("Limit Reached")
    shell.expect_prompt()

    # an endless push query: rows stream until Ctrl-C, which ends the query, not the shell
    shell.line("SELECT sensor FROM readings WHERE temperature > 20 EMIT CHANGES;")
    shell.expect(r"\| s-1 +\|")
    shell.send(shell.CTRL_C)
    shell.expect("Query terminated")
    shell.expect_prompt()

    # the session goes on: a new row reaches a new push query
    shell.line("INSERT INTO readings (sensor, temperature) VALUES ('s-3', 30.25);")
    shell.line("SELECT sensor, temperature FROM readings WHERE sensor = 's-3' "
               "EMIT CHANGES LIMIT 1;")
    shell.expect(r"\| s-3 +\| 30\.25 +\|")
    shell.expect("Limit Reached")

    # an error shows line, column, caret and hint, and the shell goes on
    shell.line("SELECT sensor, temprature FROM readings;")
    shell.expect(r"line 1:16: SELECT column 'TEMPRATURE' cannot be resolved\.")
    shell.expect(r"\n +\^{10}\n")
    shell.expect(r"hint: did you mean 'TEMPERATURE'\?")
    shell.line("SHOW STREAMS;")
    shell.expect(r"\| READINGS +\| readings +\| KAFKA +\| JSON +\| false +\|")

    shell.line("exit")
    assert shell.wait_exit() == 0


def test_ctrl_d_quits_and_history_persists_across_sessions(terminal_factory, tmp_path):
    first = start_shell(terminal_factory, tmp_path)
    first.line("SHOW TOPICS;")
    first.expect("Kafka Topic")
    first.expect_prompt()
    first.send(first.CTRL_D)
    assert first.wait_exit() == 0
    history = (tmp_path / "home" / ".streamsql_history").read_text()
    assert "+SHOW TOPICS;" in history

    second = start_shell(terminal_factory, tmp_path)
    second.send(second.UP)
    second.expect(r"SHOW TOPICS;")  # the last statement is back in the input
    second.send(second.ENTER)
    second.expect(r"\| Kafka Topic +\| Partitions +\| Partition Replicas +\|")
    second.expect_prompt()
    second.line("history")
    second.expect(r"\n +1  SHOW TOPICS;\n +2  history\n")  # a repeat is kept once
    second.line("quit")
    assert second.wait_exit() == 0


def test_tab_completes_columns_from_the_live_catalog(terminal_factory, tmp_path):
    shell = start_shell(terminal_factory, tmp_path)
    shell.line("CREATE STREAM weather (station STRING KEY, humidity_percent DOUBLE) "
               "WITH (kafka_topic='weather', partitions=1, value_format='JSON');")
    shell.expect("Stream created")
    shell.line("INSERT INTO weather (station, humidity_percent) VALUES ('w-1', 40.5);")
    shell.expect_prompt()
    # created a moment ago, the column completes; the case follows the catalog
    shell.send("SELECT station, humidity_p" + shell.TAB)
    shell.expect("HUMIDITY_PERCENT")
    shell.line(" FROM weather;")
    shell.expect(r"\| STATION +\| HUMIDITY_PERCENT +\|")
    shell.expect(r"\| w-1 +\| 40\.5 +\|")
    shell.line("exit")
    assert shell.wait_exit() == 0


def test_keywords_are_highlighted(terminal_factory, tmp_path):
    shell = start_shell(terminal_factory, tmp_path)
    shell.send("SELECT 'text' FROM")
    shell.expect("FROM")
    raw = shell.raw.decode(errors="replace")
    # the SGR sequence before each word: keywords bold (1) blue (34), strings green (32)
    assert re.search(_sgr("1", "34") + "SELECT", raw), raw
    assert re.search(_sgr("1", "34") + "FROM", raw), raw
    assert re.search(_sgr("32") + "'text'", raw), raw
    shell.send(shell.CTRL_C)  # at the prompt, Ctrl-C clears the input
    shell.line("exit")
    assert shell.wait_exit() == 0


def _sgr(*codes: str) -> str:
    """A pattern for one SGR escape sequence holding all of `codes`, in any order."""
    return r"\x1b\[" + "".join(rf"(?=(?:\d*;)*{c}[;m])" for c in codes) + r"[0-9;]*m"


def test_output_json_and_run_script(terminal_factory, tmp_path):
    script = tmp_path / "setup.sql"
    script.write_text("CREATE STREAM events (id INT KEY, kind STRING)\n"
                      "  WITH (kafka_topic='events', partitions=1, value_format='JSON');\n"
                      "INSERT INTO events (id, kind) VALUES (7, 'login');\n")
    shell = start_shell(terminal_factory, tmp_path)
    shell.line(f"RUN SCRIPT '{script}';")
    shell.expect("Stream created")
    shell.expect(f"Ran 2 statements from {re.escape(str(script))}")

    shell.line("SET 'output'='JSON';")
    shell.expect("Output format set to JSON")
    shell.line("SELECT id, kind FROM events EMIT CHANGES LIMIT 1;")
    shell.expect(r'\{"ID": 7, "KIND": "login"\}')
    shell.line("output")
    shell.expect("Current output format: JSON")
    shell.line("output tabular")
    shell.expect("Output format set to TABULAR")
    shell.line("SELECT id, kind FROM events;")
    shell.expect(r"\| 7 +\| login +\|")
    shell.line("exit")
    assert shell.wait_exit() == 0

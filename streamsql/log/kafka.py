"""KafkaLog: the LogBackend over a Kafka-protocol cluster, through aiokafka.

The only module that imports aiokafka. It owns one producer, one group-less consumer
for fetches and one admin client, and turns Kafka errors into LogError. For scale-out,
GroupMember joins a query's consumer group and gets its share of the partitions (with
transactional producers under exactly-once); deciding what to run on them is the
runtime's job, not this module's.
"""
from __future__ import annotations

import asyncio
import contextlib
import re
from itertools import accumulate, repeat
from typing import Awaitable, Callable, Collection, NamedTuple, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from aiokafka import (AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener,
                      TopicPartition)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import ConnectionGroup, CoordinationType
from aiokafka.errors import (CommitFailedError, IllegalStateError, KafkaError,
                             OffsetOutOfRangeError, for_code)
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import OffsetAndMetadata

from streamsql.errors import LogError
from streamsql.log.backend import Record, RecordBatch, TopicInfo

# Security and connection settings handed unchanged to every aiokafka client.
CONNECTION_OPTIONS = frozenset({
    "security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username",
    "sasl_plain_password", "sasl_kerberos_service_name", "sasl_kerberos_domain_name",
    "sasl_oauth_token_provider", "retry_backoff_ms", "metadata_max_age_ms",
    "connections_max_idle_ms",
})
# Convenience for users without an SSLContext at hand: files that build one.
SSL_FILE_OPTIONS = frozenset({"ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password"})

# Kafka client property names (as in a ksqlDB server's properties file, librdkafka's
# where Java's has no PEM form) -> KafkaLog options.
CLIENT_PROPERTIES = {
    "client.id": "client_id",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "sasl.kerberos.service.name": "sasl_kerberos_service_name",
    "ssl.ca.location": "ssl_cafile",
    "ssl.truststore.location": "ssl_cafile",  # with ssl.truststore.type=PEM
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
}
# Understood, and consumed while reading the others.
_CLIENT_PROPERTY_SETTINGS = frozenset({"sasl.jaas.config", "ssl.truststore.type"})
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


def is_client_property(name: str) -> bool:
    """Whether a property configures the Kafka clients (connection, security), not the engine."""
    return name == "bootstrap.servers" or name in CLIENT_PROPERTIES or \
        name.startswith(("security.", "sasl.", "ssl."))


def client_options(properties: dict[str, str]) -> dict[str, str]:
    """KafkaLog options from Kafka client properties (security.protocol, sasl.*, ssl.*,
    client.id); other properties are ignored.

    Raises:
        LogError: a client property that cannot be honoured (e.g. a JKS truststore).
    """
    options: dict[str, str] = {}
    for name, value in properties.items():
        if not is_client_property(name) or name == "bootstrap.servers" or \
                name in _CLIENT_PROPERTY_SETTINGS:
            continue
        option = CLIENT_PROPERTIES.get(name)
        if option is None:
            raise LogError(f"the Kafka client property '{name}' is not supported",
                           hint="supported: " + ", ".join(sorted(
                               {*CLIENT_PROPERTIES, *_CLIENT_PROPERTY_SETTINGS})))
        options[option] = value
    if properties.get("ssl.truststore.location") and \
            properties.get("ssl.truststore.type", "JKS").upper() != "PEM":
        raise LogError("ssl.truststore.location must name a PEM file: Python's TLS cannot "
                       "read JKS or PKCS12 stores",
                       hint="set ssl.truststore.type=PEM (or use ssl.ca.location) with the CA "
                            "certificates in PEM form")
    jaas = properties.get("sasl.jaas.config")
    if jaas:
        # PlainLoginModule / ScramLoginModule required username="..." password="...";
        found = {key: re.sub(r"\\(.)", r"\1", value) for key, value in _JAAS_OPTION.findall(jaas)}
        if "username" not in found or "password" not in found:
            raise LogError("sasl.jaas.config names no username and password",
                           hint='write ...LoginModule required username="USER" '
                                'password="SECRET";')
        options.setdefault("sasl_plain_username", found["username"])
        options.setdefault("sasl_plain_password", found["password"])
    return options


# How long the fetch consumer's background fetch waits at the log end for new records.
# A seek to another offset waits for the fetch in flight (the broker answers requests on
# a connection in order), so this bounds the latency of a seek, too.
FETCH_LONG_POLL_MS = 100
# The same wait for a query's group consumer, whose records' latency it bounds: Tansu does
# not answer a waiting fetch when records arrive, but late within the wait (a plain aiokafka
# pair: p50 28 ms, p99 53 ms with 100 ms; 5 ms and 18 ms with 25 ms). Idle, a query's
# consumer then asks 40 times a second.
GROUP_FETCH_WAIT_MS = 25
# Pause between attempts while a leader or group coordinator is being (re)elected.
RETRY_BACKOFF_S = 0.1

_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3
_NO_OFFSET = -1
# Errors after which the cached partition leader / group coordinator is stale: look again.
_LEADER_MOVED = frozenset({3, 5, 6})  # unknown topic or partition, leader not available, not leader
_COORDINATOR_MOVED = frozenset({14, 15, 16})  # loading, not available, not coordinator


class _SentBatch(NamedTuple):
    """One record batch produce sent: `count` rows from `first` (in partition order)."""

    partition: int
    first: int
    count: int
    base_offset: int  # the offset the broker gave its first record


class KafkaLog:
    """The topic log on a Kafka cluster (or any broker speaking its protocol).

    Used from one event loop at a time: clients are created in start() on the running loop.

    Args:
        bootstrap_servers: 'host:port[,host:port...]'.
        client_id: the client id the brokers see (quotas, logs).
        connect_timeout_ms: start() fails with a LogError if the cluster does not answer
            within this time.
        request_timeout_ms: bound on one request to a broker.
        max_batch_bytes: size of the record batches produce() builds per partition.
        compression_type: None, 'gzip', 'snappy', 'lz4' or 'zstd'.
        isolation_level: 'read_uncommitted' or 'read_committed' for fetch().
        connection: security and connection settings passed to aiokafka
            (security_protocol, sasl_mechanism, sasl_plain_username, sasl_plain_password,
            ssl_context, ...; see CONNECTION_OPTIONS), or ssl_cafile / ssl_certfile /
            ssl_keyfile / ssl_password to build the SSL context from files.
    """

    name = "kafka"

    def __init__(self, bootstrap_servers: str, *, client_id: str = "streamsql",
                 connect_timeout_ms: int = 10_000, request_timeout_ms: int = 30_000,
                 max_batch_bytes: int = 512 * 1024, compression_type: str | None = None,
                 isolation_level: str = "read_uncommitted", **connection):
        unknown = set(connection) - CONNECTION_OPTIONS - SSL_FILE_OPTIONS
        if unknown:
            raise LogError(f"unknown Kafka client option(s): {', '.join(sorted(unknown))}",
                           hint="use one of " + ", ".join(sorted(CONNECTION_OPTIONS | SSL_FILE_OPTIONS)))
        if not bootstrap_servers:
            raise LogError("no Kafka bootstrap servers given", hint="write HOST:PORT[,HOST:PORT...]")
        ssl_files = {k.removeprefix("ssl_"): connection.pop(k) for k in SSL_FILE_OPTIONS
                     if k in connection}
        if ssl_files or connection.get("security_protocol") in ("SSL", "SASL_SSL"):
            # Without files, TLS trusts the system's certificate authorities.
            connection.setdefault("ssl_context", create_ssl_context(**ssl_files))
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.connect_timeout_ms = connect_timeout_ms
        self.request_timeout_ms = request_timeout_ms
        self.max_batch_bytes = max_batch_bytes
        self.compression_type = compression_type
        self.isolation_level = isolation_level
        self._connection = connection
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._partition_counts: dict[str, int] = {}
        # Log end offsets seen (our own produce acknowledgements and probes).
        self._ends: dict[TopicPartition, int] = {}
        # Per assigned partition, the offset at which the fetch consumer continues without
        # a seek: the offset after the last record it returned (or the last seek).
        self._continues_at: dict[TopicPartition, int] = {}
        self._fetch_locks: dict[TopicPartition, asyncio.Lock] = {}
        self._coordinators: dict[str, int] = {}
        # Topics whose metadata the producer's client follows (see delete_topic).
        self._followed_topics: set[str] = set()

    async def __aenter__(self) -> "KafkaLog":
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the producer, the fetch consumer and the admin client.

        Raises:
            LogError: the cluster cannot be reached within connect_timeout_ms.
        """
        if self._producer is not None:
            return
        common = dict(bootstrap_servers=self.bootstrap_servers, client_id=self.client_id,
                      request_timeout_ms=self.request_timeout_ms, **self._connection)
        self._producer = AIOKafkaProducer(
            acks="all", linger_ms=0, max_batch_size=self.max_batch_bytes,
            max_request_size=max(self.max_batch_bytes + 1024, 1024 * 1024),
            compression_type=self.compression_type, **common)
        self._consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, auto_offset_reset="none",
            fetch_max_wait_ms=FETCH_LONG_POLL_MS,
            isolation_level=self.isolation_level, **common)
        self._admin = AIOKafkaAdminClient(**common)
        try:
            await asyncio.wait_for(self._start_clients(), self.connect_timeout_ms / 1000)
        except (KafkaError, OSError, asyncio.TimeoutError) as error:
            await self._stop_clients()
            reason = (f"no answer within {self.connect_timeout_ms / 1000:g} s"
                      if isinstance(error, asyncio.TimeoutError) else str(error))
            raise LogError(f"cannot reach Kafka at {self.bootstrap_servers}: {reason}",
                           hint="check the address and that the broker is running") from error

    async def _start_clients(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        await self._admin.start()

    async def close(self) -> None:
        """Flush and disconnect every client; a closed KafkaLog can be started again."""
        await self._stop_clients()
        self._partition_counts.clear()
        self._ends.clear()
        self._continues_at.clear()
        self._fetch_locks.clear()
        self._coordinators.clear()
        self._followed_topics.clear()

    async def _stop_clients(self) -> None:
        producer, consumer, admin = self._producer, self._consumer, self._admin
        self._producer = self._consumer = self._admin = None
        for stop in (producer and producer.stop, consumer and consumer.stop,
                     admin and admin.close):
            if stop is not None:
                try:
                    await stop()
                except KafkaError:
                    pass  # closing a broken connection: nothing left to release

    # -- topics -----------------------------------------------------------------------------

    async def create_topic(self, name: str, partitions: int = 1, replicas: int = 1,
                           config: dict[str, str] | None = None) -> TopicInfo:
        """Create a topic; if it exists, return it unchanged (no error)."""
        admin = self._started(self._admin)
        if partitions < 1 or replicas < 1:
            raise LogError(f"topic '{name}' needs at least one partition and one replica, "
                           f"got {partitions} and {replicas}")
        info = TopicInfo(name, partitions, replicas, {k: str(v) for k, v in (config or {}).items()})
        new_topic = NewTopic(name, partitions, replicas, topic_configs=info.config)
        response = await self._call(f"create topic '{name}'", admin.create_topics([new_topic]))
        for result in response.topic_errors:
            error_code = result[1]
            if error_code == _TOPIC_ALREADY_EXISTS:
                existing = await self.describe_topic(name)
                if existing is not None:
                    return existing
            elif error_code:
                detail = result[2] if len(result) > 2 and result[2] else for_code(error_code).message
                raise LogError(f"cannot create topic '{name}': {detail}")
        self._partition_counts[name] = partitions
        return info

    async def delete_topic(self, name: str) -> None:
        """Delete a topic; deleting one that does not exist does nothing."""
        admin = self._started(self._admin)
        response = await self._call(f"delete topic '{name}'", admin.delete_topics([name]))
        for _, error_code, *_ in response.topic_error_codes:
            if error_code and error_code != _UNKNOWN_TOPIC:
                raise LogError(f"cannot delete topic '{name}': {for_code(error_code).message}")
        self._forget_topic(name)

    def _forget_topic(self, name: str) -> None:
        self._partition_counts.pop(name, None)
        for tp in [tp for tp in self._ends if tp.topic == name]:
            del self._ends[tp]
        for tp in [tp for tp in self._continues_at if tp.topic == name]:
            del self._continues_at[tp]
            self._fetch_locks.pop(tp, None)
        # aiokafka asks for metadata of the topics its clients follow with auto-creation
        # allowed, so a client still following a deleted topic would bring it back on
        # brokers with auto.create.topics.enable: stop following it.
        self._consumer.assign(list(self._continues_at))
        for tp, offset in self._continues_at.items():
            self._consumer.seek(tp, offset)
        self._followed_topics.discard(name)
        self._producer.client.set_topics(sorted(self._followed_topics))

    async def list_topics(self) -> list[TopicInfo]:
        """Every topic except the broker's own internal ones (__consumer_offsets, ...)."""
        topics = [t for t in await self._metadata(None)
                  if t["error_code"] == 0 and not t.get("is_internal")]
        configs = await self._configs([t["topic"] for t in topics])
        return sorted((self._topic_info(t, configs.get(t["topic"], {})) for t in topics),
                      key=lambda info: info.name)

    async def describe_topic(self, name: str) -> TopicInfo | None:
        """None when the topic does not exist. `config` is the topic's effective
        configuration as the broker describes it (on Kafka, defaults included)."""
        (topic,) = await self._metadata([name])
        if topic["error_code"] == _UNKNOWN_TOPIC:
            self._partition_counts.pop(name, None)
            return None
        if topic["error_code"]:
            raise LogError(f"cannot describe topic '{name}': "
                           f"{for_code(topic['error_code']).message}")
        configs = await self._configs([name])
        return self._topic_info(topic, configs.get(name, {}))

    def _topic_info(self, topic: dict, config: dict[str, str]) -> TopicInfo:
        partitions = topic["partitions"]
        self._partition_counts[topic["topic"]] = len(partitions)
        replicas = len(partitions[0]["replicas"]) if partitions else 0
        return TopicInfo(topic["topic"], len(partitions), replicas, config)

    async def _metadata(self, names: list[str] | None) -> list[dict]:
        # Our own metadata request, because aiokafka's (admin.describe_topics included)
        # allow auto-creation: describing a missing topic would create it.
        client = self._started(self._producer).client
        request = MetadataRequest(names, allow_auto_topic_creation=False)
        response = await self._call("read topic metadata",
                                    client.send(client.get_random_node(), request))
        return response.to_object()["topics"]

    async def _configs(self, names: list[str]) -> dict[str, dict[str, str]]:
        if not names:
            return {}
        admin = self._started(self._admin)
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        responses = await self._call("describe topic configs", admin.describe_configs(resources))
        configs: dict[str, dict[str, str]] = {}
        for response in responses:
            for error_code, _, _, name, entries, *_ in response.resources:
                if error_code:
                    continue
                # entry: name, value, read_only, source (is_default in v0), is_sensitive, ...
                configs[name] = {e[0]: e[1] for e in entries if e[1] is not None and not e[4]}
        return configs

    async def _partition_count(self, topic: str) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            if await self.describe_topic(topic) is None:
                raise LogError(f"topic '{topic}' does not exist")
            count = self._partition_counts[topic]
        return count

    async def _check_partition(self, topic: str, partition: int) -> TopicPartition:
        count = await self._partition_count(topic)
        if not 0 <= partition < count:
            raise LogError(f"topic '{topic}' has no partition {partition}: it has "
                           f"{count} (0..{count - 1})")
        return TopicPartition(topic, partition)

    # -- records ----------------------------------------------------------------------------

    async def produce(self, topic: str, records: Sequence[Record]) -> list[int]:
        """Append records (each to its `partition`); return the offsets assigned, in order.

        Acknowledged by all in-sync replicas (acks=all) when it returns. Records go out as
        one batch per partition (several if larger than max_batch_bytes), not one by one.
        """
        producer = self._started(self._producer)
        if not records:
            return []
        self._followed_topics.add(topic)
        order, sent = await self._produce_with(producer, topic, RecordBatch.from_records(records))
        self._note_ends(topic, sent)
        return _offsets_in_order(order, sent)

    async def produce_batch(self, topic: str, batch: RecordBatch) -> None:
        """produce() for a RecordBatch (see backend.produce_batch): its columns go straight
        into aiokafka's record batches, without a Record per row."""
        producer = self._started(self._producer)
        if len(batch) == 0:
            return
        self._followed_topics.add(topic)
        _, sent = await self._produce_with(producer, topic, batch)
        self._note_ends(topic, sent)

    def _note_ends(self, topic: str, sent: list[_SentBatch]) -> None:
        for partition, _, count, base in sent:
            tp = TopicPartition(topic, partition)
            self._ends[tp] = max(self._ends.get(tp, 0), base + count)

    async def _produce_with(self, producer: AIOKafkaProducer, topic: str,
                            batch: RecordBatch) -> tuple[Sequence[int], list[_SentBatch]]:
        """Send a batch's records through `producer`, all partitions at once.

        Returns the rows in partition order (row indexes of `batch`) and the record
        batches sent, whose `first` and `count` address that order.
        """
        counts = sorted((c["values"], c["counts"])
                        for c in pc.value_counts(batch.partitions).to_pylist())
        for partition, _ in counts:
            await self._check_partition(topic, partition)
        keys, values, timestamps = batch.keys, batch.values, batch.timestamps
        order: Sequence[int] = range(len(batch))
        if len(counts) > 1:
            # A stable sort: each partition's records keep their order.
            indexes = pc.sort_indices(batch.partitions)
            order = indexes.to_pylist()
            keys, values, timestamps = keys.take(indexes), values.take(indexes), \
                timestamps.take(indexes)
        headers = batch.headers
        columns = (keys.to_pylist(), values.to_pylist(), timestamps.to_pylist(),
                   None if headers is None else [list(headers[i]) or None for i in order])
        starts = [0, *accumulate(count for _, count in counts)]
        sent = await self._call(f"produce to topic '{topic}'", asyncio.gather(*(
            self._produce_partition(producer, topic, partition, columns, start, stop)
            for (partition, _), start, stop in zip(counts, starts, starts[1:]))))
        return order, [record_batch for partition_sent in sent for record_batch in partition_sent]

    @staticmethod
    async def _produce_partition(producer: AIOKafkaProducer, topic: str, partition: int,
                                 columns: tuple, start: int, stop: int) -> list[_SentBatch]:
        """Send rows start..stop of `columns` (keys, values, timestamps, headers) to one
        partition, as record batches of at most max_batch_bytes; wait for their delivery."""
        keys, values, timestamps, headers = columns
        rows = zip(keys[start:stop], values[start:stop], timestamps[start:stop],
                   repeat(None) if headers is None else headers[start:stop])
        sent = []  # (delivery future, first row, count)
        batch, first = producer.create_batch(), start
        for key, value, timestamp, record_headers in rows:
            # A record that does not fit starts the next batch (an empty batch takes any one).
            while batch.append(key=key, value=value, timestamp=timestamp,
                               headers=record_headers) is None:
                count = batch.record_count()
                sent.append((await producer.send_batch(batch, topic, partition=partition),
                             first, count))
                batch, first = producer.create_batch(), first + count
        sent.append((await producer.send_batch(batch, topic, partition=partition),
                     first, batch.record_count()))
        return [_SentBatch(partition, first, count, (await delivery).offset)
                for delivery, first, count in sent]

    async def fetch(self, topic: str, partition: int, offset: int,
                    max_records: int = 10_000, timeout_ms: int = 0) -> list[Record]:
        """Records from `offset` on (at most max_records), waiting up to timeout_ms for some.

        Records known to be in the log (below the last end offset seen, which the first
        fetch of a partition looks up) are returned whatever the timeout; the timeout
        bounds only the wait for new ones. An offset removed by retention reads from the
        start offset; one past the end returns [].
        """
        consumed = await self._fetch_consumed(topic, partition, offset, max_records, timeout_ms)
        return [Record(r.key, r.value, r.timestamp, tuple(r.headers), partition, r.offset)
                for r in consumed]

    async def fetch_batch(self, topic: str, partition: int, offset: int,
                          max_records: int = 10_000, timeout_ms: int = 0) -> RecordBatch | None:
        """fetch() as Arrow columns (see backend.fetch_batch); None when nothing was read."""
        consumed = await self._fetch_consumed(topic, partition, offset, max_records, timeout_ms)
        return _record_batch(partition, consumed) if consumed else None

    async def _fetch_consumed(self, topic: str, partition: int, offset: int,
                              max_records: int, timeout_ms: int) -> list:
        """fetch() as aiokafka's ConsumerRecords."""
        if max_records < 1:
            raise ValueError(f"max_records must be positive, got {max_records}")
        consumer = self._started(self._consumer)
        tp = await self._check_partition(topic, partition)
        lock = self._fetch_locks.setdefault(tp, asyncio.Lock())
        async with lock:  # one position per partition in the shared consumer
            self._position(tp, offset)
            known_end = await self._known_end(tp)
            try:
                if offset >= known_end:
                    fetched = await consumer.getmany(tp, timeout_ms=timeout_ms,
                                                     max_records=max_records)
                else:
                    fetched = await self._fetch_below(tp, known_end, max(
                        timeout_ms, self.request_timeout_ms), max_records)
            except OffsetOutOfRangeError:
                start = await self.start_offset(topic, partition)
                if offset >= start:
                    return []
                self._position(tp, start)
                fetched = await self._call(f"fetch from '{topic}'", consumer.getmany(
                    tp, timeout_ms=self.request_timeout_ms, max_records=max_records))
            except KafkaError as error:
                raise LogError(f"cannot fetch from topic '{topic}' partition {partition}: "
                               f"{error}") from error
            consumed = fetched.get(tp, [])
            if consumed:
                self._continues_at[tp] = consumed[-1].offset + 1
            return consumed

    async def _fetch_below(self, tp: TopicPartition, known_end: int, wait_ms: int,
                           max_records: int) -> dict:
        """Fetch records known to be in the log before known_end, waiting up to wait_ms.

        The wait ends early when the consumer moves past known_end with nothing to return:
        the offsets held only transaction markers, which take offsets but are no records.
        """
        consumer = self._consumer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_ms / 1000
        while True:
            fetched = await consumer.getmany(tp, timeout_ms=FETCH_LONG_POLL_MS,
                                             max_records=max_records)
            if fetched.get(tp) or loop.time() >= deadline or \
                    await consumer.position(tp) >= known_end:
                return fetched

    def _position(self, tp: TopicPartition, offset: int) -> None:
        """Point the fetch consumer at `offset` of tp, keeping what it prefetched if it is
        already there."""
        consumer = self._consumer
        if tp not in self._continues_at:
            # assign() replaces the assignment and forgets positions: restore the others.
            consumer.assign([*self._continues_at, tp])
            for other, position in self._continues_at.items():
                consumer.seek(other, position)
        elif self._continues_at[tp] == offset:
            return
        consumer.seek(tp, offset)
        self._continues_at[tp] = offset

    async def _known_end(self, tp: TopicPartition) -> int:
        if self.isolation_level == "read_committed":
            fetched_end = self._consumer.last_stable_offset(tp)
        else:
            fetched_end = self._consumer.highwater(tp)
        ends = [end for end in (self._ends.get(tp), fetched_end) if end is not None]
        if not ends:
            return await self.end_offset(tp.topic, tp.partition)
        return max(ends)

    async def start_offset(self, topic: str, partition: int) -> int:
        """First offset still in the log (after retention)."""
        start, _ = await self._log_bounds(await self._check_partition(topic, partition))
        return start

    async def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next appended record will get (the high watermark)."""
        tp = await self._check_partition(topic, partition)
        _, end = await self._log_bounds(tp)
        self._ends[tp] = end
        return end

    async def _log_bounds(self, tp: TopicPartition) -> tuple[int, int]:
        """(log start offset, high watermark) of a partition, from a Fetch response.

        Not ListOffsets(latest): Tansu answers it with "base offset of the last record
        batch + 1" after batched produce (100 records in one batch give 1), while the high
        watermark in a Fetch response is right on every broker. The probe waits 1 ms and
        reads at most one record batch (not 0 ms: Tansu answers a Fetch with max_wait_ms=0
        with no partitions at all). It goes through the producer's connection, because
        the fetch consumer's connection is often held by a long-polling fetch.
        """
        client = self._started(self._producer).client
        probe_at = self._ends.get(tp, 0)
        async for _ in self._retries(f"read the offsets of '{tp.topic}' partition {tp.partition}"):
            node = await self._leader(tp)
            if node is None:
                continue
            request = FetchRequest(1, 0, 1, 0, [(tp.topic, [(tp.partition, probe_at, 1)])])
            response = await self._call(f"read the offsets of '{tp.topic}'",
                                        client.send(node, request))
            answers = [p for topic, parts in response.topics if topic == tp.topic
                       for p in parts if p[0] == tp.partition]
            if not answers:
                continue
            _, error_code, high_watermark, *rest = answers[0]
            if not error_code:
                # Fetch v5+ carries the log start offset; older brokers need ListOffsets.
                start = rest[1] if response.API_VERSION >= 5 else await self._earliest(tp)
                return start, high_watermark
            if error_code == OffsetOutOfRangeError.errno:
                probe_at = await self._earliest(tp)
            elif error_code in _LEADER_MOVED:
                await self._call("read topic metadata", client.force_metadata_update())
            else:
                raise LogError(f"cannot read the offsets of '{tp.topic}' partition "
                               f"{tp.partition}: {for_code(error_code).message}")

    async def _earliest(self, tp: TopicPartition) -> int:
        starts = await self._call(f"read the start offset of '{tp.topic}'",
                                  self._consumer.beginning_offsets([tp]))
        return starts[tp]

    async def _leader(self, tp: TopicPartition) -> int | None:
        """The partition leader's node id, or None while the cluster elects one."""
        client = self._producer.client
        if tp.topic not in self._followed_topics:
            self._followed_topics.add(tp.topic)
            await self._call("read topic metadata", client.add_topic(tp.topic))
        node = client.cluster.leader_for_partition(tp)
        if node is None or node < 0:
            await self._call("read topic metadata", client.force_metadata_update())
            return None
        return node

    async def _retries(self, action: str):
        """Yield once per attempt, pausing between attempts, until request_timeout_ms has
        passed; then raise a LogError naming the action."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_ms / 1000
        while True:
            yield
            if loop.time() >= deadline:
                raise LogError(f"cannot {action}: no usable answer from Kafka at "
                               f"{self.bootstrap_servers} within {self.request_timeout_ms} ms")
            await asyncio.sleep(RETRY_BACKOFF_S)

    # -- consumer groups --------------------------------------------------------------------
    # Plain OffsetCommit / OffsetFetch requests to the group's coordinator, as a
    # "standalone" member (generation -1): no group join, and no consumer per group that
    # would fetch its assigned partitions in the background.

    async def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The group's committed offset (next offset to read), or None."""
        response = await self._group_request(group, OffsetFetchRequest(group, [(topic, [partition])]))
        for _, partitions in response.topics:
            for _, offset, _, error_code in partitions:
                if error_code and error_code != _UNKNOWN_TOPIC:
                    raise LogError(f"cannot read group '{group}' offsets: "
                                   f"{for_code(error_code).message}")
                return None if offset == _NO_OFFSET else offset
        return None

    async def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Durably store the group's next offsets to read, per (topic, partition)."""
        if not offsets:
            return
        by_topic: dict[str, list[tuple[int, int, str]]] = {}
        for (topic, partition), offset in offsets.items():
            by_topic.setdefault(topic, []).append((partition, offset, ""))
        request = OffsetCommitRequest(group, OffsetCommitRequest.DEFAULT_GENERATION_ID, "",
                                      OffsetCommitRequest.DEFAULT_RETENTION_TIME,
                                      list(by_topic.items()))
        response = await self._group_request(group, request)
        for topic, partitions in response.topics:
            for partition, error_code in partitions:
                if error_code:
                    raise LogError(f"cannot commit group '{group}' offset for '{topic}' "
                                   f"partition {partition}: {for_code(error_code).message}")

    async def _group_request(self, group: str, request):
        """Send a request to the group's coordinator, finding it again if it moved."""
        client = self._started(self._producer).client
        async for _ in self._retries(f"reach the coordinator of group '{group}'"):
            node = self._coordinators.get(group)
            try:
                if node is None:
                    node = self._coordinators[group] = await client.coordinator_lookup(
                        CoordinationType.GROUP, group)
                response = await client.send(node, request, group=ConnectionGroup.COORDINATION)
            except KafkaError as error:
                # e.g. COORDINATOR_NOT_AVAILABLE while a new cluster creates its offsets topic
                if not error.retriable:
                    raise LogError(f"cannot use group '{group}' on Kafka at "
                                   f"{self.bootstrap_servers}: {error}") from error
                self._coordinators.pop(group, None)
                continue
            group_error = getattr(response, "error_code", 0)  # OffsetFetch v2+ only
            if group_error in _COORDINATOR_MOVED or any(
                    p[-1] in _COORDINATOR_MOVED for _, parts in response.topics for p in parts):
                self._coordinators.pop(group, None)
                continue
            if group_error:
                raise LogError(f"cannot use group '{group}': {for_code(group_error).message}")
            return response

    # -- helpers ----------------------------------------------------------------------------

    def _started(self, client):
        if client is None:
            raise LogError(f"the Kafka log at {self.bootstrap_servers} is not started",
                           hint="call start() (or use 'async with') before using it")
        return client

    async def _call(self, action: str, awaitable):
        """Await a Kafka call; its failure becomes a LogError that says what was attempted."""
        try:
            return await awaitable
        except KafkaError as error:
            raise LogError(f"cannot {action} on Kafka at {self.bootstrap_servers}: "
                           f"{error}") from error

    # -- scale-out --------------------------------------------------------------------------

    def join_group(self, group: str, topics: Sequence[str], *, auto_offset_reset: str = "latest",
                   start_offsets: StartOffsets | None = None,
                   session_timeout_ms: int = 10_000, heartbeat_interval_ms: int = 3_000,
                   transactional: bool = False,
                   transaction_timeout_ms: int = 10_000) -> "GroupMember":
        """This process's membership of `group` over `topics` (not yet started).

        Processes that join the same group split the topics' partitions between them;
        see GroupMember.
        """
        return GroupMember(self, group, list(topics), auto_offset_reset=auto_offset_reset,
                           start_offsets=start_offsets, session_timeout_ms=session_timeout_ms,
                           heartbeat_interval_ms=heartbeat_interval_ms,
                           transactional=transactional,
                           transaction_timeout_ms=transaction_timeout_ms)


# Where a member starts reading the partitions it is given: called with each one's
# committed offset in the group (None: none yet), it returns explicit next offsets (e.g.
# kept with a query's state) for some of them; the others start at the committed offset.
StartOffsets = Callable[[dict[tuple[str, int], int | None]],
                        Awaitable[dict[tuple[str, int], int]]]

# Bound on one transactional call: a fenced producer can retry a commit forever on some
# brokers (Tansu), so a hang must become an error instead.
TRANSACTION_CALL_TIMEOUT_S = 30.0


class GroupMember:
    """One process's share of a consumer group: the partitions Kafka's group protocol gives
    it, the fetches from them, and the commit of each batch.

    A batch runs inside `batch(partitions)`. A rebalance takes partitions away only
    between batches: the revocation waits until the batch in flight has produced its
    outputs and committed its offsets, so the partition's next owner starts exactly where
    this member's last commit left it (at-least-once; exactly-once with transactions).

    With `transactional`, each owned input partition has its own transactional producer,
    whose transactional id names the group and the partition. A new owner's producer
    therefore fences the previous owner's and aborts its open transaction (a process that
    died mid-batch leaves one), and a batch's outputs and input offsets commit together
    (send_offsets_to_transaction). Fetches then read committed records only.
    """

    def __init__(self, log: KafkaLog, group: str, topics: list[str], *, auto_offset_reset: str,
                 start_offsets: StartOffsets | None, session_timeout_ms: int,
                 heartbeat_interval_ms: int, transactional: bool, transaction_timeout_ms: int):
        if auto_offset_reset not in ("earliest", "latest"):
            raise LogError(f"auto.offset.reset must be 'earliest' or 'latest', "
                           f"got '{auto_offset_reset}'")
        self.log = log
        self.group = group
        self.topics = topics
        self.auto_offset_reset = auto_offset_reset
        self.transactional = transactional
        self._start_offsets = start_offsets
        self._transaction_timeout_ms = transaction_timeout_ms
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=log.bootstrap_servers, client_id=log.client_id,
            request_timeout_ms=log.request_timeout_ms, group_id=group,
            enable_auto_commit=False,
            # Applies only to what aiokafka fetches before _on_assigned places a partition,
            # which fetch() drops; _on_assigned seeks explicitly (see _reset_offset).
            auto_offset_reset=auto_offset_reset,
            session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat_interval_ms,
            fetch_max_wait_ms=GROUP_FETCH_WAIT_MS,
            isolation_level="read_committed" if transactional else log.isolation_level,
            **log._connection)
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}
        # Held by the batch in flight and by a revocation, so that they never interleave.
        self._batch_lock = asyncio.Lock()
        self._in_transaction: TopicPartition | None = None
        self._positions: dict[TopicPartition, int] = {}  # next offset to fetch, per owned partition
        self._failure: BaseException | None = None
        # Revocations so far, and as of the last fetch: a batch fetched before a
        # revocation is not processed, even if its partition came back meanwhile.
        self._revocations = self._revocations_at_fetch = 0
        # Reads partitions outside the group (changelogs) from their start; made on first use.
        self._reader: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect and subscribe; partitions arrive with the first fetch after the join."""
        try:
            await self._consumer.start()
        except (KafkaError, OSError) as error:
            raise LogError(f"cannot join group '{self.group}' on Kafka at "
                           f"{self.log.bootstrap_servers}: {error}") from error
        self._consumer.subscribe(self.topics, listener=_Rebalance(self))

    async def close(self) -> None:
        """Leave the group (its other members take over at once) and close the producers.

        Call it between batches: leaving revokes the partitions, and the revocation waits
        for the batch in flight.
        """
        try:
            await self._consumer.stop()
        except KafkaError:
            pass  # leaving over a broken connection: the session timeout does the rest
        for tp in list(self._producers):
            await self._close_producer(tp)
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.stop()

    def assignment(self) -> set[tuple[str, int]]:
        """The (topic, partition)s this member owns now."""
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def fetch(self, max_records: int, timeout_ms: int) -> dict[tuple[str, int], RecordBatch]:
        """Records of owned partitions from where this member is (what the consumer has
        read ahead, at most max_records per owned partition), waiting up to timeout_ms."""
        self._raise_failure()
        limit = max_records * max(1, len(self._consumer.assignment()))
        try:
            fetched = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=limit)
        except KafkaError as error:
            raise LogError(f"cannot fetch for group '{self.group}': {error}") from error
        # After getmany: a rebalance during it (the first join revokes nothing, then
        # assigns) leaves only records read from where _on_assigned placed the partitions.
        self._revocations_at_fetch = self._revocations
        self._raise_failure()
        batches = {}
        for tp, records in fetched.items():
            expected = self._positions.get(tp)
            if not records or expected is None:
                # Fetched before _on_assigned placed the partition (the consumer starts
                # fetching while the listener runs): its seek will bring the right ones.
                continue
            if records[0].offset < expected:  # (after it: gaps of compaction, txn markers)
                self._consumer.seek(tp, expected)
                continue
            self._positions[tp] = records[-1].offset + 1
            batches[tp.topic, tp.partition] = _record_batch(tp.partition, records)
        return batches

    def positions(self) -> dict[tuple[str, int], tuple[int, int]]:
        """Per owned partition: (next offset to fetch, log end offset) as far as known."""
        known = {}
        for tp in self._consumer.assignment():
            position = self._positions.get(tp)
            if position is not None:
                end = self._consumer.highwater(tp)
                known[tp.topic, tp.partition] = (position, position if end is None else end)
        return known

    @contextlib.asynccontextmanager
    async def batch(self, partitions: Collection[tuple[str, int]]):
        """Process one batch of owned partitions (what a fetch returned for them); yields
        the (topic, partition)s of them this member still owns: a rebalance may have taken
        some away since the fetch, and their records are their new owner's to process (an
        empty set: skip the batch).

        With transactions a batch covers one partition, whose producer's transaction is
        open inside the block; leaving the block by an exception aborts it.
        """
        if self.transactional and len(partitions) != 1:
            raise ValueError(f"a transactional batch covers one partition (its producer's "
                             f"transaction), got {sorted(partitions)}")
        async with self._batch_lock:
            assigned = self._consumer.assignment()
            owned = {(t, p) for t, p in partitions if TopicPartition(t, p) in assigned} \
                if self._revocations == self._revocations_at_fetch else set()
            if not self.transactional or not owned:
                yield owned
                return
            tp = TopicPartition(*next(iter(owned)))
            producer = self._producers[tp]
            await self._transaction_call("begin a transaction", producer.begin_transaction())
            self._in_transaction = tp
            try:
                yield owned
            except BaseException:
                if producer.transaction_state.is_in_transaction():
                    await self._transaction_call("abort a transaction",
                                                 producer.abort_transaction())
                raise
            finally:
                self._in_transaction = None

    async def produce(self, topic: str, records: Sequence[Record]) -> list[int]:
        """Append records (each to its `partition`); in the batch's transaction, if any."""
        if self._in_transaction is None:
            return await self.log.produce(topic, records)
        if not records:
            return []
        batch = RecordBatch.from_records(records)
        order, sent = await self.log._produce_with(self._producers[self._in_transaction],
                                                   topic, batch)
        return _offsets_in_order(order, sent)

    async def produce_batch(self, topic: str, batch: RecordBatch) -> None:
        """produce() for a RecordBatch (see KafkaLog.produce_batch)."""
        if self._in_transaction is None:
            await self.log.produce_batch(topic, batch)
        elif len(batch):
            await self.log._produce_with(self._producers[self._in_transaction], topic, batch)

    async def commit(self, offsets: dict[tuple[str, int], int]) -> bool:
        """Commit the batch's next input offsets (with its transaction, if any).

        Returns False if the group moved the partitions away meanwhile: the commit is
        refused and the partitions' new owner processes the batch again.
        """
        commits = {TopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in offsets.items()}
        if self._in_transaction is not None:
            producer = self._producers[self._in_transaction]
            await self._transaction_call("send offsets to the transaction",
                                         producer.send_offsets_to_transaction(commits, self.group))
            await self._transaction_call("commit a transaction", producer.commit_transaction())
            return True
        try:
            await self._consumer.commit(commits)
        except (CommitFailedError, IllegalStateError):
            return False
        except KafkaError as error:
            raise LogError(f"cannot commit offsets of group '{self.group}': {error}") from error
        return True

    # -- rebalance --------------------------------------------------------------------------

    async def read_to_end(self, topic: str, partition: int):
        """Yield the records of a partition outside the group (a state changelog) from its
        start to its end as of the call, as RecordBatches; committed records only under
        transactions.

        The end is the high watermark of a Fetch (see KafkaLog._log_bounds); under
        transactions the read also passes the markers and aborted records before it.

        Raises:
            LogError: no progress towards the end within the request timeout (e.g. a
                transaction of another producer stays open).
        """
        tp = TopicPartition(topic, partition)
        start, end = await self.log._log_bounds(tp)
        if start >= end:
            return
        reader = await self._started_reader()
        reader.assign([tp])
        reader.seek(tp, start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.log.request_timeout_ms / 1000
        while await reader.position(tp) < end:
            try:
                fetched = await reader.getmany(tp, timeout_ms=FETCH_LONG_POLL_MS,
                                               max_records=10_000)
            except KafkaError as error:
                raise LogError(f"cannot read '{topic}' partition {partition}: {error}") from error
            records = [r for r in fetched.get(tp, ()) if r.offset < end]
            if records:
                deadline = loop.time() + self.log.request_timeout_ms / 1000
                yield _record_batch(partition, records)
            elif loop.time() > deadline:
                raise LogError(f"cannot read '{topic}' partition {partition} to its end "
                               f"({end}): stuck at offset {await reader.position(tp)}")

    async def _started_reader(self) -> AIOKafkaConsumer:
        if self._reader is None:
            log = self.log
            reader = AIOKafkaConsumer(
                bootstrap_servers=log.bootstrap_servers, client_id=log.client_id,
                request_timeout_ms=log.request_timeout_ms, group_id=None,
                enable_auto_commit=False, auto_offset_reset="earliest",
                fetch_max_wait_ms=FETCH_LONG_POLL_MS,
                isolation_level="read_committed" if self.transactional else log.isolation_level,
                **log._connection)
            try:
                await reader.start()
            except (KafkaError, OSError) as error:
                raise LogError(f"cannot read state changelogs on Kafka at "
                               f"{log.bootstrap_servers}: {error}") from error
            self._reader = reader
        return self._reader

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._batch_lock:  # the batch in flight finishes (and commits) first
            self._revocations += 1
            for tp in revoked:
                self._positions.pop(tp, None)
                await self._close_producer(tp)

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        # Placing a partition may restore its state (start_offsets): never during a batch.
        async with self._batch_lock:
            await self._place(assigned)

    async def _place(self, assigned: set[TopicPartition]) -> None:
        try:
            if self.transactional:
                for tp in assigned:
                    await self._open_producer(tp)
            committed = {(tp.topic, tp.partition): await self._consumer.committed(tp)
                         for tp in assigned}
            explicit = await self._start_offsets(committed) if self._start_offsets else {}
            for tp in assigned:
                offset = explicit.get((tp.topic, tp.partition), committed[tp.topic, tp.partition])
                if offset is None:
                    offset = await self._reset_offset(tp)
                self._consumer.seek(tp, offset)
                self._positions[tp] = offset
        except Exception as error:  # aiokafka would only log it: the next fetch raises it
            self._failure = error

    async def _reset_offset(self, tp: TopicPartition) -> int:
        """auto.offset.reset for a partition without a committed offset. Not the
        consumer's own: it asks ListOffsets, which some brokers answer wrongly after
        batched produce (see KafkaLog._log_bounds)."""
        start, end = await self.log._log_bounds(tp)
        return start if self.auto_offset_reset == "earliest" else end

    async def _open_producer(self, tp: TopicPartition) -> None:
        log = self.log
        producer = AIOKafkaProducer(
            bootstrap_servers=log.bootstrap_servers, client_id=log.client_id,
            request_timeout_ms=log.request_timeout_ms, acks="all", linger_ms=0,
            max_batch_size=log.max_batch_bytes,
            max_request_size=max(log.max_batch_bytes + 1024, 1024 * 1024),
            compression_type=log.compression_type, enable_idempotence=True,
            transactional_id=f"{self.group}-{tp.topic}-{tp.partition}",
            transaction_timeout_ms=self._transaction_timeout_ms, **log._connection)
        try:
            await asyncio.wait_for(producer.start(), TRANSACTION_CALL_TIMEOUT_S)
        except (KafkaError, OSError, asyncio.TimeoutError) as error:
            await producer.stop()
            raise LogError(
                f"processing.guarantee 'exactly_once_v2' needs Kafka transactions, and a "
                f"transactional producer cannot start on Kafka at {log.bootstrap_servers}: "
                f"{error or type(error).__name__}",
                hint="use a broker with transactions (Apache Kafka 2.5+), or "
                     "SET 'processing.guarantee'='at_least_once'") from error
        self._producers[tp] = producer

    async def _close_producer(self, tp: TopicPartition) -> None:
        producer = self._producers.pop(tp, None)
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), TRANSACTION_CALL_TIMEOUT_S)
            except (KafkaError, asyncio.TimeoutError):
                pass  # a fenced or unreachable producer: its successor aborts what it left

    async def _transaction_call(self, action: str, awaitable):
        try:
            return await asyncio.wait_for(awaitable, TRANSACTION_CALL_TIMEOUT_S)
        except asyncio.TimeoutError as error:
            raise LogError(f"cannot {action} for group '{self.group}': no answer within "
                           f"{TRANSACTION_CALL_TIMEOUT_S:g} s (fenced by a newer owner?)") from error
        except KafkaError as error:
            raise LogError(f"cannot {action} for group '{self.group}': {error}") from error

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            if isinstance(failure, LogError):
                raise failure
            raise LogError(f"cannot take over partitions in group '{self.group}': "
                           f"{failure}") from failure


def _offsets_in_order(order: Sequence[int], sent: list[_SentBatch]) -> list[int]:
    """Each produced row's offset, in the order of the rows given to produce."""
    offsets = [0] * len(order)
    for _, first, count, base in sent:
        for k in range(count):
            offsets[order[first + k]] = base + k
    return offsets


def _record_batch(partition: int, records: list) -> RecordBatch:
    """aiokafka's ConsumerRecords of one partition as Arrow columns (no Record per row)."""
    headers = [r.headers for r in records]  # tuples
    return RecordBatch(pa.array([r.key for r in records], pa.binary()),
                       pa.array([r.value for r in records], pa.binary()),
                       pa.array([r.timestamp for r in records], pa.int64()),
                       pa.repeat(pa.scalar(partition, pa.int32()), len(records)),
                       pa.array([r.offset for r in records], pa.int64()),
                       headers if any(headers) else None)


class _Rebalance(ConsumerRebalanceListener):
    """Hands the group coordinator's callbacks to the member."""

    def __init__(self, member: GroupMember):
        self.member = member

    async def on_partitions_revoked(self, revoked):
        await self.member._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned):
        await self.member._on_assigned(set(assigned))

"""KafkaLog: the LogBackend over a Kafka-protocol cluster, through aiokafka.

The only module that imports aiokafka. It owns one producer, one group-less consumer
for fetches and one admin client, and turns Kafka errors into LogError. Consumer groups
serve here only as offset stores; splitting partitions between processes is the
runtime's job, not this module's.
"""
from __future__ import annotations

import asyncio
from typing import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import ConnectionGroup, CoordinationType
from aiokafka.errors import KafkaError, OffsetOutOfRangeError, for_code
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.metadata import MetadataRequest

from streamsql.errors import LogError
from streamsql.log.backend import Record, TopicInfo

# Security and connection settings handed unchanged to every aiokafka client.
CONNECTION_OPTIONS = frozenset({
    "security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username",
    "sasl_plain_password", "sasl_kerberos_service_name", "sasl_kerberos_domain_name",
    "sasl_oauth_token_provider", "retry_backoff_ms", "metadata_max_age_ms",
    "connections_max_idle_ms",
})
# Convenience for users without an SSLContext at hand: files that build one.
SSL_FILE_OPTIONS = frozenset({"ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password"})

# How long the fetch consumer's background fetch waits at the log end for new records.
# A seek to another offset waits for the fetch in flight (the broker answers requests on
# a connection in order), so this bounds the latency of a seek, too.
FETCH_LONG_POLL_MS = 100
# Pause between attempts while a leader or group coordinator is being (re)elected.
RETRY_BACKOFF_S = 0.1

_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3
_NO_OFFSET = -1
# Errors after which the cached partition leader / group coordinator is stale: look again.
_LEADER_MOVED = frozenset({3, 5, 6})  # unknown topic or partition, leader not available, not leader
_COORDINATOR_MOVED = frozenset({14, 15, 16})  # loading, not available, not coordinator


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
        if ssl_files:
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
        positions: dict[int, list[int]] = {}
        for i, record in enumerate(records):
            positions.setdefault(record.partition, []).append(i)
        for partition in positions:
            await self._check_partition(topic, partition)
        self._followed_topics.add(topic)
        offsets = [0] * len(records)
        await self._call(f"produce to topic '{topic}'", asyncio.gather(*(
            self._produce_partition(producer, topic, partition, records, indexes, offsets)
            for partition, indexes in positions.items())))
        for partition, indexes in positions.items():
            tp = TopicPartition(topic, partition)
            self._ends[tp] = max(self._ends.get(tp, 0), offsets[indexes[-1]] + 1)
        return offsets

    @staticmethod
    async def _produce_partition(producer: AIOKafkaProducer, topic: str, partition: int,
                                 records: Sequence[Record], indexes: list[int],
                                 offsets: list[int]) -> None:
        """Send records[indexes] to one partition in batches; fill in their offsets."""
        sent = []  # (delivery future, position in indexes of the batch's first record, count)
        batch, first = producer.create_batch(), 0
        for n, i in enumerate(indexes):
            record = records[i]
            # A record that does not fit starts the next batch (an empty batch takes any one).
            while batch.append(key=record.key, value=record.value, timestamp=record.timestamp,
                               headers=list(record.headers)) is None:
                sent.append((await producer.send_batch(batch, topic, partition=partition),
                             first, batch.record_count()))
                batch, first = producer.create_batch(), n
        sent.append((await producer.send_batch(batch, topic, partition=partition),
                     first, batch.record_count()))
        for delivery, first, count in sent:
            base = (await delivery).offset
            for k in range(count):
                offsets[indexes[first + k]] = base + k

    async def fetch(self, topic: str, partition: int, offset: int,
                    max_records: int = 10_000, timeout_ms: int = 0) -> list[Record]:
        """Records from `offset` on (at most max_records), waiting up to timeout_ms for some.

        Records known to be in the log (below the last end offset seen, which the first
        fetch of a partition looks up) are returned whatever the timeout; the timeout
        bounds only the wait for new ones. An offset removed by retention reads from the
        start offset; one past the end returns [].
        """
        if max_records < 1:
            raise ValueError(f"max_records must be positive, got {max_records}")
        consumer = self._started(self._consumer)
        tp = await self._check_partition(topic, partition)
        lock = self._fetch_locks.setdefault(tp, asyncio.Lock())
        async with lock:  # one position per partition in the shared consumer
            self._position(tp, offset)
            known_end = await self._known_end(tp)
            wait_ms = timeout_ms if offset >= known_end else max(timeout_ms, self.request_timeout_ms)
            try:
                fetched = await consumer.getmany(tp, timeout_ms=wait_ms, max_records=max_records)
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
            consumed = fetched.get(tp, ())
            if consumed:
                self._continues_at[tp] = consumed[-1].offset + 1
            return [Record(r.key, r.value, r.timestamp, tuple(r.headers), partition, r.offset)
                    for r in consumed]

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

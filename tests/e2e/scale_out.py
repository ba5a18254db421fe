"""Helpers of the end-to-end tests that run `streamsql run` processes as members of one
service's consumer group on the Kafka test broker."""
from __future__ import annotations

import asyncio
import re

from kafka_broker import FAST_GROUPS

from streamsql.log.backend import Record
from streamsql.log.kafka import KafkaLog


async def produce(bootstrap: str, topic: str, records: list[Record], *,
                  partitions: int | None = None, chunk: int = 1_000) -> None:
    """Produce the records, `chunk` at a time; with `partitions`, create the topic first."""
    async with KafkaLog(bootstrap) as log:
        if partitions is not None:
            await log.create_topic(topic, partitions)
        for start in range(0, len(records), chunk):
            await log.produce(topic, records[start:start + chunk])


def member_options(bootstrap: str, service_id: str, *properties: str) -> list[str]:
    """The options of a group member: earliest offsets, short group sessions, and the
    given `name=value` properties."""
    options = ["--bootstrap-servers", bootstrap, "--service-id", service_id,
               "-p", "auto.offset.reset=earliest"]
    for prop in [*(f"{name}={value}" for name, value in FAST_GROUPS.items()), *properties]:
        options += ["-p", prop]
    return options


def owned_partitions(line: str) -> list[int]:
    """The partitions listed in a 'now owns source partitions topic[0, 2]' log line."""
    numbers = re.search(r"\[([\d, ]*)\]", line)
    return [int(n) for n in numbers.group(1).split(",")] if numbers and numbers.group(1) else []


def poll(read, done, seconds: float, interval: float = 0.3):
    """Await read() until done(what it read) holds or `seconds` have passed; return what it
    read last (bounded; not a timing assertion)."""
    async def go():
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            result = await read()
            if done(result) or loop.time() > deadline:
                return result
            await asyncio.sleep(interval)
    return asyncio.run(go())

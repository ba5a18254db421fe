"""Catalog commands appended to, and replayed from, the command topic (as ksqlDB does).

A command is the statement text plus the properties in force when it ran; replaying
the commands in order rebuilds the same catalog and the same query ids.
"""
from __future__ import annotations

import time

import orjson

from streamsql.log.backend import LogBackend, Record


class CommandLog:
    def __init__(self, backend: LogBackend, topic: str):
        self.backend = backend
        self.topic = topic

    async def append(self, statement: str, properties: dict[str, str]) -> None:
        await self.backend.create_topic(self.topic, 1, 1, {"cleanup.policy": "delete",
                                                          "retention.ms": "-1"})
        command = {"statement": statement, "properties": properties}
        await self.backend.produce(self.topic, [Record(None, orjson.dumps(command),
                                                       int(time.time() * 1000))])

    async def read_all(self) -> list[dict]:
        if await self.backend.describe_topic(self.topic) is None:
            return []
        commands = []
        offset = await self.backend.start_offset(self.topic, 0)
        end = await self.backend.end_offset(self.topic, 0)
        while offset < end:
            records = await self.backend.fetch(self.topic, 0, offset, 1000)
            if not records:
                break
            commands.extend(orjson.loads(r.value) for r in records if r.value)
            offset = records[-1].offset + 1
        return commands

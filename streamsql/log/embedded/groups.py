"""Consumer-group committed offsets: one small JSON file per group, replaced atomically.

A commit rewrites only its group's file, so groups never contend and a crash leaves
each group at offsets it committed (maybe not the latest), never a mix.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import orjson

from streamsql.errors import LogError
from streamsql.log.embedded.files import write_atomically

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def _file_name(group: str) -> str:
    # Group ids may hold any character; unsafe or long ones are stored under a hash,
    # with the real id inside the file.
    if _SAFE_NAME.fullmatch(group):
        return f"{group}.json"
    return "sha256-" + hashlib.sha256(group.encode("utf-8")).hexdigest() + ".json"


class GroupOffsets:
    """Committed offsets of every consumer group under `directory`, cached in memory."""

    def __init__(self, directory: Path, *, sync: bool):
        self.directory = directory
        self.sync = sync
        self._groups: dict[str, dict[tuple[str, int], int]] = {}

    def load(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._groups = {}
        for path in self.directory.glob("*.json"):
            try:
                data = orjson.loads(path.read_bytes())
                offsets = {(topic, partition): offset
                           for topic, partition, offset in data["offsets"]}
                self._groups[data["group"]] = offsets
            except (ValueError, KeyError, TypeError) as error:
                raise LogError(f"cannot read committed offsets {path}: {error}",
                               hint="restore the file, or delete it to forget that group's "
                                    "offsets") from error

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        return self._groups.get(group, {}).get((topic, partition))

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        merged = {**self._groups.get(group, {}), **offsets}
        self._write(group, merged)
        self._groups[group] = merged

    def forget_topic(self, topic: str) -> None:
        """Drop every group's offsets for a deleted topic, so a new topic of the same name
        is read from its start rather than from the old topic's positions."""
        for group, offsets in list(self._groups.items()):
            kept = {tp: o for tp, o in offsets.items() if tp[0] != topic}
            if len(kept) != len(offsets):
                self._write(group, kept)
                self._groups[group] = kept

    def _write(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        rows = sorted([topic, partition, offset] for (topic, partition), offset in offsets.items())
        # A query commits after every batch, and the directory fsync is half of a
        # commit's cost; without it a crash may keep an earlier commit (the group reads
        # those batches again, which at-least-once allows), never a broken file, and the
        # group's first file is still synced, so it never falls back to auto.offset.reset.
        write_atomically(self.directory / _file_name(group),
                         orjson.dumps({"group": group, "offsets": rows}), sync=self.sync,
                         sync_replace=False)

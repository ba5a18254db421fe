"""Topic names, per-topic configuration and the topic metadata file (`topic.json`).

Validation here gives users the error message; partition data lives in partition.py.
"""
from __future__ import annotations

import re
from pathlib import Path

import orjson

from streamsql.errors import LogError
from streamsql.log.backend import TopicInfo
from streamsql.log.embedded.files import write_atomically
from streamsql.log.embedded.partition import Retention

METADATA_FILE = "topic.json"
_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_MAX_NAME_LENGTH = 249  # Kafka's limit


def check_topic_name(name: str) -> None:
    """Raise LogError unless `name` is a legal Kafka topic name."""
    if name in ("", ".", ".."):
        raise LogError(f"invalid topic name '{name}'",
                       hint="a topic name cannot be empty, '.' or '..'")
    if len(name) > _MAX_NAME_LENGTH:
        raise LogError(f"invalid topic name '{name[:40]}...': it is {len(name)} characters long",
                       hint=f"use at most {_MAX_NAME_LENGTH} characters")
    if not _LEGAL_NAME.fullmatch(name):
        bad = sorted({c for c in name if not _LEGAL_NAME.fullmatch(c)})
        raise LogError(f"invalid topic name '{name}': it contains {', '.join(map(repr, bad))}",
                       hint="use only ASCII letters, digits, '.', '_' and '-'")


def retention_of(info: TopicInfo) -> Retention:
    """The topic's retention.ms / retention.bytes (LogError when not an integer >= -1)."""
    return Retention(ms=_limit(info, "retention.ms"), bytes=_limit(info, "retention.bytes"))


def _limit(info: TopicInfo, name: str) -> int:
    text = info.config.get(name, "-1")
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < -1:
        raise LogError(f"invalid {name} '{text}' for topic '{info.name}'",
                       hint="use a whole number; -1 means no limit")
    return value


def write_metadata(directory: Path, info: TopicInfo, *, sync: bool) -> None:
    data = {"name": info.name, "partitions": info.partitions, "replicas": info.replicas,
            "config": info.config}
    write_atomically(directory / METADATA_FILE, orjson.dumps(data, option=orjson.OPT_INDENT_2),
                     sync=sync)


def read_metadata(directory: Path) -> TopicInfo:
    path = directory / METADATA_FILE
    try:
        data = orjson.loads(path.read_bytes())
        info = TopicInfo(data["name"], data["partitions"], data["replicas"], dict(data["config"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LogError(f"cannot read topic metadata {path}: {error}",
                       hint="restore the file, or remove the topic directory") from error
    if info.name != directory.name:
        raise LogError(f"topic metadata {path} names topic '{info.name}', "
                       f"not '{directory.name}'")
    return info

"""The topic log: the LogBackend protocol, its backends and key placement.

    open_backend("embedded:/var/lib/streamsql")  -> EmbeddedLog (local files)
    open_backend("kafka:broker1:9092,broker2:9092") -> the Kafka backend (log/kafka.py)
"""
from __future__ import annotations

from pathlib import Path

from streamsql.errors import LogError
from streamsql.log.backend import LogBackend, Record, TopicInfo
from streamsql.log.embedded import EmbeddedLog
from streamsql.log.partitioner import partition_for

__all__ = ["EmbeddedLog", "LogBackend", "Record", "TopicInfo", "open_backend", "partition_for"]


def open_backend(spec: str | Path, **options) -> LogBackend:
    """The (not yet started) backend a spec names.

    Args:
        spec: 'embedded:<data dir>', 'kafka:<bootstrap servers>', or a bare directory
            path (embedded).
        options: passed to the backend's constructor (e.g. fsync='never').
    """
    text = str(spec)
    kind, sep, rest = text.partition(":")
    if sep and kind == "kafka":
        if not rest:
            raise LogError(f"backend spec '{text}' names no bootstrap servers",
                           hint="write kafka:<host>:<port>[,<host>:<port>...]")
        # Imported here so that the embedded default never loads aiokafka.
        try:
            from streamsql.log.kafka import KafkaLog
        except ImportError as error:
            raise LogError(f"the Kafka backend is not available: {error}") from error
        return KafkaLog(rest.removeprefix("//"), **options)
    if sep and kind == "embedded":
        text = rest
    if not text:
        raise LogError(f"backend spec '{spec}' names no data directory",
                       hint="write embedded:<directory> or kafka:<bootstrap servers>")
    return EmbeddedLog(Path(text).expanduser(), **options)

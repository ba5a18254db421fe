"""The embedded log: durable local topics in a data directory, no broker needed."""
from streamsql.log.embedded.log import EmbeddedLog

__all__ = ["EmbeddedLog"]

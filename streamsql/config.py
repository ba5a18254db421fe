"""Engine and session properties, by ksqlDB's names, with their defaults.

Values are kept as strings (as users SET them); typed getters parse them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from streamsql.errors import ConfigError

DEFAULTS: dict[str, str] = {
    "auto.offset.reset": "latest",
    "cache.max.bytes.buffering": "10485760",
    "commit.interval.ms": "100",
    "ksql.service.id": "default_",
    "ksql.output.topic.name.prefix": "",
    "ksql.persistence.default.format.key": "KAFKA",
    "ksql.persistence.default.format.value": "",
    "ksql.persistence.wrap.single.values": "",
    "ksql.sink.partitions": "",
    "ksql.sink.replicas": "",
    "ksql.timestamp.throw.on.invalid": "false",
    "ksql.headers.columns.enabled": "true",
    "processing.guarantee": "at_least_once",
}

# Engine names accept a `ksql.streams.` prefix, as ksqlDB's do.
_PREFIX = "ksql.streams."


def normalise_name(name: str) -> str:
    name = name.strip()
    if name.startswith(_PREFIX):
        name = name[len(_PREFIX):]
    return name


@dataclass(frozen=True)
class Config:
    overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, name: str, default: str | None = None) -> str | None:
        name = normalise_name(name)
        if name in self.overrides:
            return self.overrides[name]
        return DEFAULTS.get(name, default)

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None or value == "":
            return default
        return str(value).strip().lower() == "true"

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None or str(value).strip() == "":
            return default
        return int(str(value).strip())

    def with_overrides(self, overrides: Mapping[str, object]) -> "Config":
        merged = dict(self.overrides)
        for key, value in overrides.items():
            merged[normalise_name(key)] = "" if value is None else str(value)
        return Config(MappingProxyType(merged))

    def without(self, name: str) -> "Config":
        merged = dict(self.overrides)
        merged.pop(normalise_name(name), None)
        return Config(MappingProxyType(merged))

    def as_dict(self) -> dict[str, str]:
        merged = dict(DEFAULTS)
        merged.update(self.overrides)
        return merged

    @property
    def cache_enabled(self) -> bool:
        return (self.get_int("cache.max.bytes.buffering", 0) or 0) > 0


def read_properties_file(path: str | Path) -> dict[str, str]:
    """A ksqlDB-style (Java) properties file: `name=value` or `name: value` lines, `#` and
    `!` comments, a trailing backslash continuing a line.

    Raises:
        ConfigError: the file cannot be read or a line has no value.
    """
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"cannot read the config file '{path}': {error.strerror}") from None
    properties: dict[str, str] = {}
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i > 0), default=-1)
        if cut < 0:
            raise ConfigError(f"{path}:{number}: expected NAME=VALUE, got '{line}'")
        properties[line[:cut].strip()] = line[cut + 1:].strip()
    return properties

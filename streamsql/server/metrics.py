"""GET /metrics: the persistent queries' metrics in Prometheus' text exposition format (0.0.4).

Rendering only: the figures are counted by the queries themselves (runtime/metrics.py)
and handed over by the engine.
"""
from __future__ import annotations

from typing import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render_metrics(metrics_by_query: Mapping[str, object], states: Mapping[str, str]) -> bytes:
    """The exposition text for each query's QueryMetrics (by query id) and state."""
    families = _Families()
    families.declare("streamsql_persistent_queries", "gauge",
                     "Persistent queries on this server, by state.")
    by_state: dict[str, int] = {}
    for state in states.values():
        by_state[state] = by_state.get(state, 0) + 1
    for state, count in sorted(by_state.items()):
        families.sample("streamsql_persistent_queries", {"state": state}, count)

    families.declare("streamsql_query_records_in_total", "counter",
                     "Records a query consumed, by source topic.")
    families.declare("streamsql_query_records_out_total", "counter",
                     "Records a query produced to its sink topic.")
    families.declare("streamsql_query_processing_errors_total", "counter",
                     "Records a query could not process (skipped and written to the "
                     "processing log), by source topic.")
    families.declare("streamsql_query_records_in_per_second", "gauge",
                     "Records consumed per second over the last minute.")
    families.declare("streamsql_query_records_out_per_second", "gauge",
                     "Records produced per second over the last minute.")
    families.declare("streamsql_query_processing_errors_per_second", "gauge",
                     "Processing errors per second over the last minute.")
    families.declare("streamsql_query_consumer_lag", "gauge",
                     "Log end offset minus the query's committed offset, per source partition.")
    families.declare("streamsql_query_committed_offset", "gauge",
                     "The query's committed offset (next record to read), per source partition.")
    families.declare("streamsql_query_log_end_offset", "gauge",
                     "The offset the next record appended to the source partition will get.")
    for query_id, metrics in sorted(metrics_by_query.items()):
        query = {"query_id": query_id}
        for topic, count in sorted(metrics.consumed.items()):
            families.sample("streamsql_query_records_in_total", {**query, "topic": topic}, count)
        families.sample("streamsql_query_records_out_total", query, metrics.records_out)
        for topic, count in sorted(metrics.failed.items()):
            families.sample("streamsql_query_processing_errors_total",
                            {**query, "topic": topic}, count)
        rates = metrics.rates()
        families.sample("streamsql_query_records_in_per_second", query, rates.records_in)
        families.sample("streamsql_query_records_out_per_second", query, rates.records_out)
        families.sample("streamsql_query_processing_errors_per_second", query, rates.errors)
        for (topic, partition), offsets in sorted(metrics.partitions.items()):
            where = {**query, "topic": topic, "partition": str(partition)}
            families.sample("streamsql_query_consumer_lag", where, offsets.lag)
            families.sample("streamsql_query_committed_offset", where, offsets.committed)
            families.sample("streamsql_query_log_end_offset", where, offsets.log_end)
    return families.text().encode()


class _Families:
    """Metric families in declaration order, each with its HELP and TYPE lines first."""

    def __init__(self) -> None:
        self._headers: dict[str, list[str]] = {}
        self._samples: dict[str, list[str]] = {}

    def declare(self, name: str, kind: str, help_text: str) -> None:
        self._headers[name] = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]
        self._samples[name] = []

    def sample(self, name: str, labels: dict[str, str], value: float) -> None:
        rendered = ",".join(f'{key}="{_escape_label(str(v))}"' for key, v in labels.items())
        self._samples[name].append(f"{name}{{{rendered}}} {_number(value)}" if rendered
                                   else f"{name} {_number(value)}")

    def text(self) -> str:
        lines = []
        for name, header in self._headers.items():
            lines += header + self._samples[name]
        return "\n".join(lines) + "\n"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))

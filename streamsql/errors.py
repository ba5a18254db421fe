"""The StreamSQLError tree, source spans and diagnostics, rendered in one place.

Imports nothing from the project. Every user-facing error carries a Diagnostic.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A region of statement text: 1-based line/column, 0-based character offsets."""

    line: int
    column: int
    end_line: int
    end_column: int
    start_pos: int = 0
    end_pos: int = 0

    def shifted(self, lines: int, chars: int) -> "Span":
        """The same span inside a larger text that starts `lines`/`chars` earlier."""
        return Span(self.line + lines, self.column, self.end_line + lines, self.end_column,
                    self.start_pos + chars, self.end_pos + chars)


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[tuple[str, Span | None], ...] = ()


def render(diagnostic: Diagnostic, text: str | None = None, statement: str | None = None) -> str:
    """Render a diagnostic as `line L:C: message`, the source line, a caret and the hint.

    With `statement`, ksqlDB's `Statement: ...` line follows the message (the HTTP API's form).
    """
    span = diagnostic.span
    lines: list[str] = []
    if span is not None:
        lines.append(f"line {span.line}:{span.column}: {diagnostic.message}")
        if statement is not None:
            lines.append(f"Statement: {statement}")
        if text is not None:
            source_lines = text.splitlines()
            if 0 < span.line <= len(source_lines):
                source = source_lines[span.line - 1]
                lines.append("  " + source)
                width = 1
                if span.end_line == span.line and span.end_column > span.column:
                    width = span.end_column - span.column
                width = max(1, min(width, len(source) - span.column + 2))
                lines.append("  " + " " * (span.column - 1) + "^" * width)
    else:
        lines.append(diagnostic.message)
        if statement is not None:
            lines.append(f"Statement: {statement}")
    for note, _ in diagnostic.notes:
        lines.append(f"note: {note}")
    if diagnostic.hint:
        lines.append(f"hint: {diagnostic.hint}")
    return "\n".join(lines)


class StreamSQLError(Exception):
    """Base of every error a user can see. `text` is the statement text the span points into."""

    # ksqlDB's Java class for this kind of error; the test runner and the REST layer use it.
    ksql_type = "io.confluent.ksql.util.KsqlException"
    error_code = 50000

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 text: str | None = None, notes: tuple = (), statement: str | None = None):
        self.diagnostic = Diagnostic(message, span, hint, tuple(notes))
        self.text = text
        # What ksqlDB names after `Statement:`: the failing statement (the engine sets it),
        # or only part of it (a WHERE expression).
        self.statement = statement
        super().__init__(message)

    @property
    def message(self) -> str:
        return self.diagnostic.message

    @property
    def span(self) -> Span | None:
        return self.diagnostic.span

    def with_text(self, text: str) -> "StreamSQLError":
        if self.text is None:
            self.text = text
        return self

    def render(self) -> str:
        return render(self.diagnostic, self.text)

    def render_for_api(self) -> str:
        """The rendering with ksqlDB's `Statement: ...` line, which API clients match on."""
        statement = self.statement if self.statement is not None else \
            (self.text or "").strip() or None
        return render(self.diagnostic, self.text, statement)

    def __str__(self) -> str:
        return self.render()


class ParseError(StreamSQLError):
    """The statement text is not valid streamsql."""

    ksql_type = "io.confluent.ksql.parser.exception.ParseFailedException"
    error_code = 40001


class StatementError(StreamSQLError):
    """The statement parses but is rejected: unknown names, type errors, invalid properties."""

    ksql_type = "io.confluent.ksql.util.KsqlStatementException"
    error_code = 40001


class NotSupportedError(StatementError):
    """The statement is valid but its execution is not built yet."""


class SerdeError(StreamSQLError):
    """A record could not be serialized or deserialized."""


class ProcessingError(StreamSQLError):
    """A continuous query failed while processing records (not a skipped bad record)."""

    ksql_type = "org.apache.kafka.streams.errors.StreamsException"


class LogError(StreamSQLError):
    """The topic log cannot do what was asked (missing topic, directory locked, ...)."""


class ConfigError(StreamSQLError):
    """A setting is missing or invalid: a config file, a credentials file, a certificate."""

"""Matching a raised error against a case's `expectedException` (QTT section 7).

Our error classes carry the name of the ksqlDB exception they stand for (`ksql_type`); this
module knows the Java class hierarchy among those names.
"""
from __future__ import annotations

from streamsql.errors import StreamSQLError
from streamsql.testing.loader import ExpectedException

# ksqlDB's exception classes that cases name, each with its superclasses.
_JAVA_SUPERCLASSES = {
    "io.confluent.ksql.parser.exception.ParseFailedException":
        ("io.confluent.ksql.util.KsqlStatementException", "io.confluent.ksql.util.KsqlException"),
    "io.confluent.ksql.util.KsqlStatementException": ("io.confluent.ksql.util.KsqlException",),
    "io.confluent.ksql.function.KsqlFunctionException": ("io.confluent.ksql.util.KsqlException",),
}


def exception_mismatch(expected: ExpectedException, error: BaseException) -> str | None:
    """Why `error` does not satisfy `expectedException` (section 7), or None when it does."""
    problem = _error_mismatch(expected.type, expected.message, error)
    if problem or expected.cause is None:
        return problem
    cause = error.__cause__
    if cause is None:
        return f"expected a cause {expected.cause} but the error has none"
    problem = _error_mismatch(expected.cause, expected.cause_message, cause)
    return f"cause: {problem}" if problem else None


def java_type(error: BaseException) -> str:
    """The ksqlDB exception class an error stands for."""
    return getattr(error, "ksql_type", "io.confluent.ksql.util.KsqlException")


def _error_mismatch(expected_type: str | None, expected_message: str | None,
                    error: BaseException) -> str | None:
    actual_type = java_type(error)
    if expected_type is not None and expected_type != actual_type \
            and expected_type not in _JAVA_SUPERCLASSES.get(actual_type, ()):
        return (f"expected {short_class(expected_type)} but got {short_class(actual_type)}: "
                f"{_located_message(error)}")
    if expected_message is not None and \
            not any(expected_message in text for text in _error_texts(error)):
        return (f"expected an error containing {expected_message!r} but got: "
                f"{_located_message(error)}")
    return None


def _error_texts(error: BaseException) -> list[str]:
    message = _error_message(error)
    texts = [message, str(error)]
    span = getattr(error, "span", None)
    if span is not None:
        # ksqlDB prefixes a location in two styles: parse errors `line 2:5:`, statement
        # errors `Line: 2, Col: 5:` (both 1-based, like our spans).
        texts.append(f"line {span.line}:{span.column}: {message}")
        texts.append(f"Line: {span.line}, Col: {span.column}: {message}")
    if isinstance(error, StreamSQLError):
        # ksqlDB's statement exceptions end with a `Statement: <text>` line
        statement = error.statement if error.statement is not None else (error.text or "").strip()
        texts += [f"{text}\nStatement: {statement}" for text in texts[:]]
    return texts


def _located_message(error: BaseException) -> str:
    """The message with its `line L:C:` location when it has one (to diagnose a mismatch)."""
    span = getattr(error, "span", None)
    message = _error_message(error)
    return f"line {span.line}:{span.column}: {message}" if span is not None else message


def _error_message(error: BaseException) -> str:
    return error.message if isinstance(error, StreamSQLError) else str(error)


def short_class(java_class: str) -> str:
    """`KsqlStatementException` for `io.confluent.ksql.util.KsqlStatementException`."""
    return java_class.rsplit(".", 1)[-1]



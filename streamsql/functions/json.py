"""JSON string functions: EXTRACTJSONFIELD and IS_JSON_STRING over DuckDB's json extension."""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import BOOLEAN, INTEGER, STRING, SqlType
from streamsql.functions.registry import Call, FunctionRegistry
from streamsql.functions.sqltree import case, column, fn, fresh_param, lambda_, lit, try_
from streamsql.functions.typed import Typed

CATEGORY = "JSON"


def _first_value(document: exp.Expression) -> exp.Expression:
    """The document, or the object or array it starts with when text follows that.

    ksqlDB reads the first JSON value and ignores what follows it (`{"a": 1}}` is `{"a": 1}`);
    DuckDB rejects the whole text. The complete value is the one prefix ending in `}` or `]`
    that is valid JSON, so only invalid documents pay for the search.
    """
    i, prefix = fresh_param(), fresh_param()
    closing = lambda_([i], exp.In(this=fn("SUBSTR", document, column(i), lit(1)),
                                  expressions=[lit("}"), lit("]")]))
    ends = fn("LIST_FILTER", fn("RANGE", lit(1), exp.Add(
        this=fn("LENGTH", document), expression=lit(1))), closing)
    prefixes = fn("LIST_TRANSFORM", ends, lambda_([i], fn("LEFT", document, column(i))))
    valid = fn("LIST_FILTER", prefixes, lambda_([prefix], fn("JSON_VALID", column(prefix))))
    return case((fn("JSON_VALID", document), document),
                default=fn("LIST_EXTRACT", valid, lit(1)))


def register(registry: FunctionRegistry) -> None:
    @registry.scalar("EXTRACTJSONFIELD", category=CATEGORY, display_name="extractjsonfield",
                     description="The value at a JSONPath ('$.a.b') in a JSON string: scalars as"
                                 " text, objects and arrays as JSON; NULL if absent or invalid.",
                     signatures=["EXTRACTJSONFIELD(STRING json, STRING path)"])
    def extract_json_field(call: Call) -> Typed:
        document, path = call.match(STRING, STRING) or call.reject()
        # Invalid JSON fails the row in DuckDB; ksqlDB yields NULL for it. ksqlDB's JSONPath
        # has no negative indexes (DuckDB counts them from the end).
        negative_index = fn("CONTAINS", path.sql, lit("[-"))
        return Typed(case((negative_index, exp.null()), default=try_(
            fn("JSON_EXTRACT_STRING", _first_value(document.sql), path.sql))), STRING)

    @registry.scalar("IS_JSON_STRING", category=CATEGORY, display_name="is_json_string",
                     description="Whether a string is valid JSON.",
                     signatures=["IS_JSON_STRING(STRING)"])
    def is_json_string(call: Call) -> Typed:
        (document,) = call.match(STRING) or call.reject()
        return Typed(fn("COALESCE", fn("JSON_VALID", document.sql), lit(False)), BOOLEAN)

    def of_json_type(document: exp.Expression, json_type: str, value: exp.Expression
                     ) -> exp.Expression:
        """`value` when the document is JSON of `json_type`; NULL otherwise (invalid JSON too)."""
        # TRY on each part: DuckDB's TRY does not reach into a CASE.
        is_type = exp.EQ(this=try_(fn("JSON_TYPE", document)), expression=lit(json_type))
        return case((is_type, try_(value)))

    @registry.scalar("JSON_ARRAY_LENGTH", category=CATEGORY, display_name="json_array_length",
                     description="The length of a JSON array; NULL if not an array.",
                     signatures=["JSON_ARRAY_LENGTH(STRING)"])
    def json_array_length(call: Call) -> Typed:
        (document,) = call.match(STRING) or call.reject()
        length = exp.cast(fn("JSON_ARRAY_LENGTH", document.sql), "INT")
        return Typed(of_json_type(document.sql, "ARRAY", length), INTEGER)

    @registry.scalar("JSON_KEYS", category=CATEGORY, display_name="json_keys",
                     description="The keys of a JSON object; NULL if not an object.",
                     signatures=["JSON_KEYS(STRING)"])
    def json_keys(call: Call) -> Typed:
        (document,) = call.match(STRING) or call.reject()
        return Typed(of_json_type(document.sql, "OBJECT", fn("JSON_KEYS", document.sql)),
                     SqlType.array(STRING))

    @registry.scalar("JSON_ARRAY_CONTAINS", category=CATEGORY, display_name="json_array_contains",
                     description="Whether a JSON array holds a value (compared as JSON); false "
                                 "for anything but a JSON array.",
                     signatures=["JSON_ARRAY_CONTAINS(STRING json, T value)"])
    def json_array_contains(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        document, value = call.typed(0), call.typed(1)
        if document.type not in (None, STRING) or (
                value.type is not None and not value.type.is_primitive):
            call.reject()
        needle = exp.cast(fn("COALESCE", fn("TO_JSON", value.sql), lit("null")), "JSON")
        found = fn("LIST_CONTAINS", fn("JSON_EXTRACT", document.sql, lit("$[*]")), needle)
        return Typed(fn("COALESCE", of_json_type(document.sql, "ARRAY", found), lit(False)),
                     BOOLEAN)

    @registry.scalar("JSON_RECORDS", category=CATEGORY, display_name="json_records",
                     description="The fields of a JSON object as a map of JSON texts (strings "
                                 "unquoted); NULL if not an object.",
                     signatures=["JSON_RECORDS(STRING)"])
    def json_records(call: Call) -> Typed:
        (document,) = call.match(STRING) or call.reject()
        records = fn("JSON_TRANSFORM", document.sql, lit('"MAP(VARCHAR, VARCHAR)"'))
        return Typed(of_json_type(document.sql, "OBJECT", records), SqlType.map(STRING, STRING))

    @registry.scalar("JSON_ITEMS", category=CATEGORY, display_name="json_items",
                     description="The items of a JSON array as JSON texts; NULL if not an array.",
                     signatures=["JSON_ITEMS(STRING)"])
    def json_items(call: Call) -> Typed:
        (document,) = call.match(STRING) or call.reject()
        items = exp.cast(fn("JSON_EXTRACT", document.sql, lit("$[*]")), "VARCHAR[]")
        return Typed(of_json_type(document.sql, "ARRAY", items), SqlType.array(STRING))

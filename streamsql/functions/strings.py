"""String functions (CONCAT, SUBSTRING, TRIM, SPLIT, REGEXP_*, ...) with ksqlDB's semantics.

Each definition checks its argument types and builds a DuckDB tree; NULL inputs give NULL
unless ksqlDB says otherwise (CONCAT skips NULLs).
"""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import BYTES, INTEGER, STRING, SqlType
from streamsql.functions.registry import Call, FunctionRegistry
from streamsql.functions.sqltree import case, column, concat, fn, fresh_param, lambda_, lit, paren
from streamsql.functions.typed import Typed

CATEGORY = "STRING"
# Java's String.trim() strips every character up to and including the space.
_JAVA_WHITESPACE = "".join(chr(c) for c in range(1, 33))


def _is_null(value: exp.Expression) -> exp.Expression:
    return exp.Is(this=paren(value), expression=exp.null())


def _null_if_any_null(args: list[Typed], result: exp.Expression) -> exp.Expression:
    """`result`, or NULL when any argument is NULL (for DuckDB functions that treat NULL as '')."""
    condition = None
    for arg in args:
        test = _is_null(arg.sql)
        condition = test if condition is None else exp.Or(this=condition, expression=test)
    return case((condition, exp.null()), default=result) if condition is not None else result


def _substring_start(length: exp.Expression, position: exp.Expression) -> exp.Expression:
    """ksqlDB's 1-based start: positive counts from 1 (0 acts as 1), negative from the end."""
    start = case((exp.LT(this=position, expression=lit(0)),
                  fn("GREATEST", exp.Add(this=length, expression=position), lit(0))),
                 default=fn("GREATEST", fn("LEAST", exp.Sub(this=position, expression=lit(1)),
                                              length), lit(0)))
    return exp.Add(this=paren(start), expression=lit(1))


def _escaped_code_point(text: exp.Expression) -> exp.Expression:
    """The code point of a Java escape: '\\u597d', or a UTF-16 surrogate pair of two escapes."""
    def unit(group: int, pattern: str) -> exp.Expression:
        digits = fn("REGEXP_EXTRACT", text, lit(pattern), lit(group))
        return exp.cast(concat(lit("0x"), digits), "INT")
    single = r"^\\u([0-9a-fA-F]{4})$"
    pair = r"^\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})$"
    high, low = unit(1, pair), unit(2, pair)
    from_pair = exp.Add(this=exp.Add(this=lit(0x10000), expression=exp.Mul(
        this=paren(exp.Sub(this=high, expression=lit(0xD800))), expression=lit(0x400))),
        expression=paren(exp.Sub(this=low, expression=lit(0xDC00))))
    return case((fn("REGEXP_MATCHES", text, lit(single)), unit(1, single)),
                (fn("REGEXP_MATCHES", text, lit(pair)), from_pair))


def _split_bytes(value: exp.Expression, delimiter: exp.Expression) -> exp.Expression:
    """SPLIT on bytes, done on hex text with a space after each byte ('61 2E 62 ').

    The spaces keep matches on byte boundaries: a delimiter's text can only match where
    a byte's text starts.
    """
    def spaced(blob: exp.Expression) -> exp.Expression:
        return fn("REGEXP_REPLACE", _hex(blob), lit("(..)"), lit("\\1 "), lit("g"))
    part = fresh_param()
    as_bytes = _bytes_via_hex(fn("REPLACE", column(part), lit(" "), lit("")))
    pieces = fn("LIST_TRANSFORM", fn("STRING_SPLIT", spaced(value), spaced(delimiter)),
                lambda_([part], as_bytes))
    each_byte = fn("LIST_TRANSFORM", fn("REGEXP_EXTRACT_ALL", _hex(value), lit("..")),
                   lambda_([part], _bytes_via_hex(column(part))))
    no_delimiter = exp.EQ(this=fn("OCTET_LENGTH", delimiter), expression=lit(0))
    empty = exp.EQ(this=fn("OCTET_LENGTH", value), expression=lit(0))
    # Like Java's split, nothing split by nothing is one empty piece.
    one_empty_piece = exp.Array(expressions=[_bytes_via_hex(lit(""))])
    return case((exp.And(this=no_delimiter, expression=empty), one_empty_piece),
                (no_delimiter, each_byte), default=pieces)


def _hex(value: exp.Expression) -> exp.Expression:
    return fn("HEX", value)


def _bytes_via_hex(hex_text: exp.Expression) -> exp.Expression:
    """Bytes from hex text; byte functions DuckDB lacks are done on the hex text instead."""
    return fn("UNHEX", hex_text)


def register(registry: FunctionRegistry) -> None:
    def simple(name: str, duck: str, description: str, params: tuple[SqlType, ...] = (STRING,),
               returns: SqlType = STRING, display: str = "") -> None:
        def bind(call: Call) -> Typed:
            args = call.match(*params) or call.reject()
            return Typed(fn(duck, *(a.sql for a in args)), returns)
        signature = f"{name}({', '.join(p.sql() for p in params)})"
        registry.scalar(name, category=CATEGORY, description=description,
                        signatures=[signature], display_name=display or name.lower())(bind)

    simple("LCASE", "LOWER", "Converts a string to lower case.")
    simple("UCASE", "UPPER", "Converts a string to upper case.")
    simple("REPLACE", "REPLACE", "Replaces every occurrence of a substring with another.",
           (STRING, STRING, STRING))
    simple("MD5", "MD5", "The MD5 digest of a string as lower-case hex.")
    simple("INSTR", "INSTR", "The 1-based position of a substring, or 0 if it does not occur.",
           (STRING, STRING), INTEGER)

    @registry.scalar("CONCAT", category=CATEGORY, display_name="concat",
                     description="Concatenates strings (or bytes), skipping NULLs.",
                     signatures=["CONCAT(STRING...)", "CONCAT(BYTES...)"])
    def concat_(call: Call) -> Typed:
        if (args := call.match(variadic=STRING, min_variadic=1)) is not None:
            return Typed(fn("CONCAT", *(a.sql for a in args)), STRING)
        args = call.match(variadic=BYTES, min_variadic=1) or call.reject()
        return Typed(_bytes_via_hex(fn("CONCAT", *(_hex(a.sql) for a in args))), BYTES)

    @registry.scalar("CONCAT_WS", category=CATEGORY, display_name="concat_ws",
                     description="Joins strings (or bytes) with a separator, skipping NULLs; a "
                                 "NULL separator gives NULL.",
                     signatures=["CONCAT_WS(STRING separator, STRING...)",
                                 "CONCAT_WS(BYTES separator, BYTES...)"])
    def concat_ws(call: Call) -> Typed:
        if (args := call.match(STRING, variadic=STRING, min_variadic=1)) is not None:
            return Typed(fn("CONCAT_WS", *(a.sql for a in args)), STRING)
        args = call.match(BYTES, variadic=BYTES, min_variadic=1) or call.reject()
        return Typed(_bytes_via_hex(fn("CONCAT_WS", *(_hex(a.sql) for a in args))), BYTES)

    @registry.scalar("LEN", category=CATEGORY, display_name="len",
                     description="The length of a string (characters) or bytes (octets).",
                     signatures=["LEN(STRING)", "LEN(BYTES)"])
    def len_(call: Call) -> Typed:
        if (args := call.match(STRING)) is not None:
            return Typed(fn("LENGTH", args[0].sql), INTEGER)
        args = call.match(BYTES) or call.reject()
        return Typed(fn("OCTET_LENGTH", args[0].sql), INTEGER)

    @registry.scalar("SUBSTRING", category=CATEGORY, display_name="substring",
                     description="The substring (or sub-bytes) from a 1-based position "
                                 "(negative: from the end) with an optional length.",
                     signatures=["SUBSTRING(STRING, INTEGER)",
                                 "SUBSTRING(STRING, INTEGER, INTEGER)",
                                 "SUBSTRING(BYTES, INTEGER)",
                                 "SUBSTRING(BYTES, INTEGER, INTEGER)"])
    def substring(call: Call) -> Typed:
        for value_type in (STRING, BYTES):
            args = call.match(value_type, INTEGER) or call.match(value_type, INTEGER, INTEGER)
            if args is not None:
                break
        else:
            call.reject()
        value = args[0].sql
        length = fn("LENGTH" if value_type == STRING else "OCTET_LENGTH", value)
        start = _substring_start(length, args[1].sql)
        count = fn("GREATEST", args[2].sql, lit(0)) if len(args) == 3 else None
        if value_type == STRING:
            extra = [count] if count is not None else []
            return Typed(_null_if_any_null(args, fn("SUBSTRING", value, start, *extra)), STRING)
        # DuckDB cannot slice BLOBs by position; their hex text (two digits a byte) can be.
        hex_start = exp.Sub(this=exp.Mul(this=paren(start), expression=lit(2)), expression=lit(1))
        extra = [exp.Mul(this=count, expression=lit(2))] if count is not None else []
        sliced = fn("SUBSTRING", _hex(value), hex_start, *extra)
        return Typed(_null_if_any_null(args, _bytes_via_hex(sliced)), BYTES)

    def trimmer(name: str, duck: str, description: str) -> None:
        def bind(call: Call) -> Typed:
            args = call.match(STRING) or call.reject()
            return Typed(fn(duck, args[0].sql, lit(_JAVA_WHITESPACE)), STRING)
        registry.scalar(name, category=CATEGORY, description=description,
                        signatures=[f"{name}(STRING)"], display_name=name.lower())(bind)

    trimmer("TRIM", "TRIM", "Removes leading and trailing whitespace.")
    trimmer("LTRIM", "LTRIM", "Removes leading whitespace.")
    trimmer("RTRIM", "RTRIM", "Removes trailing whitespace.")

    def padder(name: str, duck: str, description: str) -> None:
        def bind(call: Call) -> Typed:
            is_bytes = False
            args = call.match(STRING, INTEGER, STRING)
            if args is None:
                args = call.match(BYTES, INTEGER, BYTES) or call.reject()
                is_bytes = True
            value, width, padding = (a.sql for a in args)
            if is_bytes:
                # Padded as hex text: two digits a byte, so whole bytes are kept or cut.
                value, padding = _hex(value), _hex(padding)
                width = exp.Mul(this=width, expression=lit(2))
            # ksqlDB: NULL for a negative length or empty padding (DuckDB would raise).
            invalid = exp.Or(this=exp.LT(this=width, expression=lit(0)),
                             expression=exp.EQ(this=fn("LENGTH", padding), expression=lit(0)))
            padded = fn(duck, value, width, padding)
            result = _bytes_via_hex(padded) if is_bytes else padded
            return Typed(case((invalid, exp.null()), default=result), args[0].type)
        registry.scalar(name, category=CATEGORY, description=description,
                        signatures=[f"{name}(STRING input, INTEGER length, STRING padding)",
                                    f"{name}(BYTES input, INTEGER length, BYTES padding)"],
                        display_name=name.lower())(bind)

    padder("LPAD", "LPAD", "Pads a string on the left to a length (truncating if longer).")
    padder("RPAD", "RPAD", "Pads a string on the right to a length (truncating if longer).")

    @registry.scalar("SPLIT", category=CATEGORY, display_name="split",
                     description="Splits a string (or bytes) by a delimiter; an empty "
                                 "delimiter splits into characters (bytes).",
                     signatures=["SPLIT(STRING, STRING)", "SPLIT(BYTES, BYTES)"])
    def split(call: Call) -> Typed:
        if (args := call.match(STRING, STRING)) is not None:
            return Typed(_null_if_any_null(args, fn("STRING_SPLIT", args[0].sql, args[1].sql)),
                         SqlType.array(STRING))
        args = call.match(BYTES, BYTES) or call.reject()
        return Typed(_null_if_any_null(args, _split_bytes(args[0].sql, args[1].sql)),
                     SqlType.array(BYTES))

    @registry.scalar("REGEXP_SPLIT_TO_ARRAY", category=CATEGORY,
                     display_name="regexp_split_to_array",
                     description="Splits a string around matches of a regular expression.",
                     signatures=["REGEXP_SPLIT_TO_ARRAY(STRING, STRING)"])
    def regexp_split(call: Call) -> Typed:
        args = call.match(STRING, STRING) or call.reject()
        return Typed(_null_if_any_null(args, fn("STRING_SPLIT_REGEX", args[0].sql, args[1].sql)),
                     SqlType.array(STRING))

    @registry.scalar("INITCAP", category=CATEGORY, display_name="initcap",
                     description="Capitalises the first letter of each word, lower-cases the "
                                 "rest.",
                     signatures=["INITCAP(STRING)"])
    def initcap(call: Call) -> Typed:
        args = call.match(STRING) or call.reject()
        word = fresh_param()
        capitalised = concat(fn("UPPER", fn("LEFT", column(word), lit(1))),
                             fn("LOWER", fn("SUBSTR", column(word), lit(2))))
        words = fn("LIST_TRANSFORM", fn("STRING_SPLIT", args[0].sql, lit(" ")),
                   lambda_([word], capitalised))
        return Typed(fn("ARRAY_TO_STRING", words, lit(" ")), STRING)

    @registry.scalar("REGEXP_REPLACE", category=CATEGORY, display_name="regexp_replace",
                     description="Replaces every match of a regular expression.",
                     signatures=["REGEXP_REPLACE(STRING input, STRING regex, STRING replacement)"])
    def regexp_replace(call: Call) -> Typed:
        args = call.match(STRING, STRING, STRING) or call.reject()
        value, pattern, replacement = (a.sql for a in args)
        # Java writes group references as $1, RE2 as \1.
        replacement = fn("REGEXP_REPLACE", replacement, lit(r"\$(\d)"), lit(r"\\\1"), lit("g"))
        return Typed(_null_if_any_null(args, fn("REGEXP_REPLACE", value, pattern, replacement,
                                                lit("g"))), STRING)

    @registry.scalar("REGEXP_EXTRACT", category=CATEGORY, display_name="regexp_extract",
                     description="The first match of a regular expression (or of one of its "
                                 "groups); NULL if none.",
                     signatures=["REGEXP_EXTRACT(STRING regex, STRING input)",
                                 "REGEXP_EXTRACT(STRING regex, STRING input, INTEGER group)"])
    def regexp_extract(call: Call) -> Typed:
        args = call.match(STRING, STRING) or call.match(STRING, STRING, INTEGER) or call.reject()
        pattern, value = args[0].sql, args[1].sql
        group = args[2].sql if len(args) == 3 else lit(0)
        matched = fn("REGEXP_MATCHES", value, pattern)
        return Typed(case((matched, fn("REGEXP_EXTRACT", value, pattern, group))), STRING)

    @registry.scalar("CHR", category=CATEGORY, display_name="chr",
                     description="The character of a Unicode code point (or of a '\\uXXXX' "
                                 "escape); NULL if invalid.",
                     signatures=["CHR(INTEGER)", "CHR(STRING)"])
    def chr_(call: Call) -> Typed:
        if (args := call.match(INTEGER)) is not None:
            code = args[0].sql
        else:
            args = call.match(STRING) or call.reject()
            code = _escaped_code_point(args[0].sql)
        valid = exp.Between(this=code, low=lit(0), high=lit(0x10FFFF))
        return Typed(case((valid, fn("CHR", code))), STRING)

    @registry.scalar("MASK", category=CATEGORY, display_name="mask",
                     description="Masks a string: upper case -> X, lower case -> x, digits -> n, "
                                 "others -> -.",
                     signatures=["MASK(STRING)"])
    def mask(call: Call) -> Typed:
        args = call.match(STRING) or call.reject()
        masked = args[0].sql
        for pattern, replacement in (("[^A-Za-z0-9]", "-"), ("[A-Z]", "X"), ("[a-z]", "x"),
                                     ("[0-9]", "n")):
            masked = fn("REGEXP_REPLACE", masked, lit(pattern), lit(replacement), lit("g"))
        return Typed(masked, STRING)

    @registry.scalar("UUID", category=CATEGORY, display_name="uuid",
                     description="A random UUID as a string.", signatures=["UUID()"])
    def uuid(call: Call) -> Typed:
        call.match() is not None or call.reject()
        return Typed(exp.cast(fn("UUID"), "VARCHAR"), STRING)

    @registry.scalar("TO_BYTES", category=CATEGORY, display_name="to_bytes",
                     description="Encodes a string as bytes: 'utf8', 'ascii', 'hex' or "
                                 "'base64'.",
                     signatures=["TO_BYTES(STRING, STRING encoding)"])
    def to_bytes(call: Call) -> Typed:
        args = call.match(STRING, STRING) or call.reject()
        value, encoding = args[0].sql, fn("LOWER", args[1].sql)
        return Typed(case(
            (fn("LIST_CONTAINS", exp.Array(expressions=[lit("utf8"), lit("ascii")]), encoding),
             fn("ENCODE", value)),
            (exp.EQ(this=encoding, expression=lit("hex")), fn("UNHEX", value)),
            (exp.EQ(this=encoding, expression=lit("base64")), fn("FROM_BASE64", value))), BYTES)

    @registry.scalar("FROM_BYTES", category=CATEGORY, display_name="from_bytes",
                     description="Decodes bytes as a string: 'utf8', 'ascii', 'hex' or 'base64'.",
                     signatures=["FROM_BYTES(BYTES, STRING encoding)"])
    def from_bytes(call: Call) -> Typed:
        args = call.match(BYTES, STRING) or call.reject()
        value, encoding = args[0].sql, fn("LOWER", args[1].sql)
        return Typed(case(
            (fn("LIST_CONTAINS", exp.Array(expressions=[lit("utf8"), lit("ascii")]), encoding),
             fn("DECODE", value)),
            (exp.EQ(this=encoding, expression=lit("hex")), fn("HEX", value)),
            (exp.EQ(this=encoding, expression=lit("base64")), fn("TO_BASE64", value))), STRING)

"""AST -> canonical SQL text, for EXPLAIN, the command log and error context.

Pure functions over streamsql.ast. Parenthesises by precedence and quotes names
where needed, so that parsing the output gives back an equal AST.
"""
from __future__ import annotations

import re
from decimal import Decimal
from functools import singledispatch

from streamsql import ast

# Precedence levels, loosest first; an operand printed in a tighter slot gets parentheses.
_OR, _AND, _NOT, _PREDICATE, _ADDITIVE, _MULTIPLICATIVE, _UNARY, _POSTFIX, _PRIMARY = range(1, 10)
_VALUE = _ADDITIVE  # where the grammar wants a value expression (no predicates)

_BINARY_LEVELS = {"OR": _OR, "AND": _AND, "+": _ADDITIVE, "-": _ADDITIVE,
                  "*": _MULTIPLICATIVE, "/": _MULTIPLICATIVE, "%": _MULTIPLICATIVE}
_COMPARISONS = {"=", "<>", "<", "<=", ">", ">="}

_PLAIN_NAME = re.compile(r"[A-Z_][A-Z0-9_@]*\Z")

# Words that would be read as keywords somewhere if written unquoted. Kept in step
# with grammar/streamsql.lark by tests/unit/parser/test_sqlformat.py.
KEYWORDS = frozenset("""
    ADD ADVANCE ALL ALTER AND ARRAY AS ASSERT BEGINNING BETWEEN BY CASE CAST CHANGES COLUMN
    CREATE DEFINE DELETE DESCRIBE DISTINCT DROP ELSE EMIT END ESCAPE EXISTS EXPLAIN EXTENDED
    FALSE FINAL FROM FULL FUNCTION FUNCTIONS GRACE GROUP HAVING HEADER HEADERS HOPPING IF IN
    INNER INSERT INTERVAL INTO IS JOIN KEY LEFT LIKE LIMIT LIST MAP NOT NULL ON OR OUTER PARTITION
    PERIOD PRIMARY PRINT PROPERTIES QUERIES REPLACE RETENTION RIGHT RUN SAMPLE SCHEMA SCRIPT
    SELECT SESSION SET SHOW SIZE SOURCE STREAM STREAMS STRING STRUCT SUBJECT TABLE TABLES THEN
    TERMINATE TIMEOUT TOPIC TOPICS TRUE TUMBLING TYPE TYPES UNDEFINE UNSET VALUES VARIABLES WHEN WHERE
    WINDOW WITH WITHIN
""".split())

_TIME_UNIT_WORDS = frozenset(unit + suffix for unit in
                             ("MILLISECOND", "SECOND", "MINUTE", "HOUR", "DAY")
                             for suffix in ("", "S"))


def format_identifier(name: str) -> str:
    """`NAME` as is; anything else back-quoted, with back-quotes doubled."""
    if _PLAIN_NAME.match(name) and name not in KEYWORDS and name not in _TIME_UNIT_WORDS:
        return name
    return "`" + name.replace("`", "``") + "`"


def format_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ------------------------------------------------------------------------ types

_PRIMITIVE_NAMES = frozenset({"BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES",
                              "DATE", "TIME", "TIMESTAMP", "INT", "VARCHAR", "DECIMAL"})


def format_type(t: ast.TypeNode) -> str:
    """ksqlDB's canonical type text: INTEGER, DECIMAL(4, 2), MAP<STRING, ARRAY<INTEGER>>, ..."""
    if isinstance(t, ast.PrimitiveType):
        return t.name
    if isinstance(t, ast.DecimalType):
        return f"DECIMAL({t.precision}, {t.scale})"
    if isinstance(t, ast.ArrayType):
        return f"ARRAY<{format_type(t.element)}>"
    if isinstance(t, ast.MapType):
        return f"MAP<{format_type(t.key)}, {format_type(t.value)}>"
    if isinstance(t, ast.StructType):
        fields = ", ".join(f"{format_identifier(f.name)} {format_type(f.type)}" for f in t.fields)
        return f"STRUCT<{fields}>"
    if isinstance(t, ast.CustomTypeRef):
        # A custom type named like a built-in one must be quoted to stay custom.
        if t.name in _PRIMITIVE_NAMES:
            return "`" + t.name.replace("`", "``") + "`"
        return format_identifier(t.name)
    raise TypeError(f"not a type node: {t!r}")


# ------------------------------------------------------------------------ expressions

def format_expression(expr: ast.Expr) -> str:
    """Canonical text of an expression, with only the parentheses precedence needs."""
    return _expr(expr)[0]


def _at_least(expr: ast.Expr, level: int) -> str:
    text, own = _expr(expr)
    return f"({text})" if own < level else text


def _expr(expr: ast.Expr) -> tuple[str, int]:
    """(text, precedence level of the text's outermost construct)."""
    return _format(expr)


@singledispatch
def _format(expr) -> tuple[str, int]:
    raise TypeError(f"cannot format {expr!r}")


@_format.register
def _(e: ast.IntegerLiteral):
    return str(e.value), _UNARY if e.value < 0 else _PRIMARY


@_format.register
def _(e: ast.DecimalLiteral):
    text = format(e.value, "f")
    if "." not in text:
        text += "."  # `1.` keeps it a decimal with scale 0
    return text, _UNARY if e.value.is_signed() else _PRIMARY


@_format.register
def _(e: ast.DoubleLiteral):
    # The exponent is what marks a DOUBLE literal: shortest round-trip digits, 1500.0 -> 1.5E3.
    text = format(Decimal(repr(e.value)).normalize(), "E").replace("E+", "E")
    return text, _UNARY if text.startswith("-") else _PRIMARY


@_format.register
def _(e: ast.StringLiteral):
    return format_string(e.value), _PRIMARY


@_format.register
def _(e: ast.BooleanLiteral):
    return ("TRUE" if e.value else "FALSE"), _PRIMARY


@_format.register
def _(e: ast.NullLiteral):
    return "NULL", _PRIMARY


@_format.register
def _(e: ast.ColumnRef):
    name = format_identifier(e.name)
    if e.source is not None:
        return f"{format_identifier(e.source)}.{name}", _PRIMARY
    return name, _PRIMARY


@_format.register
def _(e: ast.IntervalUnit):
    return e.unit, _PRIMARY


@_format.register
def _(e: ast.FieldAccess):
    return f"{_at_least(e.base, _POSTFIX)}->{format_identifier(e.field)}", _POSTFIX


@_format.register
def _(e: ast.Subscript):
    return f"{_at_least(e.base, _POSTFIX)}[{_at_least(e.index, _VALUE)}]", _POSTFIX


@_format.register
def _(e: ast.FunctionCall):
    name = format_identifier(e.name)
    if e.star:
        return f"{name}(*)", _PRIMARY
    args = ", ".join(_argument(arg) for arg in e.args)
    return f"{name}({'DISTINCT ' if e.distinct else ''}{args})", _PRIMARY


def _argument(arg: ast.Expr) -> str:
    # A column named like a time unit would read back as an IntervalUnit.
    if isinstance(arg, ast.ColumnRef) and arg.source is None and arg.name in _TIME_UNIT_WORDS:
        return "`" + arg.name + "`"
    return format_expression(arg)


@_format.register
def _(e: ast.Lambda):
    params = ", ".join(format_identifier(p) for p in e.params)
    head = params if len(e.params) == 1 else f"({params})"
    return f"{head} => {format_expression(e.body)}", _OR


@_format.register
def _(e: ast.BinaryOp):
    if e.op in _COMPARISONS:
        return f"{_at_least(e.left, _VALUE)} {e.op} {_at_least(e.right, _VALUE)}", _PREDICATE
    level = _BINARY_LEVELS[e.op]
    # Left-associative: the right operand must bind tighter than the operator.
    return f"{_at_least(e.left, level)} {e.op} {_at_least(e.right, level + 1)}", level


@_format.register
def _(e: ast.UnaryOp):
    if e.op == "NOT":
        return f"NOT {_at_least(e.operand, _NOT)}", _NOT
    # The parser folds `-5` into the literal -5, so UnaryOp('-', 5) has no text of its own.
    operand = _at_least(e.operand, _UNARY)
    if operand.startswith(("-", "+")):
        operand = " " + operand  # `- -1`, never the comment `--1`
    return f"{e.op}{operand}", _UNARY


@_format.register
def _(e: ast.Between):
    negated = "NOT " if e.negated else ""
    return (f"{_at_least(e.value, _VALUE)} {negated}BETWEEN {_at_least(e.low, _VALUE)} "
            f"AND {_at_least(e.high, _VALUE)}"), _PREDICATE


@_format.register
def _(e: ast.InList):
    items = ", ".join(format_expression(item) for item in e.items)
    return f"{_at_least(e.value, _VALUE)} {'NOT ' if e.negated else ''}IN ({items})", _PREDICATE


@_format.register
def _(e: ast.Like):
    text = (f"{_at_least(e.value, _VALUE)} {'NOT ' if e.negated else ''}LIKE "
            f"{_at_least(e.pattern, _VALUE)}")
    if e.escape is not None:
        text += f" ESCAPE {format_string(e.escape)}"
    return text, _PREDICATE


@_format.register
def _(e: ast.IsNull):
    return f"{_at_least(e.value, _VALUE)} IS {'NOT ' if e.negated else ''}NULL", _PREDICATE


@_format.register
def _(e: ast.IsDistinctFrom):
    return (f"{_at_least(e.left, _VALUE)} IS {'NOT ' if e.negated else ''}DISTINCT FROM "
            f"{_at_least(e.right, _VALUE)}"), _PREDICATE


@_format.register
def _(e: ast.Case):
    parts = ["CASE"]
    if e.operand is not None:
        parts.append(_at_least(e.operand, _VALUE))
    for when in e.whens:
        parts.append(f"WHEN {format_expression(when.condition)} "
                     f"THEN {format_expression(when.result)}")
    if e.default is not None:
        parts.append(f"ELSE {format_expression(e.default)}")
    parts.append("END")
    return " ".join(parts), _PRIMARY


@_format.register
def _(e: ast.Cast):
    return f"CAST({format_expression(e.value)} AS {format_type(e.type)})", _PRIMARY


@_format.register
def _(e: ast.CreateArray):
    return f"ARRAY[{', '.join(format_expression(i) for i in e.items)}]", _PRIMARY


@_format.register
def _(e: ast.CreateMap):
    entries = ", ".join(f"{format_expression(entry.key)} := {format_expression(entry.value)}"
                        for entry in e.entries)
    return f"MAP({entries})", _PRIMARY


@_format.register
def _(e: ast.CreateStruct):
    fields = ", ".join(f"{format_identifier(f.name)} := {format_expression(f.value)}"
                       for f in e.fields)
    return f"STRUCT({fields})", _PRIMARY


# ------------------------------------------------------------------------ queries

def format_duration(d: ast.Duration) -> str:
    return f"{d.value} {d.unit}"


def _window(w: ast.WindowExpr) -> str:
    if isinstance(w, ast.TumblingWindow):
        parts = [f"SIZE {format_duration(w.size)}"]
        kind = "TUMBLING"
    elif isinstance(w, ast.HoppingWindow):
        parts = [f"SIZE {format_duration(w.size)}", f"ADVANCE BY {format_duration(w.advance)}"]
        kind = "HOPPING"
    else:
        parts = [format_duration(w.gap)]
        kind = "SESSION"
    if w.retention is not None:
        parts.append(f"RETENTION {format_duration(w.retention)}")
    if w.grace is not None:
        parts.append(f"GRACE PERIOD {format_duration(w.grace)}")
    return f"{kind} ({', '.join(parts)})"


def _select_item(item: ast.SelectItem) -> str:
    if isinstance(item, ast.AllColumns):
        return f"{format_identifier(item.source)}.*" if item.source else "*"
    if isinstance(item, ast.AllStructFields):
        return f"{_at_least(item.base, _POSTFIX)}->*"
    text = format_expression(item.expr)
    return f"{text} AS {format_identifier(item.alias)}" if item.alias is not None else text


def _relation(r: ast.Relation) -> str:
    if isinstance(r, ast.Table):
        name = format_identifier(r.name)
        return f"{name} {format_identifier(r.alias)}" if r.alias is not None else name
    text = f"{_relation(r.left)} {r.kind} JOIN {_relation(r.right)}"
    if r.within is not None:
        w = r.within
        if w.before == w.after:
            text += f" WITHIN {format_duration(w.before)}"
        else:
            text += f" WITHIN ({format_duration(w.before)}, {format_duration(w.after)})"
        if w.grace is not None:
            text += f" GRACE PERIOD {format_duration(w.grace)}"
    return f"{text} ON {format_expression(r.on)}"


def format_select(s: ast.Select) -> str:
    parts = ["SELECT " + ", ".join(_select_item(i) for i in s.items), "FROM " + _relation(s.from_)]
    if s.window is not None:
        parts.append("WINDOW " + _window(s.window))
    if s.where is not None:
        parts.append("WHERE " + format_expression(s.where))
    if s.group_by:
        parts.append("GROUP BY " + ", ".join(_at_least(e, _VALUE) for e in s.group_by))
    if s.partition_by:
        parts.append("PARTITION BY " + ", ".join(_at_least(e, _VALUE) for e in s.partition_by))
    if s.having is not None:
        parts.append("HAVING " + format_expression(s.having))
    if s.emit is not None:
        parts.append("EMIT " + s.emit)
    if s.limit is not None:
        parts.append(f"LIMIT {s.limit}")
    return " ".join(parts)


# ------------------------------------------------------------------------ statements

def _properties(props: tuple[ast.Property, ...]) -> str:
    if not props:
        return ""
    return " WITH (" + ", ".join(f"{format_identifier(p.name)}={format_expression(p.value)}"
                                 for p in props) + ")"


def _column(c: ast.ColumnDef) -> str:
    text = f"{format_identifier(c.name)} {format_type(c.type)}"
    if c.constraint == "HEADER":
        return f"{text} HEADER({format_string(c.header_key)})"
    return f"{text} {c.constraint}" if c.constraint else text


def _names(names: tuple[str, ...] | None) -> str:
    return "" if names is None else " (" + ", ".join(map(format_identifier, names)) + ")"


def _values(values: tuple[ast.Expr, ...]) -> str:
    return "VALUES (" + ", ".join(map(format_expression, values)) + ")"


def format_statement(stmt: ast.Statement) -> str:
    """Canonical text of a statement, without the trailing `;`."""
    return _statement(stmt)


@singledispatch
def _statement(stmt) -> str:
    raise TypeError(f"cannot format {stmt!r}")


def _create_head(kind: str, stmt, is_source: bool = False) -> str:
    return ("CREATE " + ("OR REPLACE " if stmt.or_replace else "")
            + ("SOURCE " if is_source else "") + kind + " "
            + ("IF NOT EXISTS " if stmt.if_not_exists else "") + format_identifier(stmt.name))


@_statement.register(ast.CreateStream)
@_statement.register(ast.CreateTable)
def _(s):
    kind = "STREAM" if isinstance(s, ast.CreateStream) else "TABLE"
    columns = " (" + ", ".join(map(_column, s.columns)) + ")" if s.columns else ""
    return _create_head(kind, s, s.is_source) + columns + _properties(s.properties)


@_statement.register(ast.CreateStreamAs)
@_statement.register(ast.CreateTableAs)
def _(s):
    kind = "STREAM" if isinstance(s, ast.CreateStreamAs) else "TABLE"
    return f"{_create_head(kind, s)}{_properties(s.properties)} AS {format_select(s.query)}"


@_statement.register
def _(s: ast.InsertInto):
    return (f"INSERT INTO {format_identifier(s.target)}{_properties(s.properties)} "
            f"{format_select(s.query)}")


@_statement.register
def _(s: ast.InsertValues):
    return f"INSERT INTO {format_identifier(s.target)}{_names(s.columns)} {_values(s.values)}"


@_statement.register
def _(s: ast.AssertValues):
    return f"ASSERT VALUES {format_identifier(s.target)}{_names(s.columns)} {_values(s.values)}"


@_statement.register
def _(s: ast.Query):
    return format_select(s.select)


@_statement.register
def _(s: ast.Show):
    return "SHOW " + s.what.replace("_", " ") + (" EXTENDED" if s.extended else "")


@_statement.register
def _(s: ast.Describe):
    return "DESCRIBE " + ("EXTENDED " if s.extended else "") + format_identifier(s.name)


@_statement.register
def _(s: ast.DescribeFunction):
    return "DESCRIBE FUNCTION " + format_identifier(s.name)


@_statement.register
def _(s: ast.Explain):
    if s.statement is not None:
        return "EXPLAIN " + format_statement(s.statement)
    return "EXPLAIN " + format_identifier(s.query_id)


@_statement.register
def _(s: ast.Terminate):
    return "TERMINATE ALL" if s.all else "TERMINATE " + format_identifier(s.query_id)


@_statement.register
def _(s: ast.DropSource):
    return (f"DROP {s.kind} " + ("IF EXISTS " if s.if_exists else "")
            + format_identifier(s.name) + (" DELETE TOPIC" if s.delete_topic else ""))


@_statement.register
def _(s: ast.Print):
    text = "PRINT " + format_string(s.topic)
    if s.from_beginning:
        text += " FROM BEGINNING"
    if s.interval is not None:
        text += f" INTERVAL {s.interval}"
    if s.limit is not None:
        text += f" LIMIT {s.limit}"
    return text


@_statement.register
def _(s: ast.SetProperty):
    return f"SET {format_string(s.name)}={format_string(s.value)}"


@_statement.register
def _(s: ast.UnsetProperty):
    return f"UNSET {format_string(s.name)}"


@_statement.register
def _(s: ast.DefineVariable):
    return f"DEFINE {format_identifier(s.name)}={format_string(s.value)}"


@_statement.register
def _(s: ast.UndefineVariable):
    return f"UNDEFINE {format_identifier(s.name)}"


@_statement.register
def _(s: ast.CreateType):
    return ("CREATE TYPE " + ("IF NOT EXISTS " if s.if_not_exists else "")
            + f"{format_identifier(s.name)} AS {format_type(s.type)}")


@_statement.register
def _(s: ast.DropType):
    return "DROP TYPE " + ("IF EXISTS " if s.if_exists else "") + format_identifier(s.name)


@_statement.register
def _(s: ast.RunScript):
    return f"RUN SCRIPT {format_string(s.path)}"


@_statement.register
def _(s: ast.AlterSource):
    columns = ", ".join(f"ADD COLUMN {_column(c)}" for c in s.columns)
    return f"ALTER {s.kind} {format_identifier(s.name)} {columns}"


@_statement.register
def _(s: ast.AssertTopic):
    text = "ASSERT " + ("" if s.exists else "NOT EXISTS ") + "TOPIC " + format_string(s.topic)
    text += _properties(s.properties)
    if s.timeout is not None:
        text += f" TIMEOUT {format_duration(s.timeout)}"
    return text


@_statement.register
def _(s: ast.AssertSchema):
    text = "ASSERT " + ("" if s.exists else "NOT EXISTS ") + "SCHEMA"
    if s.subject is not None:
        text += f" SUBJECT {format_string(s.subject)}"
    if s.schema_id is not None:
        text += f" ID {s.schema_id}"
    if s.timeout is not None:
        text += f" TIMEOUT {format_duration(s.timeout)}"
    return text

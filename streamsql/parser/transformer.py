"""Turns Lark parse trees into streamsql.ast nodes, with a span on every node.

Also raises the few checks ksqlDB makes while building its AST (KEY on a table
column, a fractional LIMIT, ...) as ParseErrors pointing at the offending text.
"""
from __future__ import annotations

from decimal import Decimal

from lark import Token, Transformer, v_args
from lark.tree import Meta

from streamsql import ast
from streamsql.errors import ParseError, Span

PRIMITIVE_TYPES = {
    "BOOLEAN": "BOOLEAN", "INT": "INTEGER", "INTEGER": "INTEGER", "BIGINT": "BIGINT",
    "DOUBLE": "DOUBLE", "STRING": "STRING", "VARCHAR": "STRING", "BYTES": "BYTES",
    "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP",
}

TIME_UNITS = {"MILLISECOND": "MILLISECONDS", "SECOND": "SECONDS", "MINUTE": "MINUTES",
              "HOUR": "HOURS", "DAY": "DAYS"}


def time_unit(word: str) -> str | None:
    """The plural upper-case unit for `second`, `SECONDS`, ...; None if `word` is no unit."""
    upper = word.upper()
    return TIME_UNITS.get(upper[:-1] if upper.endswith("S") else upper)


def span_of(item: Meta | Token) -> Span | None:
    if isinstance(item, Token):
        return Span(item.line, item.column, item.end_line, item.end_column,
                    item.start_pos, item.end_pos)
    if getattr(item, "empty", True):
        return None
    return Span(item.line, item.column, item.end_line, item.end_column,
                item.start_pos, item.end_pos)


def is_quoted(token: Token) -> bool:
    return token.value[0] in "`\""


def identifier_text(token: Token) -> str:
    """Unquoted names are upper-cased; back-quoted and double-quoted ones keep their case."""
    quote = token.value[0]
    if quote in "`\"":
        return token.value[1:-1].replace(quote * 2, quote)
    return token.value.upper()


def string_text(token: Token) -> str:
    return token.value[1:-1].replace("''", "'")


class _Flag:
    """A parsed optional keyword group (OR REPLACE, IF NOT EXISTS, ...)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _NamedArgument:
    """`key := value` inside MAP(...) or STRUCT(...)."""

    __slots__ = ("key", "value", "span")

    def __init__(self, key: ast.Expr, value: ast.Expr, span: Span | None):
        self.key, self.value, self.span = key, value, span


def _present(items) -> list:
    return [item for item in items if item is not None]


@v_args(meta=True)
class AstBuilder(Transformer):
    """Bottom-up conversion; each method gets the rule's meta and its converted children."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def _error(self, message: str, where: Meta | Token | Span | None, hint: str | None = None):
        span = where if isinstance(where, Span) or where is None else span_of(where)
        return ParseError(message, span, hint=hint, text=self.text)

    # ------------------------------------------------------------ scripts

    def script(self, meta, children):
        return list(children)

    client_script = script

    # ------------------------------------------------------------ names and literals

    def integer(self, meta, children):
        return ast.IntegerLiteral(int(children[0]), span=span_of(meta))

    def decimal(self, meta, children):
        return ast.DecimalLiteral(Decimal(children[0].value), span=span_of(meta))

    def double(self, meta, children):
        return ast.DoubleLiteral(float(children[0].value), span=span_of(meta))

    def string(self, meta, children):
        return ast.StringLiteral(string_text(children[0]), span=span_of(meta))

    def true_literal(self, meta, children):
        return ast.BooleanLiteral(True, span=span_of(meta))

    def false_literal(self, meta, children):
        return ast.BooleanLiteral(False, span=span_of(meta))

    def null_literal(self, meta, children):
        return ast.NullLiteral(span=span_of(meta))

    def signed_number(self, meta, children):
        sign, number = children
        literal = self._number(number)
        return _negate(literal, span_of(meta)) if sign == "-" else literal

    def _number(self, token: Token) -> ast.Expr:
        span = span_of(token)
        if token.type == "INTEGER_VALUE":
            return ast.IntegerLiteral(int(token), span=span)
        if token.type == "DECIMAL_VALUE":
            return ast.DecimalLiteral(Decimal(token.value), span=span)
        return ast.DoubleLiteral(float(token.value), span=span)

    # ------------------------------------------------------------ expressions

    def column_ref(self, meta, children):
        return ast.ColumnRef(identifier_text(children[0]), span=span_of(meta))

    def qualified_column_ref(self, meta, children):
        source, name = children
        return ast.ColumnRef(identifier_text(name), identifier_text(source), span=span_of(meta))

    def or_op(self, meta, children):
        return ast.BinaryOp("OR", children[0], children[1], span=span_of(meta))

    def and_op(self, meta, children):
        return ast.BinaryOp("AND", children[0], children[1], span=span_of(meta))

    def not_op(self, meta, children):
        return ast.UnaryOp("NOT", children[0], span=span_of(meta))

    def negation(self, meta, children):
        return True

    def comparison_operator(self, meta, children):
        op = children[0].value
        return "<>" if op == "!=" else op

    def additive_operator(self, meta, children):
        return children[0].value

    multiplicative_operator = additive_operator

    def comparison(self, meta, children):
        left, op, right = children
        return ast.BinaryOp(op, left, right, span=span_of(meta))

    def binary_op(self, meta, children):
        left, op, right = children
        return ast.BinaryOp(op, left, right, span=span_of(meta))

    def unary_op(self, meta, children):
        op, operand = children
        # `-5` is the literal -5 (as in ksqlDB), so that INT_MIN and friends are literals.
        if op == "-" and _is_unsigned_number(operand):
            return _negate(operand, span_of(meta))
        return ast.UnaryOp(op, operand, span=span_of(meta))

    def between(self, meta, children):
        value, negated, low, high = children
        return ast.Between(value, low, high, bool(negated), span=span_of(meta))

    def in_list(self, meta, children):
        value, negated, *items = children
        return ast.InList(value, tuple(items), bool(negated), span=span_of(meta))

    def like(self, meta, children):
        value, negated, pattern, escape = children
        escape_text = None
        if escape is not None:
            escape_text = string_text(escape)
            if len(escape_text) != 1:
                raise self._error(f"ESCAPE must be a single character, got '{escape_text}'", escape)
        return ast.Like(value, pattern, escape_text, bool(negated), span=span_of(meta))

    def is_null(self, meta, children):
        value, negated = children
        return ast.IsNull(value, bool(negated), span=span_of(meta))

    def is_distinct_from(self, meta, children):
        left, negated, right = children
        return ast.IsDistinctFrom(left, right, bool(negated), span=span_of(meta))

    def subscript(self, meta, children):
        return ast.Subscript(children[0], children[1], span=span_of(meta))

    def field_access(self, meta, children):
        return ast.FieldAccess(children[0], identifier_text(children[1]), span=span_of(meta))

    def when_clause(self, meta, children):
        return ast.WhenClause(children[0], children[1], span=span_of(meta))

    def simple_case(self, meta, children):
        operand, *whens, default = children
        return ast.Case(operand, tuple(whens), default, span=span_of(meta))

    def searched_case(self, meta, children):
        *whens, default = children
        return ast.Case(None, tuple(whens), default, span=span_of(meta))

    def cast(self, meta, children):
        return ast.Cast(children[0], children[1], span=span_of(meta))

    def create_array(self, meta, children):
        return ast.CreateArray(tuple(_present(children)), span=span_of(meta))

    def named_argument(self, meta, children):
        return _NamedArgument(children[0], children[1], span_of(meta))

    def lambda_expression(self, meta, children):
        head, body = children
        params = _lambda_parameters(head.value)
        return ast.Lambda(params, body, span=span_of(meta))

    def function_call(self, meta, children):
        name_token, *args = children
        name = identifier_text(name_token)
        args = _present(args)
        named = [arg for arg in args if isinstance(arg, _NamedArgument)]
        if name in ("MAP", "STRUCT") and len(named) == len(args):
            return self._constructor(name, named, meta)
        if named:
            raise self._error(f"Only MAP(...) and STRUCT(...) take `name := value` arguments, "
                              f"not {name}(...)", named[0].span)
        args = [self._interval_unit(arg) for arg in args]
        return ast.FunctionCall(name, tuple(args), span=span_of(meta))

    def _constructor(self, name: str, named: list[_NamedArgument], meta) -> ast.Expr:
        if name == "MAP":
            entries = tuple(ast.MapEntry(arg.key, arg.value, span=arg.span) for arg in named)
            return ast.CreateMap(entries, span=span_of(meta))
        fields = []
        for arg in named:
            if not isinstance(arg.key, ast.ColumnRef) or arg.key.source is not None:
                raise self._error("A STRUCT field name must be a plain name, as in "
                                  "STRUCT(NAME := 'x')", arg.key.span)
            fields.append(ast.StructFieldValue(arg.key.name, arg.value, span=arg.span))
        return ast.CreateStruct(tuple(fields), span=span_of(meta))

    def _interval_unit(self, arg: ast.Expr) -> ast.Expr:
        """A bare, unquoted time unit argument (TIMESTAMPADD(SECONDS, ...)) is an IntervalUnit."""
        if isinstance(arg, ast.ColumnRef) and arg.source is None and arg.span is not None:
            written = self.text[arg.span.start_pos:arg.span.end_pos]
            unit = time_unit(written)
            if unit is not None and written.upper() == arg.name:
                return ast.IntervalUnit(unit, span=arg.span)
        return arg

    def count_star(self, meta, children):
        return ast.FunctionCall(identifier_text(children[0]), star=True, span=span_of(meta))

    def distinct_call(self, meta, children):
        name, *args = children
        return ast.FunctionCall(identifier_text(name), tuple(args), distinct=True,
                                span=span_of(meta))

    # ------------------------------------------------------------ types

    def base_type(self, meta, children):
        name_token, parameters = children
        name = identifier_text(name_token)
        quoted = is_quoted(name_token)
        if not quoted and name == "DECIMAL":
            if (parameters is None or len(parameters) != 2
                    or not all(isinstance(p, int) for p in parameters)):
                raise self._error("DECIMAL needs a precision and a scale, as in DECIMAL(10, 2)",
                                  meta)
            return ast.DecimalType(parameters[0], parameters[1], span=span_of(meta))
        # Like ksqlDB, other types accept and ignore parameters: VARCHAR(STRING) is STRING.
        if not quoted and name in PRIMITIVE_TYPES:
            return ast.PrimitiveType(PRIMITIVE_TYPES[name], span=span_of(meta))
        return ast.CustomTypeRef(name, span=span_of(meta))

    def type_parameters(self, meta, children):
        return list(children)

    def type_parameter(self, meta, children):
        token = children[0]
        return int(token) if token.type == "INTEGER_VALUE" else "STRING"

    def array_type(self, meta, children):
        return ast.ArrayType(children[0], span=span_of(meta))

    def map_type(self, meta, children):
        return ast.MapType(children[0], children[1], span=span_of(meta))

    def struct_field(self, meta, children):
        return ast.StructField(identifier_text(children[0]), children[1], span=span_of(meta))

    def struct_type(self, meta, children):
        return ast.StructType(tuple(_present(children)), span=span_of(meta))

    # ------------------------------------------------------------ queries

    def duration(self, meta, children):
        value, unit = children
        return ast.Duration(int(value), time_unit(unit.value), span=span_of(meta))

    def retention(self, meta, children):
        return children[0]

    def grace_period(self, meta, children):
        return children[0]

    def tumbling(self, meta, children):
        size, retention, grace = children
        return ast.TumblingWindow(size, retention, grace, span=span_of(meta))

    def hopping(self, meta, children):
        size, advance, retention, grace = children
        return ast.HoppingWindow(size, advance, retention, grace, span=span_of(meta))

    def session(self, meta, children):
        gap, retention, grace = children
        return ast.SessionWindow(gap, retention, grace, span=span_of(meta))

    def window(self, meta, children):
        return children[-1]  # the optional window name is accepted and ignored, as in ksqlDB

    def all_columns(self, meta, children):
        return ast.AllColumns(span=span_of(meta))

    def source_all_columns(self, meta, children):
        return ast.AllColumns(identifier_text(children[0]), span=span_of(meta))

    def struct_all_fields(self, meta, children):
        return ast.AllStructFields(children[0], span=span_of(meta))

    def single_column(self, meta, children):
        expr, alias = children
        return ast.SingleColumn(expr, identifier_text(alias) if alias is not None else None,
                                span=span_of(meta))

    def aliased_relation(self, meta, children):
        name, alias = children
        return ast.Table(identifier_text(name),
                         identifier_text(alias) if alias is not None else None,
                         span=span_of(meta))

    def join_kind(self, meta, children):
        return children[0].value.upper()

    def within(self, meta, children):
        if len(children) == 2:
            before, grace = children
            after = before
        else:
            before, after, grace = children
        return ast.Within(before, after, grace, span=span_of(meta))

    def join(self, meta, children):
        left, kind, right, within, on = children
        return ast.Join(kind or "INNER", left, right, on, within, span=span_of(meta))

    def where(self, meta, children):
        return ("where", children[0])

    def having(self, meta, children):
        return ("having", children[0])

    def group_by(self, meta, children):
        items = tuple(_present(children))
        if not items:
            raise self._error("GROUP BY requires at least one expression", meta)
        return ("group_by", items)

    def partition_by(self, meta, children):
        items = tuple(_present(children))
        if not items:
            raise self._error("PARTITION BY requires at least one expression", meta)
        return ("partition_by", items)

    def emit(self, meta, children):
        return ("emit", children[1].value.upper())

    def limit(self, meta, children):
        value = children[0]
        if isinstance(value, Token):
            value = self._number(value)
        if not isinstance(value, ast.IntegerLiteral):
            # ksqlDB rejects it while preparing the statement and says so
            raise self._error("Failed to prepare statement: Value must be integer for command: "
                              "LIMIT", meta)
        return ("limit", value.value)

    def select(self, meta, children):
        clauses = {}
        items = []
        relation = None
        for child in children:
            if child is None:
                continue
            if isinstance(child, tuple):
                clauses[child[0]] = child[1]
            elif isinstance(child, ast.SelectItem):
                items.append(child)
            elif isinstance(child, ast.Relation):
                relation = child
            elif isinstance(child, ast.WindowExpr):
                clauses["window"] = child
        return ast.Select(tuple(items), relation, span=span_of(meta), **clauses)

    def query(self, meta, children):
        return ast.Query(children[0], span=span_of(meta))

    # ------------------------------------------------------------ statements

    def or_replace(self, meta, children):
        return _Flag("or_replace")

    def source_flag(self, meta, children):
        return _Flag("is_source")

    def if_not_exists(self, meta, children):
        return _Flag("if_not_exists")

    def if_exists(self, meta, children):
        return _Flag("if_exists")

    def not_exists(self, meta, children):
        return _Flag("not_exists")

    def delete_topic(self, meta, children):
        return _Flag("delete_topic")

    def extended(self, meta, children):
        return _Flag("extended")

    def source_kind(self, meta, children):
        return children[0].value.upper()

    def property(self, meta, children):
        key, value = children
        name = string_text(key) if key.type == "STRING" else identifier_text(key)
        return ast.Property(name.upper(), value, span=span_of(meta))

    def with_properties(self, meta, children):
        return tuple(children)

    def column_names(self, meta, children):
        return tuple(identifier_text(name) for name in children)

    def table_elements(self, meta, children):
        return tuple(children)

    def primary_key(self, meta, children):
        return ("PRIMARY KEY", None)

    def key(self, meta, children):
        return ("KEY", None)

    def headers(self, meta, children):
        return ("HEADERS", None)

    def header(self, meta, children):
        return ("HEADER", string_text(children[0]))

    def table_element(self, meta, children):
        name, type_, constraint = children
        kind, header_key = constraint if constraint is not None else (None, None)
        return ast.ColumnDef(identifier_text(name), type_, kind, header_key, span=span_of(meta))

    def create_source(self, meta, children):
        or_replace, is_source, kind, if_not_exists, name, columns, properties = children
        columns = columns or ()
        self._check_key_constraints(kind, columns)
        node = ast.CreateStream if kind == "STREAM" else ast.CreateTable
        return node(identifier_text(name), columns, properties or (),
                    or_replace is not None, if_not_exists is not None, is_source is not None,
                    span=span_of(meta))

    def _check_key_constraints(self, kind: str, columns: tuple[ast.ColumnDef, ...]) -> None:
        # ksqlDB reports these with its "Line: L, Col: C:" prefix, pointing at the column name.
        wrong, right, kind_plural = (("KEY", "PRIMARY KEY", "tables") if kind == "TABLE"
                                     else ("PRIMARY KEY", "KEY", "streams"))
        for column in columns:
            if column.constraint == wrong:
                span = column.span
                raise self._error(
                    f"Line: {span.line}, Col: {span.column}: Column `{column.name}` is a "
                    f"'{wrong}' column: please use '{right}' for {kind_plural}.",
                    Span(span.line, span.column, span.line, span.column + len(column.name),
                         span.start_pos, span.start_pos + len(column.name)),
                    hint=f"write `{column.name} ... {right}` in a CREATE {kind}")

    def create_source_as(self, meta, children):
        or_replace, kind, if_not_exists, name, properties, select = children
        node = ast.CreateStreamAs if kind == "STREAM" else ast.CreateTableAs
        return node(identifier_text(name), select, properties or (),
                    or_replace is not None, if_not_exists is not None, span=span_of(meta))

    def insert_select(self, meta, children):
        target, properties, select = children
        return ast.InsertInto(identifier_text(target), select, properties or (),
                              span=span_of(meta), target_span=span_of(target))

    def insert_values(self, meta, children):
        target, columns, *values = children
        return ast.InsertValues(identifier_text(target), columns, tuple(_present(values)),
                                span=span_of(meta))

    def assert_values(self, meta, children):
        target, columns, *values = children
        return ast.AssertValues(identifier_text(target), columns, tuple(_present(values)),
                                span=span_of(meta))

    def show(self, meta, children):
        words = [token.value.upper() for token in _present(children)[1:]]
        extended = words[-1] == "EXTENDED"
        if extended:
            words.pop()
        return ast.Show("_".join(words), extended, span=span_of(meta))

    def describe(self, meta, children):
        before, name, after = children
        return ast.Describe(identifier_text(name), before is not None or after is not None,
                            span=span_of(meta))

    def describe_function(self, meta, children):
        return ast.DescribeFunction(identifier_text(children[0]), span=span_of(meta))

    def explain(self, meta, children):
        target = children[0]
        if isinstance(target, Token):
            return ast.Explain(query_id=identifier_text(target), span=span_of(meta))
        return ast.Explain(statement=target, span=span_of(meta))

    def terminate(self, meta, children):
        return ast.Terminate(identifier_text(children[0]), span=span_of(meta))

    def terminate_all(self, meta, children):
        return ast.Terminate(None, all=True, span=span_of(meta))

    def drop_source(self, meta, children):
        kind, if_exists, name, delete_topic = children
        return ast.DropSource(kind, identifier_text(name), if_exists is not None,
                              delete_topic is not None, span=span_of(meta))

    def from_beginning(self, meta, children):
        return _Flag("from_beginning")

    def print_interval(self, meta, children):
        return int(children[0])

    def print_topic(self, meta, children):
        topic, from_beginning, interval, limit = children
        # Topic names are case-sensitive: an unquoted PRINT target keeps its case.
        name = string_text(topic) if topic.type == "STRING" else (
            identifier_text(topic) if is_quoted(topic) else topic.value)
        return ast.Print(name, from_beginning is not None, interval,
                         limit[1] if limit else None, span=span_of(meta))

    def set_property(self, meta, children):
        return ast.SetProperty(string_text(children[0]), string_text(children[1]),
                               span=span_of(meta))

    def unset_property(self, meta, children):
        return ast.UnsetProperty(string_text(children[0]), span=span_of(meta))

    def define_variable(self, meta, children):
        return ast.DefineVariable(identifier_text(children[0]), string_text(children[1]),
                                  span=span_of(meta))

    def undefine_variable(self, meta, children):
        return ast.UndefineVariable(identifier_text(children[0]), span=span_of(meta))

    def create_type(self, meta, children):
        if_not_exists, name, type_ = children
        return ast.CreateType(identifier_text(name), type_, if_not_exists is not None,
                              span=span_of(meta))

    def drop_type(self, meta, children):
        if_exists, name = children
        return ast.DropType(identifier_text(name), if_exists is not None, span=span_of(meta))

    def alter_option(self, meta, children):
        name, type_ = children
        return ast.ColumnDef(identifier_text(name), type_, span=span_of(meta))

    def alter_source(self, meta, children):
        kind, name, *columns = children
        return ast.AlterSource(kind, identifier_text(name), tuple(columns), span=span_of(meta))

    def subject(self, meta, children):
        token = children[0]
        return string_text(token) if token.type == "STRING" else identifier_text(token)

    def schema_id(self, meta, children):
        return int(children[0])

    def timeout(self, meta, children):
        return children[0]

    def assert_topic(self, meta, children):
        not_exists, topic, properties, timeout = children
        name = string_text(topic) if topic.type == "STRING" else identifier_text(topic)
        return ast.AssertTopic(name, not_exists is None, properties or (), timeout,
                               span=span_of(meta))

    def assert_schema(self, meta, children):
        not_exists, subject, schema_id, timeout = children
        return ast.AssertSchema(subject, schema_id, not_exists is None, timeout,
                                span=span_of(meta))

    def run_script(self, meta, children):
        return ast.RunScript(string_text(children[0]), span=span_of(meta))


def _is_unsigned_number(expr: ast.Expr) -> bool:
    return (isinstance(expr, (ast.IntegerLiteral, ast.DecimalLiteral, ast.DoubleLiteral))
            and not _is_negative(expr.value))


def _is_negative(value) -> bool:
    return value < 0 or (isinstance(value, Decimal) and value.is_signed())


def _negate(literal: ast.Expr, span: Span | None) -> ast.Expr:
    value = literal.value
    # Decimal's unary minus rounds to the context's 28 digits; copy_negate is exact.
    negated = value.copy_negate() if isinstance(value, Decimal) else -value
    return type(literal)(negated, span=span)


def _lambda_parameters(head: str) -> tuple[str, ...]:
    """`x =>`, `(x, `y`) =>` -> ('X', 'y')."""
    inner = head[:head.rindex("=>")].strip()
    if inner.startswith("("):
        inner = inner[1:-1]
    names = []
    for part in _split_names(inner):
        part = part.strip()
        names.append(part[1:-1].replace("``", "`") if part.startswith("`") else part.upper())
    return tuple(names)


def _split_names(text: str) -> list[str]:
    """Split a parameter list on commas outside back-quotes."""
    parts, current, quoted = [], [], False
    for char in text:
        if char == "`":
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts

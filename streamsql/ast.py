"""Typed, immutable AST for streamsql statements and expressions.

Imports nothing from the project but errors.Span. Every node has a `span` that is
ignored by equality, so `parse(format(ast)) == ast` compares structure only.
Identifiers are stored resolved: unquoted names upper-cased, back-quoted names as written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from streamsql.errors import Span


@dataclass(frozen=True)
class Node:
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


def walk(node: Node):
    """The node and every node below it, parents before children, in field order."""
    yield node
    for value in vars(node).values():
        for child in (value if isinstance(value, tuple) else (value,)):
            if isinstance(child, Node):
                yield from walk(child)


# ---------------------------------------------------------------------------- types

class TypeNode(Node):
    """A type as written in SQL; catalog.types resolves it (custom types included)."""


@dataclass(frozen=True)
class PrimitiveType(TypeNode):
    name: str  # BOOLEAN INTEGER BIGINT DOUBLE STRING BYTES DATE TIME TIMESTAMP (aliases normalised)


@dataclass(frozen=True)
class DecimalType(TypeNode):
    precision: int
    scale: int


@dataclass(frozen=True)
class ArrayType(TypeNode):
    element: TypeNode


@dataclass(frozen=True)
class MapType(TypeNode):
    key: TypeNode
    value: TypeNode


@dataclass(frozen=True)
class StructField(Node):
    name: str
    type: TypeNode


@dataclass(frozen=True)
class StructType(TypeNode):
    fields: tuple[StructField, ...]


@dataclass(frozen=True)
class CustomTypeRef(TypeNode):
    name: str


# ---------------------------------------------------------------------------- expressions

class Expr(Node):
    """Base of expressions."""


@dataclass(frozen=True)
class IntegerLiteral(Expr):
    value: int  # INT if it fits 32 bits, else BIGINT


@dataclass(frozen=True)
class DecimalLiteral(Expr):
    value: Decimal  # `1.50` keeps its scale; ksqlDB types it DECIMAL


@dataclass(frozen=True)
class DoubleLiteral(Expr):
    value: float  # written with an exponent (`1.5E3`)


@dataclass(frozen=True)
class StringLiteral(Expr):
    value: str


@dataclass(frozen=True)
class BooleanLiteral(Expr):
    value: bool


@dataclass(frozen=True)
class NullLiteral(Expr):
    pass


@dataclass(frozen=True)
class ColumnRef(Expr):
    name: str
    source: str | None = None  # qualifier: `S.COL` -> source 'S'


@dataclass(frozen=True)
class FieldAccess(Expr):
    """Struct field access `base->field`."""

    base: Expr
    field: str


@dataclass(frozen=True)
class Subscript(Expr):
    """Array index (1-based, negative from the end) or map lookup: `base[index]`."""

    base: Expr
    index: Expr


@dataclass(frozen=True)
class FunctionCall(Expr):
    name: str  # upper-cased
    args: tuple[Expr, ...] = ()
    star: bool = False  # COUNT(*)
    distinct: bool = False


@dataclass(frozen=True)
class BinaryOp(Expr):
    """Arithmetic (+ - * / %), comparison (= <> < <= > >=) and logical (AND OR) operators.

    `!=` is normalised to `<>`.
    """

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class UnaryOp(Expr):
    op: str  # '-', '+', 'NOT'
    operand: Expr


@dataclass(frozen=True)
class Between(Expr):
    value: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True)
class InList(Expr):
    value: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like(Expr):
    value: Expr
    pattern: Expr
    escape: str | None = None
    negated: bool = False


@dataclass(frozen=True)
class IsNull(Expr):
    value: Expr
    negated: bool = False


@dataclass(frozen=True)
class IsDistinctFrom(Expr):
    left: Expr
    right: Expr
    negated: bool = False


@dataclass(frozen=True)
class WhenClause(Node):
    condition: Expr
    result: Expr


@dataclass(frozen=True)
class Case(Expr):
    """Searched CASE (operand None) or simple CASE (operand compared with each WHEN)."""

    operand: Expr | None
    whens: tuple[WhenClause, ...]
    default: Expr | None = None


@dataclass(frozen=True)
class Cast(Expr):
    value: Expr
    type: TypeNode


@dataclass(frozen=True)
class Lambda(Expr):
    params: tuple[str, ...]
    body: Expr


@dataclass(frozen=True)
class CreateArray(Expr):
    """ARRAY[a, b, ...]"""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class MapEntry(Node):
    key: Expr
    value: Expr


@dataclass(frozen=True)
class CreateMap(Expr):
    """MAP(k := v, ...)"""

    entries: tuple[MapEntry, ...]


@dataclass(frozen=True)
class StructFieldValue(Node):
    name: str
    value: Expr


@dataclass(frozen=True)
class CreateStruct(Expr):
    """STRUCT(name := value, ...)"""

    fields: tuple[StructFieldValue, ...]


@dataclass(frozen=True)
class IntervalUnit(Expr):
    """A time unit used as a function argument: TIMESTAMPADD(SECONDS, 5, ts)."""

    unit: str


# ---------------------------------------------------------------------------- queries

@dataclass(frozen=True)
class Duration(Node):
    value: int
    unit: str  # MILLISECONDS SECONDS MINUTES HOURS DAYS (plural, upper-case; singular is normalised)

    _MS = {"MILLISECONDS": 1, "SECONDS": 1000, "MINUTES": 60_000, "HOURS": 3_600_000,
           "DAYS": 86_400_000}

    @property
    def millis(self) -> int:
        return self.value * self._MS[self.unit]


class WindowExpr(Node):
    """Base of window specifications."""


@dataclass(frozen=True)
class TumblingWindow(WindowExpr):
    size: Duration
    retention: Duration | None = None
    grace: Duration | None = None


@dataclass(frozen=True)
class HoppingWindow(WindowExpr):
    size: Duration
    advance: Duration
    retention: Duration | None = None
    grace: Duration | None = None


@dataclass(frozen=True)
class SessionWindow(WindowExpr):
    gap: Duration
    retention: Duration | None = None
    grace: Duration | None = None


class SelectItem(Node):
    """Base of projection items."""


@dataclass(frozen=True)
class SingleColumn(SelectItem):
    expr: Expr
    alias: str | None = None


@dataclass(frozen=True)
class AllColumns(SelectItem):
    """`*` or `source.*`."""

    source: str | None = None


@dataclass(frozen=True)
class AllStructFields(SelectItem):
    """`base->*`: every field of a struct expression, each as its own column."""

    base: Expr


class Relation(Node):
    """Base of FROM items."""


@dataclass(frozen=True)
class Table(Relation):
    name: str
    alias: str | None = None


@dataclass(frozen=True)
class Within(Node):
    """WITHIN n UNIT, or WITHIN (before, after); optional GRACE PERIOD."""

    before: Duration
    after: Duration
    grace: Duration | None = None


@dataclass(frozen=True)
class Join(Relation):
    kind: str  # INNER LEFT RIGHT FULL
    left: Relation
    right: Relation
    on: Expr
    within: Within | None = None


@dataclass(frozen=True)
class Select(Node):
    """A query: push (emit CHANGES/FINAL) or pull (emit None)."""

    items: tuple[SelectItem, ...]
    from_: Relation
    where: Expr | None = None
    window: WindowExpr | None = None
    group_by: tuple[Expr, ...] = ()
    having: Expr | None = None
    partition_by: tuple[Expr, ...] = ()
    emit: str | None = None  # 'CHANGES' | 'FINAL' | None
    limit: int | None = None


# ---------------------------------------------------------------------------- statements

class Statement(Node):
    """Base of statements."""


@dataclass(frozen=True)
class Property(Node):
    """One entry of a WITH (...) clause; the name is upper-cased, the value a literal."""

    name: str
    value: Expr


@dataclass(frozen=True)
class ColumnDef(Node):
    name: str
    type: TypeNode
    constraint: str | None = None  # None, 'KEY', 'PRIMARY KEY', 'HEADERS', 'HEADER'
    header_key: str | None = None  # HEADER('k')


@dataclass(frozen=True)
class CreateStream(Statement):
    name: str
    columns: tuple[ColumnDef, ...] = ()
    properties: tuple[Property, ...] = ()
    or_replace: bool = False
    if_not_exists: bool = False
    is_source: bool = False


@dataclass(frozen=True)
class CreateTable(Statement):
    name: str
    columns: tuple[ColumnDef, ...] = ()
    properties: tuple[Property, ...] = ()
    or_replace: bool = False
    if_not_exists: bool = False
    is_source: bool = False


@dataclass(frozen=True)
class CreateStreamAs(Statement):
    name: str
    query: Select
    properties: tuple[Property, ...] = ()
    or_replace: bool = False
    if_not_exists: bool = False


@dataclass(frozen=True)
class CreateTableAs(Statement):
    name: str
    query: Select
    properties: tuple[Property, ...] = ()
    or_replace: bool = False
    if_not_exists: bool = False


@dataclass(frozen=True)
class InsertInto(Statement):
    target: str
    query: Select
    properties: tuple[Property, ...] = ()
    target_span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class InsertValues(Statement):
    target: str
    columns: tuple[str, ...] | None
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Query(Statement):
    """A SELECT run as a statement (transient push query or pull query)."""

    select: Select


@dataclass(frozen=True)
class Show(Statement):
    what: str  # STREAMS TABLES QUERIES TOPICS ALL_TOPICS FUNCTIONS PROPERTIES TYPES VARIABLES
    extended: bool = False


@dataclass(frozen=True)
class Describe(Statement):
    name: str
    extended: bool = False


@dataclass(frozen=True)
class DescribeFunction(Statement):
    name: str


@dataclass(frozen=True)
class Explain(Statement):
    query_id: str | None = None
    statement: Statement | None = None


@dataclass(frozen=True)
class Terminate(Statement):
    query_id: str | None = None  # None with all=True
    all: bool = False


@dataclass(frozen=True)
class DropSource(Statement):
    kind: str  # STREAM | TABLE
    name: str
    if_exists: bool = False
    delete_topic: bool = False


@dataclass(frozen=True)
class Print(Statement):
    topic: str
    from_beginning: bool = False
    interval: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class SetProperty(Statement):
    name: str
    value: str


@dataclass(frozen=True)
class UnsetProperty(Statement):
    name: str


@dataclass(frozen=True)
class DefineVariable(Statement):
    name: str
    value: str


@dataclass(frozen=True)
class UndefineVariable(Statement):
    name: str


@dataclass(frozen=True)
class CreateType(Statement):
    name: str
    type: TypeNode
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropType(Statement):
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class RunScript(Statement):
    path: str


@dataclass(frozen=True)
class AlterSource(Statement):
    """ALTER STREAM|TABLE name ADD [COLUMN] col type, ..."""

    kind: str
    name: str
    columns: tuple[ColumnDef, ...]


@dataclass(frozen=True)
class AssertValues(Statement):
    """ASSERT VALUES source (cols) VALUES (...): a test-runner statement."""

    target: str
    columns: tuple[str, ...] | None
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class AssertTopic(Statement):
    """ASSERT [NOT EXISTS] TOPIC name [WITH (...)] [TIMEOUT n unit]."""

    topic: str
    exists: bool = True
    properties: tuple[Property, ...] = ()
    timeout: Duration | None = None


@dataclass(frozen=True)
class AssertSchema(Statement):
    """ASSERT [NOT EXISTS] SCHEMA [SUBJECT 's'] [ID n] [TIMEOUT n unit]."""

    subject: str | None = None
    schema_id: int | None = None
    exists: bool = True
    timeout: Duration | None = None

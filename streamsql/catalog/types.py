"""SQL types of streamsql (ksqlDB's type system), their text form and their Arrow form.

A SqlType is immutable and hashable. Custom types are resolved away when an AST type
is turned into a SqlType, so nothing past the analyzer sees a custom type name.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from streamsql import ast
from streamsql.errors import StatementError

PRIMITIVES = ("BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES", "DATE", "TIME",
              "TIMESTAMP")


@dataclass(frozen=True)
class SqlType:
    """kind is one of PRIMITIVES, DECIMAL, ARRAY, MAP or STRUCT."""

    kind: str
    precision: int | None = None  # DECIMAL
    scale: int | None = None  # DECIMAL
    element: "SqlType | None" = None  # ARRAY element, MAP value
    key: "SqlType | None" = None  # MAP key (always STRING in ksqlDB)
    fields: tuple[tuple[str, "SqlType"], ...] = ()  # STRUCT, in order

    # ---- constructors -----------------------------------------------------------------
    @staticmethod
    def decimal(precision: int, scale: int) -> "SqlType":
        return SqlType("DECIMAL", precision=precision, scale=scale)

    @staticmethod
    def array(element: "SqlType") -> "SqlType":
        return SqlType("ARRAY", element=element)

    @staticmethod
    def map(key: "SqlType", value: "SqlType") -> "SqlType":
        return SqlType("MAP", key=key, element=value)

    @staticmethod
    def struct(fields) -> "SqlType":
        return SqlType("STRUCT", fields=tuple(fields))

    # ---- predicates -------------------------------------------------------------------
    @property
    def is_numeric(self) -> bool:
        return self.kind in ("INTEGER", "BIGINT", "DOUBLE", "DECIMAL")

    @property
    def is_primitive(self) -> bool:
        return self.kind in PRIMITIVES

    def field(self, name: str) -> "SqlType | None":
        for field_name, field_type in self.fields:
            if field_name == name:
                return field_type
        return None

    # ---- text ---------------------------------------------------------------------------
    def sql(self) -> str:
        """ksqlDB's canonical text of the type: `DECIMAL(4, 2)`, `ARRAY<STRING>`,
        ``STRUCT<`A` INTEGER>``."""
        if self.kind == "DECIMAL":
            return f"DECIMAL({self.precision}, {self.scale})"
        if self.kind == "ARRAY":
            return f"ARRAY<{self.element.sql()}>"
        if self.kind == "MAP":
            return f"MAP<{self.key.sql()}, {self.element.sql()}>"
        if self.kind == "STRUCT":
            return "STRUCT<" + ", ".join(f"`{n}` {t.sql()}" for n, t in self.fields) + ">"
        return self.kind

    def __str__(self) -> str:
        return self.sql()


BOOLEAN = SqlType("BOOLEAN")
INTEGER = SqlType("INTEGER")
BIGINT = SqlType("BIGINT")
DOUBLE = SqlType("DOUBLE")
STRING = SqlType("STRING")
BYTES = SqlType("BYTES")
DATE = SqlType("DATE")
TIME = SqlType("TIME")
TIMESTAMP = SqlType("TIMESTAMP")

_ALIASES = {"INT": "INTEGER", "VARCHAR": "STRING"}


def primitive(name: str) -> SqlType:
    name = _ALIASES.get(name.upper(), name.upper())
    if name not in PRIMITIVES:
        raise ValueError(f"not a primitive type: {name}")
    return SqlType(name)


def from_ast(node: ast.TypeNode, custom_types: dict[str, SqlType] | None = None) -> SqlType:
    """Resolve a type as written in SQL; custom type names are looked up in custom_types."""
    custom_types = custom_types or {}
    if isinstance(node, ast.PrimitiveType):
        return primitive(node.name)
    if isinstance(node, ast.DecimalType):
        if node.precision < 1:
            raise StatementError(f"DECIMAL precision must be >= 1: DECIMAL({node.precision}, "
                                 f"{node.scale})", node.span)
        if node.scale < 0 or node.scale > node.precision:
            raise StatementError(f"DECIMAL scale must be between 0 and precision {node.precision}"
                                 f": DECIMAL({node.precision}, {node.scale})", node.span)
        return SqlType.decimal(node.precision, node.scale)
    if isinstance(node, ast.ArrayType):
        return SqlType.array(from_ast(node.element, custom_types))
    if isinstance(node, ast.MapType):
        return SqlType.map(from_ast(node.key, custom_types), from_ast(node.value, custom_types))
    if isinstance(node, ast.StructType):
        return SqlType.struct((f.name, from_ast(f.type, custom_types)) for f in node.fields)
    if isinstance(node, ast.CustomTypeRef):
        found = custom_types.get(node.name)
        if found is None:
            raise StatementError(f"Cannot resolve unknown type: {node.name}", node.span)
        return found
    raise TypeError(f"not a type node: {node!r}")


def to_ast(sql_type: SqlType) -> ast.TypeNode:
    """The AST form of a type (used to format catalog entries back as SQL)."""
    if sql_type.kind == "DECIMAL":
        return ast.DecimalType(sql_type.precision, sql_type.scale)
    if sql_type.kind == "ARRAY":
        return ast.ArrayType(to_ast(sql_type.element))
    if sql_type.kind == "MAP":
        return ast.MapType(to_ast(sql_type.key), to_ast(sql_type.element))
    if sql_type.kind == "STRUCT":
        return ast.StructType(tuple(ast.StructField(n, to_ast(t)) for n, t in sql_type.fields))
    return ast.PrimitiveType(sql_type.kind)


def to_arrow(sql_type: SqlType) -> pa.DataType:
    """The Arrow type that carries values of this SQL type through a micro-batch."""
    kind = sql_type.kind
    if kind == "BOOLEAN":
        return pa.bool_()
    if kind == "INTEGER":
        return pa.int32()
    if kind == "BIGINT":
        return pa.int64()
    if kind == "DOUBLE":
        return pa.float64()
    if kind == "STRING":
        return pa.string()
    if kind == "BYTES":
        return pa.binary()
    if kind == "DATE":
        return pa.date32()
    if kind == "TIME":
        return pa.time64("us")
    if kind == "TIMESTAMP":
        return pa.timestamp("ms")
    if kind == "DECIMAL":
        return pa.decimal128(sql_type.precision, sql_type.scale)
    if kind == "ARRAY":
        return pa.list_(to_arrow(sql_type.element))
    if kind == "MAP":
        return pa.map_(to_arrow(sql_type.key), to_arrow(sql_type.element))
    if kind == "STRUCT":
        return pa.struct([pa.field(n, to_arrow(t)) for n, t in sql_type.fields])
    raise ValueError(f"no Arrow type for {sql_type}")


def from_arrow(arrow_type: pa.DataType) -> SqlType:
    """The SQL type of an Arrow column (as DuckDB returns it)."""
    if pa.types.is_boolean(arrow_type):
        return BOOLEAN
    if pa.types.is_int8(arrow_type) or pa.types.is_int16(arrow_type) or pa.types.is_int32(arrow_type):
        return INTEGER
    if pa.types.is_integer(arrow_type):
        return BIGINT
    if pa.types.is_floating(arrow_type):
        return DOUBLE
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or \
            pa.types.is_string_view(arrow_type):
        return STRING
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type) or \
            pa.types.is_binary_view(arrow_type):
        return BYTES
    if pa.types.is_date(arrow_type):
        return DATE
    if pa.types.is_time(arrow_type):
        return TIME
    if pa.types.is_timestamp(arrow_type):
        return TIMESTAMP
    if pa.types.is_decimal(arrow_type):
        return SqlType.decimal(arrow_type.precision, arrow_type.scale)
    if pa.types.is_map(arrow_type):
        return SqlType.map(from_arrow(arrow_type.key_type), from_arrow(arrow_type.item_type))
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return SqlType.array(from_arrow(arrow_type.value_type))
    if pa.types.is_struct(arrow_type):
        return SqlType.struct((f.name, from_arrow(f.type)) for f in arrow_type)
    raise ValueError(f"no SQL type for Arrow {arrow_type}")

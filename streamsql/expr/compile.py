"""AST expressions -> typed sqlglot trees -> DuckDB SQL, with ksqlDB's typing and semantics.

The only module that turns trees into SQL text. Type errors are StatementErrors worded as
ksqlDB words them; the analyzer adds the clause context ("Error in WHERE expression: ").
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Mapping, Sequence

import duckdb
import pyarrow as pa
from sqlglot import exp

from streamsql import ast
from streamsql.catalog.types import (BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, TIMESTAMP,
                                     SqlType, from_ast)
from streamsql.errors import NotSupportedError, StatementError
from streamsql.expr.arithmetic import ARITHMETIC_OPS, arithmetic, negate
from streamsql.expr.text import format_expr, is_comparison, operator_name
from streamsql.functions import casts
from streamsql.functions.registry import Call, FunctionRegistry, LambdaArg, UnitArg
from streamsql.functions.sqltree import case, column, fn, ident, lambda_, lit, paren, try_
from streamsql.functions.typed import Typed

__all__ = ["ScopeColumn", "Scope", "Typed", "compile_expr", "to_sql", "select_sql", "evaluate"]

_INT32 = range(-(1 << 31), 1 << 31)
_LITERALS = (ast.StringLiteral, ast.IntegerLiteral, ast.DecimalLiteral, ast.DoubleLiteral,
             ast.BooleanLiteral)
_TRUE_TEXT = {"true", "t", "yes", "y"}
_FALSE_TEXT = {"false", "f", "no", "n"}


@dataclass(frozen=True)
class ScopeColumn:
    name: str  # resolved column name (e.g. 'ID', 'Foo')
    type: SqlType
    sql_name: str  # the column's name in the SQL relation
    source: str | None = None  # qualifier that may prefix it (S for S.ID); None: unqualified only


class Scope:
    """The columns (and lambda parameters) an expression may refer to."""

    def __init__(self, columns: Sequence[ScopeColumn],
                 lambda_params: Mapping[str, SqlType] = MappingProxyType({})):
        self.columns = tuple(columns)
        self.lambda_params = dict(lambda_params)

    def with_lambda_params(self, params: Mapping[str, SqlType]) -> "Scope":
        return Scope(self.columns, {**self.lambda_params, **params})

    def find(self, name: str, source: str | None) -> list[ScopeColumn]:
        return [c for c in self.columns
                if c.name == name and (source is None or c.source == source)]

    def names(self) -> list[str]:
        return [c.name for c in self.columns] + list(self.lambda_params)

    def sql_name(self, ref: ast.ColumnRef) -> str | None:
        """The batch name of the one column `ref` names (a join's `I1_BAR` for `I1.BAR`), or
        None when it names none or several."""
        found = self.find(ref.name, ref.source)
        return found[0].sql_name if len(found) == 1 else None


def compile_expr(expr: ast.Expr, scope: Scope, registry: FunctionRegistry, *,
                 clause: str | None = None) -> Typed:
    """Type-check `expr` against `scope` and build its DuckDB tree.

    Args:
        clause: how ksqlDB names the clause in unresolved-column errors ('SELECT', 'WHERE').
    Raises:
        StatementError: unknown names, type errors; spans point at the offending node.
    """
    return _Compiler(registry, clause).compile(expr, scope)


def to_sql(node: exp.Expression) -> str:
    """DuckDB SQL text of a tree."""
    return node.transform(_parenthesize_operands).sql(dialect="duckdb")


# Binary nodes whose operands are not operator precedence's business.
_NOT_OPERATORS = (exp.Dot, exp.PropertyEQ, exp.Escape)


def _parenthesize_operands(node: exp.Expression) -> exp.Expression:
    """Parenthesize operator operands that are operators themselves.

    Trees are built by nesting nodes, and sqlglot prints nested operators without
    parentheses (Div(Sub(a, b), c) as `a - b / c`); explicit ones keep the tree's meaning.
    """
    if not isinstance(node, (exp.Binary, exp.Not, exp.Neg)) or isinstance(node, _NOT_OPERATORS):
        return node
    for key in ("this", "expression"):
        child = node.args.get(key)
        if isinstance(child, (exp.Binary, exp.Not, exp.Neg)) and \
                not isinstance(child, _NOT_OPERATORS):
            node.set(key, exp.Paren(this=child))
    return node


def select_sql(projections: Sequence[tuple[Typed, str]], relation: str,
               where: Typed | None = None) -> str:
    """`SELECT <p1> AS "alias1", ... FROM <relation> [WHERE <where>]` in DuckDB SQL."""
    query = exp.select(*(exp.alias_(typed.sql, alias, quoted=True)
                         for typed, alias in projections)).from_(exp.to_table(
                             exp.to_identifier(relation, quoted=True).sql(dialect="duckdb")))
    if where is not None:
        query = query.where(where.sql)
    return to_sql(query)


def evaluate(projections: Sequence[tuple[Typed, str]], batch: pa.Table, where: Typed | None = None,
             *, connection: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Run compiled projections (and a filter) over one Arrow batch in DuckDB.

    The batch is visible to the SQL as the relation `batch`. A row for which a function
    fails yields NULL there; an error DuckDB cannot contain raises duckdb.Error.
    """
    connection = connection or duckdb.connect()
    connection.register("batch", batch)
    try:
        return connection.sql(select_sql(projections, "batch", where)).to_arrow_table()
    finally:
        connection.unregister("batch")


class _Compiler:
    def __init__(self, registry: FunctionRegistry, clause: str | None):
        self.registry = registry
        self.clause = clause

    def compile(self, node: ast.Expr, scope: Scope) -> Typed:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise TypeError(f"not an expression node: {node!r}")
        return method(node, scope)

    # ---- literals -----------------------------------------------------------------------
    def _IntegerLiteral(self, node: ast.IntegerLiteral, scope: Scope) -> Typed:
        sql_type = INTEGER if node.value in _INT32 else BIGINT
        return Typed(exp.cast(lit(node.value), casts.duckdb_type(sql_type)), sql_type)

    def _DecimalLiteral(self, node: ast.DecimalLiteral, scope: Scope) -> Typed:
        sql_type = decimal_literal_type(node.value)
        return Typed(exp.cast(lit(str(node.value)), casts.duckdb_type(sql_type)), sql_type)

    def _DoubleLiteral(self, node: ast.DoubleLiteral, scope: Scope) -> Typed:
        return Typed(exp.cast(lit(repr(node.value)), "DOUBLE"), DOUBLE)

    def _StringLiteral(self, node: ast.StringLiteral, scope: Scope) -> Typed:
        return Typed(lit(node.value), STRING)

    def _BooleanLiteral(self, node: ast.BooleanLiteral, scope: Scope) -> Typed:
        return Typed(lit(node.value), BOOLEAN)

    def _NullLiteral(self, node: ast.NullLiteral, scope: Scope) -> Typed:
        return Typed(exp.null(), None)

    # ---- references ---------------------------------------------------------------------
    def _ColumnRef(self, node: ast.ColumnRef, scope: Scope) -> Typed:
        if node.source is None and node.name in scope.lambda_params:
            return Typed(column(node.name), scope.lambda_params[node.name])
        found = scope.find(node.name, node.source)
        text = format_expr(node)
        if not found:
            close = difflib.get_close_matches(node.name, scope.names(), n=1)
            prefix = f"{self.clause} column" if self.clause else "Column"
            raise StatementError(f"{prefix} '{text}' cannot be resolved.", node.span,
                                 hint=f"did you mean '{close[0]}'?" if close else None)
        if len(found) > 1:
            options = " or ".join(f"{c.source}.{c.name}" for c in found)
            # ksqlDB finds ambiguous names while it prepares a statement, and says so.
            where = f"Line: {node.span.line}, Col: {node.span.column}: " if node.span else ""
            raise StatementError(f"Exception while preparing statement: {where}Column '{text}' "
                                 f"is ambiguous. Could be {options}.", node.span,
                                 hint=f"qualify it, e.g. {found[0].source}.{node.name}")
        return Typed(column(found[0].sql_name), found[0].type)

    def _FieldAccess(self, node: ast.FieldAccess, scope: Scope) -> Typed:
        base = self.compile(node.base, scope)
        if base.type is None or base.type.kind != "STRUCT":
            raise StatementError(
                f"Expected {format_expr(node.base)} to be of type STRUCT but was "
                f"{'null' if base.type is None else base.type.sql()}.", node.span)
        field_type = base.type.field(node.field)
        if field_type is None:
            raise StatementError(f"Could not find field '{node.field}' in "
                                 f"'{format_expr(node.base)}'.", node.span)
        return Typed(casts.struct_field(base.sql, node.field), field_type)

    def _Subscript(self, node: ast.Subscript, scope: Scope) -> Typed:
        base = self.compile(node.base, scope)
        index = self.compile(node.index, scope)
        kind = base.type.kind if base.type is not None else None
        if kind == "ARRAY":
            if index.type is not None and index.type.kind not in ("INTEGER", "BIGINT"):
                raise StatementError(f"Array index must be INTEGER or BIGINT, got "
                                     f"{index.type.sql()}: {format_expr(node)}", node.index.span)
            # DuckDB's list_extract is ksqlDB's indexing: 1-based, negative from the end,
            # out of range NULL.
            return Typed(fn("LIST_EXTRACT", base.sql, index.sql), base.type.element)
        if kind == "MAP":
            key = self._coerce_to(index, base.type.key, node.index)
            return Typed(fn("MAP_EXTRACT_VALUE", base.sql, key.sql), base.type.element)
        raise StatementError(f"Subscript expects ARRAY or MAP, got "
                             f"{'null' if kind is None else base.type.sql()}: {format_expr(node)}",
                             node.span)

    # ---- operators ----------------------------------------------------------------------
    def _BinaryOp(self, node: ast.BinaryOp, scope: Scope) -> Typed:
        op = node.op.upper()
        left = self.compile(node.left, scope)
        right = self.compile(node.right, scope)
        if op in ARITHMETIC_OPS:
            return arithmetic(op, left, right, format_expr(node), node.span,
                              null_fails=bool(scope.lambda_params))
        if op in ("AND", "OR"):
            self._require_boolean(left, node.left)
            self._require_boolean(right, node.right)
            cls = exp.And if op == "AND" else exp.Or
            return Typed(cls(this=paren(left.sql), expression=paren(right.sql)), BOOLEAN)
        if is_comparison(op):
            # a filter that compares with a NULL literal could never pass: ksqlDB rejects it
            null_sides = [isinstance(side, ast.NullLiteral) for side in (node.left, node.right)]
            if self.clause == "WHERE" and null_sides[0] != null_sides[1]:
                shown = [t.type.sql() if t.type is not None else "NULL" for t in (left, right)]
                raise StatementError(f"Comparison with NULL not supported: {shown[0]} {op} "
                                     f"{shown[1]}\nUse 'IS NULL' or 'IS NOT NULL' instead.",
                                     node.span)
            left, right = self._comparable(scope, node, op, node.left, left, node.right, right)
            cls = {"=": exp.EQ, "<>": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT,
                   ">=": exp.GTE}[op]
            return Typed(_false_if_null(cls(this=paren(left.sql), expression=paren(right.sql))),
                         BOOLEAN)
        raise StatementError(f"Unknown operator '{node.op}'", node.span)

    def _UnaryOp(self, node: ast.UnaryOp, scope: Scope) -> Typed:
        if node.op == "-" and isinstance(node.operand, (ast.IntegerLiteral, ast.DecimalLiteral,
                                                        ast.DoubleLiteral)):
            # A negative literal is a literal (and -2147483648 stays an INTEGER).
            return self.compile(type(node.operand)(-node.operand.value, span=node.span), scope)
        if node.op.upper() == "NOT":
            value = self.compile(node.operand, scope)
            self._require_boolean(value, node.operand)
            return Typed(exp.Not(this=paren(value.sql)), BOOLEAN)
        value = self.compile(node.operand, scope)
        if value.type is not None and not value.type.is_numeric:
            raise StatementError(f"Unary {node.op} expects a numeric operand but "
                                 f"{format_expr(node.operand)} is {value.type.sql()}", node.span)
        return negate(value) if node.op == "-" else value

    def _Between(self, node: ast.Between, scope: Scope) -> Typed:
        value = self.compile(node.value, scope)
        low = self.compile(node.low, scope)
        high = self.compile(node.high, scope)
        value_low, low = self._comparable(scope, node, ">=", node.value, value, node.low, low)
        value_high, high = self._comparable(scope, node, "<=", node.value, value, node.high, high)
        sql = _false_if_null(exp.Between(this=paren(value_low.sql), low=low.sql, high=high.sql))
        return Typed(exp.Not(this=paren(sql)) if node.negated else sql, BOOLEAN)

    def _InList(self, node: ast.InList, scope: Scope) -> Typed:
        value = self.compile(node.value, scope)
        items = []
        for item_node in node.items:
            item = self.compile(item_node, scope)
            _, item = self._comparable(scope, node, "=", node.value, value, item_node, item)
            items.append(item.sql)
        sql = _false_if_null(exp.In(this=paren(value.sql), expressions=items))
        return Typed(exp.Not(this=paren(sql)) if node.negated else sql, BOOLEAN)

    def _Like(self, node: ast.Like, scope: Scope) -> Typed:
        value = self.compile(node.value, scope)
        pattern = self.compile(node.pattern, scope)
        for operand, operand_node in ((value, node.value), (pattern, node.pattern)):
            if operand.type not in (None, STRING):
                raise StatementError(f"LIKE expects STRING operands but {format_expr(operand_node)}"
                                     f" is {operand.type.sql()}", operand_node.span)
        sql: exp.Expression = exp.Like(this=paren(value.sql), expression=pattern.sql)
        if node.escape is not None:
            sql = exp.Escape(this=sql, expression=lit(node.escape))
        return Typed(exp.Not(this=paren(sql)) if node.negated else sql, BOOLEAN)

    def _IsNull(self, node: ast.IsNull, scope: Scope) -> Typed:
        value = self.compile(node.value, scope)
        sql = exp.Is(this=paren(value.sql), expression=exp.null())
        return Typed(exp.Not(this=sql) if node.negated else sql, BOOLEAN)

    def _IsDistinctFrom(self, node: ast.IsDistinctFrom, scope: Scope) -> Typed:
        op = "IS NOT DISTINCT FROM" if node.negated else "IS DISTINCT FROM"
        left, right = self._comparable(scope, node, op, node.left, self.compile(node.left, scope),
                                       node.right, self.compile(node.right, scope))
        cls = exp.NullSafeEQ if node.negated else exp.NullSafeNEQ
        return Typed(cls(this=paren(left.sql), expression=paren(right.sql)), BOOLEAN)

    # ---- CASE and CAST ------------------------------------------------------------------
    def _Case(self, node: ast.Case, scope: Scope) -> Typed:
        # DuckDB evaluates a branch only for the rows that take it, as ksqlDB does, so a
        # branch that would fail on other rows is harmless.
        operand = self.compile(node.operand, scope) if node.operand is not None else None
        conditions = []
        for when in node.whens:
            condition = self.compile(when.condition, scope)
            if operand is not None:
                left, right = self._comparable(scope, when, "=", node.operand, operand,
                                               when.condition, condition)
                condition = Typed(exp.EQ(this=paren(left.sql), expression=paren(right.sql)),
                                  BOOLEAN)
            else:
                self._require_boolean(condition, when.condition, context="WHEN")
            conditions.append(condition)
        results = [self.compile(when.result, scope) for when in node.whens]
        default = self.compile(node.default, scope) if node.default is not None else None
        branches = results + ([default] if default is not None else [])
        result_type = None
        for index, branch in enumerate(branches):
            if branch.type is None:
                continue
            if result_type is None:
                result_type = branch.type
            elif branch.type != result_type:
                culprit = node.whens[index] if index < len(node.whens) else node.default
                raise StatementError(
                    "Invalid Case expression. Type for all 'THEN' clauses should be the same. "
                    f"Result types: {result_type.sql()} and {branch.type.sql()}.", culprit.span)
        if result_type is None:
            raise StatementError("Invalid Case expression. All case branches have NULL type",
                                 node.span)
        duck = casts.duckdb_type(result_type)

        def typed_sql(branch: Typed) -> exp.Expression:
            return exp.cast(branch.sql, duck) if branch.type is None else branch.sql

        sql = case(*((c.sql, typed_sql(r)) for c, r in zip(conditions, results)),
                   default=typed_sql(default) if default is not None else None)
        return Typed(sql, result_type)

    def _Cast(self, node: ast.Cast, scope: Scope) -> Typed:
        value = self.compile(node.value, scope)
        try:
            return casts.cast(value, from_ast(node.type), node.span)
        except StatementError as error:
            if self.clause != "SELECT":
                raise
            raise StatementError(f"Invalid Select: {error.message}", error.span) from None

    # ---- functions and lambdas ----------------------------------------------------------
    def _FunctionCall(self, node: ast.FunctionCall, scope: Scope) -> Typed:
        function = self.registry.lookup(node.name, node.span)
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Lambda):
                args.append(self._lambda_arg(arg, scope))
            elif isinstance(arg, ast.IntervalUnit):
                args.append(UnitArg(arg.unit))
            else:
                args.append(self.compile(arg, scope))
        return function.bind(Call(function, tuple(args), node.span))

    def _lambda_arg(self, node: ast.Lambda, scope: Scope) -> LambdaArg:
        def bind(param_types: Sequence[SqlType]) -> Typed:
            if len(param_types) != len(node.params):
                raise StatementError(f"Lambda {format_expr(node)} takes {len(node.params)} "
                                     f"parameter(s) but {len(param_types)} are given",
                                     node.span)
            body = self.compile(node.body, scope.with_lambda_params(
                dict(zip(node.params, param_types))))
            return Typed(lambda_(list(node.params), body.sql), body.type)
        return LambdaArg(node.params, bind)

    def _Lambda(self, node: ast.Lambda, scope: Scope) -> Typed:
        raise StatementError(f"Lambda {format_expr(node)} is only allowed as a function argument",
                             node.span)

    # ---- constructors -------------------------------------------------------------------
    def _CreateArray(self, node: ast.CreateArray, scope: Scope) -> Typed:
        if not node.items:
            raise StatementError(
                "Array constructor cannot be empty. Please supply at least one element "
                "(see https://github.com/confluentinc/ksql/issues/4239).", node.span)
        items = self._unify([(item, self.compile(item, scope)) for item in node.items],
                            node, "array")
        if items is None:
            raise StatementError(
                "Cannot construct an array with all NULL elements (see https://github.com/"
                "confluentinc/ksql/issues/4239). As a workaround, you may cast a NULL value to "
                "the desired type.", node.span)
        element = items[0].type
        return Typed(exp.Array(expressions=[i.sql for i in items]), SqlType.array(element))

    def _CreateMap(self, node: ast.CreateMap, scope: Scope) -> Typed:
        if not node.entries:
            raise StatementError(
                "Map constructor cannot be empty. Please supply at least one key value pair "
                "(see https://github.com/confluentinc/ksql/issues/4239).", node.span)
        keys = [(e.key, self.compile(e.key, scope)) for e in node.entries]
        if all(k.type is None for _, k in keys):
            raise StatementError("Cannot construct a map with all NULL keys", node.span)
        values = self._unify([(e.value, self.compile(e.value, scope)) for e in node.entries],
                             node, "map")
        if values is None:
            raise StatementError("Cannot construct a map with all NULL values", node.span)
        keys = self._unify(keys, node, "map")
        key_type = keys[0].type
        key_sql = [k.sql for k in keys]
        if key_type == STRING:
            # A NULL key is kept under the text 'null', as ksqlDB's JSON output shows it.
            key_sql = [fn("COALESCE", k, lit("null")) for k in key_sql]
        sql = fn("MAP", exp.Array(expressions=key_sql),
                 exp.Array(expressions=[v.sql for v in values]))
        distinct_literals = all(isinstance(e.key, _LITERALS) for e in node.entries) and \
            len({format_expr(e.key) for e in node.entries}) == len(node.entries)
        if not distinct_literals:
            # Keys computed per row may collide, which DuckDB rejects (ksqlDB keeps the last
            # value): TRY keeps that to the row, which gets NULL.
            sql = try_(sql)
        return Typed(sql, SqlType.map(key_type, values[0].type))

    def _CreateStruct(self, node: ast.CreateStruct, scope: Scope) -> Typed:
        names = [f.name for f in node.fields]
        if len(set(names)) != len(names):
            raise StatementError("Duplicate field names found in STRUCT", node.span)
        if len({n.upper() for n in names}) != len(names):
            # DuckDB's struct field names are case-insensitive.
            raise NotSupportedError("STRUCT fields whose names differ only in case are not "
                                    "supported", node.span)
        fields = []
        sql_fields = []
        for field in node.fields:
            value = self.compile(field.value, scope)
            if value.type is None:
                raise StatementError(
                    f"Can't infer a type of null for STRUCT field {field.name}. Please explicitly"
                    " cast it to a required type, e.g. CAST(null AS VARCHAR).", field.span)
            fields.append((field.name, value.type))
            sql_fields.append(exp.PropertyEQ(this=ident(field.name), expression=value.sql))
        if not fields:
            raise NotSupportedError("STRUCT() without fields is not supported", node.span)
        return Typed(fn("STRUCT_PACK", *sql_fields), SqlType.struct(fields))

    def _IntervalUnit(self, node: ast.IntervalUnit, scope: Scope) -> Typed:
        # The parser reads a bare SECOND(S), DAY(S)... argument as a time unit; where the
        # function does not take one, it is a column of that name.
        for name in (node.unit, node.unit.rstrip("S")):
            if scope.find(name, None):
                return self.compile(ast.ColumnRef(name, span=node.span), scope)
        raise StatementError(f"Time unit {node.unit} is only allowed as a function argument",
                             node.span)

    # ---- helpers ------------------------------------------------------------------------
    def _require_boolean(self, value: Typed, node: ast.Expr, context: str = "") -> None:
        if value.type not in (None, BOOLEAN):
            where = f"{context} " if context else ""
            raise StatementError(f"{where}operand should evaluate to boolean but is "
                                 f"{format_expr(node)} ({value.type.sql()}) instead.", node.span)

    def _comparable(self, scope: Scope, node: ast.Node, op: str, left_node: ast.Expr,
                    left: Typed, right_node: ast.Expr, right: Typed) -> tuple[Typed, Typed]:
        """Both sides coerced to one comparable type, or ksqlDB's 'Cannot compare' error."""
        if left.type is None and right.type is None:
            raise StatementError(f"Comparison with NULL not supported: NULL {op} NULL",
                                 node.span)
        if left.type is None or right.type is None:
            known = left.type or right.type
            null_sql = exp.cast(exp.null(), casts.duckdb_type(known))
            return (Typed(null_sql, known), right) if left.type is None else \
                (left, Typed(null_sql, known))
        a, b = left.type, right.type
        if a.is_numeric and b.is_numeric:
            target = casts.common_numeric(a, b)
            return casts.widen(left, target), casts.widen(right, target)
        if a == b and (a.is_primitive or op in ("=", "<>", "IS DISTINCT FROM",
                                                "IS NOT DISTINCT FROM")):
            return left, right
        temporal = ("TIMESTAMP", "DATE", "TIME")
        # ksqlDB compares a temporal column with a string holding a temporal literal.
        if a.kind in temporal and b == STRING:
            return left, casts.cast(right, a, right_node.span)
        if b.kind in temporal and a == STRING:
            return casts.cast(left, b, left_node.span), right
        if {a.kind, b.kind} == {"TIMESTAMP", "DATE"}:
            return casts.cast(left, TIMESTAMP), casts.cast(right, TIMESTAMP)
        raise StatementError(
            f"Cannot compare {format_expr(left_node, scope.sql_name)} ({a.sql()}) to "
            f"{format_expr(right_node, scope.sql_name)} ({b.sql()}) with {operator_name(op)}.",
            node.span)

    def _coerce_to(self, value: Typed, target: SqlType, node: ast.Expr) -> Typed:
        if value.type is None:
            return Typed(exp.cast(value.sql, casts.duckdb_type(target)), target)
        if casts.can_widen(value.type, target):
            return casts.widen(value, target)
        if target == STRING and isinstance(node, (ast.IntegerLiteral, ast.DecimalLiteral,
                                                  ast.BooleanLiteral)):
            return Typed(lit(format_expr(node)), STRING)
        raise StatementError(f"Expected {target.sql()} but {format_expr(node)} is "
                             f"{value.type.sql()}", node.span)

    def _unify(self, items: list[tuple[ast.Expr, Typed]], node: ast.Expr, what: str
               ) -> list[Typed] | None:
        """Elements of an ARRAY/MAP constructor coerced to one type, as ksqlDB coerces them.

        The type comes from the non-string-literal elements (numerics meet at their common
        type, structs merge their fields); string literals are then parsed into it. None
        if every element is an untyped NULL.
        """
        target = self._element_type(items, node, what)
        if target is None:
            return None
        return [self._coerce_element(item_node, item, target) for item_node, item in items]

    def _element_type(self, items: list[tuple[ast.Expr, Typed]], node: ast.Expr, what: str
                      ) -> SqlType | None:
        """The type expressions decide; literals only count when nothing else does.

        Numeric literals and numeric string literals ('2e1') still widen a numeric type.
        """
        typed = [(n, t.type) for n, t in items if t.type is not None]
        if not typed:
            return None
        decided = [t for n, t in typed if not isinstance(n, _LITERALS)]
        if not decided:
            decided = [t for n, t in typed if not isinstance(n, ast.StringLiteral)]
            if not decided:
                return STRING
        if all(t.is_numeric for t in decided):
            decided += [t for n, t in typed if isinstance(n, _LITERALS) and t.is_numeric]
            decided += [t for t in (_numeric_text_type(n.value) for n, _ in typed
                                    if isinstance(n, ast.StringLiteral)) if t is not None]
        result = decided[0]
        for other in decided[1:]:
            merged = _merge_types(result, other)
            if merged is None:
                raise StatementError(f"Cannot construct {'an' if what == 'array' else 'a'} "
                                     f"{what} with mismatching types {result.sql()} and "
                                     f"{other.sql()}.", node.span)
            result = merged
        return result

    def _coerce_element(self, node: ast.Expr, value: Typed, target: SqlType) -> Typed:
        if value.type == target:
            return value
        if value.type is None:
            return Typed(exp.cast(value.sql, casts.duckdb_type(target)), target)
        if isinstance(node, ast.StringLiteral):
            return Typed(_parse_literal(node, target), target)
        if value.type.kind == "STRUCT" and target.kind == "STRUCT":
            return casts.cast(value, target, node.span)
        return self._coerce_to(value, target, node)


def _false_if_null(predicate: exp.Expression) -> exp.Expression:
    """ksqlDB's comparisons are false, not NULL, when an operand is NULL."""
    return fn("COALESCE", predicate, lit(False))


def decimal_literal_type(value: Decimal) -> SqlType:
    """ksqlDB's type of a decimal literal: digits and scale as written (`0.08`: DECIMAL(2, 2))."""
    sign, digits, exponent = value.as_tuple()
    scale = max(0, -exponent)
    precision = max(len(digits) + max(exponent, 0), scale, 1)
    return SqlType.decimal(precision, scale)


def _numeric_text_type(text: str) -> SqlType | None:
    """The type of the number a string spells ('10' INTEGER, '2e1' DECIMAL(2, 0)), if any."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number == number.to_integral_value() and "." not in text and "e" not in text.lower():
        return INTEGER if int(number) in _INT32 else BIGINT
    return decimal_literal_type(number)


def _merge_types(a: SqlType, b: SqlType) -> SqlType | None:
    if a == b:
        return a
    if a.is_numeric and b.is_numeric:
        return casts.common_numeric(a, b)
    if a.kind == "STRUCT" and b.kind == "STRUCT":
        fields = dict(a.fields)
        for name, field_type in b.fields:
            if name in fields:
                merged = _merge_types(fields[name], field_type)
                if merged is None:
                    return None
                fields[name] = merged
            else:
                fields[name] = field_type
        return SqlType.struct(fields.items())
    return None


def _parse_literal(node: ast.StringLiteral, target: SqlType) -> exp.Expression:
    """A string literal in a constructor read as `target`, or ksqlDB's syntax error."""
    text = node.value.strip()
    error = StatementError(f'invalid input syntax for type {target.sql()}: "{node.value}".',
                           node.span)
    if target.kind == "STRING":
        return lit(node.value)
    if target.kind == "BOOLEAN":
        if text.lower() in _TRUE_TEXT:
            return lit(True)
        if text.lower() in _FALSE_TEXT:
            return lit(False)
        raise error
    if target.is_numeric:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise error from None
        if target.kind in ("INTEGER", "BIGINT"):
            if number != number.to_integral_value():
                raise error
            return exp.cast(lit(int(number)), casts.duckdb_type(target))
        return exp.cast(lit(format(number, "f")), casts.duckdb_type(target))
    return exp.TryCast(this=lit(node.value), to=casts.duckdb_type(target))

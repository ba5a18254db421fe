"""Function lookup: name + argument types -> a typed sqlglot tree, plus SHOW/DESCRIBE metadata.

Owns the calling convention between the expression compiler and function definitions
(Typed, LambdaArg, Call). Emits no SQL text; definitions build sqlglot trees.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Iterator, NoReturn, Sequence

from sqlglot import exp

from typing import TYPE_CHECKING

from streamsql.catalog.types import SqlType
from streamsql.errors import Span, StatementError
from streamsql.functions import casts
from streamsql.functions.typed import Typed

if TYPE_CHECKING:
    from streamsql.functions.aggregates import AggregateFunction


@dataclass(frozen=True)
class LambdaArg:
    """A lambda argument, compiled only once the function knows its parameter types.

    `bind(param_types)` returns the lambda as a sqlglot Lambda node typed by its body.
    """

    params: tuple[str, ...]
    bind: Callable[[Sequence[SqlType]], Typed]


@dataclass(frozen=True)
class UnitArg:
    """A time unit written as an argument: TIMESTAMPADD(SECONDS, 5, ts)."""

    unit: str  # plural, upper-case: MILLISECONDS SECONDS MINUTES HOURS DAYS


Arg = Typed | LambdaArg | UnitArg


def type_text(arg: Arg) -> str:
    """How ksqlDB prints an argument's type in 'does not accept parameters' messages."""
    if isinstance(arg, LambdaArg):
        return "LAMBDA"
    if isinstance(arg, UnitArg):
        return arg.unit
    return "null" if arg.type is None else arg.type.sql()


@dataclass(frozen=True)
class Call:
    """One call site being bound: the arguments as compiled so far and where the call is."""

    function: "ScalarFunction"
    args: tuple[Arg, ...]
    span: Span | None = None

    def reject(self) -> NoReturn:
        """Raise ksqlDB's error for arguments no signature accepts."""
        types = ", ".join(type_text(a) for a in self.args)
        raise StatementError(
            f"Function '{self.function.display_name}' does not accept parameters ({types}).",
            self.span, hint=_signature_hint(self.function))

    def error(self, message: str) -> NoReturn:
        raise StatementError(message, self.span)

    def match(self, *params: SqlType | Callable[[SqlType], bool],
              variadic: SqlType | Callable[[SqlType], bool] | None = None,
              min_variadic: int = 0) -> list[Typed] | None:
        """The arguments coerced to `params` (then `variadic` repeated), or None if they do not fit.

        A param is a SqlType (the argument must equal it or widen to it implicitly, as
        ksqlDB widens INTEGER -> BIGINT -> DECIMAL -> DOUBLE) or a predicate over the
        argument's type (the argument is passed unchanged). An untyped NULL fits any param.
        """
        args = self.args
        if len(args) < len(params) or (variadic is None and len(args) != len(params)):
            return None
        if len(args) - len(params) < min_variadic:
            return None
        coerced = []
        for index, arg in enumerate(args):
            param = params[index] if index < len(params) else variadic
            if not isinstance(arg, Typed):
                return None
            fitted = _fit(arg, param)
            if fitted is None:
                return None
            coerced.append(fitted)
        return coerced

    def typed(self, index: int) -> Typed:
        arg = self.args[index]
        if not isinstance(arg, Typed):
            self.reject()
        return arg


def _fit(arg: Typed, param: SqlType | Callable[[SqlType], bool]) -> Typed | None:
    if isinstance(param, SqlType):
        if arg.type is None:
            return Typed(exp.cast(arg.sql, casts.duckdb_type(param)), param)
        if not casts.can_widen(arg.type, param):
            return None
        return casts.widen(arg, param)
    if arg.type is None or param(arg.type):
        return arg
    return None


@dataclass(frozen=True)
class ScalarFunction:
    """A scalar function: `bind` checks a call's argument types and builds its typed SQL."""

    name: str  # upper-case lookup name
    bind: Callable[[Call], Typed]
    category: str
    description: str
    signatures: tuple[str, ...]
    # The name as ksqlDB spells it in its error messages ('greatest', 'COALESCE').
    display_name: str = ""
    kind: str = "SCALAR"
    aliases: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.display_name:
            object.__setattr__(self, "display_name", self.name)


def _signature_hint(function: ScalarFunction) -> str | None:
    if not function.signatures:
        return None
    return "valid signatures: " + "; ".join(function.signatures)


@dataclass
class FunctionRegistry:
    """Every function a statement may call, by upper-case name (aliases included)."""

    _functions: dict[str, ScalarFunction] = field(default_factory=dict)
    aggregates: dict[str, "AggregateFunction"] = field(default_factory=dict)
    # DuckDB sequences that functions count their calls with (nextval); the state store
    # creates them before any query runs.
    sequences: set[str] = field(default_factory=set)

    def aggregate(self, name: str) -> "AggregateFunction | None":
        """The aggregate function called `name` (see functions/aggregates.py), or None."""
        return self.aggregates.get(name.upper())

    def register(self, function: ScalarFunction) -> ScalarFunction:
        for name in (function.name, *function.aliases):
            if name in self._functions:
                raise ValueError(f"function {name} registered twice")
            self._functions[name] = function
        return function

    def scalar(self, name: str, *, category: str, description: str, signatures: Sequence[str],
               display_name: str = "", aliases: Sequence[str] = ()):
        """Decorator form of `register` for a bind function."""
        def decorate(bind: Callable[[Call], Typed]) -> Callable[[Call], Typed]:
            self.register(ScalarFunction(name.upper(), bind, category, description,
                                         tuple(signatures), display_name or name,
                                         aliases=tuple(a.upper() for a in aliases)))
            return bind
        return decorate

    def has(self, name: str) -> bool:
        return name.upper() in self._functions

    def lookup(self, name: str, span: Span | None = None) -> ScalarFunction:
        """The function called `name`; StatementError with a 'did you mean' hint if unknown."""
        found = self._functions.get(name.upper())
        if found is None:
            close = difflib.get_close_matches(name.upper(), self._functions, n=1)
            raise StatementError(f"Can't find any functions with the name '{name}'", span,
                                 hint=f"did you mean '{close[0]}'?" if close else None)
        return found

    def bind(self, name: str, args: Sequence[Arg], span: Span | None = None) -> Typed:
        """Type-check a call and build its SQL."""
        function = self.lookup(name, span)
        return function.bind(Call(function, tuple(args), span))

    def functions(self) -> Iterator[ScalarFunction]:
        """Each function once (aliases folded), by name: SHOW FUNCTIONS."""
        seen = {f.name: f for f in self._functions.values()}
        return iter(sorted(seen.values(), key=lambda f: f.name))

    def describe(self, name: str, span: Span | None = None) -> ScalarFunction:
        """DESCRIBE FUNCTION: the function's metadata."""
        return self.lookup(name, span)


def default_registry(*, test_functions: bool = False) -> FunctionRegistry:
    """The built-in functions; `test_functions` adds the QTT-only helpers (WHENCONDITION...)."""
    # Imported here: each family module registers into the registry it is given.
    from streamsql.functions import (binary, collections, datetime, json, keys, math, nulls,
                                     strings, table, testing, testing_aggregates)
    from streamsql.functions.aggregates import AGGREGATES

    registry = FunctionRegistry()
    for family in (strings, math, nulls, datetime, collections, json, keys, binary, table):
        family.register(registry)
    registry.aggregates.update(AGGREGATES)
    if test_functions:
        testing.register(registry)
        testing_aggregates.register(registry)
    return registry

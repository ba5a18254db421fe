"""AS_VALUE: a key column's value copied into the value columns (an identity on its argument)."""
from __future__ import annotations

from streamsql.functions.registry import Call, FunctionRegistry
from streamsql.functions.typed import Typed


def register(registry: FunctionRegistry) -> None:
    @registry.scalar("AS_VALUE", category="OTHER", display_name="as_value",
                     description="Copies its argument (typically a key column) into the value.",
                     signatures=["AS_VALUE(T)"])
    def as_value(call: Call) -> Typed:
        if len(call.args) != 1:
            call.reject()
        return call.typed(0)

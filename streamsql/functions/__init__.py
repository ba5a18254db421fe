"""The function library: scalar functions by family, looked up through FunctionRegistry."""
from streamsql.functions.registry import (Call, FunctionRegistry, LambdaArg, ScalarFunction,
                                          UnitArg, default_registry)
from streamsql.functions.typed import Typed

__all__ = ["Call", "FunctionRegistry", "LambdaArg", "ScalarFunction", "Typed", "UnitArg",
           "default_registry"]

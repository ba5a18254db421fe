"""FunctionRegistry: lookup, suggestions, metadata, and test-only functions."""
import pytest

from streamsql.errors import Span, StatementError
from streamsql.functions import default_registry


def test_unknown_function_uses_ksqldb_message_and_suggests_nearest():
    span = Span(1, 8, 1, 14)
    with pytest.raises(StatementError) as error:
        default_registry().lookup("SUBSTRNG", span)
    assert error.value.message == "Can't find any functions with the name 'SUBSTRNG'"
    assert error.value.diagnostic.hint == "did you mean 'SUBSTRING'?"
    assert error.value.span == span


def test_lookup_is_case_insensitive():
    assert default_registry().lookup("concat").name == "CONCAT"


def test_metadata_for_show_and_describe_functions():
    registry = default_registry()
    names = [f.name for f in registry.functions()]
    assert names == sorted(names) and "ROUND" in names
    described = registry.describe("ROUND")
    assert described.kind == "SCALAR" and described.category == "MATHEMATICAL"
    assert "ROUND(DOUBLE, INTEGER)" in described.signatures and described.description


def test_test_functions_are_registered_only_on_request():
    assert not default_registry().has("WHENCONDITION")
    assert default_registry(test_functions=True).has("WHENCONDITION")


def test_registering_a_name_twice_is_a_bug():
    registry = default_registry()
    with pytest.raises(ValueError):
        registry.register(registry.lookup("ABS"))

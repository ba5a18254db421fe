"""Properties: what a format writes it reads back unchanged; doubles print as Java prints."""
import re
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from streamsql.catalog.schema import Column, FormatInfo
from streamsql.catalog.types import (BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, SqlType,
                                     to_arrow)
from streamsql.serde import make_serde
from streamsql.serde.numbers import java_double_text

COLUMNS = [Column("B", BOOLEAN), Column("I", INTEGER), Column("L", BIGINT),
           Column("D", DOUBLE), Column("S", STRING), Column("DEC", SqlType.decimal(9, 3))]
SCHEMA = pa.schema([(c.name, to_arrow(c.type)) for c in COLUMNS])

rows = st.lists(st.fixed_dictionaries({
    "B": st.none() | st.booleans(),
    "I": st.none() | st.integers(-2**31, 2**31 - 1),
    "L": st.none() | st.integers(-2**63, 2**63 - 1),
    "D": st.none() | st.floats(allow_nan=False),
    "S": st.none() | st.text(),
    "DEC": st.none() | st.decimals(min_value=-999999, max_value=999999, places=3,
                                   allow_nan=False, allow_infinity=False),
}), max_size=20)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_json_round_trips_any_row(batch):
    serde = make_serde(FormatInfo("JSON"), COLUMNS, is_key=False)
    table = pa.Table.from_pylist(batch, schema=SCHEMA)
    decoded = serde.decode(serde.encode(table))
    assert decoded.errors == {}
    assert decoded.table.equals(table)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_delimited_round_trips_rows_whose_strings_are_not_empty(batch):
    # An empty string and a null are the same empty field in DELIMITED.
    batch = [{**row, "S": row["S"] or None} for row in batch]
    serde = make_serde(FormatInfo("DELIMITED"), COLUMNS, is_key=False)
    table = pa.Table.from_pylist(batch, schema=SCHEMA)
    decoded = serde.decode(serde.encode(table))
    assert decoded.errors == {}
    assert decoded.table.equals(table)


JAVA_DOUBLE_SHAPE = re.compile(r"-?(\d+\.\d+|\d\.\d+E-?\d+|NaN|Infinity)")


@given(st.floats())
def test_java_double_text_has_java_shape_and_round_trips(value):
    text = java_double_text(value)
    assert JAVA_DOUBLE_SHAPE.fullmatch(text)
    if value == value:
        assert float(text.replace("Infinity", "inf")) == value
    magnitude = abs(value)
    assert ("E" in text) == (value == value and magnitude != float("inf") and magnitude != 0
                             and not 1e-3 <= magnitude < 1e7)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2,
                   min_value=Decimal("-99.99"), max_value=Decimal("99.99")))
def test_decimal_json_text_reads_back_with_the_column_scale(value):
    serde = make_serde(FormatInfo("JSON", features=frozenset({"UNWRAP_SINGLES"})),
                       [Column("V", SqlType.decimal(4, 2))], is_key=False)
    table = pa.table({"V": pa.array([value], pa.decimal128(4, 2))})
    (payload,) = serde.encode(table)
    assert Decimal(payload.decode()).as_tuple().exponent == -2
    assert serde.decode([payload]).table.equals(table)

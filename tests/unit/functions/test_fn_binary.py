"""Numbers read from bytes, in both byte orders."""
import base64

import pytest

from expr_harness import call, text


def b64(value: str):
    return call("TO_BYTES", text(value), text("base64"))


@pytest.mark.parametrize("expr, expected", [
    (call("INT_FROM_BYTES", b64("AAAH5Q==")), 2021),
    (call("BIGINT_FROM_BYTES", b64("AAAAASoF8gA=")), 5000000000),
    (call("DOUBLE_FROM_BYTES", b64("QICm/ZvJ9YI=")), 532.8738323),
    (call("INT_FROM_BYTES", b64(base64.b64encode(bytes([0xE5, 0x07, 0, 0])).decode()),
          text("LITTLE_ENDIAN")), 2021),
    (call("INT_FROM_BYTES", b64(base64.b64encode(bytes([0xFF] * 4)).decode())), -1),
    (call("DOUBLE_FROM_BYTES", b64(base64.b64encode(bytes([0xFF, 0xF0] + [0] * 6)).decode())),
     float("-inf")),
    (call("INT_FROM_BYTES", b64("AAAAASoF8gA=")), None),
])
def test_number_from_bytes(batch, expr, expected):
    assert batch.values(expr)[0] == expected

"""String functions against real DuckDB: values, NULL handling and ksqlDB's edge cases."""
import pytest

from expr_harness import NULL, call, col, num, text


@pytest.mark.parametrize("expr, expected", [
    (call("UCASE", col("S")), ["HELLO", None, "A B", "ABC"]),
    (call("LCASE", col("S")), ["hello", None, "a b", "abc"]),
    (call("LEN", col("S")), [5, None, 3, 3]),
    (call("CONCAT", col("S"), NULL, text("!")), ["hello!", "!", "a b!", "Abc!"]),
    (call("CONCAT_WS", text("-"), col("S"), NULL, text("x")), ["hello-x", "x", "a b-x", "Abc-x"]),
    (call("CONCAT_WS", NULL, text("a")), [None] * 4),
    (call("SUBSTRING", col("S"), num(2)), ["ello", None, " b", "bc"]),
    (call("SUBSTRING", col("S"), num(2), num(3)), ["ell", None, " b", "bc"]),
    (call("SUBSTRING", col("S"), num(-2)), ["lo", None, " b", "bc"]),
    (call("SUBSTRING", col("S"), num(0), num(2)), ["he", None, "a ", "Ab"]),
    (call("SUBSTRING", col("S"), NULL), [None] * 4),
    (call("REPLACE", col("S"), text("l"), text("L")), ["heLLo", None, "a b", "Abc"]),
    (call("REPLACE", col("S"), NULL, text("L")), [None] * 4),
    (call("INSTR", col("S"), text("l")), [3, None, 0, 0]),
    (call("INITCAP", text("the   Quick br0wn fOx")), ["The   Quick Br0wn Fox"] * 4),
    (call("INITCAP", text("some_string")), ["Some_string"] * 4),
    (call("TRIM", text(" \t with white space \t")), ["with white space"] * 4),
    (call("LTRIM", text("  x ")), ["x "] * 4),
    (call("LPAD", col("S"), num(7), text("*")), ["**hello", None, "****a b", "****Abc"]),
    (call("RPAD", col("S"), num(2), text("*")), ["he", None, "a ", "Ab"]),
    (call("LPAD", col("S"), num(7), text("")), [None] * 4),
    (call("SPLIT", text(".abc."), text(".")), [["", "abc", ""]] * 4),
    (call("SPLIT", text("abc"), text("")), [["a", "b", "c"]] * 4),
    (call("REGEXP_REPLACE", text("baababaa"), text("(ab)+"), text("cat")), ["bacataa"] * 4),
    (call("REGEXP_REPLACE", text("a1b22"), text("([0-9]+)"), text("<$1>")), ["a<1>b<22>"] * 4),
    (call("REGEXP_EXTRACT", text("[a-z]+"), col("S")), ["hello", None, "a", "bc"]),
    (call("REGEXP_EXTRACT", text("([a-z]) ([a-z])"), col("S"), num(2)), [None, None, "b", None]),
    (call("REGEXP_SPLIT_TO_ARRAY", text("aabcda"), text("(ab|cd)")), [["a", "", "a"]] * 4),
    (call("CHR", num(75)), ["K"] * 4),
    (call("CHR", num(-1)), [None] * 4),
    (call("CHR", text("\\u597d")), ["好"] * 4),
    (call("CHR", text("\\ud820\\udeb8")), ["\U000182b8"] * 4),
    (call("CHR", text("75")), [None] * 4),
    (call("MASK", text("Ab1-")), ["Xxn-"] * 4),
    (call("MD5", text("r1")), ["7c92cf1eee8d99cc85f8355a3d6e4b86"] * 4),
    (call("FROM_BYTES", call("TO_BYTES", text("hi"), text("utf8")), text("base64")), ["aGk="] * 4),
])
def test_string_function(batch, expr, expected):
    assert batch.values(expr) == expected


def test_uuid_is_random_per_row(batch):
    values = batch.values(call("UUID"))
    assert len(set(values)) == 4 and all(len(v) == 36 for v in values)


def test_bytes_concat_and_substring(batch):
    def b(text_value: str):
        return call("TO_BYTES", text(text_value), text("utf8"))
    assert batch.values(call("CONCAT", b("ab"), NULL, b("c")))[0] == b"abc"
    assert batch.values(call("CONCAT_WS", b("-"), b("a"), NULL, b("c")))[0] == b"a-c"
    assert batch.values(call("SUBSTRING", b("some_string"), num(6), num(3)))[0] == b"str"
    assert batch.values(call("SUBSTRING", b("short"), num(6)))[0] == b""


def test_bytes_padding_works_on_whole_bytes(batch):
    padded = call("LPAD", call("TO_BYTES", text("ab"), text("utf8")), num(5),
                  call("TO_BYTES", text("xy"), text("utf8")))
    assert batch.values(padded)[0] == b"xyxab"
    assert batch.values(call("FROM_BYTES", call("TO_BYTES", text("1ab2"), text("hex")),
                             text("hex")))[0] == "1AB2"


@pytest.mark.parametrize("value, delimiter, expected", [
    ("a.b.c", ".", [b"a", b"b", b"c"]),
    (".abc.", ".", [b"", b"abc", b""]),
    ("a$$b.c", "$$", [b"a", b"b.c"]),
    ("abc", "", [b"a", b"b", b"c"]),
    ("", "", [b""]),
])
def test_split_bytes_on_byte_boundaries(batch, value, delimiter, expected):
    def utf8(s):
        return call("TO_BYTES", text(s), text("utf8"))
    assert batch.values(call("SPLIT", utf8(value), utf8(delimiter)))[0] == expected

"""When input is complete, what is highlighted, and what completion offers."""
import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from repl.completion import StatementCompleter
from repl.session import Names
from repl.syntax import is_complete, is_shell_command, tokenize


@pytest.mark.parametrize("text", [
    "SELECT 1;", "SELECT ';' FROM t;", "SELECT 'it''s';", "SELECT '';",
    "SELECT 1; -- done", "SELECT /* ; */ 1;", "SELECT `a;b` FROM t;", "exit", "quit",
    "output json", "OUTPUT", "   ", ""])
def test_complete_input_runs(text):
    assert is_complete(text)


@pytest.mark.parametrize("text", [
    "SELECT 1", "SELECT ';", "SELECT 'it''s", "SELECT 1 -- ;", "SELECT /* ; */",
    "SELECT `a;", "CREATE STREAM s (\n  id INT KEY", "output json please"])
def test_incomplete_input_continues(text):
    assert not is_complete(text)


def test_shell_commands_are_only_the_shells_words():
    assert is_shell_command("exit;") and is_shell_command("history")
    assert not is_shell_command("exit now") and not is_shell_command("SELECT 1;")


def test_tokens_cover_the_text_and_mark_keywords():
    text = "select `My Col`, ${v} -- note\nFROM t WHERE x > 1.5e3;"
    tokens = tokenize(text)
    assert "".join(t.text for t in tokens) == text
    kinds = {t.text: t.kind for t in tokens}
    assert kinds["select"] == "keyword" and kinds["FROM"] == "keyword"
    assert kinds["`My Col`"] == "quoted" and kinds["${v}"] == "variable"
    assert kinds["-- note"] == "comment" and kinds["1.5e3"] == "number"
    assert kinds["t"] == "word"


NAMES = Names(streams=("ORDERS",), tables=("TOTALS",),
              columns={"ORDERS": ("ORDER_ID", "AMOUNT"), "TOTALS": ("ORDER_COUNT",)},
              topics=("orders", "order-audit"), functions=("ABS", "ORDER_NUMBER_FN"))


def completions(text: str) -> list[tuple[str, str]]:
    completer = StatementCompleter(lambda: NAMES)
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [(c.text, c.display_meta_text) for c in found]


def test_columns_of_the_named_source_come_first():
    offered = completions("SELECT * FROM orders WHERE ORD")
    assert offered[0] == ("ORDER_ID", "column of ORDERS")
    assert ("ORDERS", "stream") in offered
    assert ("ORDER_COUNT", "column of TOTALS") == offered[-1]


def test_keywords_and_functions_follow_the_typed_case():
    assert ("select", "keyword") in completions("sel")
    assert ("abs", "function") in completions("SELECT ab")
    assert ("SELECT", "keyword") in completions("SEL")


def test_topics_complete_inside_a_string():
    assert completions("PRINT 'ord") == [("orders", "topic"), ("order-audit", "topic")]

"""Tab completion: keywords, functions, shell commands, and the live catalog's streams, tables,
columns and topics (topic names inside a '...' string)."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from repl.session import Names
from repl.syntax import SHELL_COMMANDS, keyword_set, tokenize


class StatementCompleter(Completer):
    """Completes the word before the cursor from the latest catalog names (`names()`)."""

    def __init__(self, names: Callable[[], Names]):
        self.names = names

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterator[Completion]:
        before = document.text_before_cursor
        tokens = tokenize(before)
        last = tokens[-1] if tokens else None
        names = self.names()
        if last is not None and last.kind == "string" and not last.is_closed:
            # inside a string: KAFKA_TOPIC='...' or PRINT '...'
            prefix = last.text[1:]
            yield from _matching(prefix, ((t, "topic") for t in names.topics), keep_case=True)
            return
        prefix = last.text if last is not None and last.kind in ("word", "keyword") else ""
        if not prefix and not event.completion_requested:
            return
        yield from _matching(prefix, self._candidates(document.text, names, tokens))

    def _candidates(self, text: str, names: Names, before) -> Iterable[tuple[str, str]]:
        """(word, what it is), most specific first: columns of the sources this statement
        names, then sources, functions, keywords, then the other sources' columns."""
        tokens = tokenize(text)
        # unquoted names are upper-cased, as the engine does; quoted ones keep their case
        mentioned = {t.text.upper() for t in tokens if t.kind in ("word", "keyword")}
        mentioned |= {t.text[1:-1] for t in tokens if t.kind == "quoted" and t.is_closed}
        named = [source for source in names.columns if source in mentioned]
        for source in named:
            yield from ((c, f"column of {source}") for c in names.columns[source])
        yield from ((s, "stream") for s in names.streams)
        yield from ((t, "table") for t in names.tables)
        yield from ((f, "function") for f in names.functions)
        yield from ((k, "keyword") for k in sorted(keyword_set()))
        if len([t for t in before if t.kind not in ("space", "comment")]) <= 1:
            yield from ((c, "shell command") for c in SHELL_COMMANDS)
        # columns typed before their FROM: any source's
        for source, columns in names.columns.items():
            if source not in named:
                yield from ((c, f"column of {source}") for c in columns)


def _matching(prefix: str, candidates: Iterable[tuple[str, str]], *,
              keep_case: bool = False) -> Iterator[Completion]:
    """Candidates starting with `prefix` (case-insensitively unless `keep_case`), each once.
    Keywords and functions follow the case the user types in."""
    seen = set()
    folded = prefix if keep_case else prefix.upper()
    lower = prefix.islower()
    for word, meta in candidates:
        key = word if keep_case else word.upper()
        if key in seen or not key.startswith(folded) or key == folded:
            continue
        seen.add(key)
        shown = word.lower() if lower and meta in ("keyword", "function") else word
        yield Completion(shown, start_position=-len(prefix), display_meta=meta)

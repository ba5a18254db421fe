"""The layer direction of STYLE.md, enforced: each package imports only the layers below it."""
import ast as pyast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "streamsql"

# What each layer may import from streamsql (errors is allowed everywhere).
ALLOWED = {
    "ast": set(),
    "parser": {"ast"},
    "sqlformat": {"ast"},
    "config": set(),
    "catalog": {"ast", "log"},  # log: the command log appends to a topic via LogBackend
    "functions": {"catalog", "ast"},
    "expr": {"functions", "catalog", "ast", "sqlformat"},
    "serde": {"catalog"},
    "log": set(),
    "analyzer": {"catalog", "functions", "expr", "ast", "config", "sqlformat", "serde"},
    "planner": {"analyzer", "catalog", "expr", "functions", "ast", "sqlformat"},
    "state": {"catalog"},
    "operators": {"expr", "state", "planner", "analyzer", "catalog"},
    "runtime": {"operators", "state", "log", "serde", "planner", "analyzer", "catalog", "expr",
                "functions", "config", "ast", "sqlformat"},
}
# Third-party packages that only one place may import.
OWNERS = {"lark": "parser", "aiokafka": "log", "prompt_toolkit": "repl", "duckdb": "state|expr",
          "starlette": "server", "uvicorn": "server", "aiohttp": "server", "hypercorn": "server"}


def _layer(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path):
    tree = pyast.parse(path.read_text())
    for node in pyast.walk(tree):
        if isinstance(node, pyast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, pyast.ImportFrom) and node.module and node.level == 0:
            yield node.module


FILES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    layer = _layer(path)
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "streamsql" and len(parts) > 1 and layer in ALLOWED:
            target = parts[1]
            if target in ("errors", layer):
                continue
            assert target in ALLOWED[layer], f"{path.relative_to(ROOT)} imports {name}: " \
                                             f"{layer} may import only {sorted(ALLOWED[layer])}"
        owner = OWNERS.get(parts[0])
        if owner is not None:
            assert layer in owner.split("|"), f"{path.relative_to(ROOT)} imports {parts[0]}, " \
                                              f"which only {owner} may import"

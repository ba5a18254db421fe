"""streamsql: a ksqlDB-style streaming SQL engine. Public API: Engine, parse, __version__."""
__version__ = "0.1.0"
__all__ = ["Engine", "parse", "__version__"]


def __getattr__(name):
    # Imported on first use so that `import streamsql` stays cheap for the CLI.
    if name == "Engine":
        from streamsql.engine import Engine
        return Engine
    if name == "parse":
        from streamsql.parser import parse
        return parse
    raise AttributeError(name)

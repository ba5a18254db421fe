"""streamsql: a ksqlDB-style streaming SQL engine. Public API: Engine, parse, __version__."""
__version__ = "0.1.0"

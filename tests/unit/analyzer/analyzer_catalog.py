"""A catalog built from CREATE STREAM/TABLE text, for the analyzer tests."""
from streamsql.analyzer.sources import analyze_create_source
from streamsql.catalog.catalog import Catalog
from streamsql.config import Config
from streamsql.parser import parse


def catalog_with(*ddl: str) -> Catalog:
    catalog = Catalog()
    for text in ddl:
        (stmt,) = parse(text)
        catalog = catalog.with_source(analyze_create_source(stmt, catalog, Config(), text))
    return catalog

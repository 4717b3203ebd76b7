"""report.json's schema: its version and the JSON Schema file (``report.schema.json``, shipped
with the package) that other tools read it by."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

__all__ = ["SCHEMA_VERSION", "SCHEMA_FILE", "SchemaError", "schema", "check_report"]

#: bump when a field changes meaning or a required field is added (and say so in the schema)
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")


class SchemaError(ValueError):
    """A document that is not a report.json of a version this code reads."""


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def check_report(doc) -> None:
    """Raise SchemaError (one line: where and what) unless ``doc`` validates. A report written
    before ``schema_version`` existed has version 1's shape and is read as version 1."""
    import jsonschema

    if isinstance(doc, dict) and "schema_version" not in doc:
        doc = {**doc, "schema_version": 1}
    if isinstance(doc, dict) and doc.get("schema_version") != SCHEMA_VERSION:
        raise SchemaError(f"schema_version {doc.get('schema_version')!r}; this code reads "
                          f"version {SCHEMA_VERSION}")
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema()).iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the document"
        raise SchemaError(f"{where}: {error.message[:200]}")

"""The document's JSON Schema (``components/vault/schema/vault-config.schema.json``, draft 2020-12) and its
errors as problems naming the JSON path, the bad value and what is accepted."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from components.vault.document.base import Problems, path_of

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "vault-config.schema.json"
_LONG = 60


@functools.cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _LONG else text[: _LONG - 5] + "...'"


def _accepted(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    described = schema.get("description")
    if isinstance(described, str):
        return described
    if error.validator == "const":
        return repr(error.validator_value)
    return str(error.message)


def _unknown_keys(error: ValidationError, where: list[Any], problems: Problems) -> None:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = list(schema.get("properties", {}))
    for key in error.instance:
        if key not in known:
            problems.add(path_of(*where, key), f"unknown key; accepted: {', '.join(known)}")


def _missing(error: ValidationError, where: list[Any], problems: Problems) -> None:
    for key in error.validator_value:
        if key not in error.instance:
            problems.add(path_of(*where, key), "missing (required)")


def _bad_name(error: ValidationError, where: list[Any], problems: Problems) -> None:
    name = error.instance
    problems.add(path_of(*where, name), f"the name {_show(name)}; accepted: {_accepted(error)}")


def report(error: ValidationError, problems: Problems) -> None:
    """One schema error as problems: unknown and missing keys by name, every other by value."""
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        _unknown_keys(error, where, problems)
    elif error.validator == "required":
        _missing(error, where, problems)
    elif "propertyNames" in error.absolute_schema_path:
        _bad_name(error, where, problems)
    else:
        problems.add(path_of(*where) or "document", f"{_show(error.instance)}; accepted: {_accepted(error)}")


def check(document: Any, problems: Problems) -> bool:
    """Add every schema violation to ``problems``; True when there was none."""
    errors = sorted(validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        report(error, problems)
    return not errors

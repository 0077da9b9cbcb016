"""Validate custom resources against the vendored, hash-checked upstream CRD schemas (vendor/argo-rollouts/).

Objects are checked like a server with strict field validation: every object schema that lists
``properties`` (and does not preserve unknown fields) rejects properties it does not list.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema

from components import vendored, versions
from tests.support import yamlio

CRD_FILES = (
    "rollout-crd.yaml",
    "analysis-template-crd.yaml",
    "cluster-analysis-template-crd.yaml",
    "analysis-run-crd.yaml",
)


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in schema
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, for every vendored CRD (each file's SHA-256 checked)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name in CRD_FILES:
        text = vendored.read_verified(versions.ARGO_ROLLOUTS_PACKAGE, versions.ARGO_ROLLOUTS_VERSION, name)
        for doc in yamlio.load_all(text):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group = doc["spec"]["group"]
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                out[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return out


@cache
def _validator(key: tuple[str, str]) -> jsonschema.Draft7Validator:
    """One checked validator per CRD version: ``jsonschema.validate`` re-checks the (large) schema against the
    metaschema on every call, which was nine tenths of the time of validating a rendered stack."""
    schema = crd_schemas()[key]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def validate_custom_resource(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (or KeyError for an unknown kind) if ``doc`` is invalid."""
    key = (doc["apiVersion"], doc["kind"])
    schemas = crd_schemas()
    if key not in schemas:
        raise KeyError(f"no CRD schema for {key}; known: {sorted(schemas)}")
    # what jsonschema.validate(doc, schema, cls=Draft7Validator) raises, without re-checking the schema
    error = jsonschema.exceptions.best_match(_validator(key).iter_errors(doc))
    if error is not None:
        raise error

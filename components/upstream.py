"""Upstream release manifests, installed with ``kubernetes.yaml.v2.ConfigFile`` from a vendored, hash-checked file.

``install(...)`` registers the ConfigFile (the provider expands it into one resource per object at
``pulumi up``, and the transforms run on those children). Offline there is no provider to expand it:
``tools.mockrun`` sets a ``RECORDER`` for the run, ``install`` notes what it registered, and
``expand(...)`` reproduces the provider's expansion (the objects of the file, the provider's default
namespace for namespaced objects that carry none, the same transforms), so the render writes, validates
and runs the policy pack over exactly the objects ``pulumi up`` would create.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import vendored, yamltext

Transform = Callable[[Any], Any]  # pulumi.ResourceTransformArgs -> pulumi.ResourceTransformResult | None

# Kinds without a namespace (the provider leaves them cluster-scoped).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PersistentVolume",
        "PriorityClass",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
        "RuntimeClass",
        "CSIDriver",
    }
)


@dataclass(frozen=True)
class Installed:
    """What ``install`` registered: the ConfigFile's Pulumi name, its file and the expansion's inputs."""

    name: str
    file: str  # project-relative path of the vendored manifest
    namespace: str  # the provider's default namespace
    transforms: tuple[Transform, ...]


RECORDER: contextvars.ContextVar[list[Installed] | None] = contextvars.ContextVar("upstream_recorder", default=None)


def install(
    name: str,
    package: str,
    version: str,
    file: str,
    *,
    namespace: str,
    transforms: Sequence[Transform] = (),
    opts: Any = None,
) -> Any:
    """A ``kubernetes.yaml.v2.ConfigFile`` of ``vendor/<package>/<version>/<file>`` (hash-checked first)."""
    import pulumi
    import pulumi_kubernetes as k8s

    path = vendored.verified(package, version, file)
    recorder = RECORDER.get()
    if recorder is not None:
        recorder.append(Installed(name, path, namespace, tuple(transforms)))
    merged = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transforms=list(transforms)))
    return k8s.yaml.v2.ConfigFile(name, file=path, opts=merged)


CACHE_DIR = vendored.ROOT / ".cache" / "upstream"


def documents(path: Path) -> list[Any]:
    """The YAML documents of a vendored manifest. Parsing the 1 MB Argo Rollouts manifest costs the render
    ~0.6 s, so the parsed form is kept as JSON under ``.cache/upstream/<sha256>.json``: keyed by the file's
    content, it can never be stale, and a missing or unreadable cache only means parsing again."""
    text = path.read_text()
    cache = CACHE_DIR / f"{hashlib.sha256(text.encode()).hexdigest()}.json"
    try:
        return list(json.loads(cache.read_text()))
    except (OSError, ValueError):
        pass
    docs = [doc for doc in yamltext.load_all(text) if doc]
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(docs))
        tmp.replace(cache)
    except OSError:
        pass  # a read-only checkout renders all the same
    return docs


def resource_type(api_version: str, kind: str) -> str:
    """The Pulumi type token of a Kubernetes object (``kubernetes:apps/v1:Deployment``, core as ``core/v1``)."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


def expand(installed: Installed, root: Path | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """``(type, name, props)`` for every object of the file, as the provider registers them (API form)."""
    import pulumi

    base = root or vendored.ROOT
    out: list[tuple[str, str, dict[str, Any]]] = []
    for doc in documents(base / installed.file):
        if not doc:
            continue
        kind = str(doc.get("kind"))
        meta = doc.setdefault("metadata", {})
        if kind not in CLUSTER_SCOPED and not meta.get("namespace"):
            meta["namespace"] = installed.namespace
        type_ = resource_type(str(doc.get("apiVersion")), kind)
        ns = meta.get("namespace")
        name = f"{installed.name}:{ns + '/' if ns else ''}{meta.get('name')}"
        props: dict[str, Any] = doc
        for transform in installed.transforms:
            result = transform(pulumi.ResourceTransformArgs(True, type_, name, props, pulumi.ResourceOptions()))
            if result is not None:
                props = dict(result.props)
        out.append((type_, name, props))
    return out

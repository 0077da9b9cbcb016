"""Helpers shared by the rules: resource records, engine-form values, pod specs and exemptions.

Rules are plain functions over a :class:`Resource` (type token, properties in engine form, Pulumi
name and URN) and the policy's configuration. Properties arrive as the engine sends them to an
analyzer: camelCase keys, ``apiVersion``/``kind`` present, numbers possibly floats. Two details of
that form are normalised here by :func:`plain`, so rules only ever see plain dicts, lists and scalars:

* secret values wrapped as ``{SIG_KEY: SECRET_SIG, "value": ...}`` are unwrapped to their value
  (``pulumi_policy`` already strips the wrapper with its deserializer before a policy runs; direct
  callers such as tests may still pass it);
* values unknown during ``pulumi preview`` (the engine's sentinel strings, or the proxy objects
  ``pulumi_policy`` wraps properties in) become :data:`UNKNOWN`, which is not a ``str``, so a rule that
  checks ``isinstance(value, str)`` skips what it cannot know instead of reporting it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from components import durations
from components.conventions import LABEL_NAME
from components.cost.estimate import number as number  # one reading of engine-form numbers, re-exported

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a type signature, not a secret

_UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)


class _Unknown:
    """A value the engine does not know yet (``pulumi preview``)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Any = _Unknown()

# Resource type tokens ------------------------------------------------------------------------------
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
REPLICASET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"  # noqa: S105 - type tokens
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
ANALYSIS_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
CLUSTER_ANALYSIS_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:ClusterAnalysisTemplate"
REPOSITORY_FILE = "github:index/repositoryFile:RepositoryFile"
ACTIONS_SECRET = "github:index/actionsSecret:ActionsSecret"  # noqa: S105
ACTIONS_ENV_SECRET = "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret"  # noqa: S105

WORKLOAD_TYPES = frozenset({DEPLOYMENT, STATEFULSET, DAEMONSET, REPLICASET, JOB, CRONJOB, POD, ROLLOUT})
# Workloads whose containers run until stopped (probes apply); Jobs and CronJobs run to completion.
LONG_RUNNING_TYPES = frozenset({DEPLOYMENT, STATEFULSET, DAEMONSET, REPLICASET, POD, ROLLOUT})
# Workloads with a ``spec.replicas`` field.
REPLICATED_TYPES = frozenset({DEPLOYMENT, STATEFULSET, REPLICASET, ROLLOUT})

KIND_BY_TYPE = {t: t.rsplit(":", 1)[1] for t in WORKLOAD_TYPES | {NAMESPACE, CONFIGMAP, SECRET, PDB}}


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it (properties already passed through :func:`plain`)."""

    type: str
    props: Mapping[str, Any]
    name: str = ""
    urn: str = ""
    parent: str | None = None


@dataclass(frozen=True)
class Finding:
    """One violation a rule reports; ``urn`` names the resource for stack-level rules."""

    message: str
    urn: str | None = None


ResourceCheck = Callable[[Resource, Mapping[str, Any]], list[str]]


# Engine-form values ---------------------------------------------------------------------------------
try:  # pulumi_policy wraps properties in these; read through them (its serializer does the same)
    from pulumi_policy.proxy import _DictProxy, _ListProxy

    _PROXIES: tuple[type, ...] = (_DictProxy, _ListProxy)
except ImportError:  # rules also run where pulumi_policy is not installed
    _PROXIES = ()

_SCALARS = (int, float, bool, type(None))


def plain(value: Any) -> Any:
    """Deep copy of ``value`` as plain data: secrets unwrapped, unknowns replaced by :data:`UNKNOWN`.

    Accepts ``pulumi_policy``'s unknown-checking proxies (read through their ``__target`` escape hatch,
    the same one its own serializer uses) as well as ordinary dicts and lists.
    """
    t = type(value)
    if t is str:
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if t is dict or (t not in _SCALARS and isinstance(value, Mapping) and not isinstance(value, _PROXIES)):
        if SIG_KEY in value:
            if value.get(SIG_KEY) == SECRET_SIG:
                return plain(value.get("value"))
            return dict(value)  # assets/archives: kept as-is, no rule reads them
        return {str(k): plain(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [plain(v) for v in value]
    if t in _SCALARS:
        return value
    if _PROXIES and isinstance(value, _PROXIES):
        return plain(value["__target"])  # type: ignore[index]
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else str(value)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [plain(v) for v in value]
    return value


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def dig(props: Any, *path: str) -> Any:
    """``props[path[0]][path[1]]...`` or None when any step is missing or not a mapping."""
    cur = props
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


# Kubernetes objects -----------------------------------------------------------------------------
def metadata(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(props.get("metadata"))


def labels(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(metadata(props).get("labels"))


def kind_of(res: Resource) -> str:
    kind = res.props.get("kind")
    if isinstance(kind, str) and kind:
        return kind
    return KIND_BY_TYPE.get(res.type, res.type.rsplit(":", 1)[-1])


def object_name(res: Resource) -> str:
    """``metadata.name``, or the Pulumi resource name when the provider will auto-name the object."""
    name = metadata(res.props).get("name")
    return name if isinstance(name, str) and name else res.name


def object_namespace(res: Resource) -> str:
    ns = metadata(res.props).get("namespace")
    return ns if isinstance(ns, str) and ns else "default"


CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "ClusterAnalysisTemplate",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
        "IngressClass",
    }
)


def ref(res: Resource) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped): how messages and exemptions name objects."""
    kind = kind_of(res)
    if kind in CLUSTER_SCOPED_KINDS:
        return f"{kind}/{object_name(res)}"
    return f"{kind}/{object_namespace(res)}/{object_name(res)}"


def pod_template(res: Resource) -> Mapping[str, Any] | None:
    """The pod template (``metadata`` + ``spec``) of a workload, a Pod itself, or None."""
    props = res.props
    if res.type == POD:
        return props
    if res.type == CRONJOB:
        tmpl = dig(props, "spec", "jobTemplate", "spec", "template")
    elif res.type in WORKLOAD_TYPES:
        tmpl = dig(props, "spec", "template")
    else:
        return None
    return tmpl if isinstance(tmpl, Mapping) else None


def pod_spec(res: Resource) -> Mapping[str, Any] | None:
    tmpl = pod_template(res)
    if tmpl is None:
        return None
    spec = tmpl.get("spec")
    return spec if isinstance(spec, Mapping) else None


def pod_labels(res: Resource) -> Mapping[str, Any]:
    tmpl = pod_template(res)
    return as_map(dig(tmpl, "metadata", "labels")) if tmpl is not None else {}


def pod_annotations(res: Resource) -> Mapping[str, Any]:
    tmpl = pod_template(res)
    return as_map(dig(tmpl, "metadata", "annotations")) if tmpl is not None else {}


def containers(spec: Mapping[str, Any], include_init: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(field, container)`` for containers, then init and ephemeral containers when asked."""
    fields = ("containers", "initContainers", "ephemeralContainers") if include_init else ("containers",)
    for fld in fields:
        for c in as_list(spec.get(fld)):
            if isinstance(c, Mapping):
                yield fld, c


def container_label(fld: str, c: Mapping[str, Any]) -> str:
    name = c.get("name")
    shown = name if isinstance(name, str) else "?"
    return f"container {shown!r}" if fld == "containers" else f"{fld[:-1]} {shown!r}"


def app_name(res: Resource) -> str | None:
    """``app.kubernetes.io/name`` of the workload or of its pod template."""
    for src in (labels(res.props), pod_labels(res)):
        val = src.get(LABEL_NAME)
        if isinstance(val, str) and val:
            return val
    return None


# Configuration helpers -------------------------------------------------------------------------------
EXEMPTIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Objects this rule skips, as fnmatch patterns `Kind/namespace/name` (`Kind/name` for "
    "cluster-scoped kinds; a missing namespace is `default`), e.g. `Deployment/*/argo-rollouts`.",
    "default": [],
}


def exempt(res: Resource, config: Mapping[str, Any]) -> bool:
    patterns = config.get("exemptions") or []
    if not patterns:
        return False
    subject = ref(res)
    return any(isinstance(p, str) and fnmatch.fnmatchcase(subject, p) for p in patterns)


def workload_check(inner: Callable[[Resource, Mapping[str, Any], Mapping[str, Any]], list[str]]) -> ResourceCheck:
    """Wrap a per-pod-spec check: finds the pod spec of any pod-bearing kind, prefixes ``Kind/ns/name``.

    Which types a rule sees (``Rule.applies_to``) and its exemptions are applied once, by the registry."""

    def check(res: Resource, config: Mapping[str, Any]) -> list[str]:
        spec = pod_spec(res)
        if spec is None:
            return []
        return [f"{ref(res)}: {msg}" for msg in inner(res, spec, config)]

    check.__name__ = inner.__name__
    check.__doc__ = inner.__doc__
    return check


# Durations ------------------------------------------------------------------------------------------


def duration_seconds(text: str) -> float | None:
    """Seconds in a Prometheus/Loki duration (``15d``, ``720h``, ``1w2d``), or None when malformed."""
    try:
        return durations.seconds(text.strip())
    except ValueError:
        return None


Kind = Literal["resource", "stack"]


@dataclass(frozen=True)
class Rule:
    """One policy. ``check`` is a plain function: ``(Resource, config) -> [message]`` for a resource rule,
    ``([Resource], config) -> [Finding]`` for a stack rule. It never re-tests the resource type or the
    exemptions: :func:`run_resource_rule` and :func:`run_stack_rule` apply ``applies_to`` and ``exemptions``
    once, for every rule, in the pack and in tests alike."""

    name: str
    area: str
    description: str
    severity: str
    remediation: str
    kind: Kind
    default_level: str
    check: Callable[..., Any]
    applies_to: frozenset[str] = frozenset()  # resource types a resource rule looks at (empty: stack rule)
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # JSON schema per own property
    required: tuple[str, ...] = ()

    def schema(self) -> dict[str, dict[str, Any]]:
        """JSON schema of every configuration property: the rule's own plus ``exemptions`` (every rule)."""
        return {**{k: dict(v) for k, v in self.config.items()}, "exemptions": dict(EXEMPTIONS_SCHEMA)}

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.schema().items() if "default" in v}

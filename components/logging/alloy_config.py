"""Grafana Alloy's configuration (Alloy/River syntax) for the log-collecting DaemonSet, as text.

``alloy_config(AlloyConfigInput(...))`` returns the ``config.alloy`` file:

1. ``discovery.kubernetes "pods"`` (role ``pod``) with a field selector ``spec.nodeName=<node>``, the node
   name read from the environment variable the DaemonSet fills from the downward API: each Alloy pod
   discovers only the pods of its own node (less API-server load, no duplicate tailing). An empty
   variable selects unscheduled pods only, so a misconfiguration collects nothing rather than
   everything twice.
2. ``discovery.relabel "pods"`` sets the stream labels ``namespace``, ``pod``, ``container`` and ``app``
   (pod label ``app``, else ``app.kubernetes.io/name``: the same rule the Prometheus scrape jobs use).
3. ``loki.source.kubernetes "pods"`` tails every container's log through the Kubernetes API
   (``pods/log``): no hostPath, no root, no privileged container.
4. ``loki.process "pods"`` parses the JSON lines of the application(s) and promotes their ``level``
   field to a label (bounded values: debug, info, warning, error, critical).
5. ``loki.write "loki"`` pushes to the Loki Service rendered by the Logging component.

Every string is escaped for Alloy's syntax; inputs are validated and a bad one raises ValueError naming
the field and what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from components import conventions as cv
from components.logging import names

# Stream labels every log line carries, and the label extracted from the app's JSON logs.
STREAM_LABELS: tuple[str, ...] = ("namespace", "pod", "container", "app")
LEVEL_LABEL = "level"

_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/[A-Za-z0-9._~/-]*$")
_LOG_LEVELS = ("debug", "info", "warn", "error")


def _meta_label(key: str) -> str:
    """How Kubernetes discovery spells a pod label in ``__meta_*`` names."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


@dataclass(frozen=True)
class AlloyConfigInput:
    """``json_apps``: (namespace, app) pairs whose logs are JSON lines with a ``level`` field."""

    loki_push_url: str
    json_apps: Sequence[tuple[str, str]] = field(default_factory=tuple)
    node_name_env: str = names.NODE_NAME_ENV
    log_level: str = "info"


def quote(value: str) -> str:
    """``value`` as an Alloy string literal (double quotes; backslash, quote and controls escaped)."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _fail(fld: str, value: object, accepted: str) -> ValueError:
    return ValueError(f"Alloy config: {fld} = {value!r} is invalid; accepted: {accepted}")


def _validate(inp: AlloyConfigInput) -> None:
    if (
        not isinstance(inp.loki_push_url, str)
        or not _URL.match(inp.loki_push_url)
        or not inp.loki_push_url.endswith(names.LOKI_PUSH_PATH)
    ):
        raise _fail(
            "loki_push_url",
            inp.loki_push_url,
            f"an http(s) URL ending in {names.LOKI_PUSH_PATH}, e.g. {names.loki_push_url()}",
        )
    if not isinstance(inp.node_name_env, str) or not _ENV.match(inp.node_name_env):
        raise _fail("node_name_env", inp.node_name_env, "an environment variable name such as NODE_NAME")
    if inp.log_level not in _LOG_LEVELS:
        raise _fail("log_level", inp.log_level, ", ".join(_LOG_LEVELS))
    for i, pair in enumerate(inp.json_apps):
        if not (
            isinstance(pair, tuple | list)
            and len(pair) == 2
            and all(isinstance(p, str) and _DNS_LABEL.match(p) for p in pair)
        ):
            raise _fail(f"json_apps[{i}]", pair, "a (namespace, app) pair of DNS-1123 labels")


def _block(header: str, body: Sequence[str], indent: int = 0) -> list[str]:
    pad = "  " * indent
    return [f"{pad}{header} {{", *[f"{pad}  {line}" if line else "" for line in body], f"{pad}}}"]


def _attrs(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """``name = value`` lines with the ``=`` aligned (as ``alloy fmt`` does)."""
    width = max(len(k) for k, _ in pairs)
    return [f"{k.ljust(width)} = {v}" for k, v in pairs]


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"


def _relabel_rules() -> list[str]:
    rules: list[list[tuple[str, str]]] = [
        [("source_labels", _list(["__meta_kubernetes_namespace"])), ("target_label", quote("namespace"))],
        [("source_labels", _list(["__meta_kubernetes_pod_name"])), ("target_label", quote("pod"))],
        [("source_labels", _list(["__meta_kubernetes_pod_container_name"])), ("target_label", quote("container"))],
        # app: the pod label "app" wins over app.kubernetes.io/name (same rule as the scrape jobs).
        [
            ("source_labels", _list([_meta_label(cv.LABEL_NAME)])),
            ("regex", quote("(.+)")),
            ("target_label", quote("app")),
        ],
        [
            ("source_labels", _list([_meta_label(cv.LABEL_APP)])),
            ("regex", quote("(.+)")),
            ("target_label", quote("app")),
        ],
    ]
    out: list[str] = []
    for rule in rules:
        out += _block("rule", _attrs(rule))
    return out


def _json_level_stage(namespace: str, app: str) -> list[str]:
    selector = "{" + f'namespace="{namespace}", app="{app}"' + "}"
    body = [
        f"selector = {quote(selector)}",
        "",
        *_block("stage.json", [f"expressions = {{ {LEVEL_LABEL} = {quote('')} }}"]),
        *_block("stage.labels", [f"values = {{ {LEVEL_LABEL} = {quote('')} }}"]),
    ]
    return _block("stage.match", body)


def alloy_config(inp: AlloyConfigInput) -> str:
    """The ``config.alloy`` text for ``inp``."""
    _validate(inp)
    lines: list[str] = [
        "// Generated by components/logging/alloy_config.py; edit the builder, not this file.",
        "",
        *_block("logging", _attrs([("level", quote(inp.log_level)), ("format", quote("logfmt"))])),
        "",
        f"// Only the pods of this node: the DaemonSet sets {inp.node_name_env} from spec.nodeName.",
        *_block(
            'discovery.kubernetes "pods"',
            [
                f"role = {quote('pod')}",
                "",
                *_block(
                    "selectors",
                    _attrs(
                        [
                            ("role", quote("pod")),
                            ("field", f"{quote('spec.nodeName=')} + sys.env({quote(inp.node_name_env)})"),
                        ]
                    ),
                ),
            ],
        ),
        "",
        "// Stream labels: " + ", ".join(STREAM_LABELS) + ".",
        *_block(
            'discovery.relabel "pods"',
            [
                "targets = discovery.kubernetes.pods.targets",
                "",
                *_relabel_rules(),
            ],
        ),
        "",
        "// Tails each container's log through the Kubernetes API (RBAC: pods, pods/log).",
        *_block(
            'loki.source.kubernetes "pods"',
            _attrs(
                [
                    ("targets", "discovery.relabel.pods.output"),
                    ("forward_to", "[loki.process.pods.receiver]"),
                ]
            ),
        ),
        "",
    ]
    process_body = ["forward_to = [loki.write.loki.receiver]"]
    for namespace, app in inp.json_apps:
        process_body += [
            "",
            f"// {app} in {namespace} logs JSON lines: its level becomes a label.",
            *_json_level_stage(namespace, app),
        ]
    lines += _block('loki.process "pods"', process_body)
    lines += [
        "",
        *_block('loki.write "loki"', _block("endpoint", [f"url = {quote(inp.loki_push_url)}"])),
    ]
    return "\n".join(lines) + "\n"


def from_services(services: Sequence[tuple[str, str]]) -> AlloyConfigInput:
    """The Alloy configuration input of a stack: push to the rendered Loki Service, parse the JSON logs of the
    services given as ``(namespace, name)``."""
    return AlloyConfigInput(loki_push_url=names.loki_push_url(names.NAMESPACE), json_apps=tuple(services))


def render_for(services: Sequence[tuple[str, str]]) -> str:
    return alloy_config(from_services(services))

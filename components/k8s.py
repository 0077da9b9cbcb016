"""Secure-by-default Kubernetes object builders (in the spirit of cdk8s-plus).

Pure functions returning the plain nested dicts ``pulumi_kubernetes`` accepts as inputs (snake_case keys,
translated to the API's camelCase by the SDK). Every container they build runs as non-root with a
read-only root filesystem, no privilege escalation, all capabilities dropped and the RuntimeDefault
seccomp profile, so components get the policy pack's rules right without thinking about them; an
exception (node-exporter's host access, say) has to be spelled out by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components import conventions as cv
from components.config import Resources

Obj = dict[str, Any]


def labels(name: str, component: str, *, instance: str | None = None, extra: Mapping[str, str] | None = None) -> Obj:
    """Recommended labels. ``app.kubernetes.io/name`` doubles as the selector label."""
    out = {
        cv.LABEL_NAME: name,
        cv.LABEL_COMPONENT: component,
        cv.LABEL_PART_OF: cv.PART_OF,
        cv.LABEL_MANAGED_BY: "pulumi",
    }
    if instance:
        out[cv.LABEL_INSTANCE] = instance
    out.update(extra or {})
    return out


def selector(name: str) -> Obj:
    return {cv.LABEL_NAME: name}


def meta(
    name: str, namespace: str | None, lbls: Mapping[str, str], annotations: Mapping[str, str] | None = None
) -> Obj:
    out: Obj = {"name": name, "labels": dict(lbls)}
    if namespace is not None:
        out["namespace"] = namespace
    if annotations:
        out["annotations"] = dict(annotations)
    return out


# pulumi-kubernetes waits for workloads and Services to become ready. Vault cannot be ready before an
# operator initialises and unseals it, and the app not before Vault holds its secrets: on those objects
# the first `pulumi up` would wait out its timeout and fail, so it must not wait.
SKIP_AWAIT: dict[str, str] = {"pulumi.com/skipAwait": "true"}


def scrape_annotations(port: int, path: str = "/metrics", scheme: str = "http") -> dict[str, str]:
    return {
        cv.ANNOTATION_SCRAPE: "true",
        cv.ANNOTATION_PORT: str(port),
        cv.ANNOTATION_PATH: path,
        cv.ANNOTATION_SCHEME: scheme,
    }


def restricted_security_context(*, read_only: bool = True) -> Obj:
    """Container securityContext satisfying the Pod Security Standards' ``restricted`` profile."""
    return {
        "allow_privilege_escalation": False,
        "privileged": False,
        "read_only_root_filesystem": read_only,
        "run_as_non_root": True,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def http_probe(
    path: str,
    port: int | str,
    *,
    scheme: str = "HTTP",
    period: int = 10,
    timeout: int = 3,
    failure_threshold: int = 3,
    initial_delay: int = 0,
) -> Obj:
    probe: Obj = {
        "http_get": {"path": path, "port": port, "scheme": scheme},
        "period_seconds": period,
        "timeout_seconds": timeout,
        "failure_threshold": failure_threshold,
    }
    if initial_delay:
        probe["initial_delay_seconds"] = initial_delay
    return probe


def container(
    name: str,
    image: str,
    *,
    resources: Resources,
    args: Sequence[str] | None = None,
    command: Sequence[str] | None = None,
    ports: Mapping[str, int] | None = None,
    env: Sequence[Obj] | None = None,
    volume_mounts: Sequence[Obj] | None = None,
    liveness: Obj | None = None,
    readiness: Obj | None = None,
    startup: Obj | None = None,
    security_context: Obj | None = None,
) -> Obj:
    """A container with the restricted security context and explicit requests/limits."""
    out: Obj = {
        "name": name,
        "image": image,
        "image_pull_policy": "IfNotPresent",
        "resources": resources.as_k8s(),
        "security_context": security_context or restricted_security_context(),
    }
    if command:
        out["command"] = list(command)
    if args:
        out["args"] = list(args)
    if ports:
        out["ports"] = [{"name": n, "container_port": p, "protocol": "TCP"} for n, p in ports.items()]
    if env:
        out["env"] = list(env)
    if volume_mounts:
        out["volume_mounts"] = list(volume_mounts)
    if liveness:
        out["liveness_probe"] = liveness
    if readiness:
        out["readiness_probe"] = readiness
    if startup:
        out["startup_probe"] = startup
    return out


def pod_spec(
    containers: Sequence[Obj],
    *,
    service_account: str | None = None,
    volumes: Sequence[Obj] | None = None,
    run_as_user: int = 65534,
    fs_group: int | None = 65534,
    termination_grace: int = 30,
    init_containers: Sequence[Obj] | None = None,
    affinity: Obj | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Obj:
    """Pod spec: non-root, RuntimeDefault seccomp, token mounted only with a service account."""
    security: Obj = {
        "run_as_non_root": True,
        "run_as_user": run_as_user,
        "run_as_group": run_as_user,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }
    if fs_group is not None:
        security["fs_group"] = fs_group
    out: Obj = {
        "containers": list(containers),
        "security_context": security,
        "automount_service_account_token": service_account is not None,
        "termination_grace_period_seconds": termination_grace,
        "enable_service_links": False,
    }
    if service_account:
        out["service_account_name"] = service_account
    if volumes:
        out["volumes"] = list(volumes)
    if init_containers:
        out["init_containers"] = list(init_containers)
    if affinity:
        out["affinity"] = affinity
    out.update(extra or {})
    return out


def spread_across_nodes(name: str) -> Obj:
    """Soft anti-affinity so replicas land on different nodes when they can."""
    return {
        "pod_anti_affinity": {
            "preferred_during_scheduling_ignored_during_execution": [
                {
                    "weight": 100,
                    "pod_affinity_term": {
                        "label_selector": {"match_labels": selector(name)},
                        "topology_key": "kubernetes.io/hostname",
                    },
                }
            ],
        },
    }


def config_volume(name: str, config_map: str, *, items: Sequence[tuple[str, str]] | None = None) -> Obj:
    src: Obj = {"name": config_map}
    if items:
        src["items"] = [{"key": k, "path": p} for k, p in items]
    return {"name": name, "config_map": src}


def secret_volume(name: str, secret: str, *, optional: bool = False) -> Obj:
    return {"name": name, "secret": {"secret_name": secret, "default_mode": 0o440, "optional": optional}}


def empty_dir(name: str, size_limit: str = "256Mi") -> Obj:
    return {"name": name, "empty_dir": {"size_limit": size_limit}}


def mount(name: str, path: str, *, read_only: bool = False, sub_path: str | None = None) -> Obj:
    out: Obj = {"name": name, "mount_path": path, "read_only": read_only}
    if sub_path:
        out["sub_path"] = sub_path
    return out


def pvc_template(name: str, size: str, storage_class: str, lbls: Mapping[str, str]) -> Obj:
    spec: Obj = {"access_modes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storage_class_name"] = storage_class
    return {"metadata": {"name": name, "labels": dict(lbls)}, "spec": spec}


def service_ports(ports: Mapping[str, int]) -> list[Obj]:
    return [{"name": n, "port": p, "target_port": n, "protocol": "TCP"} for n, p in ports.items()]


def env_var(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


def env_from_field(name: str, field_path: str) -> Obj:
    return {"name": name, "value_from": {"field_ref": {"field_path": field_path}}}


def env_from_secret(name: str, secret: str, key: str, *, optional: bool = False) -> Obj:
    return {"name": name, "value_from": {"secret_key_ref": {"name": secret, "key": key, "optional": optional}}}


def policy_rule(
    api_groups: Sequence[str],
    resources: Sequence[str],
    verbs: Sequence[str],
    resource_names: Sequence[str] | None = None,
) -> Obj:
    out: Obj = {"api_groups": list(api_groups), "resources": list(resources), "verbs": list(verbs)}
    if resource_names:
        out["resource_names"] = list(resource_names)
    return out


def peer_namespace(namespace: str, pod_labels: Mapping[str, str] | None = None) -> Obj:
    """A NetworkPolicy peer: pods (optionally selected) in the named namespace."""
    peer: Obj = {"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": namespace}}}
    if pod_labels:
        peer["pod_selector"] = {"match_labels": dict(pod_labels)}
    return peer


def _rule(direction: str, peers: Sequence[Obj] | None, ports: Sequence[int] | None) -> Obj:
    rule: Obj = {}
    if peers is not None:
        rule[direction] = list(peers)
    if ports is not None:
        rule["ports"] = [{"port": p, "protocol": "TCP"} for p in ports]
    return rule


def network_policy_spec(
    pod_labels: Mapping[str, str] | None,
    *,
    ingress: Sequence[tuple[Sequence[Obj] | None, Sequence[int] | None]] = (),
    egress: Sequence[tuple[Sequence[Obj] | None, Sequence[int] | None]] = (),
) -> Obj:
    """An allow NetworkPolicy spec. Each rule is ``(peers, ports)``; ``None`` peers = anywhere,
    ``None`` ports = every port. Namespaces deny everything else by default."""
    types = []
    spec: Obj = {"pod_selector": {"match_labels": dict(pod_labels)} if pod_labels else {}}
    if ingress:
        types.append("Ingress")
        spec["ingress"] = [_rule("from_", peers, ports) for peers, ports in ingress]
    if egress:
        types.append("Egress")
        spec["egress"] = [_rule("to", peers, ports) for peers, ports in egress]
    spec["policy_types"] = types
    return spec


# --------------------------------------------------------------------------------------------------
# snake_case (these builders) -> API camelCase, for custom resources (a Rollout's pod template)
# --------------------------------------------------------------------------------------------------
_VERBATIM_KEYS = frozenset(
    {"labels", "annotations", "match_labels", "matchLabels", "node_selector", "nodeSelector", "data", "string_data"}
)


def _camel_key(key: str) -> str:
    if key == "from_":
        return "from"
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camel(value: Any) -> Any:
    """Recursively turn snake_case keys into the API's camelCase (label/annotation maps untouched)."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = _camel_key(k) if isinstance(k, str) else k
            out[key] = dict(v) if k in _VERBATIM_KEYS and isinstance(v, Mapping) else camel(v)
        return out
    if isinstance(value, list | tuple):
        return [camel(v) for v in value]
    return value

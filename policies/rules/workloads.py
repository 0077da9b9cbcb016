"""Workload rules over every pod template: Deployment, StatefulSet, DaemonSet, Rollout, Job, CronJob, Pod.

Container-level ``securityContext`` settings override pod-level ones, as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .common import (
    LONG_RUNNING_TYPES,
    PDB,
    REPLICATED_TYPES,
    WORKLOAD_TYPES,
    Finding,
    Resource,
    Rule,
    app_name,
    as_list,
    as_map,
    container_label,
    containers,
    dig,
    number,
    object_namespace,
    pod_labels,
    ref,
    workload_check,
)


def _effective(spec: Mapping[str, Any], c: Mapping[str, Any], key: str) -> Any:
    """A security setting from the container's securityContext, else from the pod's."""
    csc = as_map(c.get("securityContext"))
    if key in csc:
        return csc[key]
    return as_map(spec.get("securityContext")).get(key)


def _resources(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    need_cpu_limit = bool(config.get("requireCpuLimit", False))
    msgs = []
    for fld, c in containers(spec):
        if fld == "ephemeralContainers":
            continue
        r = as_map(c.get("resources"))
        req, lim = as_map(r.get("requests")), as_map(r.get("limits"))
        missing = [f"requests.{k}" for k in ("cpu", "memory") if req.get(k) in (None, "")]
        missing += [
            f"limits.{k}" for k in (("cpu", "memory") if need_cpu_limit else ("memory",)) if lim.get(k) in (None, "")
        ]
        if missing:
            msgs.append(f"{container_label(fld, c)} has no resources.{', resources.'.join(missing)}")
    return msgs


def _probes(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for fld, c in containers(spec, include_init=False):
        missing = [p for p in ("livenessProbe", "readinessProbe") if not isinstance(c.get(p), Mapping)]
        if missing:
            msgs.append(f"{container_label(fld, c)} has no {' and no '.join(missing)}")
    # Native sidecars (init containers with restartPolicy Always) run for the pod's lifetime too.
    for c in as_list(spec.get("initContainers")):
        if (
            isinstance(c, Mapping)
            and c.get("restartPolicy") == "Always"
            and not isinstance(c.get("livenessProbe"), Mapping)
        ):
            msgs.append(f"{container_label('initContainers', c)} (sidecar) has no livenessProbe")
    return msgs


def _non_root(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for fld, c in containers(spec):
        non_root = _effective(spec, c, "runAsNonRoot")
        uid = number(_effective(spec, c, "runAsUser"))
        if uid == 0:
            msgs.append(f"{container_label(fld, c)} runs as UID 0 (runAsUser: 0)")
        elif non_root is not True:
            msgs.append(f"{container_label(fld, c)} does not set securityContext.runAsNonRoot: true")
    return msgs


def _privileged(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    return [
        f"{container_label(fld, c)} is privileged"
        for fld, c in containers(spec)
        if as_map(c.get("securityContext")).get("privileged") is True
    ]


def _escalation(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    return [
        f"{container_label(fld, c)} does not set securityContext.allowPrivilegeEscalation: false"
        for fld, c in containers(spec)
        if as_map(c.get("securityContext")).get("allowPrivilegeEscalation") is not False
    ]


def _capabilities(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    allowed_add = {a.upper() for a in config.get("allowedAdd") or [] if isinstance(a, str)}
    by_name = as_map(config.get("allowedAddByName"))
    name = app_name(res)
    if name is not None:
        allowed_add |= {a.upper() for a in as_list(by_name.get(name)) if isinstance(a, str)}
    msgs = []
    for fld, c in containers(spec):
        caps = as_map(as_map(c.get("securityContext")).get("capabilities"))
        drop = {d.upper() for d in as_list(caps.get("drop")) if isinstance(d, str)}
        if "ALL" not in drop:
            msgs.append(f"{container_label(fld, c)} does not drop ALL capabilities")
        added = sorted({a.upper() for a in as_list(caps.get("add")) if isinstance(a, str)} - allowed_add)
        if added:
            msgs.append(f"{container_label(fld, c)} adds capabilities {added} (allowed: {sorted(allowed_add)})")
    return msgs


def _read_only_root(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    return [
        f"{container_label(fld, c)} does not set securityContext.readOnlyRootFilesystem: true"
        for fld, c in containers(spec)
        if as_map(c.get("securityContext")).get("readOnlyRootFilesystem") is not True
    ]


def _seccomp(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    pod_kind = as_map(as_map(spec.get("securityContext")).get("seccompProfile")).get("type")
    if isinstance(pod_kind, str) and pod_kind not in ("RuntimeDefault", "Localhost"):
        msgs.append(f"pod seccompProfile.type is {pod_kind} (want RuntimeDefault)")
    for fld, c in containers(spec):
        profile = as_map(_effective(spec, c, "seccompProfile"))
        kind = profile.get("type")
        if kind not in ("RuntimeDefault", "Localhost"):
            shown = kind if isinstance(kind, str) else "unset"
            msgs.append(f"{container_label(fld, c)} seccompProfile.type is {shown} (want RuntimeDefault)")
    return msgs


def _host_access(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    allowed = {n for n in config.get("allowedNames") or [] if isinstance(n, str)}
    name = app_name(res)
    if name is not None and name in allowed:
        return []
    msgs = [f"sets {flag}: true" for flag in ("hostNetwork", "hostPID", "hostIPC") if spec.get(flag) is True]
    for vol in as_list(spec.get("volumes")):
        if isinstance(vol, Mapping) and isinstance(vol.get("hostPath"), Mapping):
            msgs.append(f"mounts hostPath {dig(vol, 'hostPath', 'path')!r} (volume {vol.get('name')!r})")
    for fld, c in containers(spec):
        for port in as_list(c.get("ports")):
            if isinstance(port, Mapping) and port.get("hostPort") not in (None, 0, 0.0):
                msgs.append(f"{container_label(fld, c)} binds hostPort {port.get('hostPort')!r}")
    if msgs:
        hint = (
            f"app.kubernetes.io/name={name!r} is not in allowedNames {sorted(allowed)}"
            if name
            else "no app.kubernetes.io/name label to match allowedNames"
        )
        msgs = [f"{m} ({hint})" for m in msgs]
    return msgs


def _replicas(res: Resource, config: Mapping[str, Any]) -> list[str]:
    minimum = number(config.get("minReplicas"))
    minimum = 2.0 if minimum is None else minimum
    raw = dig(res.props, "spec", "replicas")
    if raw is not None and number(raw) is None:
        return []  # unknown during preview, or managed elsewhere
    replicas = 1.0 if raw is None else number(raw)
    if replicas is not None and replicas < minimum:
        shown = "unset (defaults to 1)" if raw is None else f"{replicas:g}"
        return [f"{ref(res)}: spec.replicas is {shown}, below the minimum of {minimum:g}"]
    return []


def _selects(selector: Mapping[str, Any], pod_lbls: Mapping[str, Any]) -> bool:
    match = as_map(selector.get("matchLabels"))
    exprs = as_list(selector.get("matchExpressions"))
    if not match and not exprs:
        return False  # an empty PDB selector is almost always a mistake; do not count it
    if any(pod_lbls.get(k) != v for k, v in match.items()):
        return False
    for e in exprs:
        if not isinstance(e, Mapping):
            return False
        key, op, values = e.get("key"), e.get("operator"), as_list(e.get("values"))
        has = key in pod_lbls
        val = pod_lbls.get(key) if isinstance(key, str) else None
        if (
            (op == "In" and (not has or val not in values))
            or (op == "NotIn" and has and val in values)
            or (op == "Exists" and not has)
            or (op == "DoesNotExist" and has)
        ):
            return False
    return True


def pod_disruption_budgets(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """Every replicated long-running workload is selected by a PodDisruptionBudget in its namespace."""
    pdbs = [(object_namespace(r), as_map(dig(r.props, "spec", "selector"))) for r in resources if r.type == PDB]
    findings = []
    for r in resources:
        if r.type not in REPLICATED_TYPES:
            continue
        lbls, ns = pod_labels(r), object_namespace(r)
        if not any(pns == ns and _selects(sel, lbls) for pns, sel in pdbs):
            findings.append(
                Finding(f"{ref(r)} is not covered by any PodDisruptionBudget in namespace {ns!r}", r.urn or None)
            )
    return findings


POLICY_WORKLOAD_POD_DISRUPTION_BUDGET = Rule(
    name="workload-pod-disruption-budget",
    area="workloads",
    severity="medium",
    kind="stack",
    default_level="advisory",
    check=pod_disruption_budgets,
    description="Every Deployment, StatefulSet and Rollout is covered by a PodDisruptionBudget.",
    remediation="Add a policy/v1 PodDisruptionBudget in the workload's namespace whose selector matches "
    "its pod labels (maxUnavailable: 1, or minAvailable for quorum systems).",
)


resources_set = workload_check(_resources)


POLICY_WORKLOAD_RESOURCES = Rule(
    name="workload-resources",
    area="workloads",
    severity="medium",
    kind="resource",
    default_level="mandatory",
    check=resources_set,
    applies_to=WORKLOAD_TYPES,
    config={
        "requireCpuLimit": {
            "type": "boolean",
            "default": False,
            "description": "Also require limits.cpu (off: CPU limits throttle).",
        },
    },
    description="Every container requests CPU and memory and has a memory limit.",
    remediation="Set resources.requests.cpu, resources.requests.memory and resources.limits.memory on "
    "the container (sized from the stack config), for init containers too.",
)


probes = workload_check(_probes)


POLICY_WORKLOAD_PROBES = Rule(
    name="workload-probes",
    area="workloads",
    severity="medium",
    kind="resource",
    default_level="mandatory",
    check=probes,
    applies_to=LONG_RUNNING_TYPES,
    description="Long-running containers have liveness and readiness probes (Jobs and CronJobs excluded).",
    remediation="Add livenessProbe and readinessProbe (httpGet on the health endpoint, or tcpSocket/exec) "
    "to every container of Deployments, StatefulSets, DaemonSets, Rollouts and Pods.",
)


run_as_non_root = workload_check(_non_root)


POLICY_WORKLOAD_RUN_AS_NON_ROOT = Rule(
    name="workload-run-as-non-root",
    area="workloads",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=run_as_non_root,
    applies_to=WORKLOAD_TYPES,
    description="Containers run as a non-root user (runAsNonRoot: true, never runAsUser: 0).",
    remediation="Set securityContext.runAsNonRoot: true (pod or container level) and a non-zero "
    "runAsUser when the image has no numeric USER.",
)


no_privileged = workload_check(_privileged)


POLICY_WORKLOAD_NO_PRIVILEGED = Rule(
    name="workload-no-privileged",
    area="workloads",
    severity="critical",
    kind="resource",
    default_level="mandatory",
    check=no_privileged,
    applies_to=WORKLOAD_TYPES,
    description="No container runs privileged.",
    remediation="Remove securityContext.privileged: true; grant the one capability needed instead.",
)


no_privilege_escalation = workload_check(_escalation)


POLICY_WORKLOAD_NO_PRIVILEGE_ESCALATION = Rule(
    name="workload-no-privilege-escalation",
    area="workloads",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=no_privilege_escalation,
    applies_to=WORKLOAD_TYPES,
    description="Containers set allowPrivilegeEscalation: false.",
    remediation="Set securityContext.allowPrivilegeEscalation: false on every container.",
)


drop_all_capabilities = workload_check(_capabilities)


POLICY_WORKLOAD_DROP_ALL_CAPABILITIES = Rule(
    name="workload-drop-all-capabilities",
    area="workloads",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=drop_all_capabilities,
    applies_to=WORKLOAD_TYPES,
    config={
        "allowedAdd": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["NET_BIND_SERVICE"],
            "description": "Capabilities any container may add back after dropping ALL.",
        },
        "allowedAddByName": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "default": {},
            "description": 'Extra capabilities per app.kubernetes.io/name, e.g. {"vault": ["IPC_LOCK"]} '
            "(the Vault image sets cap_ipc_lock on its binary).",
        },
    },
    description="Containers drop ALL Linux capabilities and add back only allowed ones.",
    remediation="Set securityContext.capabilities.drop: [ALL]; add back only what allowedAdd (or "
    "allowedAddByName for that app.kubernetes.io/name) permits.",
)


read_only_root_filesystem = workload_check(_read_only_root)


POLICY_WORKLOAD_READ_ONLY_ROOT_FILESYSTEM = Rule(
    name="workload-read-only-root-filesystem",
    area="workloads",
    severity="medium",
    kind="resource",
    default_level="mandatory",
    check=read_only_root_filesystem,
    applies_to=WORKLOAD_TYPES,
    description="Containers mount their root filesystem read-only.",
    remediation="Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the "
    "process must write (/tmp, caches, data directories).",
)


seccomp_runtime_default = workload_check(_seccomp)


POLICY_WORKLOAD_SECCOMP_RUNTIME_DEFAULT = Rule(
    name="workload-seccomp-runtime-default",
    area="workloads",
    severity="medium",
    kind="resource",
    default_level="mandatory",
    check=seccomp_runtime_default,
    applies_to=WORKLOAD_TYPES,
    description="Containers run with the RuntimeDefault (or a Localhost) seccomp profile.",
    remediation="Set securityContext.seccompProfile.type: RuntimeDefault at pod level.",
)


host_access = workload_check(_host_access)


POLICY_WORKLOAD_HOST_ACCESS = Rule(
    name="workload-host-access",
    area="workloads",
    severity="critical",
    kind="resource",
    default_level="mandatory",
    check=host_access,
    applies_to=WORKLOAD_TYPES,
    config={
        "allowedNames": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "app.kubernetes.io/name values allowed host namespaces, hostPath and hostPort. "
            "Prefer exemptions: a label is chosen by whoever writes the workload, a Kind/namespace/name is not.",
        },
    },
    description="No host network/PID/IPC, hostPath or hostPort except for exempted node agents (node-exporter).",
    remediation="Remove hostNetwork/hostPID/hostIPC, hostPath volumes and hostPorts; an agent that truly "
    "needs the host is exempted by Kind/namespace/name in policies/config/<stack>.json.",
)


min_replicas = _replicas


POLICY_WORKLOAD_MIN_REPLICAS = Rule(
    name="workload-min-replicas",
    area="workloads",
    severity="medium",
    kind="resource",
    default_level="advisory",
    check=min_replicas,
    applies_to=REPLICATED_TYPES,
    config={
        "minReplicas": {
            "type": "number",
            "minimum": 1,
            "default": 2,
            "description": "Lowest spec.replicas a Deployment/StatefulSet/Rollout may have.",
        },
    },
    description="Replicated workloads run at least minReplicas replicas (production high availability).",
    remediation="Raise the replica count in the stack config (Pulumi.<stack>.yaml); a component that "
    "cannot run more than one replica is listed in exemptions with the reason.",
)

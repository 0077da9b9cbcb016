"""Pod Security Standards (https://kubernetes.io/docs/concepts/security/pod-security-standards/) for every
pod-bearing kind, every container list (``containers``, ``initContainers``, ``ephemeralContainers``) and
both levels of ``securityContext``: a container setting that undoes the pod's is judged as what it is.

The checks of the two profiles that have a rule of their own stay there: privileged, capabilities,
allowPrivilegeEscalation, runAsNonRoot/runAsUser, seccomp, host namespaces, hostPath and hostPort
(``workloads.py``). This module adds the rest of *baseline* (Windows HostProcess, sysctls, ``procMount``,
AppArmor, SELinux), the volume types of *restricted*, and the Namespace labels that make the API server
enforce a profile at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .common import (
    NAMESPACE,
    WORKLOAD_TYPES,
    Resource,
    Rule,
    as_list,
    as_map,
    container_label,
    containers,
    labels,
    pod_annotations,
    ref,
    workload_check,
)

# Baseline: the sysctls the kubelet allows by default ("safe" sysctls, Kubernetes 1.29+).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
# Restricted: the only volume sources allowed (hostPath is judged by workload-host-access).
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
LEVEL_LABEL = "pod-security.kubernetes.io/enforce"
LEVEL_RANK = {"privileged": 0, "baseline": 1, "restricted": 2}


def _contexts(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(who, securityContext)`` of the pod, then of every container, init and ephemeral container."""
    yield "pod", as_map(spec.get("securityContext"))
    for fld, c in containers(spec):
        yield container_label(fld, c), as_map(c.get("securityContext"))


def _baseline(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for who, sc in _contexts(spec):
        if as_map(sc.get("windowsOptions")).get("hostProcess") is True:
            msgs.append(f"{who} sets windowsOptions.hostProcess: true (a Windows host process)")
        mount = sc.get("procMount")
        if who != "pod" and isinstance(mount, str) and mount != "Default":
            msgs.append(f"{who} sets procMount: {mount} (only Default masks /proc)")
        apparmor = as_map(sc.get("appArmorProfile")).get("type")
        if isinstance(apparmor, str) and apparmor not in APPARMOR_TYPES:
            msgs.append(f"{who} sets appArmorProfile.type: {apparmor} (accepted: {', '.join(sorted(APPARMOR_TYPES))})")
        selinux = as_map(sc.get("seLinuxOptions"))
        kind = selinux.get("type")
        if isinstance(kind, str) and kind not in SELINUX_TYPES:
            msgs.append(f"{who} sets seLinuxOptions.type: {kind} (accepted: {', '.join(sorted(SELINUX_TYPES - {''}))})")
        msgs += [f"{who} sets seLinuxOptions.{k} (must stay unset)" for k in ("user", "role") if selinux.get(k)]
    for sysctl in as_list(as_map(spec.get("securityContext")).get("sysctls")):
        name = as_map(sysctl).get("name")
        if isinstance(name, str) and name not in SAFE_SYSCTLS:
            msgs.append(f"pod sets the unsafe sysctl {name} (safe ones: {', '.join(sorted(SAFE_SYSCTLS))})")
    for key, value in pod_annotations(res).items():
        allowed = not isinstance(value, str) or value in ("", "runtime/default") or value.startswith("localhost/")
        if key.startswith(APPARMOR_ANNOTATION) and not allowed:
            msgs.append(f"annotation {key} is {value!r} (accepted: runtime/default, localhost/<profile>)")
    return msgs


def _volume_types(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for vol in as_list(spec.get("volumes")):
        sources = sorted(set(as_map(vol)) - {"name", "hostPath"} - RESTRICTED_VOLUMES)
        if sources:
            allowed = ", ".join(sorted(RESTRICTED_VOLUMES))
            msgs.append(f"volume {as_map(vol).get('name')!r} uses {', '.join(sources)} (restricted allows {allowed})")
    return msgs


def namespace_level(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """The Namespace enforces at least the stack's minimum Pod Security level."""
    minimum = str(config.get("minimumLevel", "restricted"))
    value = labels(res.props).get(LEVEL_LABEL)
    level = value if isinstance(value, str) else "privileged"
    if value is not None and not isinstance(value, str):
        return []  # unknown during preview
    if LEVEL_RANK.get(level, -1) >= LEVEL_RANK.get(minimum, 2):
        return []
    shown = (
        f"{LEVEL_LABEL}={level}" if value is not None else f"no {LEVEL_LABEL} label (the cluster default: privileged)"
    )
    return [f"{ref(res)}: {shown} is weaker than the stack's minimum {minimum!r}"]


POLICY_NAMESPACE_POD_SECURITY_LEVEL = Rule(
    name="namespace-pod-security-level",
    area="workloads",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=namespace_level,
    applies_to=frozenset({NAMESPACE}),
    config={
        "minimumLevel": {
            "type": "string",
            "enum": ["baseline", "restricted"],
            "default": "restricted",
            "description": "Weakest pod-security.kubernetes.io/enforce level a Namespace may carry.",
        }
    },
    description="Every Namespace enforces at least the stack's minimum Pod Security level "
    "(pod-security.kubernetes.io/enforce; none means privileged).",
    remediation="Label the Namespace pod-security.kubernetes.io/enforce: restricted (components/k8s.py "
    "namespace builder); a namespace whose agents need the host is exempted by name with the reason.",
)


baseline = workload_check(_baseline)


POLICY_WORKLOAD_POD_SECURITY_BASELINE = Rule(
    name="workload-pod-security-baseline",
    area="workloads",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=baseline,
    applies_to=WORKLOAD_TYPES,
    description="Pod Security baseline, the checks without a rule of their own: no Windows HostProcess, "
    "only safe sysctls, procMount Default, no AppArmor Unconfined, no SELinux type/user/role override; "
    "at pod and container level, for init and ephemeral containers too.",
    remediation="Remove windowsOptions.hostProcess, unsafe securityContext.sysctls (set them on the node), "
    "procMount: Unmasked, appArmorProfile Unconfined (and the AppArmor annotation) and seLinuxOptions "
    "user/role or a custom type; a container-level setting must not undo the pod's.",
)


volume_types = workload_check(_volume_types)


POLICY_WORKLOAD_VOLUME_TYPES = Rule(
    name="workload-volume-types",
    area="workloads",
    severity="medium",
    kind="resource",
    default_level="mandatory",
    check=volume_types,
    applies_to=WORKLOAD_TYPES,
    description="Pod Security restricted volume types: only configMap, csi, downwardAPI, emptyDir, "
    "ephemeral, persistentVolumeClaim, projected and secret (hostPath: workload-host-access).",
    remediation="Replace the volume (nfs, iscsi, cephfs, gitRepo...) with a PersistentVolumeClaim on a "
    "StorageClass, or a projected/configMap/secret volume.",
)

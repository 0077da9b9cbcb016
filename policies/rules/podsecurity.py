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
    Resource,
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


baseline = workload_check(_baseline)
volume_types = workload_check(_volume_types)

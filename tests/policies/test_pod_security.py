"""The Pod Security classes on every pod-bearing kind and every container list: a violation placed in
``containers``, ``initContainers`` or ``ephemeralContainers`` of a Deployment, StatefulSet, DaemonSet,
ReplicaSet, Rollout, Job, CronJob or Pod is reported by its rule and names that container; a
container-level setting that undoes a compliant pod-level one is judged as what it is."""

from __future__ import annotations

from typing import Any

import pytest

from policies import registry
from tests.policies import engine as e
from tests.policies.test_rules import WORKLOAD_KINDS

FIELDS = {"containers": "container", "initContainers": "initContainer", "ephemeralContainers": "ephemeralContainer"}
# (rule, container securityContext override, message fragment)
BREAKS: list[tuple[str, dict[str, Any], str]] = [
    ("workload-no-privileged", {"privileged": True}, "is privileged"),
    ("workload-no-privilege-escalation", {"allowPrivilegeEscalation": True}, "allowPrivilegeEscalation"),
    ("workload-drop-all-capabilities", {"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}, "SYS_ADMIN"),
    ("workload-run-as-non-root", {"runAsUser": 0.0}, "runs as UID 0"),  # under the pod's runAsNonRoot: true
    ("workload-run-as-non-root", {"runAsNonRoot": False}, "runAsNonRoot: true"),
    ("workload-seccomp-runtime-default", {"seccompProfile": {"type": "Unconfined"}}, "Unconfined"),
    ("workload-pod-security-baseline", {"procMount": "Unmasked"}, "procMount: Unmasked"),
    ("workload-pod-security-baseline", {"windowsOptions": {"hostProcess": True}}, "hostProcess"),
    ("workload-pod-security-baseline", {"appArmorProfile": {"type": "Unconfined"}}, "appArmorProfile.type"),
    ("workload-pod-security-baseline", {"seLinuxOptions": {"type": "spc_t"}}, "seLinuxOptions.type: spc_t"),
    ("workload-pod-security-baseline", {"seLinuxOptions": {"role": "sysadm_r"}}, "seLinuxOptions.role"),
]


def placed(kind: str, fld: str, **over: Any) -> dict[str, Any]:
    """A compliant workload of ``kind`` with one extra container ``extra`` in ``fld``."""
    spec = e.pod_spec()
    spec.setdefault(fld, []).append(e.container("extra", **over))
    return e.wrecord(kind, e.workload(kind, spec=spec))


def check(rule: str, rec: dict[str, Any]) -> list[str]:
    return registry.check_resource(rule, rec["type"], rec["inputs"], {"allowedNames": []})


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
@pytest.mark.parametrize("fld", sorted(FIELDS))
def test_every_security_context_break_is_caught_everywhere(kind: str, fld: str) -> None:
    good = placed(kind, fld)
    for rule, _sc, _says in BREAKS:
        assert check(rule, good) == [], (rule, kind, fld)
    for rule, sc, says in BREAKS:
        base = e.container()["securityContext"]
        msgs = check(rule, placed(kind, fld, securityContext={**base, **sc}))
        assert any(f"{FIELDS[fld]} 'extra'" in m and says in m for m in msgs), (rule, sc, kind, fld, msgs)


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
@pytest.mark.parametrize("fld", sorted(FIELDS))
def test_host_port_and_literal_secrets_in_any_container(kind: str, fld: str) -> None:
    host_port = placed(kind, fld, ports=[{"containerPort": 8080.0, "hostPort": 8080.0}])
    assert any("'extra' binds hostPort" in m for m in check("workload-host-access", host_port))
    for over in (
        {"args": ["--db-password=s3cr3t-value"]},
        {"args": ["--api-token", "tok-0123456789"]},
        {"command": ["sh", "-c", "exec app DB_PASSWORD=hunter2hunter2"]},
        {"args": ["--upstream", "https://admin:hunter2x@db.example.com"]},
    ):
        msgs = check("secrets-no-literal-values", placed(kind, fld, **over))
        assert any(f"{FIELDS[fld]} 'extra'" in m for m in msgs), (over, msgs)
        assert not any(s in m for m in msgs for s in ("s3cr3t", "tok-0123", "hunter2")), msgs


@pytest.mark.parametrize(
    "args",
    [
        ["--config=/etc/app/config.yaml", "--token-file=/var/run/secrets/token", "--password-file", "/run/pw"],
        ["--api-key=$(API_KEY)", "--secret-name", "db", "--log-level", "info"],
        ["-config=/vault/config/vault.hcl", "--tls-cert-file=/tls/tls.crt"],
    ],
)
def test_references_in_args_are_not_literals(args: list[str]) -> None:
    rec = placed("Deployment", "containers", args=args)
    assert check("secrets-no-literal-values", rec) == []


def test_pod_level_settings_are_checked_for_every_kind() -> None:
    for kind in WORKLOAD_KINDS:
        unconfined = e.pod_spec()
        unconfined["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
        rec = e.wrecord(kind, e.workload(kind, spec=unconfined))
        assert any("pod seccompProfile.type is Unconfined" in m for m in check("workload-seccomp-runtime-default", rec))
        sysctl = e.pod_spec()
        sysctl["securityContext"]["sysctls"] = [{"name": "net.core.somaxconn", "value": "1024"}]
        rec = e.wrecord(kind, e.workload(kind, spec=sysctl))
        assert any("unsafe sysctl net.core.somaxconn" in m for m in check("workload-pod-security-baseline", rec))

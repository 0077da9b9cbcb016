"""RBAC rules over Roles, ClusterRoles and their bindings.

A rule of a Role grants ``verbs`` on ``resources`` in ``apiGroups``; ``*`` in any of the three grants
everything there, including what does not exist yet. Privilege escalation in RBAC has three verbs of
its own (``escalate``, ``bind``, ``impersonate``) and one resource (``serviceaccounts/token``: mint a
token of any ServiceAccount). Secrets read cluster-wide and ``pods/exec`` reach every credential and
every container; a workload ServiceAccount needs neither, and never ``cluster-admin`` or ``admin``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .common import Finding, Resource, Rule, as_list, as_map, object_name, object_namespace, ref

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
ROLE_TYPES = frozenset({ROLE, CLUSTER_ROLE})
BINDING_TYPES = frozenset({ROLE_BINDING, CLUSTER_ROLE_BINDING})
ESCALATION_VERBS = ("escalate", "bind", "impersonate")
READ_VERBS = frozenset({"get", "list", "watch", "*"})
EXEC_RESOURCES = frozenset({"pods/exec", "pods/attach"})
FORBIDDEN_ROLES_DEFAULT = ["cluster-admin", "admin"]


def _strings(value: Any) -> list[str]:
    return [v for v in as_list(value) if isinstance(v, str)]


def _rules(res: Resource) -> Iterator[tuple[int, list[str], list[str], list[str]]]:
    """``(index, apiGroups, resources, verbs)`` of each rule of a Role/ClusterRole."""
    for i, rule in enumerate(as_list(res.props.get("rules"))):
        r = as_map(rule)
        if r.get("nonResourceURLs") is not None and r.get("resources") is None:
            continue  # /metrics, /healthz...: not objects
        yield i, _strings(r.get("apiGroups")), _strings(r.get("resources")), _strings(r.get("verbs"))


def _grants(res: Resource, wanted: frozenset[str], verbs: frozenset[str], group: str = "") -> list[str]:
    """Verbs of ``res`` that reach one of ``wanted`` (``*`` included) in API ``group``, unrestricted by name."""
    out: set[str] = set()
    for i, groups, resources, rule_verbs in _rules(res):
        if as_map(as_list(res.props.get("rules"))[i]).get("resourceNames"):
            continue
        if (group in groups or "*" in groups) and ("*" in resources or wanted & set(resources)):
            out |= set(rule_verbs) & verbs
    return sorted(out)


def no_wildcards(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """Roles name their verbs, resources and API groups: no ``*``."""
    msgs = []
    for i, groups, resources, verbs in _rules(res):
        wild = [f for f, values in (("apiGroups", groups), ("resources", resources), ("verbs", verbs)) if "*" in values]
        if wild:
            msgs.append(f"{ref(res)}: rules[{i}] has '*' in {', '.join(wild)}")
    return msgs


POLICY_RBAC_NO_WILDCARDS = Rule(
    name="rbac-no-wildcards",
    area="rbac",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=no_wildcards,
    applies_to=ROLE_TYPES,
    description="Roles and ClusterRoles name their verbs, resources and apiGroups: no `*`.",
    remediation="List the verbs and resources the workload uses (kubectl auth can-i --list as its "
    "ServiceAccount shows what it has); never `*`.",
)


def no_escalation(res: Resource, config: Mapping[str, Any]) -> list[str]:
    """No role grants escalate, bind, impersonate or ServiceAccount token creation."""
    msgs = []
    for i, _groups, resources, verbs in _rules(res):
        found = [v for v in ESCALATION_VERBS if v in verbs]
        if found:
            msgs.append(f"{ref(res)}: rules[{i}] grants {', '.join(found)} on {', '.join(resources) or '?'}")
        if "serviceaccounts/token" in resources and {"create", "*"} & set(verbs):
            msgs.append(f"{ref(res)}: rules[{i}] grants create on serviceaccounts/token (mints any SA's token)")
    return msgs


POLICY_RBAC_NO_ESCALATION_VERBS = Rule(
    name="rbac-no-escalation-verbs",
    area="rbac",
    severity="critical",
    kind="resource",
    default_level="mandatory",
    check=no_escalation,
    applies_to=ROLE_TYPES,
    description="No role grants `escalate`, `bind`, `impersonate` or create on serviceaccounts/token.",
    remediation="Remove the verb; a controller that must create RoleBindings gets `bind` with resourceNames "
    "limited to the exact roles, under an exemption with the reason.",
)


def _bindings(resources: Sequence[Resource]) -> Iterator[tuple[Resource, Resource | None, list[str]]]:
    """``(binding, the role it references when in the stack, its ServiceAccount subjects)``."""
    roles = {(r.type, object_name(r), object_namespace(r) if r.type == ROLE else ""): r for r in resources}
    for b in resources:
        if b.type not in BINDING_TYPES:
            continue
        role_ref = as_map(b.props.get("roleRef"))
        kind, name = role_ref.get("kind"), str(role_ref.get("name"))
        key = (ROLE, name, object_namespace(b)) if kind == "Role" else (CLUSTER_ROLE, name, "")
        accounts = []
        for s in as_list(b.props.get("subjects")):
            s = as_map(s)
            if s.get("kind") == "ServiceAccount":
                accounts.append(f"ServiceAccount {s.get('namespace') or object_namespace(b)}/{s.get('name')}")
            elif s.get("kind") == "Group" and str(s.get("name", "")).startswith("system:serviceaccounts"):
                accounts.append(f"Group {s.get('name')}")
        yield b, roles.get(key), accounts


def workload_privileges(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """No ServiceAccount is bound to cluster-admin/admin or to a role that grants pods/exec or pods/attach."""
    forbidden = set(_strings(config.get("forbiddenRoles")) or FORBIDDEN_ROLES_DEFAULT)
    findings = []
    for b, role, accounts in _bindings(resources):
        if not accounts:
            continue
        name = as_map(b.props.get("roleRef")).get("name")
        who = ", ".join(accounts)
        if as_map(b.props.get("roleRef")).get("kind") == "ClusterRole" and name in forbidden:
            findings.append(Finding(f"{ref(b)} binds {who} to ClusterRole {name}", b.urn or None))
        exec_verbs = _grants(role, EXEC_RESOURCES, frozenset({"create", "get", "*"})) if role else []
        if role is not None and exec_verbs:
            findings.append(
                Finding(
                    f"{ref(b)} lets {who} exec/attach into pods ({ref(role)}: {', '.join(exec_verbs)} on pods/exec)",
                    b.urn or None,
                )
            )
    return findings


POLICY_RBAC_WORKLOAD_PRIVILEGES = Rule(
    name="rbac-workload-privileges",
    area="rbac",
    severity="critical",
    kind="stack",
    default_level="mandatory",
    check=workload_privileges,
    config={
        "forbiddenRoles": {
            "type": "array",
            "items": {"type": "string"},
            "default": FORBIDDEN_ROLES_DEFAULT,
            "description": "ClusterRoles no ServiceAccount may be bound to.",
        }
    },
    description="No ServiceAccount is bound to cluster-admin or admin, or to a role granting pods/exec or pods/attach.",
    remediation="Bind the ServiceAccount to a role with the verbs it uses; exec into pods is for people "
    "(through the API server's audit log), never for workloads.",
)


def no_cluster_secrets_read(resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """No ClusterRoleBinding grants read of Secrets in every namespace."""
    findings = []
    for b, role, _accounts in _bindings(resources):
        if b.type != CLUSTER_ROLE_BINDING or role is None:
            continue
        verbs = _grants(role, frozenset({"secrets"}), READ_VERBS)
        if verbs:
            subjects = ", ".join(
                f"{as_map(s).get('kind')} {as_map(s).get('name')}" for s in as_list(b.props.get("subjects"))
            )
            findings.append(
                Finding(
                    f"{ref(b)} gives {subjects or 'no subject'} {', '.join(verbs)} on Secrets in every namespace "
                    f"({ref(role)})",
                    b.urn or None,
                )
            )
    return findings


POLICY_RBAC_NO_CLUSTER_SECRETS_READ = Rule(
    name="rbac-no-cluster-secrets-read",
    area="rbac",
    severity="critical",
    kind="stack",
    default_level="mandatory",
    check=no_cluster_secrets_read,
    description="No ClusterRoleBinding grants get/list/watch on Secrets in every namespace.",
    remediation="Grant Secrets with a Role and RoleBinding in the namespace that holds them, with "
    "resourceNames where possible; list/watch returns every Secret's data.",
)

"""Builders of resources in engine form (what the Pulumi engine sends a policy pack).

camelCase keys, ``apiVersion``/``kind`` present, numbers as floats, secrets wrapped with the engine's
signature. Every builder returns a compliant object by default; tests break one thing at a time.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from components.versions import ACTIONS
from policies.rules.common import SECRET_SIG, SIG_KEY

DIGEST = "sha256:" + "ab" * 32
PSS_ENFORCE = "pod-security.kubernetes.io/enforce"
APP_IMAGE = f"ghcr.io/acme/orders-api:1.4.2@{DIGEST}"

WORKLOAD_TOKENS = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "ReplicaSet": "kubernetes:apps/v1:ReplicaSet",
    "Rollout": "kubernetes:argoproj.io/v1alpha1:Rollout",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "Pod": "kubernetes:core/v1:Pod",
}
API_VERSIONS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Rollout": "argoproj.io/v1alpha1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Pod": "v1",
}


def secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def container(name: str = "app", image: str = APP_IMAGE, **over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080.0}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10.0},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    c.update(over)
    return c


def pod_spec(containers: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001.0, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers if containers is not None else [container()],
    }
    spec.update(over)
    return spec


def workload(
    kind: str = "Deployment",
    name: str = "web",
    namespace: str = "apps",
    spec: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    pod_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    replicas: float | None = 2.0,
    extra_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A workload of ``kind`` with the pod spec in the right place for that kind."""
    pl = pod_labels if pod_labels is not None else {"app.kubernetes.io/name": name}
    tmpl = {
        "metadata": {"labels": pl, **({"annotations": annotations} if annotations else {})},
        "spec": spec if spec is not None else pod_spec(),
    }
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels if labels is not None else dict(pl)}
    props: dict[str, Any] = {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": meta}
    if kind == "Pod":
        props["metadata"] = {
            **meta,
            "labels": {**meta["labels"], **pl},
            **({"annotations": annotations} if annotations else {}),
        }
        props["spec"] = tmpl["spec"]
    elif kind == "CronJob":
        props["spec"] = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": tmpl}}}
    elif kind == "Job":
        props["spec"] = {"template": tmpl}
    else:
        props["spec"] = {"selector": {"matchLabels": pl}, "template": tmpl}
        if kind != "DaemonSet" and replicas is not None:
            props["spec"]["replicas"] = replicas
    props["spec"].update(extra_spec or {})
    return props


def record(
    type_: str, props: dict[str, Any], name: str | None = None, stack: str = "dev", parent: str | None = None
) -> dict[str, Any]:
    """A resource record as the offline driver takes it."""
    pname = name or str((props.get("metadata") or {}).get("name") or type_.rsplit(":", 1)[-1].lower())
    return {
        "urn": f"urn:pulumi:{stack}::hardening::{type_}::{pname}",
        "type": type_,
        "name": pname,
        "parent": parent,
        "inputs": props,
    }


def wrecord(kind: str, props: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return record(WORKLOAD_TOKENS[kind], props, **kw)


def namespace(name: str = "apps", labels: dict[str, str] | None = None) -> dict[str, Any]:
    lbls = {"team": "platform", "cost-center": "cc-1234", PSS_ENFORCE: "restricted"} if labels is None else labels
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": lbls}}


def configmap(
    name: str, data: dict[str, str], labels: dict[str, str] | None = None, namespace: str = "apps"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "data": data,
    }


def pdb(name: str, match: dict[str, str], namespace: str = "apps") -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"maxUnavailable": 1.0, "selector": {"matchLabels": match}},
    }


def uses(action: str) -> str:
    sha, _version = ACTIONS[action]
    return f"{action}@{sha}"


def build_workflow(**over: Any) -> dict[str, Any]:
    """A compliant image-building workflow as a dict (dump with :func:`workflow_yaml`)."""
    wf: dict[str, Any] = {
        "name": "build",
        "on": {"push": {"branches": ["main"]}, "pull_request": {}},
        "permissions": {"contents": "read"},
        "jobs": {
            "build": {
                "runs-on": "ubuntu-24.04",
                "permissions": {"contents": "read", "packages": "write", "security-events": "write"},
                "steps": [
                    {"uses": uses("actions/checkout"), "with": {"persist-credentials": False}},
                    {
                        "name": "Build",
                        "uses": uses("docker/build-push-action"),
                        "with": {"push": False, "load": True, "tags": "ghcr.io/acme/orders-api:${{ github.sha }}"},
                    },
                    {
                        "name": "Scan",
                        "uses": uses("aquasecurity/trivy-action"),
                        "with": {
                            "image-ref": "ghcr.io/acme/orders-api:${{ github.sha }}",
                            "severity": "CRITICAL,HIGH",
                            "exit-code": "1",
                            "format": "sarif",
                            "output": "trivy.sarif",
                            "version": "v0.70.0",
                        },
                    },
                    {
                        "name": "Upload SARIF",
                        "if": "always()",
                        "uses": uses("github/codeql-action/upload-sarif"),
                        "with": {"sarif_file": "trivy.sarif"},
                    },
                ],
            },
        },
    }
    wf.update(over)
    return wf


def workflow_yaml(doc: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(doc, sort_keys=False)


def repo_file(path: str, content: str, repository: str = "orders-api") -> dict[str, Any]:
    return {
        "repository": repository,
        "file": path,
        "content": content,
        "branch": "main",
        "commitMessage": "chore: managed by Pulumi",
        "overwriteOnCreate": True,
    }


def step(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The step called ``name`` in job ``build`` (for in-place edits of a deep copy)."""
    for s in doc["jobs"]["build"]["steps"]:
        if s.get("name") == name:
            return s
    raise KeyError(name)


def clone(obj: Any) -> Any:
    return copy.deepcopy(obj)


def vault_declarative_json(with_audit: bool = True) -> str:
    doc: dict[str, Any] = {
        "apiVersion": "hardening/v2",
        "kind": "VaultConfiguration",
        "secrets": {"secret": {"type": "kv", "options": {"version": "2"}, "config": {"max_versions": 10}}},
        "auth": {
            "kubernetes": {
                "type": "kubernetes",
                "roles": {"orders-api": {"token_ttl": "1h", "token_policies": ["orders-api"]}},
            }
        },
    }
    if with_audit:
        doc["audit"] = {"file": {"type": "file", "options": {"file_path": "/vault/audit/audit.log"}}}
    return json.dumps(doc)


def role(name: str, rules: list[dict[str, Any]], namespace: str | None = None) -> dict[str, Any]:
    """A Role (with ``namespace``) or ClusterRole record."""
    kind = "Role" if namespace else "ClusterRole"
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    props = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": rules}
    return record(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", props)


def binding(
    name: str, role_kind: str, role_name: str, subjects: list[dict[str, Any]], namespace: str | None = None
) -> dict[str, Any]:
    """A RoleBinding (with ``namespace``) or ClusterRoleBinding record."""
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    props = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }
    return record(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", props)


def sa(name: str = "web", namespace: str = "apps") -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}

"""Every rule, on resources in engine form: at least one resource that passes and one that fails.

The table at the bottom is checked for completeness: a rule registered without both a passing and a
failing case here fails ``test_every_rule_has_a_passing_and_a_failing_case``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from policies import registry
from tests.policies import engine as e

WORKLOAD_KINDS = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout", "Job", "CronJob", "Pod"]
LONG_RUNNING = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout", "Pod"]


@dataclass
class Case:
    id: str
    rule: str
    resources: list[dict[str, Any]]  # records; resource rules take exactly one
    fails: bool
    config: dict[str, Any] = field(default_factory=dict)
    says: str = ""  # substring the violation message must contain


def run(case: Case) -> list[str]:
    r = registry.rule(case.rule)
    if r.kind == "resource":
        (rec,) = case.resources
        return registry.check_resource(case.rule, rec["type"], rec["inputs"], case.config, rec["name"], rec["urn"])
    return [f.message for f in registry.check_stack(case.rule, case.resources, case.config)]


def W(kind: str, **kw: Any) -> dict[str, Any]:  # short builder used in the table
    return e.wrecord(kind, e.workload(kind, **kw))


def with_container(kind: str, **over: Any) -> dict[str, Any]:
    return W(kind, spec=e.pod_spec([e.container(**over)]))


def with_sc(kind: str, **sc: Any) -> dict[str, Any]:
    base = e.container()["securityContext"]
    return with_container(kind, securityContext={**base, **sc})


def with_pod_sc(kind: str, **sc: Any) -> dict[str, Any]:
    spec = e.pod_spec()
    spec["securityContext"] = {**spec["securityContext"], **sc}
    return W(kind, spec=spec)


def wf_record(doc: dict[str, Any] | str, path: str = ".github/workflows/build.yml") -> dict[str, Any]:
    content = doc if isinstance(doc, str) else e.workflow_yaml(doc)
    return e.record("github:index/repositoryFile:RepositoryFile", e.repo_file(path, content), name="wf-build")


def wf_variant(edit: Any) -> dict[str, Any]:
    doc = e.build_workflow()
    edit(doc)
    return wf_record(doc)


def cm(
    name: str, data: dict[str, str], labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    props = e.configmap(name, data, labels)
    if annotations:
        props["metadata"]["annotations"] = annotations
    return e.record("kubernetes:core/v1:ConfigMap", props)


def pricing(budget: float, cpu: float = 0.031611, nodes: int = 1) -> dict[str, Any]:
    """OpenCost's pricing ConfigMap as the CostVisibility component's builders make it from stack settings."""
    from components.config import CostSettings
    from components.cost import opencost

    settings = CostSettings(
        cpu_hourly=cpu,
        memory_gib_hourly=0.004237,
        storage_gb_monthly=0.04,
        load_balancer_hourly=0.025,
        node_count=nodes,
        monthly_budget=budget,
        increase_threshold_percent=20,
    )
    props = e.configmap(opencost.PRICING_CONFIGMAP, opencost.pricing_config(settings), namespace="opencost")
    props["metadata"]["annotations"] = opencost.pricing_annotations(settings)
    return e.record("kubernetes:core/v1:ConfigMap", props)


def k8s_secret(**fields: Any) -> dict[str, Any]:
    props = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "apps"},
        "type": "Opaque",
        **fields,
    }
    return e.record("kubernetes:core/v1:Secret", props)


def gh_secret(type_: str = "github:index/actionsSecret:ActionsSecret", **fields: Any) -> dict[str, Any]:
    return e.record(
        type_, {"repository": "orders-api", "secretName": "REGISTRY_TOKEN", **fields}, name="registry-token"
    )


def prometheus(args: list[str]) -> dict[str, Any]:
    c = e.container("prometheus", "quay.io/prometheus/prometheus:v3.5.0", args=args)
    return W("StatefulSet", name="prometheus", spec=e.pod_spec([c]), labels={"app.kubernetes.io/name": "prometheus"})


def loki(text: str) -> dict[str, Any]:
    return cm("loki", {"loki.yaml": text}, {"app.kubernetes.io/name": "loki"})


LOKI_OK = "limits_config:\n  retention_period: 720h\ncompactor:\n  retention_enabled: true\n"
APP_LABELS = {"app.kubernetes.io/name": "orders-api", "app.kubernetes.io/component": "app"}
SCRAPE = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}


def rollout(strategy: dict[str, Any], name: str = "orders-api") -> dict[str, Any]:
    return W("Rollout", name=name, pod_labels=dict(APP_LABELS), annotations=SCRAPE, extra_spec={"strategy": strategy})


CANARY = {
    "canary": {
        "steps": [
            {"setWeight": 20.0},
            {"pause": {"duration": "1m"}},
            {"analysis": {"templates": [{"templateName": "error-rate"}]}},
            {"setWeight": 50.0},
            {"pause": {"duration": "1m"}},
            {"setWeight": 80.0},
        ]
    }
}
TEMPLATE = e.record(
    "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate",
    {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "error-rate", "namespace": "apps"},
        "spec": {"metrics": []},
    },
)


def vault_container(**over: Any) -> dict[str, Any]:
    c = e.container("vault", "docker.io/hashicorp/vault:1.20.2", args=["server", "-config=/vault/config/vault.hcl"])
    c.update(over)
    return W(
        "StatefulSet", name="vault", namespace="vault", spec=e.pod_spec([c]), labels={"app.kubernetes.io/name": "vault"}
    )


def vault_hcl(listener: str) -> dict[str, Any]:
    hcl = f'ui = true\nlistener "tcp" {{\n{listener}\n  telemetry {{\n    x = true\n  }}\n}}\nstorage "raft" {{\n}}\n'
    return cm("vault-config", {"vault.hcl": hcl}, {"app.kubernetes.io/name": "vault"})


TLS_ON = '  address = "[::]:8200"\n  tls_cert_file = "/vault/tls/tls.crt"\n  tls_key_file = "/vault/tls/tls.key"'


def injection(run: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = e.build_workflow()
    if inputs is not None:
        doc["on"] = {"workflow_dispatch": {"inputs": inputs}}
    doc["jobs"]["build"]["steps"].append({"name": "Echo", "run": run})
    return doc


def injection_script(script: str) -> dict[str, Any]:
    doc = e.build_workflow()
    doc["jobs"]["build"]["steps"].append(
        {"name": "Script", "uses": "actions/github-script@" + "f" * 40, "with": {"script": script}}
    )
    return doc


INJECTION_SAFE = injection(
    'echo "$TITLE" #${{ github.event.pull_request.number }}'
    " ${{ github.event.pull_request.head.sha }} ${{ inputs.dry }}",
    inputs={"dry": {"type": "boolean"}},
)
INJECTION_SAFE["jobs"]["build"]["steps"][-1]["env"] = {"TITLE": "${{ github.event.pull_request.title }}"}


def reusable(uses: str) -> dict[str, Any]:
    return {
        "name": "deploy",
        "on": {"push": {}},
        "permissions": {"contents": "read"},
        "jobs": {"deploy": {"uses": uses, "secrets": "inherit", "permissions": {"contents": "read"}}},
    }


CASES: list[Case] = [
    # images ---------------------------------------------------------------------------------------------
    Case("tagged", "images-no-latest-tag", [W("Deployment")], False),
    Case(
        "digest-only", "images-no-latest-tag", [with_container("Deployment", image=f"ghcr.io/acme/x@{e.DIGEST}")], False
    ),
    Case(
        "latest",
        "images-no-latest-tag",
        [with_container("Deployment", image="docker.io/grafana/grafana:latest")],
        True,
        says="mutable tag 'latest'",
    ),
    Case("untagged", "images-no-latest-tag", [with_container("Rollout", image="nginx")], True, says="untagged"),
    Case(
        "registry-port-not-a-tag",
        "images-no-latest-tag",
        [with_container("Deployment", image="localhost:5000/app")],
        True,
        says="untagged",
    ),
    Case(
        "latest-in-init",
        "images-no-latest-tag",
        [W("CronJob", spec=e.pod_spec(initContainers=[e.container("init", "busybox:latest")]))],
        True,
        says="initContainer 'init'",
    ),
    Case("digest", "images-pinned-by-digest", [W("Deployment")], False),
    Case(
        "no-digest",
        "images-pinned-by-digest",
        [with_container("StatefulSet", image="quay.io/prometheus/prometheus:v3.5.0")],
        True,
        says="not pinned by digest",
    ),
    Case(
        "allowed",
        "images-allowed-registries",
        [with_container("Deployment", image="nginx:1.27")],
        False,
        {"allowedRegistries": ["docker.io"]},
    ),
    Case("path-prefix", "images-allowed-registries", [W("Deployment")], False, {"allowedRegistries": ["ghcr.io/acme"]}),
    Case(
        "foreign",
        "images-allowed-registries",
        [with_container("Job", image="evil.example.com/miner:1.0")],
        True,
        {"allowedRegistries": ["ghcr.io", "docker.io"]},
        says="evil.example.com/miner",
    ),
    Case(
        "prefix-is-not-substring",
        "images-allowed-registries",
        [W("Deployment")],
        True,
        {"allowedRegistries": ["ghcr.io/acm"]},
    ),
    # workloads --------------------------------------------------------------------------------------------
    Case("resources-set", "workload-resources", [W("Deployment")], False),
    Case(
        "no-requests",
        "workload-resources",
        [with_container("Rollout", resources={"limits": {"memory": "1Gi"}})],
        True,
        says="requests.cpu",
    ),
    Case(
        "cpu-limit-required",
        "workload-resources",
        [W("Deployment")],
        True,
        {"requireCpuLimit": True},
        says="limits.cpu",
    ),
    Case("probes", "workload-probes", [W("Deployment")], False),
    Case(
        "job-needs-no-probes",
        "workload-probes",
        [with_container("Job", livenessProbe=None, readinessProbe=None)],
        False,
    ),
    Case(
        "no-readiness",
        "workload-probes",
        [with_container("DaemonSet", readinessProbe=None)],
        True,
        says="no readinessProbe",
    ),
    Case("non-root", "workload-run-as-non-root", [W("Deployment")], False),
    Case("root-uid", "workload-run-as-non-root", [with_sc("Deployment", runAsUser=0.0)], True, says="UID 0"),
    Case(
        "non-root-unset",
        "workload-run-as-non-root",
        [W("Pod", spec=e.pod_spec(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}))],
        True,
        says="runAsNonRoot",
    ),
    Case("container-overrides-pod", "workload-run-as-non-root", [with_sc("CronJob", runAsNonRoot=False)], True),
    Case("unprivileged", "workload-no-privileged", [W("Deployment")], False),
    Case("privileged", "workload-no-privileged", [with_sc("DaemonSet", privileged=True)], True, says="privileged"),
    Case("no-escalation", "workload-no-privilege-escalation", [W("Deployment")], False),
    Case("escalation", "workload-no-privilege-escalation", [with_sc("Rollout", allowPrivilegeEscalation=True)], True),
    Case("drop-all", "workload-drop-all-capabilities", [W("Deployment")], False),
    Case(
        "add-allowed",
        "workload-drop-all-capabilities",
        [with_sc("Deployment", capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})],
        False,
        {"allowedAdd": ["NET_BIND_SERVICE"]},
    ),
    Case("no-drop", "workload-drop-all-capabilities", [with_sc("Job", capabilities={})], True, says="drop ALL"),
    Case(
        "add-forbidden",
        "workload-drop-all-capabilities",
        [with_sc("Deployment", capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})],
        True,
        says="SYS_ADMIN",
    ),
    Case("ro-root", "workload-read-only-root-filesystem", [W("Deployment")], False),
    Case("rw-root", "workload-read-only-root-filesystem", [with_sc("StatefulSet", readOnlyRootFilesystem=False)], True),
    Case("seccomp", "workload-seccomp-runtime-default", [W("Deployment")], False),
    Case(
        "seccomp-unconfined",
        "workload-seccomp-runtime-default",
        [with_pod_sc("Rollout", seccompProfile={"type": "Unconfined"})],
        True,
        says="Unconfined",
    ),
    Case("no-host", "workload-host-access", [W("Deployment")], False),
    Case(
        "allowed-agent",
        "workload-host-access",
        [
            W(
                "DaemonSet",
                name="node-exporter",
                spec=e.pod_spec(hostNetwork=True, hostPID=True, volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
            )
        ],
        False,
        {"allowedNames": ["node-exporter", "alloy"]},
    ),
    Case(
        "host-network",
        "workload-host-access",
        [W("Deployment", spec=e.pod_spec(hostNetwork=True))],
        True,
        {"allowedNames": ["node-exporter"]},
        says="hostNetwork",
    ),
    Case(
        "host-path",
        "workload-host-access",
        [W("CronJob", name="backup", spec=e.pod_spec(volumes=[{"name": "h", "hostPath": {"path": "/var/lib"}}]))],
        True,
        {"allowedNames": ["alloy"]},
        says="hostPath '/var/lib'",
    ),
    Case(
        "host-port",
        "workload-host-access",
        [with_container("Pod", ports=[{"containerPort": 80.0, "hostPort": 80.0}])],
        True,
        says="hostPort",
    ),
    Case("replicas-ok", "workload-min-replicas", [W("Deployment", replicas=3.0)], False, {"minReplicas": 2}),
    Case("daemonset-has-no-replicas", "workload-min-replicas", [W("DaemonSet")], False, {"minReplicas": 2}),
    Case(
        "replicas-exempt",
        "workload-min-replicas",
        [W("Deployment", name="argo-rollouts", namespace="argo-rollouts", replicas=1.0)],
        False,
        {"minReplicas": 2, "exemptions": ["Deployment/*/argo-rollouts"]},
    ),
    Case(
        "one-replica",
        "workload-min-replicas",
        [W("Rollout", replicas=1.0)],
        True,
        {"minReplicas": 2},
        says="spec.replicas is 1",
    ),
    Case(
        "replicas-unset",
        "workload-min-replicas",
        [W("StatefulSet", replicas=None)],
        True,
        {"minReplicas": 2},
        says="defaults to 1",
    ),
    Case(
        "pdb",
        "workload-pod-disruption-budget",
        [
            W("Deployment"),
            e.record("kubernetes:policy/v1:PodDisruptionBudget", e.pdb("web", {"app.kubernetes.io/name": "web"})),
        ],
        False,
    ),
    Case(
        "pdb-other-namespace",
        "workload-pod-disruption-budget",
        [
            W("Rollout"),
            e.record(
                "kubernetes:policy/v1:PodDisruptionBudget",
                e.pdb("web", {"app.kubernetes.io/name": "web"}, namespace="other"),
            ),
        ],
        True,
        says="not covered",
    ),
    Case("no-pdb", "workload-pod-disruption-budget", [W("StatefulSet")], True),
    # CI -------------------------------------------------------------------------------------------------
    Case("scan", "ci-image-scan", [wf_record(e.build_workflow())], False),
    Case(
        "no-build-no-scan",
        "ci-image-scan",
        [
            wf_record(
                {
                    "name": "lint",
                    "on": "push",
                    "permissions": {},
                    "jobs": {"lint": {"runs-on": "ubuntu-24.04", "steps": [{"run": "make lint"}]}},
                }
            )
        ],
        False,
    ),
    Case(
        "not-a-workflow",
        "ci-image-scan",
        [e.record("github:index/repositoryFile:RepositoryFile", e.repo_file("README.md", "docker build ."))],
        False,
    ),
    Case(
        "no-scan",
        "ci-image-scan",
        [wf_variant(lambda d: d["jobs"]["build"].update(steps=d["jobs"]["build"]["steps"][:2]))],
        True,
        says="runs no Trivy scan",
    ),
    Case(
        "scan-critical-only",
        "ci-image-scan",
        [wf_variant(lambda d: e.step(d, "Scan")["with"].update(severity="CRITICAL"))],
        True,
        says="HIGH",
    ),
    Case(
        "scan-does-not-fail",
        "ci-image-scan",
        [wf_variant(lambda d: e.step(d, "Scan")["with"].update({"exit-code": "0"}))],
        True,
        says="exit-code",
    ),
    Case(
        "upload-not-always",
        "ci-image-scan",
        [wf_variant(lambda d: e.step(d, "Upload SARIF").pop("if"))],
        True,
        says="if: always()",
    ),
    Case(
        "docker-build-run-unscanned",
        "ci-image-scan",
        [
            wf_record(
                {
                    "on": "push",
                    "permissions": {},
                    "jobs": {"b": {"runs-on": "x", "steps": [{"run": "docker buildx build -t app ."}]}},
                }
            )
        ],
        True,
        says="runs no Trivy scan",
    ),
    Case("pinned", "ci-actions-pinned-by-sha", [wf_record(e.build_workflow())], False),
    Case(
        "tag-ref",
        "ci-actions-pinned-by-sha",
        [wf_variant(lambda d: e.step(d, "Build").update(uses="docker/build-push-action@v7"))],
        True,
        says="docker/build-push-action@v7",
    ),
    Case(
        "reusable-workflow-tag",
        "ci-actions-pinned-by-sha",
        [
            wf_record(
                {
                    "on": "push",
                    "permissions": {},
                    "jobs": {"call": {"uses": "acme/workflows/.github/workflows/build.yml@main"}},
                }
            )
        ],
        True,
        says="job 'call'",
    ),
    Case("least-privilege", "ci-least-privilege-permissions", [wf_record(e.build_workflow())], False),
    Case("no-permissions", "ci-least-privilege-permissions", [wf_variant(lambda d: d.pop("permissions"))], False),
    Case(
        "no-permissions-anywhere",
        "ci-least-privilege-permissions",
        [wf_variant(lambda d: (d.pop("permissions"), d["jobs"]["build"].pop("permissions")))],
        True,
        says="repository default",
    ),
    Case(
        "write-all",
        "ci-least-privilege-permissions",
        [wf_variant(lambda d: d.update(permissions="write-all"))],
        True,
        says="write-all",
    ),
    Case(
        "top-level-write",
        "ci-least-privilege-permissions",
        [wf_variant(lambda d: d.update(permissions={"contents": "write"}))],
        True,
        says="contents: write",
    ),
    Case(
        "prt-label-only",
        "ci-no-pull-request-target-checkout",
        [
            wf_record(
                {
                    "on": {"pull_request_target": {"types": ["opened"]}},
                    "permissions": {},
                    "jobs": {
                        "label": {
                            "runs-on": "x",
                            "permissions": {"pull-requests": "write"},
                            "steps": [{"uses": e.uses("actions/checkout")}],
                        }
                    },
                }
            )
        ],
        False,
    ),
    Case(
        "prt-head-checkout",
        "ci-no-pull-request-target-checkout",
        [
            wf_record(
                "on: pull_request_target\npermissions: {}\njobs:\n  t:\n    runs-on: x\n    steps:\n"
                f"      - uses: {e.uses('actions/checkout')}\n        with:\n"
                "          ref: ${{ github.event.pull_request.head.sha }}\n"
            )
        ],
        True,
        says="checks out the pull request head",
    ),
    # secrets ---------------------------------------------------------------------------------------------
    Case(
        "env-from-secret",
        "secrets-no-literal-values",
        [
            with_container(
                "Deployment",
                env=[
                    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    {"name": "VAULT_ADDR", "value": "https://vault.vault.svc:8200"},
                    {"name": "VAULT_TOKEN_PATH", "value": "/vault/secrets/token"},
                ],
            )
        ],
        False,
    ),
    Case(
        "env-literal",
        "secrets-no-literal-values",
        [with_container("Rollout", env=[{"name": "DB_PASSWORD", "value": "hunter2hunter2"}])],
        True,
        says="env DB_PASSWORD is a literal",
    ),
    Case(
        "env-token-format",
        "secrets-no-literal-values",
        [with_container("CronJob", env=[{"name": "GH", "value": "ghp_" + "a1" * 18}])],
        True,
        says="GitHub token",
    ),
    Case(
        "configmap-clean",
        "secrets-no-literal-values",
        [cm("vault-decl", {"vault-config.json": e.vault_declarative_json()})],
        False,
    ),
    Case(
        "configmap-env-ref",
        "secrets-no-literal-values",
        [cm("grafana", {"grafana.ini": "[security]\nadmin_password = $__file{/etc/secrets/admin}\n"})],
        False,
    ),
    Case(
        "configmap-password",
        "secrets-no-literal-values",
        [cm("grafana", {"grafana.ini": "[security]\nadmin_password = admin123\n"})],
        True,
        says="admin_password",
    ),
    Case(
        "configmap-webhook",
        "secrets-no-literal-values",
        [
            cm(
                "alertmanager",
                {
                    "alertmanager.yml": "receivers:\n- slack_configs:\n  - api_url: "
                    "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX\n"
                },
            )
        ],
        True,
        says="Slack",
    ),
    Case(
        "workflow-secret-ref",
        "secrets-no-literal-values",
        [wf_variant(lambda d: e.step(d, "Build")["with"].update(password="${{ secrets.REGISTRY_TOKEN }}"))],
        False,
    ),
    Case(
        "workflow-literal",
        "secrets-no-literal-values",
        [wf_variant(lambda d: d.update(env={"API_TOKEN": "abc123def456"}))],
        True,
        says="env.API_TOKEN",
    ),
    Case(
        "workflow-private-key",
        "secrets-no-literal-values",
        [
            wf_variant(
                lambda d: e.step(d, "Build")["with"].update({"build-args": "KEY=-----BEGIN RSA PRIVATE KEY-----"})
            )
        ],
        True,
        says="private key",
    ),
    Case(
        "repo-file-clean",
        "secrets-no-literal-values",
        [e.record("github:index/repositoryFile:RepositoryFile", e.repo_file("Dockerfile", "FROM python:3.12\n"))],
        False,
    ),
    Case(
        "repo-file-key",
        "secrets-no-literal-values",
        [
            e.record(
                "github:index/repositoryFile:RepositoryFile",
                e.repo_file("deploy/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n"),
            )
        ],
        True,
        says="deploy/id_ed25519: contains a private key block",
    ),
    Case(
        "k8s-secret-real",
        "secrets-from-pulumi-secrets",
        [k8s_secret(stringData=e.secret({"username": "app", "password": "Zq8#kLm2@pW9xV4tR7yB"}))],
        False,
    ),
    Case(
        "k8s-secret-data-real",
        "secrets-from-pulumi-secrets",
        [k8s_secret(data=e.secret({"password": base64.b64encode(b"Zq8#kLm2@pW9xV4tR7yB").decode()}))],
        False,
    ),
    Case(
        "k8s-secret-placeholder",
        "secrets-from-pulumi-secrets",
        [k8s_secret(stringData=e.secret({"password": "changeme"}))],
        True,
        says="placeholder",
    ),
    Case(
        "k8s-secret-short-base64",
        "secrets-from-pulumi-secrets",
        [k8s_secret(data=e.secret({"api-token": base64.b64encode(b"abc123").decode()}))],
        True,
        says="6 characters",
    ),
    Case("gh-secret-real", "secrets-from-pulumi-secrets", [gh_secret(plaintextValue=e.secret("g" * 40))], False),
    Case(
        "gh-env-secret-encrypted",
        "secrets-from-pulumi-secrets",
        [
            gh_secret(
                "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret",
                environment="production",
                encryptedValue=e.secret("b64sealedbox=="),
            )
        ],
        False,
    ),
    Case(
        "gh-secret-placeholder",
        "secrets-from-pulumi-secrets",
        [gh_secret(plaintextValue=e.secret("test"))],
        True,
        says="placeholder",
    ),
    Case("gh-secret-no-value", "secrets-from-pulumi-secrets", [gh_secret()], True, says="no plaintextValue"),
    # observability ---------------------------------------------------------------------------------------
    Case(
        "prom-15d",
        "observability-prometheus-retention",
        [prometheus(["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.retention.time=15d"])],
        False,
        {"minDays": 15},
    ),
    Case(
        "prom-360h",
        "observability-prometheus-retention",
        [prometheus(["--storage.tsdb.retention.time=360h"])],
        False,
        {"minDays": 15},
    ),
    Case(
        "prom-7d",
        "observability-prometheus-retention",
        [prometheus(["--storage.tsdb.retention.time=7d"])],
        True,
        {"minDays": 15},
        says="keeps 7 days",
    ),
    Case(
        "prom-unset",
        "observability-prometheus-retention",
        [prometheus(["--web.enable-lifecycle"])],
        True,
        {"minDays": 15},
        says="no --storage.tsdb.retention.time",
    ),
    Case("loki-30d", "observability-loki-retention", [loki(LOKI_OK)], False, {"minDays": 30}),
    Case(
        "loki-7d",
        "observability-loki-retention",
        [loki(LOKI_OK.replace("720h", "168h"))],
        True,
        {"minDays": 30},
        says="keeps 7 days",
    ),
    Case(
        "loki-no-compactor",
        "observability-loki-retention",
        [loki(LOKI_OK.replace("retention_enabled: true", "retention_enabled: false"))],
        True,
        {"minDays": 30},
        says="retention_enabled",
    ),
    Case("app-scraped", "observability-app-scraped", [rollout(CANARY)], False),
    Case("other-unscraped", "observability-app-scraped", [W("Deployment")], False),
    Case(
        "app-unscraped",
        "observability-app-scraped",
        [W("Deployment", name="orders-api", pod_labels=dict(APP_LABELS))],
        True,
        says="prometheus.io/scrape",
    ),
    # delivery ------------------------------------------------------------------------------------------
    Case("canary", "delivery-app-rollout", [rollout(CANARY), TEMPLATE], False),
    Case(
        "blue-green",
        "delivery-app-rollout",
        [
            rollout(
                {
                    "blueGreen": {
                        "activeService": "a",
                        "previewService": "p",
                        "autoPromotionEnabled": False,
                        "prePromotionAnalysis": {"templates": [{"templateName": "error-rate"}]},
                    }
                }
            ),
            TEMPLATE,
        ],
        False,
    ),
    Case(
        "deployment",
        "delivery-app-rollout",
        [W("Deployment", name="orders-api", pod_labels=dict(APP_LABELS), annotations=SCRAPE)],
        True,
        says="not an Argo Rollout",
    ),
    Case(
        "no-analysis",
        "delivery-app-rollout",
        [rollout({"canary": {"steps": [{"setWeight": 20.0}, {"pause": {}}]}})],
        True,
        says="runs no analysis",
    ),
    Case(
        "no-pause",
        "delivery-app-rollout",
        [
            rollout(
                {
                    "canary": {
                        "steps": [{"setWeight": 50.0}],
                        "analysis": {"templates": [{"templateName": "error-rate"}]},
                    }
                }
            ),
            TEMPLATE,
        ],
        True,
        says="no pause step",
    ),
    Case("missing-template", "delivery-app-rollout", [rollout(CANARY)], True, says="['error-rate']"),
    Case("no-app", "delivery-app-rollout", [W("Deployment")], True, says="no workload labelled"),
    # cost ------------------------------------------------------------------------------------------------
    Case("labelled", "cost-namespace-labels", [e.record("kubernetes:core/v1:Namespace", e.namespace())], False),
    Case(
        "unlabelled",
        "cost-namespace-labels",
        [e.record("kubernetes:core/v1:Namespace", e.namespace(labels={"team": "platform"}))],
        True,
        says="cost-center",
    ),
    Case(
        "empty-label",
        "cost-namespace-labels",
        [e.record("kubernetes:core/v1:Namespace", e.namespace(labels={"team": " ", "cost-center": "cc"}))],
        True,
        says="team",
    ),
    Case("under-budget", "cost-monthly-budget", [W("Deployment"), pricing(budget=100)], False),
    Case(
        "over-budget",
        "cost-monthly-budget",
        [
            W(
                "Deployment",
                replicas=50.0,
                spec=e.pod_spec(
                    [e.container(resources={"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "16Gi"}})]
                ),
            ),
            pricing(budget=100),
        ],
        True,
        says="exceeds the stack's budget (costMonthlyBudget) of $100.00",
    ),
    Case(
        "price-from-the-stack",
        "cost-monthly-budget",
        [W("Deployment"), pricing(budget=100, cpu=10.0)],
        True,
        says="exceeds the stack's budget",
    ),
    Case("no-cost-model", "cost-monthly-budget", [W("Deployment")], True, says="no ConfigMap carries the"),
    Case(
        "broken-cost-model",
        "cost-monthly-budget",
        [W("Deployment"), cm("custom-pricing-model", {}, annotations={"hardening/cost-model": '{"cpuCoreHourly": 1}'})],
        True,
        says="is not a cost model",
    ),
    # vault -----------------------------------------------------------------------------------------------
    Case("server", "vault-no-dev-mode", [vault_container()], False),
    Case("dev-flag", "vault-no-dev-mode", [vault_container(args=["server", "-dev"])], True, says="dev mode (-dev)"),
    Case("default-cmd", "vault-no-dev-mode", [vault_container(args=None)], True, says="server -dev"),
    Case(
        "dev-env",
        "vault-no-dev-mode",
        [vault_container(env=[{"name": "VAULT_DEV_ROOT_TOKEN_ID", "valueFrom": {"secretKeyRef": {"name": "x"}}}])],
        True,
        says="VAULT_DEV_ROOT_TOKEN_ID",
    ),
    Case("tls", "vault-tls", [vault_hcl(TLS_ON)], False),
    Case("tls-disable-false", "vault-tls", [vault_hcl(TLS_ON + "\n  tls_disable = false")], False),
    Case(
        "tls-disabled",
        "vault-tls",
        [vault_hcl('  address = "[::]:8200"\n  tls_disable = 1')],
        True,
        says="tls_disable = 1",
    ),
    Case("tls-disabled-quoted", "vault-tls", [vault_hcl('  address = "[::]:8200"\n  tls_disable = "true"')], True),
    Case(
        "tls-no-key",
        "vault-tls",
        [vault_hcl('  address = "[::]:8200"\n  tls_cert_file = "/c"')],
        True,
        says="tls_key_file",
    ),
    Case(
        "audit",
        "vault-audit-device",
        [vault_container(), cm("vault-declarative", {"vault-config.json": e.vault_declarative_json()})],
        False,
    ),
    Case("no-vault", "vault-audit-device", [W("Deployment")], False),
    Case(
        "no-audit",
        "vault-audit-device",
        [vault_container(), cm("vault-declarative", {"vault-config.json": e.vault_declarative_json(False)})],
        True,
        says="no audit device",
    ),
    Case("no-declarative-config", "vault-audit-device", [vault_container()], True, says="vault-config.json"),
    Case(
        "audit-device-without-type",
        "vault-audit-device",
        [vault_container(), cm("vault-declarative", {"vault-config.json": '{"audit": {"file": {"options": {}}}}'})],
        True,
        says="no audit device",
    ),
    # Pod Security baseline / restricted ---------------------------------------------------------------
    Case("compliant", "workload-pod-security-baseline", [W("Deployment")], False),
    Case(
        "safe-sysctl-and-runtime-apparmor",
        "workload-pod-security-baseline",
        [
            with_pod_sc(
                "Pod",
                sysctls=[{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                appArmorProfile={"type": "RuntimeDefault"},
                seLinuxOptions={"type": "container_t", "level": "s0:c1,c2"},
            )
        ],
        False,
    ),
    Case(
        "unsafe-sysctl",
        "workload-pod-security-baseline",
        [with_pod_sc("StatefulSet", sysctls=[{"name": "kernel.msgmax", "value": "65536"}])],
        True,
        says="unsafe sysctl kernel.msgmax",
    ),
    Case(
        "host-process-in-init",
        "workload-pod-security-baseline",
        [
            W(
                "DaemonSet",
                spec=e.pod_spec(
                    initContainers=[e.container("init", securityContext={"windowsOptions": {"hostProcess": True}})]
                ),
            )
        ],
        True,
        says="initContainer 'init' sets windowsOptions.hostProcess",
    ),
    Case(
        "proc-mount-unmasked",
        "workload-pod-security-baseline",
        [with_sc("Job", procMount="Unmasked")],
        True,
        says="procMount: Unmasked",
    ),
    Case(
        "apparmor-unconfined-container-undoes-pod",
        "workload-pod-security-baseline",
        [
            W(
                "Rollout",
                spec=e.pod_spec(
                    [e.container(securityContext={"appArmorProfile": {"type": "Unconfined"}})],
                    securityContext={"appArmorProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True},
                ),
            )
        ],
        True,
        says="container 'app' sets appArmorProfile.type: Unconfined",
    ),
    Case(
        "apparmor-annotation",
        "workload-pod-security-baseline",
        [W("Deployment", annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"})],
        True,
        says="container.apparmor.security.beta.kubernetes.io/app is 'unconfined'",
    ),
    Case(
        "selinux-type",
        "workload-pod-security-baseline",
        [with_pod_sc("CronJob", seLinuxOptions={"type": "spc_t"})],
        True,
        says="seLinuxOptions.type: spc_t",
    ),
    Case(
        "selinux-user-in-ephemeral",
        "workload-pod-security-baseline",
        [
            W(
                "Pod",
                spec=e.pod_spec(
                    ephemeralContainers=[e.container("debug", securityContext={"seLinuxOptions": {"user": "sysadm_u"}})]
                ),
            )
        ],
        True,
        says="ephemeralContainer 'debug' sets seLinuxOptions.user",
    ),
    Case(
        "allowed-volumes",
        "workload-volume-types",
        [
            W(
                "Deployment",
                spec=e.pod_spec(
                    volumes=[
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "cfg", "configMap": {"name": "x"}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "d"}},
                        {"name": "tok", "projected": {"sources": []}},
                    ]
                ),
            )
        ],
        False,
    ),
    Case(
        "nfs-volume",
        "workload-volume-types",
        [W("StatefulSet", spec=e.pod_spec(volumes=[{"name": "share", "nfs": {"server": "10.0.0.1", "path": "/"}}]))],
        True,
        says="volume 'share' uses nfs",
    ),
    Case(
        "restricted-namespace",
        "namespace-pod-security-level",
        [
            e.record(
                "kubernetes:core/v1:Namespace", e.namespace(labels={"pod-security.kubernetes.io/enforce": "restricted"})
            )
        ],
        False,
    ),
    Case(
        "baseline-is-enough-when-configured",
        "namespace-pod-security-level",
        [
            e.record(
                "kubernetes:core/v1:Namespace", e.namespace(labels={"pod-security.kubernetes.io/enforce": "baseline"})
            )
        ],
        False,
        {"minimumLevel": "baseline"},
    ),
    Case(
        "baseline-below-restricted",
        "namespace-pod-security-level",
        [
            e.record(
                "kubernetes:core/v1:Namespace", e.namespace(labels={"pod-security.kubernetes.io/enforce": "baseline"})
            )
        ],
        True,
        says="pod-security.kubernetes.io/enforce=baseline is weaker than the stack's minimum 'restricted'",
    ),
    Case(
        "unlabelled-namespace",
        "namespace-pod-security-level",
        [e.record("kubernetes:core/v1:Namespace", e.namespace(labels={"team": "a", "cost-center": "b"}))],
        True,
        {"minimumLevel": "baseline"},
        says="the cluster default: privileged",
    ),
    # RBAC ----------------------------------------------------------------------------------------------
    Case(
        "named",
        "rbac-no-wildcards",
        [e.role("reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])],
        False,
    ),
    Case(
        "non-resource-urls",
        "rbac-no-wildcards",
        [e.role("metrics", [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])],
        False,
    ),
    Case(
        "wildcard-verbs",
        "rbac-no-wildcards",
        [e.role("r", [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}], namespace="apps")],
        True,
        says="Role/apps/r: rules[0] has '*' in verbs",
    ),
    Case(
        "wildcard-groups-and-resources",
        "rbac-no-wildcards",
        [e.role("r", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}])],
        True,
        says="'*' in apiGroups, resources",
    ),
    Case(
        "plain-verbs",
        "rbac-no-escalation-verbs",
        [e.role("r", [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["get", "list"]}])],
        False,
    ),
    Case(
        "bind",
        "rbac-no-escalation-verbs",
        [
            e.role(
                "r",
                [
                    {
                        "apiGroups": ["rbac.authorization.k8s.io"],
                        "resources": ["clusterroles"],
                        "verbs": ["bind", "escalate"],
                    }
                ],
            )
        ],
        True,
        says="grants escalate, bind on clusterroles",
    ),
    Case(
        "impersonate",
        "rbac-no-escalation-verbs",
        [
            e.role(
                "r", [{"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}], namespace="apps"
            )
        ],
        True,
        says="grants impersonate",
    ),
    Case(
        "token-request",
        "rbac-no-escalation-verbs",
        [e.role("r", [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}])],
        True,
        says="serviceaccounts/token",
    ),
    Case(
        "namespaced-secrets",
        "rbac-no-cluster-secrets-read",
        [
            e.role("s", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}], namespace="apps"),
            e.binding("s", "Role", "s", [e.sa()], namespace="apps"),
            e.role(
                "named", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["tls"]}]
            ),
            e.binding("named", "ClusterRole", "named", [e.sa()]),
            e.role("cm", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
            e.binding("cm", "ClusterRole", "cm", [e.sa()]),
        ],
        False,
    ),
    Case(
        "cluster-wide-secrets",
        "rbac-no-cluster-secrets-read",
        [
            e.role("reader", [{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["list", "watch"]}]),
            e.binding("reader", "ClusterRole", "reader", [e.sa()]),
        ],
        True,
        says="ClusterRoleBinding/reader gives ServiceAccount web list, watch on Secrets in every namespace",
    ),
    Case(
        "cluster-wide-wildcard-resources",
        "rbac-no-cluster-secrets-read",
        [
            e.role("all", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}]),
            e.binding("all", "ClusterRole", "all", [{"kind": "Group", "name": "devs"}]),
        ],
        True,
        says="get on Secrets",
    ),
    Case(
        "least-privilege-binding",
        "rbac-workload-privileges",
        [
            e.role("view-pods", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], namespace="apps"),
            e.binding("view-pods", "Role", "view-pods", [e.sa()], namespace="apps"),
            e.binding("people", "ClusterRole", "cluster-admin", [{"kind": "Group", "name": "sre"}]),
        ],
        False,
    ),
    Case(
        "sa-cluster-admin",
        "rbac-workload-privileges",
        [e.binding("ci", "ClusterRole", "cluster-admin", [e.sa("deployer", "ci")])],
        True,
        says="binds ServiceAccount ci/deployer to ClusterRole cluster-admin",
    ),
    Case(
        "sa-admin-in-namespace",
        "rbac-workload-privileges",
        [e.binding("ci", "ClusterRole", "admin", [e.sa()], namespace="apps")],
        True,
        says="to ClusterRole admin",
    ),
    Case(
        "sa-pods-exec",
        "rbac-workload-privileges",
        [
            e.role(
                "debug",
                [{"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["get", "create"]}],
                namespace="apps",
            ),
            e.binding("debug", "Role", "debug", [e.sa()], namespace="apps"),
        ],
        True,
        says="lets ServiceAccount apps/web exec/attach into pods (Role/apps/debug: create, get on pods/exec)",
    ),
    # Workflows -----------------------------------------------------------------------------------------
    Case(
        "env-indirection",
        "ci-no-untrusted-input-in-run",
        [wf_record(INJECTION_SAFE)],
        False,
    ),
    Case(
        "pr-title-in-run",
        "ci-no-untrusted-input-in-run",
        [wf_record(injection("echo '${{ github.event.pull_request.title }}'"))],
        True,
        says="expands ${{ github.event.pull_request.title }} in run",
    ),
    Case(
        "head-ref-in-run",
        "ci-no-untrusted-input-in-run",
        [wf_record(injection("git push origin ${{ github.head_ref }}"))],
        True,
        says="github.head_ref",
    ),
    Case(
        "commit-message-in-github-script",
        "ci-no-untrusted-input-in-run",
        [wf_record(injection_script("console.log(`${{ github.event.head_commit.message }}`)"))],
        True,
        says="in with.script",
    ),
    Case(
        "string-input-in-run",
        "ci-no-untrusted-input-in-run",
        [wf_record(injection("deploy ${{ inputs.version }}", inputs={"version": {"type": "string"}}))],
        True,
        says="inputs.version",
    ),
    Case(
        "scan-that-fails",
        "ci-security-gates-can-fail",
        [wf_record(e.build_workflow())],
        False,
    ),
    Case(
        "continue-on-error",
        "ci-security-gates-can-fail",
        [wf_variant(lambda d: e.step(d, "Scan").update({"continue-on-error": True}))],
        True,
        says="sets continue-on-error: true",
    ),
    Case(
        "job-continue-on-error",
        "ci-security-gates-can-fail",
        [wf_variant(lambda d: d["jobs"]["build"].update({"continue-on-error": True}))],
        True,
        says="is in job 'build' with continue-on-error: true",
    ),
    Case(
        "or-true",
        "ci-security-gates-can-fail",
        [
            wf_variant(
                lambda d: d["jobs"]["build"]["steps"].append(
                    {"name": "Lint workflows", "run": "zizmor .github/workflows || true"}
                )
            )
        ],
        True,
        says="swallows the scanner's exit status ('|| true')",
    ),
    Case(
        "trivy-exit-code-0",
        "ci-security-gates-can-fail",
        [wf_variant(lambda d: e.step(d, "Scan")["with"].update({"exit-code": "0"}))],
        True,
        says="has exit-code: '0'",
    ),
    Case(
        "inherit-local-or-pinned",
        "ci-no-secrets-inherit-unpinned",
        [
            wf_record(reusable("./.github/workflows/deploy.yml")),
            wf_record(reusable(f"acme/ci/.github/workflows/d.yml@{'a' * 40}")),
        ][:1],
        False,
    ),
    Case(
        "inherit-to-branch",
        "ci-no-secrets-inherit-unpinned",
        [wf_record(reusable("acme/ci/.github/workflows/deploy.yml@main"))],
        True,
        says="passes secrets: inherit to 'acme/ci/.github/workflows/deploy.yml@main'",
    ),
    Case(
        "self-hosted-on-push-only",
        "ci-no-self-hosted-on-forks",
        [
            wf_variant(
                lambda d: (
                    d.update({"on": {"push": {}}}),
                    d["jobs"]["build"].update({"runs-on": ["self-hosted", "linux"]}),
                )
            )
        ],
        False,
    ),
    Case(
        "self-hosted-guarded",
        "ci-no-self-hosted-on-forks",
        [
            wf_variant(
                lambda d: d["jobs"]["build"].update(
                    {
                        "runs-on": "self-hosted",
                        "if": "github.event.pull_request.head.repo.full_name == github.repository",
                    }
                )
            )
        ],
        False,
    ),
    Case(
        "self-hosted-on-pull-request",
        "ci-no-self-hosted-on-forks",
        [wf_variant(lambda d: d["jobs"]["build"].update({"runs-on": ["self-hosted", "linux"]}))],
        True,
        says="job 'build' runs on a self-hosted runner",
    ),
    Case(
        "runner-group-on-pull-request",
        "ci-no-self-hosted-on-forks",
        [wf_variant(lambda d: d["jobs"]["build"].update({"runs-on": {"group": "private"}}))],
        True,
        says="pull_request",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}:{c.id}" for c in CASES])
def test_rule_case(case: Case) -> None:
    msgs = run(case)
    if case.fails:
        assert msgs, f"{case.rule} accepted a resource it must reject ({case.id})"
        assert any(case.says in m for m in msgs), f"{case.says!r} not in {msgs}"
    else:
        assert msgs == [], f"{case.rule} rejected a compliant resource ({case.id}): {msgs}"


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    for r in registry.RULES:
        outcomes = {c.fails for c in CASES if c.rule == r.name}
        assert outcomes == {True, False}, f"{r.name}: needs a passing and a failing case, has {outcomes}"
    assert {c.rule for c in CASES} <= {r.name for r in registry.RULES}


# Every workload rule reads the pod template wherever the kind keeps it (Rollout, CronJob, Pod...).
WORKLOAD_BREAKS: dict[str, Any] = {
    "images-no-latest-tag": lambda k: with_container(k, image="nginx:latest"),
    "images-pinned-by-digest": lambda k: with_container(k, image="nginx:1.27"),
    "images-allowed-registries": lambda k: with_container(k, image="evil.example.com/x:1"),
    "workload-resources": lambda k: with_container(k, resources={}),
    "workload-run-as-non-root": lambda k: with_sc(k, runAsUser=0.0),
    "workload-no-privileged": lambda k: with_sc(k, privileged=True),
    "workload-no-privilege-escalation": lambda k: with_sc(k, allowPrivilegeEscalation=True),
    "workload-drop-all-capabilities": lambda k: with_sc(k, capabilities={"drop": ["NET_RAW"]}),
    "workload-read-only-root-filesystem": lambda k: with_sc(k, readOnlyRootFilesystem=False),
    "workload-seccomp-runtime-default": lambda k: with_pod_sc(k, seccompProfile={"type": "Unconfined"}),
    "workload-host-access": lambda k: W(k, spec=e.pod_spec(hostPID=True)),
    "secrets-no-literal-values": lambda k: with_container(k, env=[{"name": "API_KEY", "value": "k-123456789"}]),
    "vault-no-dev-mode": lambda k: with_container(k, image="docker.io/hashicorp/vault:1.20.2", args=["server", "-dev"]),
}


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
@pytest.mark.parametrize("rule_name", sorted(WORKLOAD_BREAKS))
def test_workload_rules_cover_every_workload_kind(rule_name: str, kind: str) -> None:
    config = {"allowedRegistries": ["ghcr.io"], "allowedNames": ["node-exporter"]}
    good = W(kind)
    assert registry.check_resource(rule_name, good["type"], good["inputs"], config) == []
    bad = WORKLOAD_BREAKS[rule_name](kind)
    msgs = registry.check_resource(rule_name, bad["type"], bad["inputs"], config)
    assert msgs and all(m.startswith(f"{kind}/apps/web:") for m in msgs), msgs


@pytest.mark.parametrize("kind", LONG_RUNNING)
def test_probes_on_every_long_running_kind(kind: str) -> None:
    bad = with_container(kind, livenessProbe=None)
    assert registry.check_resource("workload-probes", bad["type"], bad["inputs"]) != []


def test_exemptions_match_kind_namespace_name_patterns() -> None:
    bad = with_container("Deployment", image="nginx:latest")
    for pattern, exempt in [
        ("Deployment/apps/web", True),
        ("Deployment/*/w*", True),
        ("Rollout/*/web", False),
        ("Deployment/other/web", False),
    ]:
        msgs = registry.check_resource("images-no-latest-tag", bad["type"], bad["inputs"], {"exemptions": [pattern]})
        assert (msgs == []) is exempt, (pattern, msgs)


def test_rules_skip_values_unknown_during_preview() -> None:
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    res = with_container("Deployment", image=unknown)
    for name in ("images-no-latest-tag", "images-allowed-registries"):
        assert registry.check_resource(name, res["type"], res["inputs"], {"allowedRegistries": ["ghcr.io"]}) == []


def test_secret_values_never_appear_in_messages() -> None:
    value = "hunter2hunter2"
    res = with_container("Deployment", env=[{"name": "DB_PASSWORD", "value": value}])
    msgs = registry.check_resource("secrets-no-literal-values", res["type"], res["inputs"])
    assert msgs and not any(value in m for m in msgs)
    sec = k8s_secret(stringData=e.secret({"password": "changeme"}))
    msgs = registry.check_resource("secrets-from-pulumi-secrets", sec["type"], sec["inputs"])
    assert msgs and not any("changeme" in m for m in msgs)


def test_budget_rule_prices_with_the_shared_estimator_and_the_stacks_prices() -> None:
    from components.cost import estimate as shared

    dep = W(
        "Deployment",
        replicas=3.0,
        spec=e.pod_spec(
            [e.container(resources={"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "2Gi"}})]
        ),
    )
    svc = e.record(
        "kubernetes:core/v1:Service",
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}},
    )
    sts = W(
        "StatefulSet",
        replicas=2.0,
        extra_spec={
            "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "50Gi"}}}}
            ]
        },
    )
    # Deployment 3 x (500m, 2Gi), one load balancer, StatefulSet 2 x (100m, 128Mi) + 2 x 50 GiB volumes.
    expected = (
        3 * 730 * (0.5 * 0.031611 + 2 * 0.004237)
        + 730 * 0.025
        + 2 * 730 * (0.1 * 0.031611 + 0.125 * 0.004237)
        + 2 * 50 * 0.04
    )
    priced = pricing(budget=1.0, nodes=3)
    prices = shared.Prices.from_dict(json.loads(priced["inputs"]["metadata"]["annotations"]["hardening/cost-model"]))
    assert shared.estimate_resources([dep, svc, sts], prices).monthly == pytest.approx(expected, rel=1e-9)
    under = registry.check_stack("cost-monthly-budget", [dep, svc, sts, pricing(budget=expected + 0.01, nodes=3)])
    assert under == []
    over = registry.check_stack("cost-monthly-budget", [dep, svc, sts, pricing(budget=expected - 0.01, nodes=3)])
    assert len(over) == 1 and "Deployment/apps/web" in over[0].message


def test_budget_rule_skips_values_unknown_during_preview() -> None:
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    unknown_cpu = W(
        "Deployment", spec=e.pod_spec([e.container(resources={"requests": {"cpu": unknown, "memory": "1Gi"}})])
    )
    assert registry.check_stack("cost-monthly-budget", [unknown_cpu, pricing(budget=1)]) == []
    unknown_model = cm("custom-pricing-model", {}, annotations={"hardening/cost-model": unknown})
    assert registry.check_stack("cost-monthly-budget", [W("Deployment"), unknown_model]) == []
    bad_cpu = W("Deployment", spec=e.pod_spec([e.container(resources={"requests": {"cpu": "lots"}})]))
    (finding,) = registry.check_stack("cost-monthly-budget", [bad_cpu, pricing(budget=1)])
    assert "cannot estimate" in finding.message

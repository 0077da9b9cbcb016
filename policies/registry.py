"""The one list of rules: every policy in the pack is registered here exactly once.

A :class:`Rule` carries everything the pack, the offline report and the docs need: name, description,
severity, remediation, whether it judges one resource or the whole stack, its default enforcement
level and, where it takes configuration, a JSON schema with defaults. ``policies/__main__.py`` turns
:data:`RULES` into CrossGuard policies with :func:`pulumi_policies`; tests call the checks directly with
:func:`check_resource` / :func:`check_stack`. Enforcement per stack lives in ``policies/config/<stack>.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .rules import ci, cost, delivery, images, observability, podsecurity, rbac, secrets, vault, workloads
from .rules.common import (
    ACTIONS_ENV_SECRET,
    ACTIONS_SECRET,
    CONFIGMAP,
    EXEMPTIONS_SCHEMA,
    LONG_RUNNING_TYPES,
    NAMESPACE,
    REPLICATED_TYPES,
    REPOSITORY_FILE,
    SECRET,
    STATEFULSET,
    WORKLOAD_TYPES,
    Finding,
    Resource,
    exempt,
    plain,
)

PACK_NAME = "hardening-policies"
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
SEVERITIES = ("low", "medium", "high", "critical")

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


_WORKLOADS = frozenset(WORKLOAD_TYPES)

RULES: list[Rule] = [
    # images -----------------------------------------------------------------------------------------
    Rule(
        name="images-no-latest-tag",
        area="images",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=images.no_latest_tag,
        applies_to=_WORKLOADS,
        description="Container images carry an explicit tag: never `latest`, never untagged.",
        remediation="Pin the image to a released tag in components/versions.py (IMAGES) and reference it "
        "with versions.image(name); for the app image use the immutable build tag (git SHA).",
    ),
    Rule(
        name="images-pinned-by-digest",
        area="images",
        severity="medium",
        kind="resource",
        default_level="advisory",
        check=images.pinned_by_digest,
        applies_to=_WORKLOADS,
        description="Container images are pinned by digest (@sha256:...), so a re-pushed tag cannot change them.",
        remediation="Append the digest to the pinned tag (`repo:tag@sha256:<digest>`, from "
        "`crane digest repo:tag` or the registry UI). Make the rule mandatory in "
        "policies/config/<stack>.json once every image carries one.",
    ),
    Rule(
        name="images-allowed-registries",
        area="images",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=images.allowed_registries,
        applies_to=_WORKLOADS,
        config={
            "allowedRegistries": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Registry hosts or host/path prefixes images may come from "
                "(`docker.io`, `ghcr.io/acme`). Short names resolve to docker.io/library.",
                "default": ["quay.io", "registry.k8s.io", "docker.io", "ghcr.io"],
            },
        },
        description="Images come only from the registries allowed for the stack.",
        remediation="Use an image from an allowed registry (mirror it there if needed) or, if the registry "
        "is trusted, add it to allowedRegistries in policies/config/<stack>.json.",
    ),
    # workloads ----------------------------------------------------------------------------------------
    Rule(
        name="workload-resources",
        area="workloads",
        severity="medium",
        kind="resource",
        default_level="mandatory",
        check=workloads.resources_set,
        applies_to=_WORKLOADS,
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
    ),
    Rule(
        name="workload-probes",
        area="workloads",
        severity="medium",
        kind="resource",
        default_level="mandatory",
        check=workloads.probes,
        applies_to=LONG_RUNNING_TYPES,
        description="Long-running containers have liveness and readiness probes (Jobs and CronJobs excluded).",
        remediation="Add livenessProbe and readinessProbe (httpGet on the health endpoint, or tcpSocket/exec) "
        "to every container of Deployments, StatefulSets, DaemonSets, Rollouts and Pods.",
    ),
    Rule(
        name="workload-run-as-non-root",
        area="workloads",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=workloads.run_as_non_root,
        applies_to=_WORKLOADS,
        description="Containers run as a non-root user (runAsNonRoot: true, never runAsUser: 0).",
        remediation="Set securityContext.runAsNonRoot: true (pod or container level) and a non-zero "
        "runAsUser when the image has no numeric USER.",
    ),
    Rule(
        name="workload-no-privileged",
        area="workloads",
        severity="critical",
        kind="resource",
        default_level="mandatory",
        check=workloads.no_privileged,
        applies_to=_WORKLOADS,
        description="No container runs privileged.",
        remediation="Remove securityContext.privileged: true; grant the one capability needed instead.",
    ),
    Rule(
        name="workload-no-privilege-escalation",
        area="workloads",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=workloads.no_privilege_escalation,
        applies_to=_WORKLOADS,
        description="Containers set allowPrivilegeEscalation: false.",
        remediation="Set securityContext.allowPrivilegeEscalation: false on every container.",
    ),
    Rule(
        name="workload-drop-all-capabilities",
        area="workloads",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=workloads.drop_all_capabilities,
        applies_to=_WORKLOADS,
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
    ),
    Rule(
        name="workload-read-only-root-filesystem",
        area="workloads",
        severity="medium",
        kind="resource",
        default_level="mandatory",
        check=workloads.read_only_root_filesystem,
        applies_to=_WORKLOADS,
        description="Containers mount their root filesystem read-only.",
        remediation="Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the "
        "process must write (/tmp, caches, data directories).",
    ),
    Rule(
        name="workload-seccomp-runtime-default",
        area="workloads",
        severity="medium",
        kind="resource",
        default_level="mandatory",
        check=workloads.seccomp_runtime_default,
        applies_to=_WORKLOADS,
        description="Containers run with the RuntimeDefault (or a Localhost) seccomp profile.",
        remediation="Set securityContext.seccompProfile.type: RuntimeDefault at pod level.",
    ),
    Rule(
        name="workload-host-access",
        area="workloads",
        severity="critical",
        kind="resource",
        default_level="mandatory",
        check=workloads.host_access,
        applies_to=_WORKLOADS,
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
    ),
    Rule(
        name="workload-pod-security-baseline",
        area="workloads",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=podsecurity.baseline,
        applies_to=_WORKLOADS,
        description="Pod Security baseline, the checks without a rule of their own: no Windows HostProcess, "
        "only safe sysctls, procMount Default, no AppArmor Unconfined, no SELinux type/user/role override; "
        "at pod and container level, for init and ephemeral containers too.",
        remediation="Remove windowsOptions.hostProcess, unsafe securityContext.sysctls (set them on the node), "
        "procMount: Unmasked, appArmorProfile Unconfined (and the AppArmor annotation) and seLinuxOptions "
        "user/role or a custom type; a container-level setting must not undo the pod's.",
    ),
    Rule(
        name="workload-volume-types",
        area="workloads",
        severity="medium",
        kind="resource",
        default_level="mandatory",
        check=podsecurity.volume_types,
        applies_to=_WORKLOADS,
        description="Pod Security restricted volume types: only configMap, csi, downwardAPI, emptyDir, "
        "ephemeral, persistentVolumeClaim, projected and secret (hostPath: workload-host-access).",
        remediation="Replace the volume (nfs, iscsi, cephfs, gitRepo...) with a PersistentVolumeClaim on a "
        "StorageClass, or a projected/configMap/secret volume.",
    ),
    Rule(
        name="namespace-pod-security-level",
        area="workloads",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=podsecurity.namespace_level,
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
    ),
    Rule(
        name="workload-min-replicas",
        area="workloads",
        severity="medium",
        kind="resource",
        default_level="advisory",
        check=workloads.min_replicas,
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
    ),
    Rule(
        name="workload-pod-disruption-budget",
        area="workloads",
        severity="medium",
        kind="stack",
        default_level="advisory",
        check=workloads.pod_disruption_budgets,
        description="Every Deployment, StatefulSet and Rollout is covered by a PodDisruptionBudget.",
        remediation="Add a policy/v1 PodDisruptionBudget in the workload's namespace whose selector matches "
        "its pod labels (maxUnavailable: 1, or minAvailable for quorum systems).",
    ),
    # CI -------------------------------------------------------------------------------------------------
    Rule(
        name="ci-image-scan",
        area="ci",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=ci.image_scan,
        applies_to=frozenset({REPOSITORY_FILE}),
        config={
            "failOnSeverities": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["CRITICAL", "HIGH"],
                "description": "Severities the Trivy scan must fail the build on.",
            },
        },
        description="Every workflow that builds an image scans it with Trivy, fails on CRITICAL/HIGH and "
        "uploads SARIF to code scanning.",
        remediation="Add aquasecurity/trivy-action (pinned) after the build with severity: CRITICAL,HIGH, "
        "exit-code: '1', format: sarif, then github/codeql-action/upload-sarif with "
        "if: always() and security-events: write on that job.",
    ),
    Rule(
        name="ci-actions-pinned-by-sha",
        area="ci",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=ci.actions_pinned_by_sha,
        applies_to=frozenset({REPOSITORY_FILE}),
        description="Every `uses:` in a workflow is pinned by full commit SHA (docker:// by digest).",
        remediation="Reference actions as owner/repo@<40-hex SHA> from components/versions.py ACTIONS "
        "(keep the tag in a trailing comment).",
    ),
    Rule(
        name="ci-least-privilege-permissions",
        area="ci",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=ci.least_privilege_permissions,
        applies_to=frozenset({REPOSITORY_FILE}),
        description="Workflows declare explicit, least-privilege token permissions (read at workflow level, "
        "writes per job, never write-all).",
        remediation="Add `permissions: {contents: read}` at workflow level and grant write scopes "
        "(packages, security-events, id-token...) only on the jobs that need them.",
    ),
    Rule(
        name="ci-no-pull-request-target-checkout",
        area="ci",
        severity="critical",
        kind="resource",
        default_level="mandatory",
        check=ci.no_pull_request_target_checkout,
        applies_to=frozenset({REPOSITORY_FILE}),
        description="No pull_request_target workflow checks out the pull request's head (untrusted code with "
        "a privileged token).",
        remediation="Use the pull_request trigger for anything that runs PR code; keep pull_request_target "
        "for labelling/commenting without checking out the head.",
    ),
    Rule(
        name="ci-no-untrusted-input-in-run",
        area="ci",
        severity="critical",
        kind="resource",
        default_level="mandatory",
        check=ci.no_untrusted_input_in_run,
        applies_to=frozenset({REPOSITORY_FILE}),
        description="No `run:` script (or github-script `script`) expands text from outside the repository: "
        "`${{ github.event.* }}` (titles, bodies, branch names, commit messages), `github.head_ref`, string inputs.",
        remediation="Pass the value through `env:` (`env: {TITLE: ${{ github.event.pull_request.title }}}`) and "
        'use "$TITLE" in the script; numbers, ids and SHAs of the event and boolean/choice inputs are fine.',
    ),
    Rule(
        name="ci-security-gates-can-fail",
        area="ci",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=ci.security_gates_can_fail,
        applies_to=frozenset({REPOSITORY_FILE}),
        description="A security scan step (Trivy, CodeQL, zizmor, Grype, gitleaks, Semgrep, Checkov...) can fail "
        "its job: no continue-on-error, no `|| true`/`set +e`, no exit-code 0 or soft_fail.",
        remediation="Remove continue-on-error and `|| true` from the scan; give trivy-action exit-code: '1' "
        "(anchore fail-build: true); to keep SARIF on failure, upload it in a later step with if: always().",
    ),
    Rule(
        name="ci-no-secrets-inherit-unpinned",
        area="ci",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=ci.no_secrets_inherit_unpinned,
        applies_to=frozenset({REPOSITORY_FILE}),
        description="`secrets: inherit` goes only to reusable workflows in this repository or pinned by commit SHA.",
        remediation="Pin the reusable workflow (owner/repo/.github/workflows/x.yml@<40-hex SHA>) or pass only "
        "the secrets it needs (`secrets: {TOKEN: ${{ secrets.TOKEN }}}`).",
    ),
    Rule(
        name="ci-no-self-hosted-on-forks",
        area="ci",
        severity="critical",
        kind="resource",
        default_level="mandatory",
        check=ci.no_self_hosted_on_forks,
        applies_to=frozenset({REPOSITORY_FILE}),
        description="No job of a pull_request(_target) workflow runs on a self-hosted runner unless it is "
        "guarded against pull requests from forks.",
        remediation="Run pull-request jobs on GitHub-hosted runners, or add "
        "`if: github.event.pull_request.head.repo.full_name == github.repository` to the job.",
    ),
    # secrets ----------------------------------------------------------------------------------------------
    Rule(
        name="secrets-no-literal-values",
        area="secrets",
        severity="critical",
        kind="resource",
        default_level="mandatory",
        check=secrets.no_literal_secrets,
        applies_to=_WORKLOADS | {CONFIGMAP, REPOSITORY_FILE},
        description="No secret-looking literal values in container env, command and args, ConfigMaps, "
        "workflow files or other files committed to repositories (private keys, tokens).",
        remediation="Move the value to Vault (the app reads it at start) or to a Pulumi secret "
        "(`pulumi config set --secret`) delivered as a Kubernetes Secret / GitHub secret; "
        "reference it with valueFrom.secretKeyRef or ${{ secrets.NAME }}.",
    ),
    Rule(
        name="secrets-from-pulumi-secrets",
        area="secrets",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=secrets.from_pulumi_secrets,
        applies_to=frozenset({SECRET, ACTIONS_SECRET, ACTIONS_ENV_SECRET}),
        config={
            "minLength": {
                "type": "number",
                "minimum": 1,
                "default": 12,
                "description": "Shortest acceptable value for password/token-like keys.",
            },
            "placeholders": {
                "type": "array",
                "items": {"type": "string"},
                "default": secrets.PLACEHOLDERS_DEFAULT,
                "description": "Values (case-insensitive) that are placeholders, never secrets.",
            },
        },
        description="Kubernetes Secrets and GitHub Actions secrets carry real secret values (from Pulumi "
        "secret config or a generator), never placeholders or short literals.",
        remediation="Set the value with `pulumi config set --secret <key>` (or generate it with "
        "random.RandomPassword) and pass the Output through; never write it in code.",
    ),
    # rbac --------------------------------------------------------------------------------------------
    Rule(
        name="rbac-no-wildcards",
        area="rbac",
        severity="high",
        kind="resource",
        default_level="mandatory",
        check=rbac.no_wildcards,
        applies_to=rbac.ROLE_TYPES,
        description="Roles and ClusterRoles name their verbs, resources and apiGroups: no `*`.",
        remediation="List the verbs and resources the workload uses (kubectl auth can-i --list as its "
        "ServiceAccount shows what it has); never `*`.",
    ),
    Rule(
        name="rbac-no-escalation-verbs",
        area="rbac",
        severity="critical",
        kind="resource",
        default_level="mandatory",
        check=rbac.no_escalation,
        applies_to=rbac.ROLE_TYPES,
        description="No role grants `escalate`, `bind`, `impersonate` or create on serviceaccounts/token.",
        remediation="Remove the verb; a controller that must create RoleBindings gets `bind` with resourceNames "
        "limited to the exact roles, under an exemption with the reason.",
    ),
    Rule(
        name="rbac-no-cluster-secrets-read",
        area="rbac",
        severity="critical",
        kind="stack",
        default_level="mandatory",
        check=rbac.no_cluster_secrets_read,
        description="No ClusterRoleBinding grants get/list/watch on Secrets in every namespace.",
        remediation="Grant Secrets with a Role and RoleBinding in the namespace that holds them, with "
        "resourceNames where possible; list/watch returns every Secret's data.",
    ),
    Rule(
        name="rbac-workload-privileges",
        area="rbac",
        severity="critical",
        kind="stack",
        default_level="mandatory",
        check=rbac.workload_privileges,
        config={
            "forbiddenRoles": {
                "type": "array",
                "items": {"type": "string"},
                "default": rbac.FORBIDDEN_ROLES_DEFAULT,
                "description": "ClusterRoles no ServiceAccount may be bound to.",
            }
        },
        description="No ServiceAccount is bound to cluster-admin or admin, or to a role granting pods/exec or "
        "pods/attach.",
        remediation="Bind the ServiceAccount to a role with the verbs it uses; exec into pods is for people "
        "(through the API server's audit log), never for workloads.",
    ),
    # observability ---------------------------------------------------------------------------------------
    Rule(
        name="observability-prometheus-retention",
        area="observability",
        severity="medium",
        kind="resource",
        default_level="advisory",
        check=observability.prometheus_retention,
        applies_to=frozenset({STATEFULSET}),
        config={
            "minDays": {
                "type": "number",
                "minimum": 0,
                "default": 15,
                "description": "Minimum --storage.tsdb.retention.time in days.",
            }
        },
        description="Prometheus keeps metrics at least minDays (15 in production).",
        remediation="Set hardening:prometheusRetention (e.g. 15d) in Pulumi.<stack>.yaml; the Monitoring "
        "component passes it as --storage.tsdb.retention.time.",
    ),
    Rule(
        name="observability-loki-retention",
        area="observability",
        severity="medium",
        kind="resource",
        default_level="advisory",
        check=observability.loki_retention,
        applies_to=frozenset({CONFIGMAP}),
        config={
            "minDays": {
                "type": "number",
                "minimum": 0,
                "default": 30,
                "description": "Minimum limits_config.retention_period in days.",
            }
        },
        description="Loki deletes logs by retention (compactor retention_enabled) and keeps at least minDays "
        "(30 in production).",
        remediation="Set hardening:lokiRetention (e.g. 30d) in Pulumi.<stack>.yaml and keep "
        "compactor.retention_enabled: true in the Loki config builder.",
    ),
    Rule(
        name="observability-app-scraped",
        area="observability",
        severity="medium",
        kind="resource",
        default_level="mandatory",
        check=observability.app_scraped,
        applies_to=_WORKLOADS,
        config={
            "component": {
                "type": "string",
                "default": "app",
                "description": "app.kubernetes.io/component value of app workloads.",
            },
        },
        description="Every app workload's pods are scraped by Prometheus (annotation prometheus.io/scrape).",
        remediation='Add the pod template annotations prometheus.io/scrape: "true", prometheus.io/port '
        "and prometheus.io/path (names in components/conventions.py).",
    ),
    # delivery ------------------------------------------------------------------------------------------
    Rule(
        name="delivery-app-rollout",
        area="delivery",
        severity="high",
        kind="stack",
        default_level="advisory",
        check=delivery.app_rollout,
        config={
            "component": {
                "type": "string",
                "default": "app",
                "description": "app.kubernetes.io/component value of app workloads.",
            },
        },
        description="The app runs as an Argo Rollout whose strategy has automated analysis and at least "
        "one pause step.",
        remediation="Deploy the app through the CanaryDelivery component (Rollout with canary steps "
        "20/50/80 %, pauses and an AnalysisTemplate on the error rate) instead of a Deployment.",
    ),
    # cost ------------------------------------------------------------------------------------------------
    Rule(
        name="cost-namespace-labels",
        area="cost",
        severity="low",
        kind="resource",
        default_level="mandatory",
        check=cost.namespace_labels,
        applies_to=frozenset({NAMESPACE}),
        config={
            "requiredLabels": {
                "type": "array",
                "items": {"type": "string"},
                "default": cost.REQUIRED_LABELS_DEFAULT,
                "description": "Labels every Namespace must carry (cost allocation).",
            },
        },
        description="Every namespace is labelled with its team and cost center for cost allocation.",
        remediation="Set metadata.labels team and cost-center on the Namespace (values come from the "
        "stack config of the namespaces module).",
    ),
    Rule(
        name="cost-monthly-budget",
        area="cost",
        severity="medium",
        kind="stack",
        default_level="advisory",
        check=cost.monthly_budget,
        description="The stack's estimated monthly cost (the shared estimator: requests x replicas, volumes, "
        "load balancers) stays under the stack's costMonthlyBudget, priced with its own cost* settings (read "
        "from the hardening/cost-model annotation of OpenCost's pricing ConfigMap).",
        remediation="Lower requests or replicas in Pulumi.<stack>.yaml, or raise hardening:costMonthlyBudget "
        "there after the budget owner agrees.",
    ),
    # vault -----------------------------------------------------------------------------------------------
    Rule(
        name="vault-no-dev-mode",
        area="vault",
        severity="critical",
        kind="resource",
        default_level="mandatory",
        check=vault.no_dev_mode,
        applies_to=_WORKLOADS,
        description="Vault never runs in dev mode (in-memory storage, auto-unsealed, root token logged).",
        remediation="Run `vault server -config=/vault/config/vault.hcl` with raft storage; remove -dev flags "
        "and VAULT_DEV_* variables.",
    ),
    Rule(
        name="vault-tls",
        area="vault",
        severity="high",
        kind="resource",
        default_level="advisory",
        check=vault.tls_enabled,
        applies_to=frozenset({CONFIGMAP}),
        description="Every Vault TCP listener serves TLS (tls_cert_file/tls_key_file, no tls_disable).",
        remediation="Enable TLS on the listener in the Vault HCL builder: tls_cert_file and tls_key_file "
        "from the mounted certificate Secret; drop tls_disable.",
    ),
    Rule(
        name="vault-audit-device",
        area="vault",
        severity="high",
        kind="stack",
        default_level="mandatory",
        check=vault.audit_device,
        description="When the stack runs Vault, at least one audit device is configured.",
        remediation="Declare an audit device (e.g. file to stdout) in the SecretsVault declarative config "
        "(`audit` in vault-config.json); the reconcile step enables it.",
    ),
]

_BY_NAME = {r.name: r for r in RULES}


def rule(name: str) -> Rule:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no policy named {name!r}; known: {', '.join(sorted(_BY_NAME))}") from None


def effective_config(r: Rule, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rule's schema defaults overlaid with ``config`` (what the Pulumi CLI sends to the pack)."""
    merged = r.defaults()
    merged.update({k: v for k, v in (config or {}).items() if k != "enforcementLevel"})
    return merged


def run_resource_rule(r: Rule, res: Resource, config: Mapping[str, Any]) -> list[str]:
    """``r`` on one resource: only types in ``applies_to``, never an exempted object."""
    if res.type not in r.applies_to or exempt(res, config):
        return []
    return list(r.check(res, config))


def run_stack_rule(r: Rule, resources: Sequence[Resource], config: Mapping[str, Any]) -> list[Finding]:
    """``r`` over the stack; exempted objects are invisible to it."""
    return list(r.check([x for x in resources if not exempt(x, config)], config))


def check_resource(
    name: str,
    resource_type: str,
    props: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    resource_name: str = "",
    urn: str = "",
) -> list[str]:
    """Run one resource rule on one resource in engine form; returns the violation messages."""
    r = rule(name)
    if r.kind != "resource":
        raise ValueError(f"{name} is a stack rule; use check_stack")
    return run_resource_rule(r, Resource(resource_type, plain(props), resource_name, urn), effective_config(r, config))


def check_stack(
    name: str, resources: Sequence[Mapping[str, Any]], config: Mapping[str, Any] | None = None
) -> list[Finding]:
    """Run one stack rule over resource records ``{"type", "inputs"|"props", "name", "urn"}``."""
    r = rule(name)
    if r.kind != "stack":
        raise ValueError(f"{name} is a resource rule; use check_resource")
    recs = [
        Resource(
            str(x["type"]),
            plain(x.get("inputs", x.get("props", {}))),
            str(x.get("name", "")),
            str(x.get("urn", "")),
            x.get("parent"),
        )
        for x in resources
    ]
    return run_stack_rule(r, recs, effective_config(r, config))


# CrossGuard adapters ---------------------------------------------------------------------------------
def pack_arguments() -> dict[str, Any]:
    """The ``PolicyPack`` constructor arguments, used by ``policies/__main__.py`` (the pack the engine
    starts); the offline report runs the same policy objects (:func:`pulumi_policies`)."""
    from pulumi_policy import EnforcementLevel

    return {"name": PACK_NAME, "enforcement_level": EnforcementLevel.ADVISORY, "policies": pulumi_policies()}


def pulumi_policies() -> list[Any]:
    """The CrossGuard policy objects for :data:`RULES` (imports ``pulumi_policy`` lazily)."""
    from pulumi_policy import (
        EnforcementLevel,
        PolicyConfigSchema,
        ReportViolation,
        ResourceValidationArgs,
        ResourceValidationPolicy,
        Severity,
        StackValidationArgs,
        StackValidationPolicy,
    )

    # Rules only read what they are given, so the policies share one plain copy of each resource's properties
    # (the engine hands every policy the same object for a resource; a copy per rule cost ~15 % of the pack
    # at 50 services), one effective config per rule config, and one record list per stack.
    plain_copies: dict[int, tuple[Any, Any]] = {}  # id(props) -> (props, plain copy): props held, so ids stay unique

    def plain_of(props: Any) -> Any:
        hit = plain_copies.get(id(props))
        if hit is None or hit[0] is not props:
            hit = plain_copies[id(props)] = (props, plain(props))
        return hit[1]

    def config_of(r: Rule) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        last: list[Any] = [None, None]  # the rule's config as given, and its effective config

        def effective(given: Mapping[str, Any]) -> dict[str, Any]:
            if last[0] is not given:
                last[:] = [given, effective_config(r, given)]
            return dict(last[1])

        return effective

    stack_records: list[Any] = [None, None]  # args.resources, and its records

    def resource_validator(r: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
        effective = config_of(r)

        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type not in r.applies_to:
                return  # before copying the properties: most resources are not of a type the rule reads
            res = Resource(args.resource_type, plain_of(args.props), args.name, args.urn)
            for msg in run_resource_rule(r, res, effective(args.get_config())):
                report_violation(msg, None)

        return validate

    def stack_validator(r: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
        effective = config_of(r)

        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            if stack_records[0] is not args.resources:
                stack_records[:] = [
                    args.resources,
                    [
                        Resource(
                            x.resource_type,
                            plain_of(x.props),
                            x.name,
                            x.urn,
                            x.parent.urn if x.parent is not None else None,
                        )
                        for x in args.resources
                    ],
                ]
            for finding in run_stack_rule(r, stack_records[1], effective(args.get_config())):
                report_violation(finding.message, finding.urn)

        return validate

    out: list[Any] = []
    for r in RULES:
        common: dict[str, Any] = {
            "name": r.name,
            "description": r.description,
            "enforcement_level": EnforcementLevel(r.default_level),
            "severity": Severity(r.severity),
            "remediation_steps": r.remediation,
            "tags": [r.area],
            "config_schema": PolicyConfigSchema(properties=r.schema(), required=list(r.required) or None),
        }
        if r.kind == "resource":
            out.append(ResourceValidationPolicy(validate=resource_validator(r), **common))
        else:
            out.append(StackValidationPolicy(validate=stack_validator(r), **common))
    return out

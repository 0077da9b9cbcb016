"""Service: everything the platform gives one onboarded service, composed from what each area contributes.

- Delivery (components/canary): the Rollout (canary or blue/green) with its AnalysisTemplate on the
  service's own SLIs and thresholds, stable/canary (or active/preview) Services, an NGINX Ingress when the
  stack gives it a host, a PodDisruptionBudget and, when ``maxReplicas`` is set, an HPA.
- Secrets (components/vault): its ServiceAccount, which the Kubernetes-auth role ``<name>`` is bound to;
  the role and its least-privilege policy are in the SecretsVault component's declarative document.
- Network: a NetworkPolicy letting the ingress controller and its own namespace in, and the pods out to Vault.
- CI/CD (components/ci): the workflows of its source repository (managed on GitHub when ``githubManage``).

Monitoring (its scrape relabeling, SLI rules, SLO and threshold alerts, dashboards) and cost allocation are
platform-wide components fed with every service's spec; the Namespace comes from PlatformNamespaces (a team
namespace may hold several services). Everything is built by pure builders first: a bad definition stops
before any child is registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components.canary import specs
from components.service import delivery, vault_agent, workload
from components.service.spec import ServiceSpec

TYPE = "hardening:service:Service"


@dataclass
class ServiceArgs:
    spec: ServiceSpec
    vault: workload.VaultAccess
    # The Argo Rollouts CRDs (the controller's ConfigFile): the Rollout and AnalysisTemplate wait for them.
    rollout_crds: pulumi.Resource | None = None
    ci: Any = None  # CiPipelinesArgs for the service's repository (None: no CI component)
    scrape_interval: str = "15s"  # the stack's: the canary analysis windows are fitted to it
    extra_outputs: dict[str, Any] = field(default_factory=dict)


def raw(obj: Any) -> Any:
    """A plain dict from the builders as a resource input (the SDK's TypedDicts have the same shape)."""
    return obj


class Service(pulumi.ComponentResource):
    """One service's Rollout, Services, Ingress, HPA, PDB, NetworkPolicy, ServiceAccount and CI."""

    rollout_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    stable_service: pulumi.Output[str]
    canary_service: pulumi.Output[str]
    outputs: dict[str, Any]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        s = args.spec
        inp = delivery.delivery_input(s, args.scrape_interval)
        template_doc = specs.analysis_template(inp)
        agent = self._agent_parts(s, args.vault)
        pod = kb.camel(
            workload.pod_template(
                s,
                args.vault,
                sidecars=[agent.sidecar] if agent else None,
                extra_volumes=agent.volumes if agent else None,
                extra_mounts=agent.app_mounts if agent else None,
                extra_env=agent.app_env if agent else None,
            )
        )
        rollout_doc = specs.rollout(inp, pod, replicas=s.replicas, labels=workload.service_labels(s))
        ns = s.namespace
        child = pulumi.ResourceOptions(parent=self)
        obj_labels = workload.object_labels(s)

        sa = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=raw(kb.meta(s.name, ns, obj_labels)),
            automount_service_account_token=False,
            opts=child,
        )
        if agent is not None:
            k8s.core.v1.ConfigMap(
                f"{name}-vault-agent",
                metadata=raw(kb.meta(agent.config_map_name, ns, obj_labels)),
                data=agent.config_map_data,
                opts=child,
            )
        service_names = [inp.stable, inp.preview_service if inp.strategy == "blueGreen" else inp.canary]
        # not awaited: a service is ready only once Vault is unsealed and holds its secrets (docs/SECURITY_GUIDE.md)
        services = [
            k8s.core.v1.Service(
                f"{name}-svc-{svc}",
                metadata=raw(kb.meta(svc, ns, obj_labels, kb.SKIP_AWAIT)),
                spec=raw(workload.service_spec(s)),
                opts=child,
            )
            for svc in service_names
        ]
        if inp.ingress:
            # Not awaited, and nothing depends on it: on clusters whose ingress controller publishes no address
            # (bare metal, kind, NodePort) waiting for .status.loadBalancer would block the Rollout forever.
            k8s.networking.v1.Ingress(
                f"{name}-ingress",
                metadata=raw(kb.meta(inp.ingress, ns, obj_labels, kb.SKIP_AWAIT)),
                spec=raw(workload.ingress_spec(s, inp.stable)),
                opts=child,
            )
        crds = [args.rollout_crds] if args.rollout_crds is not None else []
        template = k8s.apiextensions.CustomResource(
            f"{name}-analysis",
            api_version=specs.API_VERSION,
            kind="AnalysisTemplate",
            metadata=template_doc["metadata"],
            spec=template_doc["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=crds),
        )
        rollout = k8s.apiextensions.CustomResource(
            f"{name}-rollout",
            api_version=specs.API_VERSION,
            kind="Rollout",
            metadata=rollout_doc["metadata"],
            spec=rollout_doc["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*crds, template, sa, *services],
                # the HPA owns the replica count once it exists
                ignore_changes=["spec.replicas"] if s.max_replicas > 0 else None,
            ),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=raw(kb.meta(s.name, ns, obj_labels)), spec=raw(workload.pdb_spec(s)), opts=child
        )
        if s.max_replicas > 0:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=raw(kb.meta(s.name, ns, obj_labels)),
                spec=raw(workload.hpa_spec(s, specs.API_VERSION)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[rollout]),
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow",
            metadata=raw(kb.meta(f"allow-{s.name}", ns, obj_labels)),
            spec=raw(workload.network_policy_spec(s, args.vault)),
            opts=child,
        )
        self.ci = None
        if args.ci is not None:
            from components.ci import CiPipelines

            self.ci = CiPipelines(f"{name}-ci", args.ci, opts=child)

        self.rollout_name = pulumi.Output.from_input(s.name)
        self.namespace = pulumi.Output.from_input(ns)
        self.stable_service = pulumi.Output.from_input(service_names[0])
        self.canary_service = pulumi.Output.from_input(service_names[1])
        self.outputs = delivery.service_output(s, inp, ci=self.ci, **args.extra_outputs)
        self.register_outputs({"service": self.outputs})

    @staticmethod
    def _agent_parts(s: ServiceSpec, vault: workload.VaultAccess) -> vault_agent.AgentPodParts | None:
        """The Vault Agent sidecar's parts when the service takes its secrets through it (with Vault's CA mounted
        into the sidecar when Vault's listener uses TLS)."""
        if not vault_agent.needs_agent(s):
            return None
        inp = vault_agent.agent_input(
            s, vault_address=vault.address, ca_file=vault.ca_file, auth_mount=vault.auth_mount, kv_mount=vault.kv_mount
        )
        parts = vault_agent.pod_parts(inp)
        if vault.tls:
            parts.sidecar.setdefault("volume_mounts", []).append(
                kb.mount("vault-ca", workload.VAULT_CA_DIR, read_only=True)
            )
            parts.volumes.append(
                kb.config_volume("vault-ca", workload.VAULT_CA_CONFIG_MAP, items=[("ca.crt", "ca.crt")])
            )
        return parts

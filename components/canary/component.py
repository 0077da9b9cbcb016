"""CanaryDelivery: the Argo Rollouts controller and the app as a Rollout with Prometheus analysis.

- Controller: the vendored, hash-checked upstream release manifest
  (``vendor/argo-rollouts/<versions.ARGO_ROLLOUTS_VERSION>/install.yaml``) through
  ``kubernetes.yaml.v2.ConfigFile`` (``components.upstream.install``) and a dedicated provider whose
  default namespace is ``argo-rollouts`` (the manifest's namespaced objects carry no namespace). A transform gives the
  controller Deployment requests/limits, a readiness probe and the pinned image.
- App: ServiceAccount (Vault's Kubernetes auth role is bound to it), stable/canary (or active/preview)
  Services, an NGINX Ingress when ``appIngressHost`` is set, the AnalysisTemplate, the Rollout,
  a PodDisruptionBudget, an optional HorizontalPodAutoscaler and NetworkPolicies.

Everything is built by the pure functions of ``specs`` and ``workload``; bad strategy settings raise
``specs.StrategyError`` before any child resource is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import conventions as cv
from components import k8s as kb
from components import upstream, versions
from components.canary import specs, workload
from components.config import Settings

TYPE = "hardening:canary:CanaryDelivery"
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"


@dataclass
class CanaryDeliveryArgs:
    settings: Settings


def raw(obj: Mapping[str, Any]) -> Any:
    """A plain dict from the builders as a resource input (the SDK's TypedDicts have the same shape)."""
    return obj


def controller_replicas(settings: Settings) -> int:
    """Two controllers in prod (leader election: one active, one hot standby), one elsewhere."""
    return 2 if settings.is_prod else 1


def controller_transform(
    controller_image: str, replicas: int
) -> Callable[[pulumi.ResourceTransformArgs], pulumi.ResourceTransformResult | None]:
    """A Pulumi transform for the ConfigFile's children: hardens the controller Deployment only."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != DEPLOYMENT_TYPE:
            return None
        given: Any = args.props or {}
        if (given.get("metadata") or {}).get("name") != specs.CONTROLLER:
            return None
        props = specs.harden_controller_deployment(given, image=controller_image, replicas=replicas)
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return transform


class CanaryDelivery(pulumi.ComponentResource):
    """Argo Rollouts controller + the app as a canary (or blue/green) Rollout with automated analysis."""

    rollout_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    stable_service: pulumi.Output[str]
    canary_service: pulumi.Output[str]

    def __init__(self, name: str, args: CanaryDeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        s = args.settings
        inp = specs.delivery_input(s)
        # Build every document first: a bad strategy stops here, before any child is registered.
        template_doc = specs.analysis_template(inp)
        pod = specs.camel(workload.pod_template(s))
        lbls = workload.app_labels(s)
        rollout_doc = specs.rollout(inp, pod, replicas=s.app.replicas, labels=lbls)
        ns, app = inp.namespace, inp.app
        child = pulumi.ResourceOptions(parent=self)

        # --- controller ---------------------------------------------------------------------------
        rollouts_provider = k8s.Provider(
            f"{name}-argo-rollouts",
            context=s.cluster.kube_context or None,
            render_yaml_to_directory=s.cluster.render_yaml_to_directory or None,
            enable_server_side_apply=True,
            namespace=cv.NS_ROLLOUTS,
            opts=child,
        )
        controller = upstream.install(
            f"{name}-controller",
            versions.ARGO_ROLLOUTS_PACKAGE,
            versions.ARGO_ROLLOUTS_VERSION,
            versions.ARGO_ROLLOUTS_INSTALL,
            namespace=cv.NS_ROLLOUTS,
            transforms=[controller_transform(versions.image("argo-rollouts"), controller_replicas(s))],
            opts=pulumi.ResourceOptions(parent=self, providers={"kubernetes": rollouts_provider}),
        )
        ctl_lbls = kb.labels(specs.CONTROLLER, "rollouts-controller")
        k8s.networking.v1.NetworkPolicy(
            f"{name}-controller-allow",
            metadata=raw(kb.meta("allow-argo-rollouts", cv.NS_ROLLOUTS, ctl_lbls)),
            spec=raw(workload.controller_network_policy_spec()),
            opts=child,
        )

        # --- app ------------------------------------------------------------------------------------
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=raw(kb.meta(app, ns, lbls)), automount_service_account_token=False, opts=child
        )
        svc_lbls = {k: v for k, v in lbls.items() if k != cv.LABEL_APP}
        service_names = [inp.stable, inp.preview_service if inp.strategy == "blueGreen" else inp.canary]
        # not awaited: the app is ready only once Vault is unsealed and seeded (docs/SECURITY_GUIDE.md)
        services = [
            k8s.core.v1.Service(
                f"{name}-svc-{svc}",
                metadata=raw(kb.meta(svc, ns, svc_lbls, kb.SKIP_AWAIT)),
                spec=raw(workload.service_spec(s)),
                opts=child,
            )
            for svc in service_names
        ]
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[controller])
        ingress: list[pulumi.Resource] = []
        if inp.ingress:
            ingress.append(
                k8s.networking.v1.Ingress(
                    f"{name}-ingress",
                    metadata=raw(kb.meta(inp.ingress, ns, svc_lbls)),
                    spec=raw(workload.ingress_spec(s, inp.stable)),
                    opts=child,
                )
            )
        template = k8s.apiextensions.CustomResource(
            f"{name}-analysis",
            api_version=specs.API_VERSION,
            kind="AnalysisTemplate",
            metadata=template_doc["metadata"],
            spec=template_doc["spec"],
            opts=after_crds,
        )
        rollout = k8s.apiextensions.CustomResource(
            f"{name}-rollout",
            api_version=specs.API_VERSION,
            kind="Rollout",
            metadata=rollout_doc["metadata"],
            spec=rollout_doc["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[controller, template, sa, *services, *ingress],
                # the HPA owns the replica count once it exists
                ignore_changes=["spec.replicas"] if s.app.max_replicas > 0 else None,
            ),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=raw(kb.meta(app, ns, svc_lbls)), spec=raw(workload.pdb_spec(s)), opts=child
        )
        if s.app.max_replicas > 0:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=raw(kb.meta(app, ns, svc_lbls)),
                spec=raw(workload.hpa_spec(s)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[rollout]),
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-app-allow",
            metadata=raw(kb.meta(f"allow-{app}", ns, svc_lbls)),
            spec=raw(workload.app_network_policy_spec(s)),
            opts=child,
        )

        self.rollout_name = pulumi.Output.from_input(app)
        self.namespace = pulumi.Output.from_input(ns)
        self.stable_service = pulumi.Output.from_input(service_names[0])
        self.canary_service = pulumi.Output.from_input(service_names[1])
        self.register_outputs(
            {
                "rollout_name": self.rollout_name,
                "namespace": self.namespace,
                "stable_service": self.stable_service,
                "canary_service": self.canary_service,
            }
        )

"""CanaryDelivery: the Argo Rollouts controller, platform-wide (each service's Rollout is in its own
``hardening:service:Service`` component, components/service).

The controller comes from the vendored, hash-checked upstream release manifest
(``vendor/argo-rollouts/<versions.ARGO_ROLLOUTS_VERSION>/install.yaml``) through
``kubernetes.yaml.v2.ConfigFile`` (``components.upstream.install``) and a dedicated provider whose default
namespace is ``argo-rollouts`` (the manifest's namespaced objects carry no namespace). A transform gives the
controller Deployment requests/limits, a readiness probe, the pinned image and its replica count; a
NetworkPolicy lets it reach the Kubernetes API and Prometheus.
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

TYPE = "hardening:canary:CanaryDelivery"
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"


@dataclass
class CanaryDeliveryArgs:
    controller_replicas: int = 1
    kube_context: str = ""
    render_yaml_to_directory: str = ""


def raw(obj: Mapping[str, Any]) -> Any:
    """A plain dict from the builders as a resource input (the SDK's TypedDicts have the same shape)."""
    return obj


def controller_replicas(is_prod: bool) -> int:
    """Two controllers in prod (leader election: one active, one hot standby), one elsewhere."""
    return 2 if is_prod else 1


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
    """The Argo Rollouts controller (CRDs, RBAC, Deployment) and its NetworkPolicy."""

    controller: pulumi.Resource

    def __init__(self, name: str, args: CanaryDeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        rollouts_provider = k8s.Provider(
            f"{name}-argo-rollouts",
            context=args.kube_context or None,
            render_yaml_to_directory=args.render_yaml_to_directory or None,
            enable_server_side_apply=True,
            namespace=cv.NS_ROLLOUTS,
            opts=child,
        )
        self.controller = upstream.install(
            f"{name}-controller",
            versions.ARGO_ROLLOUTS_PACKAGE,
            versions.ARGO_ROLLOUTS_VERSION,
            versions.ARGO_ROLLOUTS_INSTALL,
            namespace=cv.NS_ROLLOUTS,
            transforms=[controller_transform(versions.image("argo-rollouts"), args.controller_replicas)],
            opts=pulumi.ResourceOptions(parent=self, providers={"kubernetes": rollouts_provider}),
        )
        ctl_lbls = kb.labels(specs.CONTROLLER, "rollouts-controller")
        k8s.networking.v1.NetworkPolicy(
            f"{name}-controller-allow",
            metadata=raw(kb.meta("allow-argo-rollouts", cv.NS_ROLLOUTS, ctl_lbls)),
            spec=raw(workload.controller_network_policy_spec()),
            opts=child,
        )
        self.register_outputs({"controller": self.controller})

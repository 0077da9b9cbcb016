"""PlatformNamespaces: one Namespace per platform area with its guard rails."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import conventions as cv
from components.config import Resources
from components.namespaces.specs import NamespaceSpec


@dataclass
class PlatformNamespacesArgs:
    namespaces: list[NamespaceSpec]
    quota: Resources
    max_pods: int
    container_defaults: Resources


class PlatformNamespaces(pulumi.ComponentResource):
    """Namespaces with Pod Security Admission and cost labels, a LimitRange, a ResourceQuota and a
    default-deny NetworkPolicy (DNS egress allowed; Prometheus may scrape in). Components add the
    allow rules they need in their own namespaces."""

    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: PlatformNamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hardening:namespaces:PlatformNamespaces", name, None, opts)
        self.namespaces = {}
        for spec in args.namespaces:
            ns = k8s.core.v1.Namespace(
                spec.name,
                metadata={
                    "name": spec.name,
                    "labels": spec.labels(),
                    "annotations": {"hardening/purpose": spec.purpose},
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.namespaces[spec.name] = ns
            child = pulumi.ResourceOptions(parent=self, depends_on=[ns])
            base = {cv.LABEL_PART_OF: cv.PART_OF, cv.LABEL_MANAGED_BY: "pulumi"}
            k8s.core.v1.LimitRange(
                f"{spec.name}-defaults",
                metadata={"name": "container-defaults", "namespace": spec.name, "labels": base},
                spec={
                    "limits": [
                        {
                            "type": "Container",
                            "default_request": {
                                "cpu": args.container_defaults.cpu_request,
                                "memory": args.container_defaults.memory_request,
                            },
                            "default": {
                                "cpu": args.container_defaults.cpu_limit,
                                "memory": args.container_defaults.memory_limit,
                            },
                        }
                    ]
                },
                opts=child,
            )
            quota = spec.quota or args.quota
            k8s.core.v1.ResourceQuota(
                f"{spec.name}-quota",
                metadata={"name": "namespace-quota", "namespace": spec.name, "labels": base},
                spec={
                    "hard": {
                        "requests.cpu": quota.cpu_request,
                        "requests.memory": quota.memory_request,
                        "limits.cpu": quota.cpu_limit,
                        "limits.memory": quota.memory_limit,
                        "pods": str(spec.max_pods or args.max_pods),
                    }
                },
                opts=child,
            )
            k8s.networking.v1.NetworkPolicy(
                f"{spec.name}-default-deny",
                metadata={"name": "default-deny", "namespace": spec.name, "labels": base},
                spec={
                    "pod_selector": {},
                    "policy_types": ["Ingress", "Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespace_selector": {
                                        "match_labels": {"kubernetes.io/metadata.name": "kube-system"}
                                    },
                                    "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}},
                                }
                            ],
                            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                        }
                    ],
                },
                opts=child,
            )
            if spec.scraped:
                k8s.networking.v1.NetworkPolicy(
                    f"{spec.name}-allow-prometheus",
                    metadata={"name": "allow-prometheus-scrape", "namespace": spec.name, "labels": base},
                    spec={
                        "pod_selector": {},
                        "policy_types": ["Ingress"],
                        "ingress": [
                            {
                                "from_": [
                                    {
                                        "namespace_selector": {
                                            "match_labels": {"kubernetes.io/metadata.name": cv.NS_MONITORING}
                                        },
                                        "pod_selector": {"match_labels": {cv.LABEL_NAME: "prometheus"}},
                                    }
                                ]
                            }
                        ],
                    },
                    opts=child,
                )
        self.register_outputs({"namespaces": {n: ns.metadata["name"] for n, ns in self.namespaces.items()}})

"""Another team's Pulumi program that reads the hardening platform's stack outputs (docs/OUTPUTS.md).

    cd examples/consumer
    pulumi stack init team-a-prod
    pulumi config set platformStack example-org/hardening/prod
    pulumi config set service orders-api        # the team's entry in the platform's ``services`` output
    pulumi preview

It reads the platform's in-cluster endpoints, Vault auth names and the team's own entry of the ``services``
output (its namespace, Vault role and in-cluster URL) through a ``pulumi.StackReference``, checks that
everything it relies on is there (one clear error naming what is missing, or the services the stack does
export, and nothing is created otherwise), and writes them into a ConfigMap in the service's namespace that
the team's workloads load with ``envFrom``. The values are addresses and names, never secrets: the
workload still logs in to Vault with its own service account token.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from platform_contract import platform_env, service_entry

config = pulumi.Config()
platform_stack = config.require("platformStack")
service = config.get("service") or "orders-api"

platform = pulumi.StackReference("platform", stack_name=platform_stack)

env = platform.outputs.apply(lambda outputs: platform_env(outputs, service))
entry = platform.outputs.apply(lambda outputs: service_entry(outputs, service))
namespace = config.get("namespace") or entry.apply(lambda e: str(e["namespace"]))

endpoints = k8s.core.v1.ConfigMap(
    "platform-endpoints",
    metadata=k8s.meta.v1.ObjectMetaArgs(
        name="platform-endpoints",
        namespace=namespace,
        labels={"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "platform-consumer"},
    ),
    data=env,
)

pulumi.export("platformStack", platform_stack)
pulumi.export("service", service)
pulumi.export("serviceUrl", env.apply(lambda e: e["SERVICE_URL"]))
pulumi.export("grafanaUrl", platform.require_output("grafanaUrl"))
pulumi.export("lokiPushUrl", platform.require_output("lokiPushUrl"))
pulumi.export("vaultAddress", platform.require_output("vaultAddress"))
pulumi.export("vaultRole", env.apply(lambda e: e["VAULT_ROLE"]))
pulumi.export("vaultAuthMount", env.apply(lambda e: e["VAULT_AUTH_MOUNT"]))
pulumi.export("endpointsConfigMap", pulumi.Output.concat(namespace, "/", endpoints.metadata["name"]))

"""The platform stack: platform components first, then one Service component per selected service.

Settings and every service definition are validated before any resource is registered
(components/config.py, components/service/load.py); each component lives in its own folder under
components/ and builds its configuration from pure builders there.
"""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.canary import CanaryDelivery, CanaryDeliveryArgs
from components.canary.component import controller_replicas
from components.ci import CiPipelinesArgs
from components.config import secret_value, settings_from_pulumi
from components.cost.component import CostVisibility, CostVisibilityArgs
from components.logging.component import Logging, LoggingArgs
from components.monitoring.alertmanager import SECRET_FILES as ALERT_RECEIVER_SECRETS
from components.monitoring.component import Monitoring, MonitoringArgs
from components.namespaces import PlatformNamespaces, PlatformNamespacesArgs, platform_namespaces
from components.namespaces.specs import service_namespaces
from components.program_addons import all_addons
from components.service.component import Service, ServiceArgs
from components.service.load import load_services
from components.vault import component as vault_component
from components.vault.component import SecretsVault, SecretsVaultArgs

settings = settings_from_pulumi()
services = load_services(settings.services, Path(pulumi.get_root_directory()))

provider = k8s.Provider(
    "k8s",
    context=settings.cluster.kube_context or None,
    render_yaml_to_directory=settings.cluster.render_yaml_to_directory or None,
    enable_server_side_apply=True,
)
k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": provider})

namespaces = PlatformNamespaces(
    "platform",
    PlatformNamespacesArgs(
        namespaces=platform_namespaces(settings.namespaces) + service_namespaces(services),
        quota=settings.namespaces.quota,
        max_pods=settings.namespaces.max_pods,
        container_defaults=settings.namespaces.container_defaults,
    ),
    opts=k8s_opts,
)
ns_ready = pulumi.ResourceOptions(providers={"kubernetes": provider}, depends_on=[namespaces])

vault = SecretsVault("vault", SecretsVaultArgs(settings, services), opts=ns_ready)

# Each area hands its scrape jobs, rules, data sources and dashboards to Monitoring as plain data.
addons = all_addons(settings, services)

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        settings=settings,
        addons=addons,
        receiver_secrets={k: secret_value(k) for k in ALERT_RECEIVER_SECRETS if k in settings.secrets_present},
        error_ratio_threshold=min(s.thresholds.error_ratio for s in services),
        latency_p95_threshold_seconds=min(s.thresholds.latency_p95_seconds for s in services),
    ),
    opts=ns_ready,
)

cost = CostVisibility("cost", CostVisibilityArgs(settings), opts=ns_ready)

canary = CanaryDelivery(
    "canary",
    CanaryDeliveryArgs(
        controller_replicas=controller_replicas(settings.is_prod),
        kube_context=settings.cluster.kube_context,
        render_yaml_to_directory=settings.cluster.render_yaml_to_directory,
    ),
    opts=ns_ready,
)

logs = Logging(
    "logging", LoggingArgs(settings, json_services=tuple((s.namespace, s.name) for s in services)), opts=ns_ready
)

service_components = {
    spec.name: Service(
        spec.name,
        ServiceArgs(
            spec=spec,
            vault=vault_component.vault_access(settings),
            rollout_crds=canary.controller,
            ci=CiPipelinesArgs.for_service(spec, settings),
            scrape_interval=settings.monitoring.scrape_interval,
        ),
        opts=ns_ready,
    )
    for spec in services
}

pulumi.export("environment", settings.environment)
pulumi.export("namespaces", {name: ns.metadata["name"] for name, ns in namespaces.namespaces.items()})
pulumi.export("services", {name: svc.outputs for name, svc in service_components.items()})
pulumi.export("vaultAddress", vault.address)
pulumi.export("vaultAuth", vault.auth)
pulumi.export("lokiPushUrl", logs.push_url)
pulumi.export("lokiQueryUrl", logs.query_url)
pulumi.export("prometheusUrl", monitoring.prometheus_url)
pulumi.export("alertmanagerUrl", monitoring.alertmanager_url)
pulumi.export("grafanaUrl", monitoring.grafana_url)
pulumi.export("opencostUrl", cost.api_url)
pulumi.export("costModel", cost.cost_model)

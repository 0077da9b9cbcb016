"""The platform stack: namespaces, then one component per area, then the outputs other teams read.

Settings are validated before any resource is registered (components/config.py); each component
lives in its own folder under components/ and builds its configuration from pure builders there.
"""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

import components
from components.addons import MonitoringAddOns
from components.canary import CanaryDelivery, CanaryDeliveryArgs
from components.canary import monitoring_addons as canary_addons
from components.ci import CiPipelines, CiPipelinesArgs
from components.config import secret_value, settings_from_pulumi
from components.cost import addons as cost_addons
from components.cost.component import CostVisibility, CostVisibilityArgs
from components.logging.addons import monitoring_addons as logging_addons
from components.logging.component import Logging, LoggingArgs
from components.monitoring.alertmanager import SECRET_FILES as ALERT_RECEIVER_SECRETS
from components.monitoring.component import Monitoring, MonitoringArgs
from components.monitoring.service import service_addons
from components.namespaces import PlatformNamespaces, PlatformNamespacesArgs, platform_namespaces
from components.service.load import load_services
from components.vault import component as vault_component
from components.vault.component import SecretsVault, SecretsVaultArgs

settings = settings_from_pulumi()

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
        namespaces=platform_namespaces(settings),
        quota=settings.namespaces.quota,
        max_pods=settings.namespaces.max_pods,
        container_defaults=settings.namespaces.container_defaults,
    ),
    opts=k8s_opts,
)
ns_ready = pulumi.ResourceOptions(providers={"kubernetes": provider}, depends_on=[namespaces])

vault = SecretsVault("vault", SecretsVaultArgs(settings), opts=ns_ready)

# Each area hands its scrape jobs, rules, data sources and dashboards to Monitoring as plain data.
addons = MonitoringAddOns()
addons += vault_component.monitoring_addons(settings)
addons += logging_addons(settings)
addons += cost_addons.monitoring_addons(settings)
addons += canary_addons(settings)
# --- monitoring branch, interim: the lead's per-service component will call service_addons per selected
# service; until then, every service definition under services/ gets its SLI/SLO rules, alerts and probe.
for service in load_services(
    {"orders-api": {}, "go-deployment-demo": {}}, root=Path(components.__file__).parent.parent
):
    addons += service_addons(
        service,
        runbook_base_url=settings.monitoring.runbook_base_url,
        evaluation_interval=settings.monitoring.evaluation_interval,
    )
# --- end of the interim wiring

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        settings=settings,
        addons=addons,
        receiver_secrets={k: secret_value(k) for k in ALERT_RECEIVER_SECRETS if k in settings.secrets_present},
    ),
    opts=ns_ready,
)

cost = CostVisibility("cost", CostVisibilityArgs(settings), opts=ns_ready)

canary = CanaryDelivery("canary", CanaryDeliveryArgs(settings), opts=ns_ready)

ci = CiPipelines("ci", CiPipelinesArgs.from_settings(settings), opts=ns_ready)

logs = Logging("logging", LoggingArgs(settings), opts=ns_ready)

pulumi.export("environment", settings.environment)
pulumi.export("namespaces", {name: ns.metadata["name"] for name, ns in namespaces.namespaces.items()})
pulumi.export("appNamespace", settings.namespaces.app)
pulumi.export("vaultAddress", vault.address)
pulumi.export("vaultAuth", vault.auth)
pulumi.export("lokiPushUrl", logs.push_url)
pulumi.export("lokiQueryUrl", logs.query_url)
pulumi.export("prometheusUrl", monitoring.prometheus_url)
pulumi.export("alertmanagerUrl", monitoring.alertmanager_url)
pulumi.export("grafanaUrl", monitoring.grafana_url)
pulumi.export("opencostUrl", cost.api_url)
pulumi.export("costModel", cost.cost_model)
pulumi.export("ciRepository", f"{settings.ci.owner}/{settings.ci.repository}")
pulumi.export("ciRequiredChecks", list(ci.required_checks))
pulumi.export("rolloutName", canary.rollout_name)
pulumi.export("rolloutNamespace", canary.namespace)
pulumi.export("stableServiceName", canary.stable_service)
pulumi.export("canaryServiceName", canary.canary_service)

"""A service's pod template: hardened whatever the definition says, scraped on its own endpoint, wired to Vault."""

from __future__ import annotations

from components import conventions as cv
from components import k8s as k8s_builders
from components.service import workload
from tests.canary.support import stack_service

VAULT_TLS = workload.VaultAccess("https://vault.vault.svc:8200", tls=True)
VAULT_PLAIN = workload.VaultAccess("http://vault.vault.svc:8200")


def _env(container: dict[str, object]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}  # type: ignore[attr-defined,index]


def test_native_vault_client_pod_is_hardened_scraped_and_wired_to_vault() -> None:
    service = stack_service("prod")
    tmpl = k8s_builders.camel(workload.pod_template(service, VAULT_TLS))
    meta, pod = tmpl["metadata"], tmpl["spec"]
    assert meta["labels"][cv.LABEL_APP] == "orders-api" and meta["labels"][cv.LABEL_COMPONENT] == "app"
    assert meta["labels"]["team"] == "web" and meta["labels"]["cost-center"] == "cc-web"
    assert meta["annotations"][cv.ANNOTATION_SCRAPE] == "true" and meta["annotations"][cv.ANNOTATION_PORT] == "8080"
    assert pod["serviceAccountName"] == "orders-api" and pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    assert c["image"] == service.image
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and c["securityContext"]["capabilities"] == {
        "drop": ["ALL"]
    }
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080, "scheme": "HTTP"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080, "scheme": "HTTP"}
    env = _env(c)
    assert env["VAULT_ADDR"] == "https://vault.vault.svc:8200"
    assert env["VAULT_ROLE"] == "orders-api" and env["VAULT_AUTH_METHOD"] == "kubernetes"
    assert env["VAULT_SECRET_PATH"] == "apps/orders-api/app" and env["VAULT_CACERT"] == "/etc/vault-ca/ca.crt"
    assert env["APP_PORT"] == "8080" and env["APP_VERSION"] == "1.0.0"
    dev_env = _env(
        k8s_builders.camel(workload.pod_template(stack_service("dev"), VAULT_PLAIN))["spec"]["containers"][0]
    )
    assert dev_env["VAULT_ADDR"] == "http://vault.vault.svc:8200" and "VAULT_CACERT" not in dev_env
    # every variable is one the app knows (a typo would be refused at start-up)
    from app.orders_api.settings import KNOWN_VARIABLES

    assert set(env) <= KNOWN_VARIABLES


def test_a_service_without_its_own_vault_client_gets_no_token_and_no_secret_variable() -> None:
    demo = stack_service("prod", "go-deployment-demo")
    pod = k8s_builders.camel(workload.pod_template(demo, VAULT_TLS))["spec"]
    assert pod["automountServiceAccountToken"] is False
    env = _env(pod["containers"][0])
    assert "VAULT_ADDR" not in env and "DB_PASSWORD" not in env  # a placeholder never reaches the environment
    assert env["PORT"] == "3000" and env["APP_VERSION"] == "2.3.1"
    assert pod["containers"][0]["ports"] == [{"name": "web", "containerPort": 3000, "protocol": "TCP"}]


def test_network_policy_opens_the_service_ports_and_vault_only_with_secrets() -> None:
    demo = stack_service("prod", "go-deployment-demo")
    spec = k8s_builders.camel(workload.network_policy_spec(demo, VAULT_TLS))
    assert spec["ingress"][0]["ports"] == [{"port": 3000, "protocol": "TCP"}]
    assert any(p["port"] == 8200 for rule in spec["egress"] for p in rule.get("ports", []))

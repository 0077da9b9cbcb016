"""Server configuration builder (unit): the HCL the StatefulSet runs, and what it refuses."""

from __future__ import annotations

import re

import pytest

from components.vault import server_config as sc


def prod(**kw: object) -> sc.ServerConfigInput:
    base: dict[str, object] = {"environment": "prod", "replicas": 3, "tls": sc.TlsFiles("vault-tls")}
    base.update(kw)
    return sc.ServerConfigInput(**base)  # type: ignore[arg-type]


def test_prod_renders_tls_raft_peers_registration_and_telemetry() -> None:
    hcl = sc.render_server_hcl(prod())
    assert "tls_disable     = false" in hcl
    assert 'tls_cert_file   = "/vault/tls/tls.crt"' in hcl and 'tls_key_file    = "/vault/tls/tls.key"' in hcl
    peers = re.findall(r'leader_api_addr\s*=\s*"([^"]+)"', hcl)
    assert peers == [f"https://vault-{i}.vault-internal.vault.svc:8200" for i in range(3)]
    assert hcl.count('leader_ca_cert_file     = "/vault/tls/ca.crt"') == 3
    assert 'service_registration "kubernetes" {}' in hcl
    assert "unauthenticated_metrics_access = true" in hcl
    assert 'prometheus_retention_time = "24h"' in hcl and "disable_hostname          = true" in hcl
    assert "ui            = true" in hcl and "disable_mlock = true" in hcl
    assert 'storage "raft"' in hcl and 'path = "/vault/data"' in hcl
    assert sc.check_server_hcl(hcl, "prod") == []


def test_dev_single_replica_has_no_peers_and_may_disable_tls() -> None:
    hcl = sc.render_server_hcl(sc.ServerConfigInput(environment="dev"))
    assert "retry_join" not in hcl
    assert "tls_disable     = true" in hcl
    assert sc.check_server_hcl(hcl, "dev") == []
    assert sc.check_server_hcl(hcl, "prod") == ["Vault's listener must use TLS in prod (tls_disable = true found)"]


def test_prod_without_tls_is_refused_with_the_field_named() -> None:
    with pytest.raises(sc.ServerConfigError, match=r"^tls: none in prod; accepted: TlsFiles"):
        sc.render_server_hcl(prod(tls=None))


def test_dev_mode_is_refused_everywhere() -> None:
    for env in sc.ENVIRONMENTS:
        with pytest.raises(sc.ServerConfigError, match=r"^dev_mode: true is refused; accepted: false"):
            sc.render_server_hcl(sc.ServerConfigInput(environment=env, dev_mode=True, tls=sc.TlsFiles("vault-tls")))
    assert sc.check_server_args(sc.server_args(sc.ServerConfigInput())) == []
    assert sc.check_server_args(["server", "-dev"])[0].startswith("Vault must not run in dev mode")
    assert sc.check_server_args(["server", "-dev-root-token-id=x"]) != []
    assert sc.check_server_hcl('storage "inmem" {}', "dev")[0].startswith("Vault must not run in dev mode")
    # a name containing "-dev" is not dev mode
    named = sc.render_server_hcl(sc.ServerConfigInput(cluster_name="vault-dev"))
    assert sc.check_server_hcl(named, "dev") == []


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"replicas": 2}, "replicas: 2; accepted: an odd number"),
        ({"replicas": 9}, "replicas: 9; accepted: an integer from 1 to 7"),
        ({"environment": "qa"}, "environment: 'qa'; accepted: dev, staging, prod"),
        ({"namespace": "Vault"}, "namespace: 'Vault'; accepted: a DNS-1123 label"),
        ({"prometheus_retention_time": "1d"}, "prometheus_retention_time: '1d'"),
        ({"log_level": "loud"}, "log_level: 'loud'"),
        ({"cluster_port": 8200}, "cluster_port: equals port"),
        ({"tls": sc.TlsFiles("Bad_Name")}, "tls.secret_name: 'Bad_Name'"),
    ],
)
def test_invalid_input_names_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(sc.ServerConfigError) as err:
        sc.render_server_hcl(prod(**kw))
    assert str(err.value).startswith(field)


def test_pod_environment_carries_per_pod_addresses() -> None:
    env = {e["name"]: e for e in sc.server_env(prod())}
    assert env["VAULT_RAFT_NODE_ID"]["value"] == "$(VAULT_K8S_POD_NAME)"
    assert env["VAULT_API_ADDR"]["value"] == "https://$(POD_IP):8200"
    assert env["VAULT_CLUSTER_ADDR"]["value"] == "https://$(VAULT_K8S_POD_NAME).vault-internal:8201"
    assert env["VAULT_CACERT"]["value"] == "/vault/tls/ca.crt"
    assert env["POD_IP"]["value_from"] == {"field_ref": {"field_path": "status.podIP"}}
    assert "VAULT_CACERT" not in {e["name"] for e in sc.server_env(sc.ServerConfigInput())}


def test_facts_for_the_component() -> None:
    cfg = prod()
    assert sc.api_address(cfg) == "https://vault.vault.svc:8200"
    assert sc.peer_hosts(cfg)[2] == "vault-2.vault-internal.vault.svc"
    assert "*.vault-internal.vault.svc" in sc.tls_dns_names(cfg)
    assert sc.CONTAINER_CAPABILITIES_ADD == ("IPC_LOCK",)
    # readiness fails while sealed/uninitialised; liveness tolerates sealed, uninitialised and standby
    assert "sealedcode" not in sc.READINESS_PATH and "standbyok=true" in sc.READINESS_PATH
    assert "sealedcode=204" in sc.LIVENESS_PATH and "uninitcode=204" in sc.LIVENESS_PATH


def test_declarative_audit_stanza() -> None:
    hcl = sc.render_server_hcl(sc.ServerConfigInput(audit_devices=(sc.AuditFileStanza(),)))
    assert 'audit "file" "file" {' in hcl and 'file_path = "/vault/audit/audit.log"' in hcl


def test_raft_uses_production_timing() -> None:
    """Issue 20: without ``performance_multiplier = 1`` Raft runs at its slow default (5) and init took
    5.5-9.7 s instead of 1.2-1.8 s (docs/SECURITY_GUIDE.md#init-timed-out)."""
    for cfg in (
        sc.ServerConfigInput(environment="dev"),
        sc.ServerConfigInput(environment="prod", tls=sc.TlsFiles("t")),
    ):
        hcl = sc.render_server_hcl(cfg)
        raft = hcl.split('storage "raft" {', 1)[1].split("\n}\n", 1)[0]
        assert "  performance_multiplier = 1" in raft.splitlines()
    for bad in (0, 11, True, "1"):
        with pytest.raises(
            sc.ServerConfigError, match=r"raft_performance_multiplier: .*accepted: an integer from 1 to 10"
        ):
            sc.render_server_hcl(sc.ServerConfigInput(raft_performance_multiplier=bad))  # type: ignore[arg-type]

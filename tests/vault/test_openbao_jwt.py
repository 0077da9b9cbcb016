"""GitHub Actions OIDC login against a real OpenBao, configured by ``reconcile`` from the platform's
declarative configuration: a token signed by the test key with the GitHub claims of the bound repository
and branch logs in with the CI role and reads ``ci/*`` only; tokens of another repository, branch,
audience or issuer, expired or signed by another key, are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest
import yaml

from components.vault import server_config as sc
from tests.support.openbao import OpenBao, openbao

from .support import REPOSITORY, adapted_server_hcl, cli, configuration_document, github_token, public_pem, rsa_key

pytestmark = pytest.mark.server


def login(bao: OpenBao, token: str, role: str = "ci") -> dict[str, Any]:
    return dict(bao.client().auth.jwt.jwt_login(role=role, jwt=token, path="jwt")["auth"])


def refused(bao: OpenBao, token: str) -> str:
    with pytest.raises(hvac.exceptions.VaultError) as err:
        login(bao, token)
    return str(err.value)


def test_github_oidc_token_logs_in_with_ci_role_and_reads_only_ci(tmp_path: Path) -> None:
    key, other_key = rsa_key(), rsa_key()
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        keys, root = bao.init(shares=1, threshold=1)
        bao.unseal(keys)
        config = tmp_path / "vault-config.yaml"
        config.write_text(yaml.safe_dump(configuration_document(bao, public_pem(key))))
        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
        assert res.code == 0 and "+ create jwt role jwt/ci" in res.out, res
        seed = yaml.safe_dump(
            {
                "secrets": [
                    {"path": "ci/registry", "data": {"token": "reg-1a2b"}},
                    {"path": "apps/orders-api", "data": {"api_key": "app-3c4d"}},
                ]
            }
        )
        assert cli("seed", "-", addr=bao.addr, token=root, stdin=seed).code == 0

        auth = login(bao, github_token(key))
        assert auth["policies"] == ["ci", "default"]
        assert auth["lease_duration"] == 900  # 15 minutes: a CI job's token is short-lived
        assert auth["metadata"]["role"] == "ci"
        ci = bao.client(auth["client_token"])
        data = ci.secrets.kv.v2.read_secret_version(
            path="ci/registry", mount_point="secret", raise_on_deleted_version=True
        )
        assert data["data"]["data"] == {"token": "reg-1a2b"}
        with pytest.raises(hvac.exceptions.Forbidden):
            ci.secrets.kv.v2.read_secret_version(
                path="apps/orders-api", mount_point="secret", raise_on_deleted_version=True
            )
        with pytest.raises(hvac.exceptions.Forbidden):
            ci.secrets.kv.v2.create_or_update_secret(path="ci/registry", secret={"token": "x"}, mount_point="secret")

        assert "claim" in refused(bao, github_token(key, repository="someone-else/orders-api"))
        assert "claim" in refused(bao, github_token(key, ref="refs/heads/feature"))
        assert "aud" in refused(bao, github_token(key, audience="https://github.com/someone-else"))
        assert "iss" in refused(bao, github_token(key, issuer="https://issuer.invalid"))
        refused(bao, github_token(other_key))  # signed by a key Vault does not trust
        refused(bao, github_token(key, ttl=-120))  # expired
        assert REPOSITORY in yaml.safe_dump(bao.client(root).read("auth/jwt/role/ci")["data"])

        # prod binds CI to the GitHub deployment environment instead of a branch: reconcile updates the role
        doc = yaml.safe_load(config.read_text())
        role = doc["auth"][1]["roles"][0]
        role["bound_claims"] = {"repository": [REPOSITORY], "environment": ["production"]}
        config.write_text(yaml.safe_dump(doc))
        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
        assert res.code == 0 and "~ update jwt role jwt/ci: bound_claims" in res.out, res
        assert login(bao, github_token(key, environment="production"))["policies"] == ["ci", "default"]
        assert "claim" in refused(bao, github_token(key))  # a branch token without the environment
        assert "claim" in refused(bao, github_token(key, environment="staging"))

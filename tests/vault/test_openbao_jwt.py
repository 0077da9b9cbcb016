"""GitHub Actions OIDC login against a real OpenBao, configured by ``reconcile`` from the platform's
declarative configuration: one JWT role per GitHub environment (production, staging, preview), each bound to
the repository, the environment, the branch (or a pull request's merge ref) and the events. A token signed by
the test key with one environment's claims logs in with that environment's role only and reads only that
environment's ``ci/<repo>/<env>/*``; a fork's pull request (``pull_request_target``, or the fork's own
repository), another repository, branch, audience, issuer, an expired token or another key get nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest
import yaml

from components.vault import declarative as dc
from components.vault import server_config as sc
from tests.support.openbao import OpenBao, openbao

from .support import REPOSITORY, adapted_server_hcl, cli, configuration_document, github_token, public_pem, rsa_key

pytestmark = pytest.mark.server

NAME = REPOSITORY.split("/")[1]
ENVIRONMENTS = ("production", "staging", "preview")
# the claims GitHub puts in each environment's jobs (deploy on push, rollback by dispatch, preview on a PR)
CLAIMS: dict[str, dict[str, Any]] = {
    "production": {"environment": "production", "ref": "refs/heads/main", "event_name": "push"},
    "staging": {"environment": "staging", "ref": "refs/heads/staging", "event_name": "workflow_dispatch"},
    "preview": {"environment": "preview", "ref": "refs/pull/42/merge", "event_name": "pull_request"},
}


def login(bao: OpenBao, token: str, role: str) -> dict[str, Any]:
    return dict(bao.client().auth.jwt.jwt_login(role=role, jwt=token, path="jwt")["auth"])


def refused(bao: OpenBao, token: str, role: str) -> str:
    with pytest.raises(hvac.exceptions.VaultError) as err:
        login(bao, token, role)
    return str(err.value)


def read(client: hvac.Client, path: str) -> dict[str, Any]:
    got = client.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    return dict(got["data"]["data"])


def test_each_github_environment_gets_only_its_own_role_and_secrets(tmp_path: Path) -> None:
    key, other_key = rsa_key(), rsa_key()
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        keys, root = bao.init(shares=1, threshold=1)
        bao.unseal(keys)
        config = tmp_path / "vault-config.yaml"
        config.write_text(yaml.safe_dump(configuration_document(bao, public_pem(key))))
        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
        assert res.code == 0, res
        for env in ENVIRONMENTS:
            assert f"+ create jwt role jwt/{dc.ci_role_name(NAME, env)}" in res.out
        seed = yaml.safe_dump(
            {
                "secrets": [
                    *[{"path": f"ci/{NAME}/{env}/deploy", "data": {"token": f"tok-{env}"}} for env in ENVIRONMENTS],
                    {"path": "apps/orders-api", "data": {"api_key": "app-3c4d"}},
                ]
            }
        )
        assert cli("seed", "-", addr=bao.addr, token=root, stdin=seed).code == 0

        for env in ENVIRONMENTS:
            role = dc.ci_role_name(NAME, env)
            token = github_token(key, **CLAIMS[env])
            auth = login(bao, token, role)
            assert sorted(auth["policies"]) == sorted(["default", role])
            assert auth["lease_duration"] == (300 if env == "preview" else 900)  # previews live shortest
            ci = bao.client(auth["client_token"])
            assert read(ci, f"ci/{NAME}/{env}/deploy") == {"token": f"tok-{env}"}
            for other in ENVIRONMENTS:
                if other == env:
                    continue
                assert "claim" in refused(bao, token, dc.ci_role_name(NAME, other)), (env, other)
                with pytest.raises(hvac.exceptions.Forbidden):
                    read(ci, f"ci/{NAME}/{other}/deploy")
            with pytest.raises(hvac.exceptions.Forbidden):
                read(ci, "apps/orders-api")
            with pytest.raises(hvac.exceptions.Forbidden):  # read-only, every environment
                ci.secrets.kv.v2.create_or_update_secret(
                    path=f"ci/{NAME}/{env}/deploy", secret={"token": "x"}, mount_point="secret"
                )
            with pytest.raises(hvac.exceptions.Forbidden):
                ci.secrets.kv.v2.list_secrets(path=f"ci/{NAME}", mount_point="secret")

        prod, preview = dc.ci_role_name(NAME, "production"), dc.ci_role_name(NAME, "preview")
        # a fork's pull request: pull_request_target runs it with the base repository's claims on main
        for env, role in (("preview", preview), ("production", prod)):
            fork = github_token(key, environment=env, ref="refs/heads/main", event_name="pull_request_target")
            assert "claim" in refused(bao, fork, role)
        # ... or the fork's own repository
        forked_repo = github_token(key, repository="attacker/orders-api", **CLAIMS["preview"])
        assert "claim" in refused(bao, forked_repo, preview)
        # production only from main, staging only from staging, previews only from a pull request's merge ref
        assert "claim" in refused(bao, github_token(key, **{**CLAIMS["production"], "ref": "refs/heads/feature"}), prod)
        assert "claim" in refused(bao, github_token(key, **{**CLAIMS["preview"], "ref": "refs/heads/main"}), preview)
        assert "claim" in refused(bao, github_token(key), prod)  # a branch token without an environment
        token = github_token(key, **CLAIMS["production"])
        assert "aud" in refused(
            bao, github_token(key, audience="https://github.com/someone-else", **CLAIMS["production"]), prod
        )
        assert "iss" in refused(bao, github_token(key, issuer="https://issuer.invalid", **CLAIMS["production"]), prod)
        refused(bao, github_token(other_key, **CLAIMS["production"]), prod)  # signed by a key Vault does not trust
        refused(bao, github_token(key, ttl=-120, **CLAIMS["production"]), prod)  # expired
        assert login(bao, token, prod)["metadata"]["role"] == prod
        assert REPOSITORY in yaml.safe_dump(bao.client(root).read(f"auth/jwt/role/{prod}")["data"])

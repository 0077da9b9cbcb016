"""The service against a real OpenBao (Vault API), started by the test (raft storage, never -dev mode),
initialised and unsealed through hvac.

The in-cluster login path (``POST auth/<mount>/login`` with ``{"role", "jwt"}`` read from a token file) is
exercised through OpenBao's JWT auth method with a test RSA key pair: the same request shape and code as
Kubernetes auth, which needs a cluster's TokenReview API. AppRole is exercised too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
import hvac.exceptions
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.openbao import OpenBao, openbao
from tests.support.procs import wait_until

from .appserver import AppProcess, running_app
from .conftest import order_body

pytestmark = pytest.mark.server

ISSUER = "https://kubernetes.default.svc.cluster.local"
SUBJECT = "system:serviceaccount:orders:orders-api"
POLICY = """
path "secret/data/apps/orders-api" {
  capabilities = ["read"]
}
"""


@dataclass
class Vault:
    bao: OpenBao
    keys: list[str]
    root: str
    private_key: rsa.RSAPrivateKey

    def admin(self) -> hvac.Client:
        return self.bao.client(self.root)

    def write_secret(self, data: dict[str, str], path: str = "apps/orders-api") -> int:
        result = self.admin().secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")
        return int(result["data"]["version"])

    def sa_jwt(self, subject: str = SUBJECT) -> str:
        """A service-account-like JWT signed by the test key (valid one hour)."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": ["vault"],
            "iat": now,
            "nbf": now - 5,
            "exp": now + 3600,
            "kubernetes.io": {"namespace": "orders", "serviceaccount": {"name": "orders-api"}},
        }
        return pyjwt.encode(claims, self.private_key, algorithm="RS256")


def configure(bao: OpenBao, root: str) -> rsa.RSAPrivateKey:
    """KV v2, the app's secret and a neighbour's, the app's policy, JWT and AppRole auth."""
    admin = bao.client(root)
    admin.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    admin.sys.create_or_update_policy("orders-api", POLICY)
    admin.sys.enable_auth_method("jwt", path="jwt")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    admin.adapter.post("/v1/auth/jwt/config", json={"jwt_validation_pubkeys": [public_pem], "bound_issuer": ISSUER})
    role = {
        "role_type": "jwt",
        "user_claim": "sub",
        "bound_subject": SUBJECT,
        "bound_audiences": ["vault"],
        "token_policies": ["orders-api"],
        "token_ttl": "1h",
        "token_max_ttl": "4h",
    }
    admin.adapter.post("/v1/auth/jwt/role/orders-api", json=role)
    # Short-lived tokens, to watch renewal and re-login happen.
    admin.adapter.post("/v1/auth/jwt/role/orders-api-short", json={**role, "token_ttl": "4s", "token_max_ttl": "9s"})
    admin.sys.enable_auth_method("approle", path="approle")
    admin.adapter.post(
        "/v1/auth/approle/role/orders-api",
        json={"token_policies": ["orders-api"], "token_ttl": "1h", "secret_id_ttl": "1h"},
    )
    return key


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    with openbao(tmp_path_factory.mktemp("openbao")) as bao:
        keys, root = bao.init(shares=3, threshold=2)
        bao.unseal(keys[:2])
        key = configure(bao, root)
        v = Vault(bao, keys, root, key)
        v.write_secret({"api_key": "neighbour-key-0000"}, path="apps/billing")
        yield v


def app_env(vault: Vault, tmp_path: Path, role: str = "orders-api", **extra: str) -> dict[str, str]:
    jwt_file = tmp_path / "sa-token"
    jwt_file.write_text(vault.sa_jwt())
    return {
        "VAULT_ADDR": vault.bao.addr,
        "VAULT_AUTH_METHOD": "jwt",
        "VAULT_AUTH_MOUNT": "jwt",
        "VAULT_ROLE": role,
        "VAULT_JWT_PATH": str(jwt_file),
        "VAULT_REFRESH_SECONDS": "1",
        "VAULT_READY_GRACE_SECONDS": "3",
        "VAULT_TIMEOUT_SECONDS": "1",
        "APP_LOG_LEVEL": "debug",
        **extra,
    }


def readyz(app: AppProcess) -> tuple[int, dict[str, Any]]:
    response = httpx.get(app.url + "/readyz", timeout=5)
    return response.status_code, response.json()


def create(app: AppProcess, key: str) -> int:
    return httpx.post(
        app.url + "/orders", json=order_body(), timeout=5, headers={"Authorization": f"Bearer {key}"}
    ).status_code


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_app_policy_token_reads_its_secret_and_is_denied_the_rest(vault: Vault) -> None:
    vault.write_secret({"api_key": "policy-test-key-1111"})
    client = vault.bao.client()
    login = client.adapter.login("/v1/auth/jwt/login", json={"role": "orders-api", "jwt": vault.sa_jwt()})
    assert login["auth"]["policies"] == ["default", "orders-api"]
    own = client.secrets.kv.v2.read_secret_version(
        path="apps/orders-api", mount_point="secret", raise_on_deleted_version=True
    )
    assert own["data"]["data"]["api_key"] == "policy-test-key-1111"
    denied = [
        lambda: client.secrets.kv.v2.read_secret_version(
            path="apps/billing", mount_point="secret", raise_on_deleted_version=True
        ),
        lambda: client.secrets.kv.v2.create_or_update_secret(
            path="apps/orders-api", secret={"api_key": "x"}, mount_point="secret"
        ),
        lambda: client.secrets.kv.v2.list_secrets(path="apps", mount_point="secret"),
        lambda: client.sys.list_acl_policies(),
        lambda: client.sys.read_policy("orders-api"),
    ]
    for attempt in denied:
        with pytest.raises(hvac.exceptions.Forbidden):
            attempt()
    # A JWT for another service account is refused by the role's bound subject.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.bao.client().adapter.login(
            "/v1/auth/jwt/login",
            json={"role": "orders-api", "jwt": vault.sa_jwt("system:serviceaccount:other:intruder")},
        )


def test_approle_login_reads_the_secret(vault: Vault, tmp_path: Path) -> None:
    vault.write_secret({"api_key": "approle-key-2222"})
    admin = vault.admin()
    role_id = admin.adapter.get("/v1/auth/approle/role/orders-api/role-id")["data"]["role_id"]
    secret_id = admin.adapter.post("/v1/auth/approle/role/orders-api/secret-id")["data"]["secret_id"]
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(secret_id)
    env = {
        "VAULT_ADDR": vault.bao.addr,
        "VAULT_AUTH_METHOD": "approle",
        "VAULT_ROLE_ID": role_id,
        "VAULT_SECRET_ID_PATH": str(secret_file),
        "APP_LOG_LEVEL": "debug",
    }
    with running_app(tmp_path, env, ready_path="/readyz") as app:
        assert create(app, "approle-key-2222") == 201
        assert create(app, "wrong-key") == 401
    assert_no_secrets(app.log_text(), "approle-key-2222", secret_id)
    assert any(line["msg"] == "vault login succeeded" and line["auth_method"] == "approle" for line in app.log_lines())


def test_token_renewal_then_relogin_at_max_ttl(vault: Vault, tmp_path: Path) -> None:
    vault.write_secret({"api_key": "renewal-key-3333"})
    env = app_env(vault, tmp_path, role="orders-api-short")
    with running_app(tmp_path, env, ready_path="/readyz") as app:
        deadline = time.monotonic() + 11  # > max TTL (9 s): the first token cannot live this long
        while time.monotonic() < deadline:
            status, body = readyz(app)
            assert status == 200, body
            assert create(app, "renewal-key-3333") == 201
            time.sleep(0.25)
    lines = app.log_lines()
    msgs = [line["msg"] for line in lines]
    assert msgs.count("vault login succeeded") >= 2, msgs
    assert any(m.startswith("vault token renewed") for m in msgs), msgs
    assert not any(line["level"] in {"warning", "error"} for line in lines), msgs
    assert_no_secrets(app.log_text(), "renewal-key-3333", vault.root)


def test_outage_keeps_serving_readiness_flips_and_recovers_without_restart(vault: Vault, tmp_path: Path) -> None:
    first = vault.write_secret({"api_key": "story-key-4444", "database_url": "postgres://o:pw-4444@db/o"})
    with running_app(tmp_path, app_env(vault, tmp_path), ready_path="/readyz") as app:
        status, body = readyz(app)
        assert status == 200 and body["secrets"]["version"] == first
        assert create(app, "story-key-4444") == 201
        assert create(app, "story-key-wrong") == 401

        # Rotation: the new version is picked up by the periodic re-read.
        second = vault.write_secret({"api_key": "story-key-5555"})
        wait_until(lambda: readyz(app)[1]["secrets"].get("version") == second, 30, what="the rotated secret")
        assert create(app, "story-key-5555") == 201
        assert create(app, "story-key-4444") == 401

        # Outage: the app keeps serving with the last good secrets, readiness flips after the grace.
        pid = app.pid
        stopped = time.monotonic()  # before stop(): the app may notice while the server shuts down
        vault.bao.stop()
        assert readyz(app)[0] == 200
        wait_until(lambda: readyz(app)[0] == 503, 30, interval=0.1, what="/readyz to fail")
        flipped = time.monotonic() - stopped
        assert 3.0 <= flipped <= 1 + 3 + 10, flipped  # refresh (1 s) + grace (3 s) + slack for a busy machine
        status, body = readyz(app)
        assert "VAULT_READY_GRACE_SECONDS" in body["secrets"]["reason"]
        assert body["secrets"]["error"] == "ConnectionError: Vault is unreachable"
        assert create(app, "story-key-5555") == 201  # still serving
        assert httpx.get(app.url + "/healthz", timeout=5).status_code == 200

        # Restart and unseal: the app recovers by itself (same process) and reads new versions again.
        vault.bao.start()
        time.sleep(1.5)
        assert readyz(app)[0] == 503  # sealed Vault is still a failing Vault
        vault.bao.unseal(vault.keys[1:3])
        wait_until(lambda: readyz(app)[0] == 200, 60, interval=0.2, what="/readyz to recover")
        third = vault.write_secret({"api_key": "story-key-6666"})
        wait_until(lambda: readyz(app)[1]["secrets"].get("version") == third, 30, what="a read after recovery")
        assert create(app, "story-key-6666") == 201
        assert app.pid == pid and app.server.running()
    msgs = [line["msg"] for line in app.log_lines()]
    assert "vault unavailable; serving last good secrets" in msgs
    assert "vault recovered; secrets refreshed" in msgs
    text = app.log_text()
    assert_no_secrets(text, "story-key-4444", "story-key-5555", "story-key-6666", "pw-4444", vault.root, *vault.keys)
    assert_no_secrets(vault.bao.log(), "story-key-6666", vault.root)

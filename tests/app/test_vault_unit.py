"""Vault client logic against a recording fake transport: the login request each auth method sends,
token renewal and re-login, periodic reads, last-good secrets during outages and the readiness grace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.orders_api.secrets import VaultSecretStore, VaultSession, login_request
from app.orders_api.settings import Secret, VaultSettings, load_settings

from .conftest import LogCapture
from .fakevault import ADDR, Call, FakeVault, kv_ok, login_ok

SA_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b3JkZXJzIn0.c2lnbmF0dXJl"
CLIENT_TOKEN = "s.client-token-0123456789"
SECRET = {"api_key": "vault-api-key-5566", "database_url": "postgres://u:pw-7788@db/orders"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def vault_settings(**env: str) -> VaultSettings:
    settings = load_settings({"VAULT_ADDR": ADDR, "VAULT_ROLE": "orders-api", **env})
    assert settings.vault is not None
    return settings.vault


@pytest.fixture
def sa_token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(SA_JWT + "\n")
    return path


def test_kubernetes_login_request_and_authenticated_read(sa_token: Path) -> None:
    fake = FakeVault()
    fake.route("POST", "/v1/auth/kubernetes/login", login_ok(CLIENT_TOKEN))
    fake.route("GET", "/v1/secret/data/apps/orders-api", kv_ok(SECRET, version=3))
    session = VaultSession(vault_settings(VAULT_K8S_TOKEN_PATH=str(sa_token)), client=fake.client())
    session.login()
    assert fake.calls[0] == Call("POST", "/v1/auth/kubernetes/login", {"role": "orders-api", "jwt": SA_JWT}, None)
    values, version = session.read_secret()
    assert version == 3 and values["api_key"] == Secret("vault-api-key-5566")
    assert fake.calls[1] == Call("GET", "/v1/secret/data/apps/orders-api", None, CLIENT_TOKEN)


def test_kubernetes_login_custom_mount_rereads_rotated_token(sa_token: Path) -> None:
    fake = FakeVault()
    fake.route("POST", "/v1/auth/k8s-prod/login", login_ok(CLIENT_TOKEN))
    session = VaultSession(
        vault_settings(VAULT_K8S_TOKEN_PATH=str(sa_token), VAULT_AUTH_MOUNT="k8s-prod"), client=fake.client()
    )
    session.login()
    sa_token.write_text("rotated.projected.token")
    session.drop_token()
    session.login()
    assert [c.body for c in fake.calls] == [
        {"role": "orders-api", "jwt": SA_JWT},
        {"role": "orders-api", "jwt": "rotated.projected.token"},
    ]


def test_login_requests_of_jwt_and_approle(tmp_path: Path) -> None:
    jwt_file = tmp_path / "jwt"
    jwt_file.write_text("a.b.c")
    assert login_request(vault_settings(VAULT_AUTH_METHOD="jwt", VAULT_JWT_PATH=str(jwt_file))) == (
        "/v1/auth/jwt/login",
        {"role": "orders-api", "jwt": "a.b.c"},
    )
    approle = vault_settings(VAULT_AUTH_METHOD="approle", VAULT_ROLE_ID="rid", VAULT_SECRET_ID="sid-1")
    assert login_request(approle) == ("/v1/auth/approle/login", {"role_id": "rid", "secret_id": "sid-1"})
    secret_file = tmp_path / "sid"
    secret_file.write_text("sid-from-file\n")
    from_file = vault_settings(
        VAULT_AUTH_METHOD="approle", VAULT_ROLE_ID="rid", VAULT_SECRET_ID_PATH=str(secret_file), VAULT_AUTH_MOUNT="ar"
    )
    assert login_request(from_file) == ("/v1/auth/ar/login", {"role_id": "rid", "secret_id": "sid-from-file"})


def test_token_method_looks_up_its_token() -> None:
    fake = FakeVault()
    fake.route(
        "GET",
        "/v1/auth/token/lookup-self",
        lambda call: (200, {"data": {"ttl": 0, "renewable": False, "policies": ["orders-api"]}}),
    )
    session = VaultSession(
        vault_settings(VAULT_AUTH_METHOD="token", VAULT_TOKEN="s.local-dev-token"), client=fake.client()
    )
    session.login()
    assert fake.calls == [Call("GET", "/v1/auth/token/lookup-self", None, "s.local-dev-token")]
    assert session.renew_at is None  # a token without TTL is never renewed


def test_renewal_at_two_thirds_then_relogin_when_max_ttl_caps(sa_token: Path) -> None:
    fake = FakeVault()
    clock = Clock()
    fake.route("POST", "/v1/auth/kubernetes/login", login_ok(CLIENT_TOKEN, ttl=30))
    renewals = iter([30, 9])  # the second renewal is capped by the role's max TTL
    fake.route(
        "POST",
        "/v1/auth/token/renew-self",
        lambda call: (200, {"auth": {"client_token": call.token, "lease_duration": next(renewals), "renewable": True}}),
    )
    fake.route("GET", "/v1/secret/data/apps/orders-api", kv_ok(SECRET))
    store = VaultSecretStore(
        vault_settings(VAULT_K8S_TOKEN_PATH=str(sa_token), VAULT_REFRESH_SECONDS="60"),
        session=VaultSession(vault_settings(VAULT_K8S_TOKEN_PATH=str(sa_token)), client=fake.client(), clock=clock),
        clock=clock,
    )
    assert store.tick() == pytest.approx(20.0)  # login + read; next: renewal at 2/3 of 30 s
    assert fake.paths() == ["POST /v1/auth/kubernetes/login", "GET /v1/secret/data/apps/orders-api"]
    clock.now += 19.9
    store.tick()
    assert len(fake.calls) == 2
    clock.now += 0.1
    store.tick()
    assert fake.paths()[-1] == "POST /v1/auth/token/renew-self" and fake.calls[-1].token == CLIENT_TOKEN
    clock.now += 20
    store.tick()  # renewal capped at 9 s: log in again at 2/3 of that
    assert fake.paths()[-1] == "POST /v1/auth/token/renew-self"
    clock.now += 6
    store.tick()
    assert fake.paths()[-1] == "POST /v1/auth/kubernetes/login"


def test_failed_renewal_logs_in_again(sa_token: Path) -> None:
    fake = FakeVault()
    clock = Clock()
    fake.route("POST", "/v1/auth/kubernetes/login", login_ok(CLIENT_TOKEN, ttl=30))
    fake.route("POST", "/v1/auth/token/renew-self", lambda call: (403, {"errors": ["permission denied"]}))
    fake.route("GET", "/v1/secret/data/apps/orders-api", kv_ok(SECRET))
    settings = vault_settings(VAULT_K8S_TOKEN_PATH=str(sa_token))
    store = VaultSecretStore(settings, VaultSession(settings, client=fake.client(), clock=clock), clock)
    store.tick()
    clock.now += 21
    store.tick()
    assert fake.paths()[-2:] == ["POST /v1/auth/token/renew-self", "POST /v1/auth/kubernetes/login"]
    assert store.readiness()[0]


def make_store(sa_token: Path, clock: Clock, fake: FakeVault, **env: str) -> VaultSecretStore:
    settings = vault_settings(
        VAULT_K8S_TOKEN_PATH=str(sa_token), VAULT_REFRESH_SECONDS="10", VAULT_READY_GRACE_SECONDS="30", **env
    )
    return VaultSecretStore(settings, VaultSession(settings, client=fake.client(), clock=clock), clock)


def test_outage_keeps_last_good_secrets_and_readiness_flips_after_grace(
    sa_token: Path, json_logs: Callable[[str], LogCapture]
) -> None:
    logs = json_logs("debug")
    fake = FakeVault()
    clock = Clock()
    version = {"v": 1}
    fake.route("POST", "/v1/auth/kubernetes/login", login_ok(CLIENT_TOKEN))
    fake.route("GET", "/v1/secret/data/apps/orders-api", lambda call: kv_ok(SECRET, version=version["v"])(call))
    store = make_store(sa_token, clock, fake)
    assert store.readiness() == (
        False,
        {"source": "vault", "path": "secret/apps/orders-api", "reason": "secrets not loaded from vault yet"},
    )
    store.tick()
    ready, detail = store.readiness()
    assert ready and detail["version"] == 1
    fake.down = True
    clock.now += 10  # the next scheduled read fails: the outage is noticed here
    store.tick()
    for _ in range(30):  # 30 s more of retries: still ready within the 30 s grace
        clock.now += 1
        store.tick()
    ready, detail = store.readiness()
    snapshot = store.current()
    assert snapshot is not None and snapshot.get("api_key") == Secret("vault-api-key-5566")
    assert ready, detail
    assert detail["error"] == "ConnectionError: Vault is unreachable"
    clock.now += 1.5
    store.tick()
    ready, detail = store.readiness()
    assert not ready and "VAULT_READY_GRACE_SECONDS" in detail["reason"]
    assert store.current() is snapshot  # still serving the last good secrets
    fake.down = False
    version["v"] = 2
    clock.now += 30
    store.tick()
    ready, detail = store.readiness()
    assert ready and detail["version"] == 2 and "error" not in detail
    text = logs.text()
    for secret in (SA_JWT, CLIENT_TOKEN, "vault-api-key-5566", "pw-7788"):
        assert secret not in text
    msgs = [line["msg"] for line in logs.lines()]
    assert "vault unavailable; serving last good secrets" in msgs
    assert "vault recovered; secrets refreshed" in msgs


def test_retry_backoff_never_slower_than_refresh(sa_token: Path) -> None:
    fake = FakeVault()
    fake.down = True
    clock = Clock()
    store = make_store(sa_token, clock, fake)
    delays = []
    for _ in range(8):
        delays.append(store.tick())
        clock.now += delays[-1]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_permission_denied_drops_token_and_logs_in_again(sa_token: Path) -> None:
    fake = FakeVault()
    clock = Clock()
    tokens = iter(["s.first-token-aaaa", "s.second-token-bbbb"])
    fake.route("POST", "/v1/auth/kubernetes/login", lambda call: login_ok(next(tokens))(call))
    fake.route(
        "GET",
        "/v1/secret/data/apps/orders-api",
        lambda call: (
            kv_ok(SECRET)(call) if call.token == "s.second-token-bbbb" else (403, {"errors": ["permission denied"]})
        ),
    )
    store = make_store(sa_token, clock, fake)
    store.tick()
    assert store.state.last_error == "Forbidden: permission denied"
    clock.now += 1
    store.tick()
    assert store.readiness()[0]
    assert fake.paths().count("POST /v1/auth/kubernetes/login") == 2


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"database_url": "x"}, "lacks required keys: api_key"),
        ({"api_key": 42}, "key 'api_key' is not a string"),
    ],
)
def test_unusable_secret_is_not_applied(sa_token: Path, data: dict[str, Any], error: str) -> None:
    fake = FakeVault()
    clock = Clock()
    fake.route("POST", "/v1/auth/kubernetes/login", login_ok(CLIENT_TOKEN))
    fake.route("GET", "/v1/secret/data/apps/orders-api", kv_ok(data, version=4))
    store = make_store(sa_token, clock, fake)
    store.tick()
    ready, detail = store.readiness()
    assert not ready and store.current() is None
    assert error in detail["error"]


def test_missing_service_account_token_is_a_clear_failure(tmp_path: Path) -> None:
    fake = FakeVault()
    store = make_store(tmp_path / "absent", Clock(), fake)
    store.tick()
    assert fake.calls == []
    assert "FileNotFoundError" in str(store.state.last_error)

"""Start-up validation: every bad variable is named with what it accepts; secrets never echoed."""

from __future__ import annotations

import pytest

from app.orders_api.settings import DEFAULT_K8S_TOKEN_PATH, Secret, SettingsError, load_settings

from .conftest import API_KEY, BASE_ENV


def problems(env: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    return info.value.problems


def test_defaults_without_vault_read_secrets_from_env() -> None:
    s = load_settings({"APP_SECRET_API_KEY": API_KEY, "APP_SECRET_DATABASE_URL": "postgres://x"})
    assert (s.host, s.port, s.log_level, s.version, s.instrumentation) == ("0.0.0.0", 8080, "info", "dev", True)  # noqa: S104
    assert s.vault is None
    assert s.env_secrets["api_key"] == Secret(API_KEY)
    assert set(s.env_secrets) == {"api_key", "database_url"}
    assert (s.fault_error_ratio, s.fault_latency_seconds) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("APP_PORT", "http", "integer port from 1 to 65535"),
        ("APP_PORT", "70000", "integer port from 1 to 65535"),
        ("APP_LOG_LEVEL", "verbose", "debug, info, warning, error"),
        ("APP_VERSION", "1.0 beta", "Prometheus label value"),
        ("APP_INSTRUMENTATION", "maybe", "on or off"),
        ("APP_SHUTDOWN_TIMEOUT_SECONDS", "0", "seconds > 0"),
        ("FAULT_ERROR_RATIO", "1.5", "from 0 to 1"),
        ("FAULT_ERROR_RATIO", "-0.1", "from 0 to 1"),
        ("FAULT_ERROR_RATIO", "nan", "from 0 to 1"),
        ("FAULT_ERROR_RATIO", "ten percent", "from 0 to 1"),
        ("FAULT_LATENCY_SECONDS", "-1", "from 0 to 30"),
        ("FAULT_LATENCY_SECONDS", "inf", "from 0 to 30"),
        ("FAULT_LATENCY_SECONDS", "2s", "from 0 to 30"),
    ],
)
def test_invalid_value_names_variable_and_accepted_values(name: str, value: str, accepted: str) -> None:
    found = problems({**BASE_ENV, name: value})
    assert set(found) == {name}
    assert accepted in found[name]
    assert repr(value) in found[name]


def test_all_problems_reported_at_once_and_message_names_them() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"APP_PORT": "0", "FAULT_ERROR_RATIO": "2", "FAULT_ERROR_RATE": "0.5"})
    found = info.value.problems
    assert set(found) == {"APP_PORT", "FAULT_ERROR_RATIO", "FAULT_ERROR_RATE", "APP_SECRET_API_KEY"}
    assert "unknown fault setting" in found["FAULT_ERROR_RATE"]
    assert "required when VAULT_ADDR is not set" in found["APP_SECRET_API_KEY"]
    for name in found:
        assert name in str(info.value)


def test_valid_faults_accepted() -> None:
    s = load_settings({**BASE_ENV, "FAULT_ERROR_RATIO": "0.25", "FAULT_LATENCY_SECONDS": "0.6"})
    assert (s.fault_error_ratio, s.fault_latency_seconds) == (0.25, 0.6)
    s = load_settings({**BASE_ENV, "FAULT_ERROR_RATIO": "1", "FAULT_LATENCY_SECONDS": "0"})
    assert s.fault_error_ratio == 1.0


def test_kubernetes_auth_defaults() -> None:
    s = load_settings({"VAULT_ADDR": "https://vault.vault.svc:8200", "VAULT_ROLE": "orders-api"})
    v = s.vault
    assert v is not None
    assert (v.auth_method, v.auth_mount, v.role, v.k8s_token_path) == (
        "kubernetes",
        "kubernetes",
        "orders-api",
        DEFAULT_K8S_TOKEN_PATH,
    )
    assert (v.kv_mount, v.secret_path, v.location) == ("secret", "apps/orders-api", "secret/apps/orders-api")
    assert s.env_secrets == {}


def test_vault_mode_does_not_need_env_secrets_and_ignores_them() -> None:
    s = load_settings(
        {
            "VAULT_ADDR": "http://127.0.0.1:8200",
            "VAULT_AUTH_METHOD": "token",
            "VAULT_TOKEN": "hvs.dummy-token-value",
            "APP_SECRET_API_KEY": "ignored",
        }
    )
    assert s.env_secrets == {}
    assert s.vault is not None and s.vault.token == Secret("hvs.dummy-token-value")


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"VAULT_AUTH_METHOD": "kubernetes"}, {"VAULT_ROLE"}),
        ({"VAULT_AUTH_METHOD": "jwt"}, {"VAULT_ROLE", "VAULT_JWT_PATH"}),
        ({"VAULT_AUTH_METHOD": "token"}, {"VAULT_TOKEN"}),
        ({"VAULT_AUTH_METHOD": "approle"}, {"VAULT_ROLE_ID", "VAULT_SECRET_ID"}),
        (
            {
                "VAULT_AUTH_METHOD": "approle",
                "VAULT_ROLE_ID": "r",
                "VAULT_SECRET_ID": "s",
                "VAULT_SECRET_ID_PATH": "/p",
            },
            {"VAULT_SECRET_ID"},
        ),
        ({"VAULT_AUTH_METHOD": "ldap"}, {"VAULT_AUTH_METHOD"}),
    ],
)
def test_auth_method_requirements(env: dict[str, str], missing: set[str]) -> None:
    found = problems({"VAULT_ADDR": "http://127.0.0.1:8200", **env})
    assert set(found) == missing


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VAULT_ADDR", "vault:8200"),
        ("VAULT_KV_MOUNT", "secret/data"),
        ("VAULT_SECRET_PATH", "/apps//orders"),
        ("VAULT_REFRESH_SECONDS", "0"),
        ("VAULT_READY_GRACE_SECONDS", "-5"),
        ("VAULT_AUTH_MOUNT", "a b"),
    ],
)
def test_invalid_vault_values(name: str, value: str) -> None:
    env = {"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_ROLE": "orders-api", name: value}
    assert set(problems(env)) == {name}


def test_secret_values_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            {
                "VAULT_ADDR": "http://127.0.0.1:8200",
                "VAULT_AUTH_METHOD": "approle",
                "VAULT_SECRET_ID": "super-secret-id-123",
                "VAULT_SECRET_ID_PATH": "/x",
            }
        )
    assert "super-secret-id-123" not in str(info.value)
    assert "super-secret-id-123" not in repr(info.value.problems)
    token = Secret("hvs.abcdef")
    assert "hvs.abcdef" not in repr(token) and "hvs.abcdef" not in str(token)
    assert "hvs.abcdef" not in f"{token}"
    assert token.reveal() == "hvs.abcdef"


def test_bad_secret_variable_name() -> None:
    found = problems({**BASE_ENV, "APP_SECRET_": "x"})
    assert "APP_SECRET_<KEY>" in found["APP_SECRET_"]

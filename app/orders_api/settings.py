"""Settings from environment variables, validated at start-up.

``load_settings(environ)`` reads every variable, collects every problem and raises one
:class:`SettingsError` naming each offending variable and what it accepts: nothing is half-applied.
Secret values (``VAULT_TOKEN``, ``VAULT_SECRET_ID``, ``APP_SECRET_*``) are wrapped in :class:`Secret`,
whose ``repr``/``str`` never show the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar

T = TypeVar("T")

DEFAULT_K8S_TOKEN_PATH: Final = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
AUTH_METHODS: Final = ("kubernetes", "token", "jwt", "approle")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
# Keys the service needs in its secret (Vault KV v2 data or APP_SECRET_<KEY> variables).
REQUIRED_SECRET_KEYS: Final = ("api_key",)
SECRET_ENV_PREFIX: Final = "APP_SECRET_"  # noqa: S105 - a variable prefix
MAX_FAULT_LATENCY_SECONDS: Final = 30.0

# Every variable this service reads; FAULT_* typos are errors (an unnoticed typo would silently disable
# a canary demonstration). APP_* and VAULT_* are shared namespaces (Kubernetes service links, the vault
# CLI), so unknown names there are left alone.
KNOWN_VARIABLES: Final = frozenset(
    {
        "APP_HOST",
        "APP_PORT",
        "APP_LOG_LEVEL",
        "APP_VERSION",
        "APP_COMMIT",
        "APP_INSTRUMENTATION",
        "APP_SHUTDOWN_TIMEOUT_SECONDS",
        "VAULT_ADDR",
        "VAULT_AUTH_METHOD",
        "VAULT_ROLE",
        "VAULT_K8S_TOKEN_PATH",
        "VAULT_JWT_PATH",
        "VAULT_AUTH_MOUNT",
        "VAULT_TOKEN",
        "VAULT_ROLE_ID",
        "VAULT_SECRET_ID",
        "VAULT_SECRET_ID_PATH",
        "VAULT_KV_MOUNT",
        "VAULT_SECRET_PATH",
        "VAULT_REFRESH_SECONDS",
        "VAULT_READY_GRACE_SECONDS",
        "VAULT_TIMEOUT_SECONDS",
        "VAULT_CACERT",
        "FAULT_ERROR_RATIO",
        "FAULT_LATENCY_SECONDS",
    }
)

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_MOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SECRET_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_SECRET_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ADDR = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?/?$")


class SettingsError(ValueError):
    """Invalid configuration. ``problems`` maps each variable name to what is wrong and what is accepted."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        lines = [f"  {name}: {why}" for name, why in sorted(self.problems.items())]
        super().__init__("invalid configuration:\n" + "\n".join(lines))


class Secret:
    """A secret string. ``str``/``repr`` show ``***``; call :meth:`reveal` where the value is needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class VaultSettings:
    addr: str
    auth_method: str  # one of AUTH_METHODS
    auth_mount: str
    role: str | None  # kubernetes, jwt
    k8s_token_path: str  # kubernetes
    jwt_path: str | None  # jwt: file holding the JWT (re-read at every login)
    token: Secret | None  # token
    role_id: str | None  # approle
    secret_id: Secret | None  # approle (or secret_id_path)
    secret_id_path: str | None  # approle
    kv_mount: str
    secret_path: str
    refresh_seconds: float
    ready_grace_seconds: float
    timeout_seconds: float
    cacert: str | None

    @property
    def location(self) -> str:
        """Human-readable KV location, e.g. ``secret/apps/orders-api`` (a path, never a value)."""
        return f"{self.kv_mount}/{self.secret_path}"


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on all interfaces
    port: int = 8080
    log_level: str = "info"
    version: str = "dev"
    commit: str = "unknown"
    instrumentation: bool = True
    shutdown_timeout_seconds: float = 25.0
    vault: VaultSettings | None = None
    # Used only without VAULT_ADDR: APP_SECRET_<KEY> variables, key lower-cased.
    env_secrets: Mapping[str, Secret] = field(default_factory=dict)
    fault_error_ratio: float = 0.0
    fault_latency_seconds: float = 0.0


class _Reader:
    """Reads variables and records problems instead of stopping at the first one."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.env = environ
        self.problems: dict[str, str] = {}

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def get(self, name: str, default: T, parse: Callable[[str], T], accepted: str) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, TypeError):
            self.problems[name] = f"got {_show(name, value)}; accepted: {accepted}"
            return default

    def require(self, name: str, why: str) -> None:
        if self.raw(name) is None:
            self.problems[name] = f"required {why}"


def _show(name: str, value: str) -> str:
    """The offending value for an error message, unless the variable holds a secret."""
    if name in {"VAULT_TOKEN", "VAULT_SECRET_ID"} or name.startswith(SECRET_ENV_PREFIX):
        return "a value (not shown: secret)"
    return repr(value if len(value) <= 80 else value[:77] + "...")


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        low = value.lower()
        if low not in options:
            raise ValueError(value)
        return low

    return parse


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value, 10)
        if not lo <= number <= hi:
            raise ValueError(value)
        return number

    return parse


def _float_range(lo: float, hi: float, lo_open: bool = False) -> Callable[[str], float]:
    def parse(value: str) -> float:
        number = float(value)
        if not math.isfinite(number) or number < lo or number > hi or (lo_open and number == lo):
            raise ValueError(value)
        return number

    return parse


def _matching(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(value)
        return value

    return parse


def _on_off(value: str) -> bool:
    low = value.lower()
    if low in {"on", "true", "1"}:
        return True
    if low in {"off", "false", "0"}:
        return False
    raise ValueError(value)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Validate every variable of ``environ``; raise :class:`SettingsError` listing every problem."""
    r = _Reader(environ)
    for name in environ:
        if name.startswith("FAULT_") and name not in KNOWN_VARIABLES:
            r.problems[name] = "unknown fault setting; accepted: FAULT_ERROR_RATIO, FAULT_LATENCY_SECONDS"

    host = r.get("APP_HOST", "0.0.0.0", str, "an IP address or host name to listen on")  # noqa: S104
    port = r.get("APP_PORT", 8080, _int_range(1, 65535), "an integer port from 1 to 65535")
    log_level = r.get("APP_LOG_LEVEL", "info", _choice(LOG_LEVELS), ", ".join(LOG_LEVELS))
    label_rule = "1-64 characters from A-Z a-z 0-9 . _ + - (a Prometheus label value)"
    version = r.get("APP_VERSION", "dev", _matching(_LABEL_VALUE), label_rule)
    commit = r.get("APP_COMMIT", "unknown", _matching(_LABEL_VALUE), label_rule)
    instrumentation = r.get("APP_INSTRUMENTATION", True, _on_off, "on or off (off is only for the overhead benchmark)")
    shutdown = r.get(
        "APP_SHUTDOWN_TIMEOUT_SECONDS",
        25.0,
        _float_range(0.0, 3600.0, lo_open=True),
        "a number of seconds > 0 and <= 3600",
    )
    error_ratio = r.get(
        "FAULT_ERROR_RATIO", 0.0, _float_range(0.0, 1.0), "a number from 0 to 1 (fraction of API requests answered 500)"
    )
    latency = r.get(
        "FAULT_LATENCY_SECONDS",
        0.0,
        _float_range(0.0, MAX_FAULT_LATENCY_SECONDS),
        f"a number of seconds from 0 to {MAX_FAULT_LATENCY_SECONDS:g}",
    )

    vault: VaultSettings | None = None
    env_secrets: dict[str, Secret] = {}
    if r.raw("VAULT_ADDR") is not None:
        vault = _vault_settings(r)
    else:
        for name, value in environ.items():
            if not name.startswith(SECRET_ENV_PREFIX):
                continue
            key = name[len(SECRET_ENV_PREFIX) :].lower()
            if not _SECRET_KEY.match(key):
                r.problems[name] = "secret variable names are APP_SECRET_<KEY>, KEY from A-Z 0-9 _"
            elif value.strip():
                env_secrets[key] = Secret(value.strip())
        for key in REQUIRED_SECRET_KEYS:
            if key not in env_secrets:
                r.problems[SECRET_ENV_PREFIX + key.upper()] = (
                    "required when VAULT_ADDR is not set (the secret is then read from the environment)"
                )

    if r.problems:
        raise SettingsError(r.problems)
    return Settings(
        host=host,
        port=port,
        log_level=log_level,
        version=version,
        commit=commit,
        instrumentation=instrumentation,
        shutdown_timeout_seconds=shutdown,
        vault=vault,
        env_secrets=env_secrets,
        fault_error_ratio=error_ratio,
        fault_latency_seconds=latency,
    )


def _vault_settings(r: _Reader) -> VaultSettings:
    addr = r.get("VAULT_ADDR", "", _matching(_ADDR), "http(s)://host[:port], e.g. https://vault.vault:8200")
    method = r.get("VAULT_AUTH_METHOD", "kubernetes", _choice(AUTH_METHODS), ", ".join(AUTH_METHODS))
    mount_rule = "a mount name: letters, digits, _ . - (no slashes)"
    auth_mount = r.get("VAULT_AUTH_MOUNT", method, _matching(_MOUNT), mount_rule)
    kv_mount = r.get("VAULT_KV_MOUNT", "secret", _matching(_MOUNT), mount_rule)
    secret_path = r.get(
        "VAULT_SECRET_PATH",
        "apps/orders-api",
        _matching(_SECRET_PATH),
        "a KV path such as apps/orders-api (segments of letters, digits, _ . -)",
    )
    refresh = r.get("VAULT_REFRESH_SECONDS", 60.0, _float_range(0.1, 86400.0), "a number of seconds from 0.1 to 86400")
    grace = r.get("VAULT_READY_GRACE_SECONDS", 300.0, _float_range(0.0, 86400.0), "a number of seconds from 0 to 86400")
    timeout = r.get(
        "VAULT_TIMEOUT_SECONDS", 5.0, _float_range(0.1, 120.0, lo_open=True), "a number of seconds from 0.1 to 120"
    )
    k8s_token_path = r.raw("VAULT_K8S_TOKEN_PATH") or DEFAULT_K8S_TOKEN_PATH
    role = r.raw("VAULT_ROLE")
    jwt_path = r.raw("VAULT_JWT_PATH")
    token_value = r.raw("VAULT_TOKEN")
    role_id = r.raw("VAULT_ROLE_ID")
    secret_id_value = r.raw("VAULT_SECRET_ID")
    secret_id_path = r.raw("VAULT_SECRET_ID_PATH")
    if "VAULT_AUTH_METHOD" in r.problems:
        method = ""  # unknown method: its requirements are unknown too
    if method in {"kubernetes", "jwt"}:
        r.require("VAULT_ROLE", f"with VAULT_AUTH_METHOD={method} (the Vault role to log in as)")
    if method == "jwt":
        r.require("VAULT_JWT_PATH", "with VAULT_AUTH_METHOD=jwt (a file holding the JWT)")
    if method == "token":
        r.require("VAULT_TOKEN", "with VAULT_AUTH_METHOD=token")
    if method == "approle":
        r.require("VAULT_ROLE_ID", "with VAULT_AUTH_METHOD=approle")
        if (secret_id_value is None) == (secret_id_path is None):
            why = "with VAULT_AUTH_METHOD=approle set exactly one of VAULT_SECRET_ID or VAULT_SECRET_ID_PATH"
            r.problems["VAULT_SECRET_ID"] = why
    return VaultSettings(
        addr=addr.rstrip("/"),
        auth_method=method,
        auth_mount=auth_mount,
        role=role,
        k8s_token_path=k8s_token_path,
        jwt_path=jwt_path,
        token=Secret(token_value) if token_value else None,
        role_id=role_id,
        secret_id=Secret(secret_id_value) if secret_id_value else None,
        secret_id_path=secret_id_path,
        kv_mount=kv_mount,
        secret_path=secret_path,
        refresh_seconds=refresh,
        ready_grace_seconds=grace,
        timeout_seconds=timeout,
        cacert=r.raw("VAULT_CACERT"),
    )

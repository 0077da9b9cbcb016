"""The service's secrets: from Vault (KV v2, via hvac) or, without ``VAULT_ADDR``, from the environment.

Vault flow (a background thread, :meth:`VaultSecretStore.tick` is one step of it):

1. Log in: ``POST auth/<mount>/login``. Kubernetes and JWT send ``{"role", "jwt"}`` (the service-account
   token file or ``VAULT_JWT_PATH``, re-read at every login because projected tokens rotate); AppRole sends
   ``{"role_id", "secret_id"}``. The token method uses ``VAULT_TOKEN`` and looks it up instead.
2. Renew the token at two thirds of its TTL; when renewal fails or the TTL is capped by the role's max
   TTL, log in again (the token method can only renew).
3. Read ``<kv mount>/data/<secret path>`` every ``VAULT_REFRESH_SECONDS``.
4. On any failure keep serving with the last good secrets and retry with a back-off (never slower than
   the refresh interval). Readiness fails once Vault has been failing for longer than
   ``VAULT_READY_GRACE_SECONDS``, or while no secret was ever loaded. A permission error drops the token
   so that the next attempt logs in again.

Secret values, tokens, JWTs and secret ids are registered with the log redactor and never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import hvac
import hvac.exceptions
import requests

from .logs import REDACTOR
from .settings import REQUIRED_SECRET_KEYS, Secret, Settings, VaultSettings

log = logging.getLogger("orders_api.secrets")

RENEW_FRACTION = 2 / 3  # renew (or log in again) when this fraction of the TTL has elapsed
MIN_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class SecretSnapshot:
    """One consistent set of secret values. ``version`` is the KV version (None from the environment)."""

    values: Mapping[str, Secret]
    version: int | None
    source: str  # "vault" or "env"
    loaded_at: float  # monotonic clock

    def get(self, key: str) -> Secret | None:
        return self.values.get(key)


class SecretStore(Protocol):
    def current(self) -> SecretSnapshot | None: ...

    def readiness(self) -> tuple[bool, dict[str, Any]]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class EnvSecretStore:
    """Secrets from ``APP_SECRET_*`` variables, validated at start-up; always ready."""

    def __init__(self, values: Mapping[str, Secret]) -> None:
        REDACTOR.add(*(v.reveal() for v in values.values()))
        self._snapshot = SecretSnapshot(dict(values), None, "env", time.monotonic())

    def current(self) -> SecretSnapshot:
        return self._snapshot

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        return True, {"source": "env", "keys": sorted(self._snapshot.values)}

    def start(self) -> None:
        log.info(
            "VAULT_ADDR is not set: reading secrets from APP_SECRET_* environment variables",
            extra={"secret_keys": sorted(self._snapshot.values)},
        )

    def stop(self) -> None:
        return None


def _read_file(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


def login_request(settings: VaultSettings, read_file: Callable[[str], str] = _read_file) -> tuple[str, dict[str, str]]:
    """``(api path, JSON body)`` of the login call for kubernetes, jwt and approle (pure but for reading
    the credential file). Kubernetes and JWT share the body shape: Vault's kubernetes method verifies the
    service-account JWT with the cluster's TokenReview API, the jwt method with configured keys."""
    path = f"/v1/auth/{settings.auth_mount}/login"
    if settings.auth_method == "kubernetes":
        return path, {"role": str(settings.role), "jwt": read_file(settings.k8s_token_path)}
    if settings.auth_method == "jwt":
        return path, {"role": str(settings.role), "jwt": read_file(str(settings.jwt_path))}
    if settings.auth_method == "approle":
        secret_id = (
            settings.secret_id.reveal() if settings.secret_id is not None else read_file(str(settings.secret_id_path))
        )
        return path, {"role_id": str(settings.role_id), "secret_id": secret_id}
    raise ValueError(f"auth method {settings.auth_method!r} has no login request (token uses VAULT_TOKEN)")


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of a Vault failure for logs and /readyz."""
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "ConnectionError: Vault is unreachable"
    if isinstance(exc, requests.exceptions.Timeout):
        return "Timeout: Vault did not answer in time"
    if isinstance(exc, hvac.exceptions.VaultError):
        errors = getattr(exc, "errors", None)
        text = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else ""
        text = text or str(exc).split(", on ")[0]
        return REDACTOR.scrub(f"{type(exc).__name__}: {text[:200]}")
    return REDACTOR.scrub(f"{type(exc).__name__}: {str(exc)[:200]}")


class VaultSession:
    """Login, token renewal and KV v2 reads for one Vault client (synchronous; used by one thread)."""

    def __init__(
        self,
        settings: VaultSettings,
        client: hvac.Client | None = None,
        read_file: Callable[[str], str] = _read_file,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client = client or hvac.Client(
            url=settings.addr, timeout=settings.timeout_seconds, verify=settings.cacert or True
        )
        self.client.token = None  # never pick up a token from the environment or ~/.vault-token
        self.read_file = read_file
        self.clock = clock
        self.logged_in = False
        self.renew_at: float | None = None  # None: the token never expires (or no token)
        self.login_ttl = 0.0
        self.can_login = settings.auth_method != "token"
        self._relogin_next = False  # renewal hit the max TTL: the next token step logs in again

    def login(self) -> None:
        s = self.settings
        if s.auth_method == "token":
            assert s.token is not None  # guaranteed by load_settings
            REDACTOR.add(s.token.reveal())
            self.client.token = s.token.reveal()
            data = self.client.auth.token.lookup_self()["data"]
            ttl, renewable, policies = float(data.get("ttl") or 0), bool(data.get("renewable")), data.get("policies")
        else:
            path, body = login_request(s, self.read_file)
            REDACTOR.add(*body.values())
            response = self.client.adapter.login(path, json=body)
            auth = response["auth"]
            REDACTOR.add(auth["client_token"])
            self.client.token = auth["client_token"]
            ttl, renewable, policies = (
                float(auth.get("lease_duration") or 0),
                bool(auth.get("renewable")),
                auth.get("policies"),
            )
        self.logged_in = True
        self.login_ttl = ttl
        self._schedule(ttl, renewable or self.can_login)
        log.info(
            "vault login succeeded",
            extra={
                "auth_method": s.auth_method,
                "auth_mount": s.auth_mount,
                "policies": policies,
                "ttl_seconds": ttl,
                "renewable": renewable,
            },
        )

    def _schedule(self, ttl: float, act: bool) -> None:
        self.renew_at = self.clock() + ttl * RENEW_FRACTION if ttl > 0 and act else None

    def renew_due(self, now: float) -> bool:
        return self.logged_in and self.renew_at is not None and now >= self.renew_at

    def renew_or_login(self) -> None:
        """Renew the token; log in again when renewal fails or the TTL is capped by the max TTL."""
        try:
            auth = self.client.auth.token.renew_self()["auth"]
        except (hvac.exceptions.VaultError, KeyError, TypeError) as exc:
            if not self.can_login:
                raise
            log.warning("vault token renewal failed, logging in again", extra={"error": describe_error(exc)})
            self.drop_token()
            self.login()
            return
        ttl = float(auth.get("lease_duration") or 0)
        capped = ttl < self.login_ttl * 0.9
        if capped and self.can_login:
            # The role's max TTL caps renewals: log in again before this token expires.
            self.renew_at = self.clock() + ttl * RENEW_FRACTION
            self._relogin_next = True
            log.info("vault token renewed up to its max TTL; will log in again", extra={"ttl_seconds": ttl})
            return
        self._schedule(ttl, True)
        log.info("vault token renewed", extra={"ttl_seconds": ttl})

    def refresh_token(self) -> None:
        if self._relogin_next:
            self._relogin_next = False
            self.drop_token()
            self.login()
        else:
            self.renew_or_login()

    def drop_token(self) -> None:
        self.logged_in = False
        self.renew_at = None
        self._relogin_next = False
        self.client.token = None

    def read_secret(self) -> tuple[dict[str, Secret], int]:
        s = self.settings
        response = self.client.secrets.kv.v2.read_secret_version(
            path=s.secret_path, mount_point=s.kv_mount, raise_on_deleted_version=True
        )
        data = response["data"]["data"]
        version = int(response["data"]["metadata"]["version"])
        if not isinstance(data, dict):
            raise ValueError(f"{s.location} does not hold key/value data")
        values: dict[str, Secret] = {}
        for key, value in data.items():
            if not isinstance(value, str):
                raise ValueError(f"{s.location} key {key!r} is not a string")
            values[str(key)] = Secret(value)
        REDACTOR.add(*(v.reveal() for v in values.values()))
        missing = [k for k in REQUIRED_SECRET_KEYS if k not in values]
        if missing:
            raise ValueError(f"{s.location} (version {version}) lacks required keys: {', '.join(missing)}")
        return values, version


@dataclass
class _State:
    snapshot: SecretSnapshot | None = None
    failing_since: float | None = None
    last_error: str | None = None
    last_success: float | None = None
    failures: int = 0


class VaultSecretStore:
    """Keeps the last good secrets from Vault fresh in a background thread; see the module docstring."""

    def __init__(
        self, settings: VaultSettings, session: VaultSession | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.session = session or VaultSession(settings, clock=clock)
        self.state = _State()
        self.next_read = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one step ---------------------------------------------------------------------------------
    def tick(self) -> float:
        """Do whatever is due (login, renewal, read); return the seconds until something is due next."""
        now = self.clock()
        try:
            if not self.session.logged_in:
                self.session.login()
            elif self.session.renew_due(now):
                self.session.refresh_token()
            if now >= self.next_read:
                values, version = self.session.read_secret()
                self._succeeded(values, version)
        except (
            hvac.exceptions.VaultError,
            requests.exceptions.RequestException,
            OSError,
            KeyError,
            TypeError,
            ValueError,
        ) as exc:
            self._failed(exc)
        return self._next_delay()

    def _succeeded(self, values: dict[str, Secret], version: int) -> None:
        now = self.clock()
        previous = self.state.snapshot
        recovered = self.state.failing_since is not None
        self.state.snapshot = SecretSnapshot(values, version, "vault", now)
        self.state.last_success = now
        self.state.failing_since = None
        self.state.last_error = None
        self.state.failures = 0
        self.next_read = now + self.settings.refresh_seconds
        fields = {"path": self.settings.location, "version": version, "secret_keys": sorted(values)}
        if recovered:
            log.info("vault recovered; secrets refreshed", extra=fields)
        elif previous is None or previous.version != version:
            log.info("vault secret loaded", extra=fields)
        else:
            log.debug("vault secret unchanged", extra=fields)

    def _failed(self, exc: BaseException) -> None:
        now = self.clock()
        denied = isinstance(exc, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized)
        if denied and self.session.can_login:
            self.session.drop_token()  # expired or revoked: log in again next time
        first = self.state.failing_since is None
        if first:
            self.state.failing_since = now
        self.state.failures += 1
        self.state.last_error = describe_error(exc)
        retry = min(
            self.settings.refresh_seconds,
            MAX_RETRY_SECONDS,
            max(MIN_RETRY_SECONDS, 2 ** min(self.state.failures - 1, 6) * MIN_RETRY_SECONDS),
        )
        self.next_read = now + retry
        fields = {
            "path": self.settings.location,
            "error": self.state.last_error,
            "failures": self.state.failures,
            "serving_last_good": self.state.snapshot is not None,
        }
        if first:
            log.warning(
                "vault unavailable; serving last good secrets"
                if self.state.snapshot
                else "vault unavailable; no secrets loaded yet",
                extra=fields,
            )
        else:
            log.debug("vault still unavailable", extra=fields)

    def _next_delay(self) -> float:
        due = [self.next_read]
        if self.session.logged_in and self.session.renew_at is not None:
            due.append(self.session.renew_at)
        return max(0.05, min(due) - self.clock())

    # -- API used by the app ----------------------------------------------------------------------
    def current(self) -> SecretSnapshot | None:
        return self.state.snapshot

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        now = self.clock()
        st = self.state
        detail: dict[str, Any] = {"source": "vault", "path": self.settings.location}
        if st.snapshot is not None:
            detail["version"] = st.snapshot.version
            detail["age_seconds"] = round(now - st.snapshot.loaded_at, 3)
        if st.failing_since is not None:
            detail["failing_for_seconds"] = round(now - st.failing_since, 3)
            detail["error"] = st.last_error
        if st.snapshot is None:
            detail["reason"] = "secrets not loaded from vault yet"
            return False, detail
        if st.failing_since is not None and now - st.failing_since > self.settings.ready_grace_seconds:
            detail["reason"] = (
                f"vault failing for more than {self.settings.ready_grace_seconds:g}s "
                "(VAULT_READY_GRACE_SECONDS); serving last good secrets"
            )
            return False, detail
        return True, detail

    def start(self) -> None:
        log.info(
            "reading secrets from vault",
            extra={
                "vault_addr": self.settings.addr,
                "auth_method": self.settings.auth_method,
                "path": self.settings.location,
                "refresh_seconds": self.settings.refresh_seconds,
                "ready_grace_seconds": self.settings.ready_grace_seconds,
            },
        )
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vault-refresh", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.tick()
            except Exception:  # never let the refresher die silently
                log.exception("vault refresher step failed")
                delay = MAX_RETRY_SECONDS
            self._stop.wait(delay)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout_seconds + 1)


def secret_store_for(settings: Settings) -> SecretStore:
    if settings.vault is not None:
        return VaultSecretStore(settings.vault)
    return EnvSecretStore(settings.env_secrets)

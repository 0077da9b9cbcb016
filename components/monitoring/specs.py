"""Plain-data contracts other components use to add to Monitoring without editing its files.

- ``ScrapeTarget``: one Prometheus scrape job for a platform component (Vault, Loki, Alloy, OpenCost,
  Argo Rollouts...), discovered with Kubernetes service discovery in one namespace.
- ``ProbeTarget``: one endpoint the blackbox exporter probes (every service, Vault's health).
- ``DataSourceSpec``: one Grafana data source (e.g. Loki from the Logging component).
- ``DashboardSpec``: one Grafana dashboard JSON model with a fixed uid.
- Rule groups are plain dicts in Prometheus' rule-file format (``{"name": ..., "rules": [...]}``);
  ``rules.validate_rule_group`` checks them.

Every constructor validates its input and raises ``ValueError`` naming the field, the bad value and
what is accepted, so a mistake stops the program before any resource is registered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_JOB = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$")  # IANA_SVC_NAME, at most 15 chars
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_DURATION = re.compile(r"^\d+(ms|s|m|h)$")
_UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


def _fail(kind: str, name: str, fld: str, value: Any, accepted: str) -> ValueError:
    return ValueError(f"{kind} {name!r}: field {fld!r} = {value!r} is invalid; accepted: {accepted}")


@dataclass(frozen=True)
class ScrapeTarget:
    """A scrape job for one platform component.

    ``role="pod"`` keeps pods of ``namespace`` whose labels match ``selector`` and scrapes the container
    port ``port`` (a number or a port name). ``role="service"`` keeps the endpoints (EndpointSlices) of
    Services whose labels match ``selector`` and scrapes the Service port named ``port``. ``path`` may carry a query
    string (``/v1/sys/metrics?format=prometheus``): it becomes the job's ``params``.
    """

    name: str
    namespace: str
    selector: Mapping[str, str]
    port: int | str
    path: str = "/metrics"
    scheme: str = "http"
    role: str = "pod"
    honor_labels: bool = False
    interval: str | None = None
    timeout: str | None = None
    bearer_token_file: str | None = None
    ca_file: str | None = None
    tls_server_name: str | None = None

    def __post_init__(self) -> None:
        n = self.name if isinstance(self.name, str) else repr(self.name)
        if not isinstance(self.name, str) or not _JOB.match(self.name):
            raise _fail("ScrapeTarget", n, "name", self.name, "lowercase letters, digits, '-' and '_' (job name)")
        if not isinstance(self.namespace, str) or not _DNS_LABEL.match(self.namespace):
            raise _fail("ScrapeTarget", n, "namespace", self.namespace, "a DNS-1123 label")
        self._check_selector(n)
        self._check_role_and_port(n)
        if not isinstance(self.path, str) or not self.path.startswith("/") or any(c.isspace() for c in self.path):
            raise _fail("ScrapeTarget", n, "path", self.path, "an absolute URL path such as /metrics")
        if self.scheme not in ("http", "https"):
            raise _fail("ScrapeTarget", n, "scheme", self.scheme, "'http' or 'https'")
        for fld in ("interval", "timeout"):
            value = getattr(self, fld)
            if value is not None and (not isinstance(value, str) or not _DURATION.match(value)):
                raise _fail("ScrapeTarget", n, fld, value, "a duration such as 30s or 1m, or None")
        for fld in ("bearer_token_file", "ca_file"):
            value = getattr(self, fld)
            if value is not None and (not isinstance(value, str) or not value.startswith("/")):
                raise _fail("ScrapeTarget", n, fld, value, "an absolute file path, or None")

    def _check_selector(self, n: str) -> None:
        if not isinstance(self.selector, Mapping) or not self.selector:
            raise _fail("ScrapeTarget", n, "selector", self.selector, "a non-empty mapping of label key to value")
        for key, value in self.selector.items():
            if not isinstance(key, str) or not _LABEL_KEY.match(key):
                raise _fail("ScrapeTarget", n, f"selector[{key!r}]", key, "a Kubernetes label key")
            if not isinstance(value, str) or not _LABEL_VALUE.match(value):
                raise _fail("ScrapeTarget", n, f"selector[{key!r}]", value, "a Kubernetes label value")

    def _check_role_and_port(self, n: str) -> None:
        if self.role not in ("pod", "service"):
            raise _fail("ScrapeTarget", n, "role", self.role, "'pod' or 'service'")
        if isinstance(self.port, bool) or not (
            (isinstance(self.port, int) and 1 <= self.port <= 65535)
            or (isinstance(self.port, str) and _PORT_NAME.match(self.port) and not self.port.isdigit())
        ):
            raise _fail("ScrapeTarget", n, "port", self.port, "a port number 1..65535 or a port name")
        if self.role == "service" and not isinstance(self.port, str):
            raise _fail("ScrapeTarget", n, "port", self.port, "a Service port name when role is 'service'")

    @property
    def metrics_path(self) -> str:
        return self.path.split("?", 1)[0]

    @property
    def params(self) -> dict[str, list[str]]:
        """The query string of ``path`` as Prometheus ``params`` (``{"format": ["prometheus"]}``)."""
        if "?" not in self.path:
            return {}
        out: dict[str, list[str]] = {}
        for part in self.path.split("?", 1)[1].split("&"):
            if not part:
                continue
            key, _, value = part.partition("=")
            out.setdefault(key, []).append(value)
        return out


@dataclass(frozen=True)
class ProbeTarget:
    """An endpoint the blackbox exporter probes from outside the pods (``probe_success``, ``probe_ssl_*``).

    The probe series carry ``namespace`` and ``service`` (the probed service's, not the exporter's), so an
    outage where every pod is down (no 5xx counted at all) still shows, per service.
    """

    service: str
    namespace: str
    url: str
    module: str = "http_2xx"

    def __post_init__(self) -> None:
        n = self.service if isinstance(self.service, str) else repr(self.service)
        if not isinstance(self.service, str) or not _DNS_LABEL.match(self.service):
            raise _fail("ProbeTarget", n, "service", self.service, "a DNS-1123 label")
        if not isinstance(self.namespace, str) or not _DNS_LABEL.match(self.namespace):
            raise _fail("ProbeTarget", n, "namespace", self.namespace, "a DNS-1123 label")
        if not isinstance(self.url, str) or not _URL.match(self.url):
            raise _fail("ProbeTarget", n, "url", self.url, "an http(s) URL")
        if self.module not in PROBE_MODULES:
            raise _fail("ProbeTarget", n, "module", self.module, ", ".join(PROBE_MODULES))


# The blackbox exporter modules Monitoring configures (components/monitoring/blackbox.py).
PROBE_MODULES = ("http_2xx", "http_vault_health")


@dataclass(frozen=True)
class DataSourceSpec:
    """A Grafana data source provisioned next to Prometheus and Alertmanager."""

    name: str
    type: str
    uid: str
    url: str
    access: str = "proxy"
    is_default: bool = False
    json_data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.name if isinstance(self.name, str) else repr(self.name)
        if not isinstance(self.name, str) or not self.name.strip():
            raise _fail("DataSourceSpec", n, "name", self.name, "a non-empty string")
        if not isinstance(self.type, str) or not re.match(r"^[a-z0-9-]+$", self.type):
            raise _fail("DataSourceSpec", n, "type", self.type, "a Grafana data source plugin id such as 'loki'")
        if not isinstance(self.uid, str) or not _UID.match(self.uid):
            raise _fail("DataSourceSpec", n, "uid", self.uid, "1-40 letters, digits, '-' or '_'")
        if not isinstance(self.url, str) or not _URL.match(self.url):
            raise _fail("DataSourceSpec", n, "url", self.url, "an http(s) URL")
        if self.access not in ("proxy", "direct"):
            raise _fail("DataSourceSpec", n, "access", self.access, "'proxy' or 'direct'")
        if not isinstance(self.json_data, Mapping):
            raise _fail("DataSourceSpec", n, "json_data", self.json_data, "a mapping")

    def provisioning(self) -> dict[str, Any]:
        """The entry of a Grafana ``datasources`` provisioning file."""
        entry: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "uid": self.uid,
            "url": self.url,
            "access": self.access,
            "isDefault": self.is_default,
            "editable": False,
        }
        if self.json_data:
            entry["jsonData"] = dict(self.json_data)
        return entry


@dataclass(frozen=True)
class DashboardSpec:
    """A Grafana dashboard: fixed ``uid``, ``title`` and the dashboard JSON model (a dict)."""

    uid: str
    title: str
    json: Mapping[str, Any]
    folder: str = "Hardening"

    def __post_init__(self) -> None:
        u = self.uid if isinstance(self.uid, str) else repr(self.uid)
        if not isinstance(self.uid, str) or not _UID.match(self.uid):
            raise _fail("DashboardSpec", u, "uid", self.uid, "1-40 letters, digits, '-' or '_'")
        if not isinstance(self.title, str) or not self.title.strip():
            raise _fail("DashboardSpec", u, "title", self.title, "a non-empty string")
        if not isinstance(self.json, Mapping) or not isinstance(self.json.get("panels"), list):
            raise _fail(
                "DashboardSpec",
                u,
                "json",
                type(self.json).__name__,
                "a dashboard JSON model (a mapping with a 'panels' list)",
            )
        if self.json.get("uid") != self.uid:
            raise _fail("DashboardSpec", u, "json['uid']", self.json.get("uid"), f"the spec's uid {self.uid!r}")
        if self.json.get("title") != self.title:
            raise _fail("DashboardSpec", u, "json['title']", self.json.get("title"), f"the spec's title {self.title!r}")
        if not isinstance(self.folder, str) or not re.match(r"^[A-Za-z0-9 _-]{1,60}$", self.folder):
            raise _fail("DashboardSpec", u, "folder", self.folder, "1-60 letters, digits, spaces, '-' or '_'")

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"

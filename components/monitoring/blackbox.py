"""The blackbox exporter's configuration: the probe modules ``ProbeTarget.module`` may name.

- ``http_2xx``: GET, any 2xx is success (a service's readiness path through its Service).
- ``http_vault_health``: GET ``/v1/sys/health``; Vault answers 200 (active), 429 (standby) and 473
  (performance standby) when it can serve, 503 when sealed, 501 when not initialised: only the first three
  succeed, so a sealed Vault fails its probe even when it exports no metrics at all. TLS is verified against
  the Vault CA mounted from the ``vault-ca`` ConfigMap when the stack enables Vault TLS.

Probes follow no redirects to other hosts, prefer IPv4 and time out before Prometheus' scrape timeout.
"""

from __future__ import annotations

from typing import Any

from components.monitoring.specs import PROBE_MODULES

VAULT_HEALTH_PATH = "/v1/sys/health"
VAULT_HEALTHY_CODES = (200, 429, 473)


def blackbox_config(*, vault_ca_file: str | None = None, timeout: str = "5s") -> dict[str, Any]:
    """The exporter's ``blackbox.yml`` as a dict (every module of ``PROBE_MODULES``)."""
    vault_http: dict[str, Any] = {
        "method": "GET",
        "valid_status_codes": list(VAULT_HEALTHY_CODES),
        "preferred_ip_protocol": "ip4",
        "follow_redirects": False,
    }
    if vault_ca_file:
        vault_http["tls_config"] = {"ca_file": vault_ca_file}
    modules = {
        "http_2xx": {
            "prober": "http",
            "timeout": timeout,
            "http": {"method": "GET", "preferred_ip_protocol": "ip4", "follow_redirects": False},
        },
        "http_vault_health": {"prober": "http", "timeout": timeout, "http": vault_http},
    }
    assert tuple(modules) == PROBE_MODULES
    return {"modules": modules}

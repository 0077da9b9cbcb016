"""Grafana provisioning: data sources, the dashboard provider, the dashboards and ``grafana.ini``.

Nothing here holds a secret: the admin password is read by Grafana from a file mounted from a
Kubernetes Secret (``$__file{...}`` in ``grafana.ini``), anonymous access and sign-up are off.
"""

from __future__ import annotations

import configparser
import io
import json
from collections.abc import Sequence
from typing import Any

from components.monitoring import names
from components.monitoring.specs import DashboardSpec, DataSourceSpec


def builtin_datasources(prometheus_url: str, alertmanager_url: str) -> list[DataSourceSpec]:
    return [
        DataSourceSpec(
            name="Prometheus",
            type="prometheus",
            uid=names.PROMETHEUS_DATASOURCE_UID,
            url=prometheus_url,
            is_default=True,
            json_data={"httpMethod": "POST", "timeInterval": "30s"},
        ),
        DataSourceSpec(
            name="Alertmanager",
            type="alertmanager",
            uid=names.ALERTMANAGER_DATASOURCE_UID,
            url=alertmanager_url,
            json_data={"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
        ),
    ]


def datasources_file(
    prometheus_url: str, alertmanager_url: str, extra: Sequence[DataSourceSpec] = (), *, scrape_interval: str = "30s"
) -> dict[str, Any]:
    """``provisioning/datasources/datasources.yaml``: Prometheus (default), Alertmanager and ``extra``."""
    sources = builtin_datasources(prometheus_url, alertmanager_url)
    for i, spec in enumerate(extra):
        if not isinstance(spec, DataSourceSpec):
            raise ValueError(f"extra data source [{i}] = {spec!r} is invalid; accepted: a DataSourceSpec")
        sources.append(spec)
    seen_uid: set[str] = set()
    seen_name: set[str] = set()
    for spec in sources:
        if spec.uid in seen_uid or spec.name in seen_name:
            raise ValueError(
                f"data source {spec.name!r} (uid {spec.uid!r}) duplicates another one; accepted: unique names and uids"
            )
        seen_uid.add(spec.uid)
        seen_name.add(spec.name)
    if sum(1 for s in sources if s.is_default) != 1:
        raise ValueError("exactly one data source may be the default (Prometheus); an extra one sets is_default")
    entries = [s.provisioning() for s in sources]
    entries[0]["jsonData"]["timeInterval"] = scrape_interval
    return {"apiVersion": 1, "prune": True, "datasources": entries}


def dashboard_provider_file(dashboards_dir: str = names.GRAFANA_DASHBOARDS_DIR) -> dict[str, Any]:
    """``provisioning/dashboards/provider.yaml``: dashboards from files, one folder per sub-directory."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "hardening",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": dashboards_dir, "foldersFromFilesStructure": True},
            }
        ],
    }


def dashboard_files(dashboards: Sequence[DashboardSpec]) -> dict[str, str]:
    """``{"<folder>/<uid>.json": json text}`` for the dashboards directory; uids must be unique."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for i, spec in enumerate(dashboards):
        if not isinstance(spec, DashboardSpec):
            raise ValueError(f"dashboards[{i}] = {spec!r} is invalid; accepted: a DashboardSpec")
        if spec.uid in seen:
            raise ValueError(
                f"dashboard uid {spec.uid!r} is used by {seen[spec.uid]!r} and {spec.title!r}; accepted: unique uids"
            )
        seen[spec.uid] = spec.title
        out[f"{spec.folder}/{spec.file_name}"] = json.dumps(spec.json, indent=1, sort_keys=True)
    return out


def grafana_ini(
    *,
    root_url: str = "%(protocol)s://%(domain)s:%(http_port)s/",
    admin_user: str = "admin",
    admin_password_file: str = f"{names.GRAFANA_SECRETS_DIR}/{names.GRAFANA_ADMIN_PASSWORD_FILE}",
    provisioning_dir: str = names.GRAFANA_PROVISIONING_DIR,
    home_dashboard_uid: str = names.DASHBOARD_UID_APPLICATION,
) -> str:
    """``grafana.ini``: no anonymous access, no sign-up, admin password from a file, no phoning home."""
    if not admin_password_file.startswith("/"):
        raise ValueError(f"admin_password_file = {admin_password_file!r} is invalid; accepted: an absolute path")
    ini = configparser.ConfigParser(interpolation=None)
    ini.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
    ini["server"] = {"http_port": str(names.GRAFANA_PORT), "root_url": root_url, "enforce_domain": "false"}
    ini["paths"] = {"provisioning": provisioning_dir, "data": "/var/lib/grafana"}
    ini["security"] = {
        "admin_user": admin_user,
        "admin_password": f"$__file{{{admin_password_file}}}",
        "disable_gravatar": "true",
        "cookie_samesite": "strict",
        "content_security_policy": "true",
        "disable_initial_admin_creation": "false",
    }
    ini["auth.anonymous"] = {"enabled": "false"}
    ini["auth.basic"] = {"enabled": "true"}
    ini["users"] = {"allow_sign_up": "false", "allow_org_create": "false"}
    ini["analytics"] = {"reporting_enabled": "false", "check_for_updates": "false", "check_for_plugin_updates": "false"}
    ini["dashboards"] = {
        "default_home_dashboard_path": f"{names.GRAFANA_DASHBOARDS_DIR}/Hardening/{home_dashboard_uid}.json"
    }
    ini["log"] = {"mode": "console", "level": "info"}
    ini["unified_alerting"] = {"enabled": "true"}
    buf = io.StringIO()
    ini.write(buf)
    return buf.getvalue()

"""Vault dashboard: seal status, active (leader) node, request rate and latency, tokens and leases."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db

from components.monitoring import names
from components.monitoring.dashboards.common import graph, new_dashboard, single_stat, to_dict

UID = names.DASHBOARD_UID_VAULT
TITLE = "Vault"


def vault_dashboard(*, vault_job: str = "vault") -> dict[str, Any]:
    job = f'job="{vault_job}"'
    d = (
        new_dashboard(UID, TITLE, "Vault servers: sealed or not, which one leads, and their load.")
        .with_row(db.Row("Status").id(1))
        .with_panel(
            single_stat(
                2,
                "Sealed servers",
                f"count(vault_core_unsealed{{{job}}} == 0) or vector(0)",
                "short",
                [(None, "green"), (1, "red")],
                span=8,
                description="Any value above 0: run the unseal procedure (SECURITY_GUIDE.md).",
            )
        )
        .with_panel(
            single_stat(
                3,
                "Unsealed servers",
                f"count(vault_core_unsealed{{{job}}} == 1) or vector(0)",
                "short",
                [(None, "red"), (1, "green")],
                span=8,
            )
        )
        .with_panel(
            single_stat(
                4,
                "Active (leader) servers",
                f"sum(vault_core_active{{{job}}}) or vector(0)",
                "short",
                [(None, "red"), (1, "green"), (2, "red")],
                span=8,
                description="Exactly one server must be active.",
            )
        )
        .with_panel(
            graph(
                5,
                "Unsealed (1) / sealed (0) per server",
                [(f"max by (pod) (vault_core_unsealed{{{job}}})", "{{pod}}")],
                "short",
            )
        )
        .with_panel(graph(6, "Leader per server", [(f"max by (pod) (vault_core_active{{{job}}})", "{{pod}}")], "short"))
        .with_row(db.Row("Load").id(7))
        .with_panel(
            graph(
                8,
                "Request rate",
                [(f"sum by (pod) (rate(vault_core_handle_request_count{{{job}}}[$__rate_interval]))", "{{pod}}")],
                "reqps",
            )
        )
        .with_panel(
            graph(
                9,
                "Request latency (P99)",
                [(f'max by (pod) (vault_core_handle_request{{{job}, quantile="0.99"}}) / 1000', "{{pod}}")],
                "s",
                description="Vault reports summaries in milliseconds.",
            )
        )
        .with_panel(graph(10, "Tokens", [(f"sum(vault_token_count{{{job}}})", "tokens")], "short"))
        .with_panel(graph(11, "Leases", [(f"sum(vault_expire_num_leases{{{job}}})", "leases")], "short"))
    )
    return to_dict(d)

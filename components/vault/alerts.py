"""Vault's alert group, handed to Monitoring with its scrape job (``components.vault.component.monitoring_addons``).

The runbook of each alert is a ``### <AlertName>`` heading of docs/MONITORING_GUIDE.md.
"""

from __future__ import annotations

from typing import Any

from components.monitoring.alert import alert_rule

RULE_GROUP = "vault"
JOB = "vault"


def rule_group(runbook_base_url: str, *, job: str = JOB, sealed_for: str = "1m") -> dict[str, Any]:
    # A restarted server that is still sealed may export no vault_core_unsealed at all (hashicorp/vault#10015,
    # #24741): a scraped Vault pod (up of either value) without that series counts as sealed too.
    return {
        "name": RULE_GROUP,
        "rules": [
            alert_rule(
                "VaultSealed",
                f'max by (namespace, pod) (vault_core_unsealed{{job="{job}"}}) == 0\n'
                "or\n"
                f'(max by (namespace, pod) (up{{job="{job}"}})\n'
                f' unless on (namespace, pod) vault_core_unsealed{{job="{job}"}})',
                severity="critical",
                for_=sealed_for,
                summary="Vault {{ $labels.pod }} is sealed",
                description="Vault server {{ $labels.namespace }}/{{ $labels.pod }} is sealed (or exports no seal "
                "status): it cannot serve secrets until it is unsealed.",
                runbook_base_url=runbook_base_url,
            ),
        ],
    }

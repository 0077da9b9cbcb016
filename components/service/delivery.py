"""From a ServiceSpec to what the delivery builders and the stack outputs take (pure)."""

from __future__ import annotations

from typing import Any

from components.canary import specs
from components.service.spec import ServiceSpec


def delivery_input(spec: ServiceSpec, scrape_interval: str = "15s") -> specs.DeliveryInput:
    """The service's delivery input: Services named after it, NGINX routing when the stack gives it a host, the
    analysis held to the service's own thresholds (the same numbers its threshold alerts use) on its own SLI
    series, its windows fitted to the stack's scrape interval."""
    return specs.service_delivery_input(
        spec.name,
        spec.namespace,
        spec.delivery,
        spec.thresholds,
        spec.sli,
        scrape_interval=scrape_interval,
        ingress_host=spec.host,
    )


def service_output(spec: ServiceSpec, inp: specs.DeliveryInput, *, ci: Any = None, **extra: Any) -> dict[str, Any]:
    """The service's entry in the ``services`` stack output (docs/OUTPUTS.md)."""
    port = spec.http_port.port
    internal = f"http://{inp.stable}.{spec.namespace}.svc" + ("" if port == 80 else f":{port}")
    out: dict[str, Any] = {
        "team": spec.team,
        "namespace": spec.namespace,
        "image": spec.image,
        "url": internal,
        "publicUrl": f"https://{spec.host}" if spec.host else "",
        "rolloutName": spec.name,
        "strategy": inp.strategy,
        "stableServiceName": inp.stable,
        "canaryServiceName": inp.preview_service if inp.strategy == "blueGreen" else inp.canary,
        "analysisTemplate": inp.template,
        "vaultRole": spec.name,
        "vaultSecretPaths": [f"apps/{spec.name}/{r.name}" for r in spec.secrets],
        "repository": spec.repository.full_name,
    }
    if ci is not None:
        out["ciRequiredChecks"] = list(ci.required_checks)
    out.update(extra)
    return out

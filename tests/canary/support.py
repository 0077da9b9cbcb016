"""A stack's settings and services for the canary tests, read like the program reads them (Pulumi.yaml defaults +
Pulumi.<stack>.yaml + services/<name>/), without running Pulumi."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from components.canary import specs
from components.config import NAMESPACE, Settings, _decode, load_settings
from components.service.delivery import delivery_input
from components.service.load import load_services
from components.service.spec import ServiceSpec
from tools.mockrun import load_stack_config


def stack_settings(stack: str, overrides: Mapping[str, Any] | None = None) -> Settings:
    project, config, secret_keys = load_stack_config(stack)
    prefix = NAMESPACE + ":"
    raw: dict[str, Any] = {
        k[len(prefix) :]: _decode(v) for k, v in config.items() if k.startswith(prefix) and k not in secret_keys
    }
    raw.update(overrides or {})
    return load_settings(raw, project=project, stack=stack)


def stack_service(stack: str, name: str = "orders-api", **delivery: Any) -> ServiceSpec:
    """The service as ``stack`` runs it; ``delivery`` replaces fields of its Delivery (strategy, weights...)."""
    settings = stack_settings(stack)
    (spec,) = [s for s in load_services(settings.services) if s.name == name]
    host = delivery.pop("host", None)
    if host is not None:
        spec = dataclasses.replace(spec, host=host)
    thresholds = {k: delivery.pop(k) for k in ("error_ratio", "latency_p95_seconds") if k in delivery}
    if thresholds:
        spec = dataclasses.replace(spec, thresholds=dataclasses.replace(spec.thresholds, **thresholds))
    return dataclasses.replace(spec, delivery=dataclasses.replace(spec.delivery, **delivery)) if delivery else spec


def stack_delivery(stack: str, name: str = "orders-api", **delivery: Any) -> specs.DeliveryInput:
    return delivery_input(stack_service(stack, name, **delivery), stack_settings(stack).monitoring.scrape_interval)

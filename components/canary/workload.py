"""The Argo Rollouts controller's NetworkPolicy (each service's workload is in components/service/workload.py)."""

from __future__ import annotations

from typing import Any

from components import conventions as cv
from components import k8s as kb
from components.canary import specs
from components.monitoring import names as mon

Obj = dict[str, Any]


def controller_network_policy_spec() -> Obj:
    """Controller: out to the Kubernetes API and to Prometheus (analysis queries). Scrapes come in
    through the namespace's allow-prometheus policy."""
    prometheus = [kb.peer_namespace(cv.NS_MONITORING, {cv.LABEL_NAME: mon.PROMETHEUS})]
    return kb.network_policy_spec(
        kb.selector(specs.CONTROLLER), egress=[(None, [443, 6443]), (prometheus, [mon.PROMETHEUS_PORT])]
    )

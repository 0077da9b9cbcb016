"""The offline report equals the engine's: the real ``PolicyPack`` as ``pulumi preview`` runs it (a
subprocess serving gRPC on 127.0.0.1) against ``tools.policy_report.InProcessPack``, on the real prod
stack plus resources that break resource and stack rules, secrets and preview unknowns included."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from policies.pack_config import stack_config
from tests.policies import engine as e
from tests.policies.grpc_engine import engine_report
from tools import policy_report as pr
from tools.mockrun import Run

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@pytest.mark.server
def test_in_process_report_equals_the_engines(stack_run: Callable[[str], Run]) -> None:
    recs = [copy.deepcopy(r.to_record()) for r in stack_run("prod").resources]
    bad_container = e.container(
        image="docker.io/library/nginx:latest",
        env=[{"name": "DB_PASSWORD", "value": e.secret("hunter2hunter2")}, {"name": "HOST", "value": UNKNOWN}],
        livenessProbe=None,
        ports=[{"containerPort": 80, "hostPort": 80}],
    )
    recs += [
        e.wrecord(
            "Deployment", e.workload(name="bad", namespace="web", spec=e.pod_spec([bad_container])), stack="prod"
        ),
        e.wrecord("StatefulSet", e.workload("StatefulSet", name="db", namespace="web", replicas=1), stack="prod"),
        e.record("kubernetes:core/v1:Namespace", e.namespace("scratch", labels={}), stack="prod"),
    ]
    config = stack_config("prod")
    engine = engine_report("prod", recs, config)
    in_process = pr.InProcessPack("prod").finish(recs)
    assert in_process.to_dict() == engine.to_dict()
    fired = {v.policy for v in in_process.violations if v.level == "mandatory"}
    assert {"images-no-latest-tag", "workload-probes", "workload-host-access", "secrets-no-literal-values"} <= fired
    assert {"workload-pod-disruption-budget", "cost-namespace-labels"} <= fired
    assert "hunter2" not in in_process.to_json()

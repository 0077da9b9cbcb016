"""The first `pulumi up` on an empty cluster must not wait for objects that only become ready after an
operator step (Vault init/unseal, then the app's secrets): pulumi-kubernetes would time out and fail."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tools.mockrun import Run

SKIP = "pulumi.com/skipAwait"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_objects_gated_on_vault_are_not_awaited(stack_run: Callable[[str], Run], stack: str) -> None:
    run = stack_run(stack)
    gated = [
        run.get("kubernetes:apps/v1:StatefulSet", "vault"),
        run.get("kubernetes:core/v1:Service", "vault"),
        run.get("kubernetes:core/v1:Service", "vault-internal"),
    ]
    gated += [r for r in run.by_type("kubernetes:core/v1:Service") if r.inputs["metadata"]["namespace"] == "web"]
    assert len(gated) >= 5
    for res in gated:
        assert res.inputs["metadata"].get("annotations", {}).get(SKIP) == "true", res.name
    # everything else is awaited, so a broken Prometheus or Loki still fails `pulumi up`
    prom = run.get("kubernetes:apps/v1:StatefulSet", "prometheus")
    assert SKIP not in (prom.inputs["metadata"].get("annotations") or {})

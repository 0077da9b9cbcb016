"""examples/consumer/ (another team's program) under Pulumi mocks, reading the real stacks' outputs.

The ``pulumi:pulumi:StackReference`` it reads is answered with the outputs of the platform program run
for that stack (``stack_run(stack).outputs``), the way the engine answers a StackReference read: a
state with ``outputs`` and ``secretOutputNames``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib.util
import re
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tools.mockrun import ROOT

CONSUMER = ROOT / "examples" / "consumer"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


@dataclass
class ConsumerRun:
    registered: list[tuple[str, str, dict[str, Any]]]  # (type, name, inputs) in registration order
    outputs: dict[str, Any]
    secret: set[str]  # names of the outputs that are secret

    def one(self, type_: str) -> tuple[str, dict[str, Any]]:
        found = [(name, inputs) for t, name, inputs in self.registered if t == type_]
        assert len(found) == 1, f"{len(found)} resources of type {type_}: {self.registered}"
        return found[0]


def run_consumer(
    platform_outputs: Mapping[str, Any],
    config: Mapping[str, str],
    *,
    secret_output_names: tuple[str, ...] = (),
    registered: list[tuple[str, str, dict[str, Any]]] | None = None,
) -> ConsumerRun:
    """Run examples/consumer/__main__.py under mocks; its StackReference reads ``platform_outputs``.
    ``registered`` (optional) collects what was registered, also when the program fails."""
    seen = registered if registered is not None else []
    return contextvars.Context().run(_run, dict(platform_outputs), dict(config), list(secret_output_names), seen)


def _run(
    platform_outputs: dict[str, Any],
    config: dict[str, str],
    secret_names: list[str],
    registered: list[tuple[str, str, dict[str, Any]]],
) -> ConsumerRun:
    import pulumi
    from pulumi.runtime import settings as ps

    project = yaml.safe_load((CONSUMER / "Pulumi.yaml").read_text())["name"]

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            registered.append((args.typ, args.name, dict(args.inputs)))
            if args.typ == STACK_REFERENCE:
                # A read of an existing stack: the engine answers with that stack's outputs.
                return args.resource_id or args.name, {
                    "name": args.inputs.get("name"),
                    "outputs": platform_outputs,
                    "secretOutputNames": secret_names,
                }
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
            return {}

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ps.reset_options(project=project, stack="team-a", root_directory=str(CONSUMER), preview=False)
    pulumi.runtime.set_all_config({f"{project}:{k}": v for k, v in config.items()}, [])
    pulumi.runtime.set_mocks(Mocks(), project=project, stack="team-a", preview=False)
    sys.path.insert(0, str(CONSUMER))  # the program imports its sibling module, as under the Pulumi CLI
    try:
        runpy.run_path(str(CONSUMER / "__main__.py"), run_name="__main__")
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
        outputs, secret = loop.run_until_complete(_outputs())
    finally:
        sys.path.remove(str(CONSUMER))
        sys.modules.pop("platform_contract", None)
        _drain(loop)
        asyncio.set_event_loop(None)
        loop.close()
    return ConsumerRun(registered, outputs, secret)


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """After a failed run, cancel what the runtime left pending and collect what failed, quietly."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    with contextlib.suppress(BaseException):
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    for task in asyncio.all_tasks(loop) | set(pending):
        if task.done() and not task.cancelled():
            task.exception()


async def _outputs() -> tuple[dict[str, Any], set[str]]:
    import pulumi
    from pulumi.runtime import settings as ps

    root = ps.get_root_resource()
    result: dict[str, Any] = {}
    secret: set[str] = set()
    for name, value in (getattr(root, "outputs", None) or {}).items():
        if isinstance(value, pulumi.Output):
            result[name] = await value.future()
            if await value.is_secret():
                secret.add(name)
        else:
            result[name] = value
    return result, secret


def _expected_env(platform: Mapping[str, Any], service: str) -> dict[str, str]:
    entry = platform["services"][service]
    return {
        "SERVICE_NAME": service,
        "SERVICE_URL": entry["url"],
        "VAULT_ADDR": platform["vaultAddress"],
        "VAULT_AUTH_METHOD": "kubernetes",
        "VAULT_AUTH_MOUNT": platform["vaultAuth"]["kubernetes_auth_path"],
        "VAULT_ROLE": entry["vaultRole"],
        "VAULT_KV_MOUNT": platform["vaultAuth"]["kv_mount"],
        "LOKI_PUSH_URL": platform["lokiPushUrl"],
        "PROMETHEUS_URL": platform["prometheusUrl"],
        "GRAFANA_URL": platform["grafanaUrl"],
    }


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_consumer_reads_the_real_stack_outputs(stack_run: Any, stack: str) -> None:
    """Default service orders-api: its namespace, Vault role and URL come from its ``services`` entry."""
    platform = stack_run(stack).outputs
    run = run_consumer(platform, {"platformStack": f"example-org/hardening/{stack}"})

    ref_name, ref_inputs = run.one(STACK_REFERENCE)
    assert ref_name == "platform"
    assert ref_inputs["name"] == f"example-org/hardening/{stack}"

    entry = platform["services"]["orders-api"]
    assert run.outputs["service"] == "orders-api"
    assert run.outputs["serviceUrl"] == entry["url"] == "http://orders-api.web.svc"
    assert run.outputs["grafanaUrl"] == platform["grafanaUrl"]
    assert run.outputs["lokiPushUrl"] == platform["lokiPushUrl"]
    assert run.outputs["vaultAddress"] == platform["vaultAddress"]
    assert run.outputs["vaultRole"] == entry["vaultRole"] == "orders-api"
    assert run.outputs["vaultRole"] in platform["vaultAuth"]["kubernetes_roles"]
    assert run.outputs["vaultAuthMount"] == platform["vaultAuth"]["kubernetes_auth_path"]
    assert run.outputs["endpointsConfigMap"] == f"{entry['namespace']}/platform-endpoints" == "web/platform-endpoints"

    _, cm = run.one(CONFIG_MAP)
    assert cm["metadata"]["namespace"] == entry["namespace"]
    assert cm["data"] == _expected_env(platform, "orders-api")
    # In-cluster addresses, as a pod of another namespace reaches them.
    assert re.fullmatch(r"https?://vault\.vault\.svc:8200", cm["data"]["VAULT_ADDR"])
    assert cm["data"]["LOKI_PUSH_URL"].endswith("/loki/api/v1/push")


def test_consumer_reads_another_teams_service(stack_run: Any) -> None:
    """config service picks the entry: go-deployment-demo (prod only) lands in its own team's namespace."""
    platform = stack_run("prod").outputs
    config = {"platformStack": "example-org/hardening/prod", "service": "go-deployment-demo"}
    run = run_consumer(platform, config)
    _, cm = run.one(CONFIG_MAP)
    assert cm["metadata"]["namespace"] == "demo"
    assert cm["data"] == _expected_env(platform, "go-deployment-demo")
    assert cm["data"]["VAULT_ROLE"] == "go-deployment-demo"
    assert run.outputs["serviceUrl"] == "http://go-deployment-demo.demo.svc"
    assert run.outputs["endpointsConfigMap"] == "demo/platform-endpoints"


def test_consumer_refuses_a_service_the_stack_does_not_run(stack_run: Any) -> None:
    """dev runs only orders-api: asking for go-deployment-demo fails the program, naming what is exported,
    and no ConfigMap is registered."""
    config = {"platformStack": "example-org/hardening/dev", "service": "go-deployment-demo"}
    registered: list[tuple[str, str, dict[str, Any]]] = []
    with pytest.raises(
        Exception, match=r"config service = 'go-deployment-demo' is not a service of the platform"
    ) as info:
        run_consumer(stack_run("dev").outputs, config, registered=registered)
    assert "its services output has: orders-api" in str(info.value)
    assert [t for t, _, _ in registered] == [STACK_REFERENCE]


def test_consumer_namespace_override(stack_run: Any) -> None:
    config = {"platformStack": "example-org/hardening/prod", "namespace": "team-a"}
    run = run_consumer(stack_run("prod").outputs, config)
    assert run.one(CONFIG_MAP)[1]["metadata"]["namespace"] == "team-a"
    assert run.outputs["endpointsConfigMap"] == "team-a/platform-endpoints"


def test_consumer_keeps_secret_outputs_secret(stack_run: Any) -> None:
    """An output the platform marks secret (StackReference secretOutputNames) stays secret downstream."""
    run = run_consumer(
        stack_run("prod").outputs, {"platformStack": "example-org/hardening/prod"}, secret_output_names=("grafanaUrl",)
    )
    assert run.outputs["grafanaUrl"] == stack_run("prod").outputs["grafanaUrl"]
    assert "grafanaUrl" in run.secret
    assert "lokiPushUrl" not in run.secret and "vaultAddress" not in run.secret


def _contract() -> ModuleType:
    spec = importlib.util.spec_from_file_location("consumer_platform_contract", CONSUMER / "platform_contract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("drop", ["lokiPushUrl", "vaultAuth", "services"])
def test_contract_names_a_missing_output(stack_run: Any, drop: str) -> None:
    contract = _contract()
    outputs = {k: v for k, v in stack_run("prod").outputs.items() if k != drop}
    with pytest.raises(contract.PlatformContractError, match=rf"platform stack outputs missing: {drop};") as info:
        contract.platform_env(outputs, "orders-api")
    assert "docs/OUTPUTS.md" in str(info.value)


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_contract_names_the_exported_services(stack_run: Any, stack: str) -> None:
    contract = _contract()
    outputs = stack_run(stack).outputs
    exported = ", ".join(sorted(outputs["services"]))
    with pytest.raises(
        contract.PlatformContractError,
        match=rf"config service = 'payments' is not a service of the platform stack; its services output has: "
        rf"{exported}$",
    ):
        contract.platform_env(outputs, "payments")


@pytest.mark.parametrize("drop", ["namespace", "url", "vaultRole"])
def test_contract_names_a_missing_service_key(stack_run: Any, drop: str) -> None:
    contract = _contract()
    outputs = dict(stack_run("prod").outputs)
    outputs["services"] = {
        **outputs["services"],
        "orders-api": {k: v for k, v in outputs["services"]["orders-api"].items() if k != drop},
    }
    with pytest.raises(
        contract.PlatformContractError, match=rf"services.orders-api lacks {drop}; expected the keys namespace, url"
    ):
        contract.platform_env(outputs, "orders-api")


def test_contract_names_a_missing_vault_auth_key(stack_run: Any) -> None:
    contract = _contract()
    outputs = dict(stack_run("prod").outputs)
    outputs["vaultAuth"] = {k: v for k, v in outputs["vaultAuth"].items() if k != "kv_mount"}
    with pytest.raises(contract.PlatformContractError, match=r"vaultAuth lacks kv_mount; expected the keys"):
        contract.platform_env(outputs, "orders-api")


def test_contract_names_an_unknown_vault_role(stack_run: Any) -> None:
    """A service entry whose role the platform's Vault lacks (a half-applied platform) is refused."""
    contract = _contract()
    outputs = dict(stack_run("prod").outputs)
    outputs["vaultAuth"] = {**outputs["vaultAuth"], "kubernetes_roles": ["go-deployment-demo"]}
    with pytest.raises(
        contract.PlatformContractError,
        match=r"services.orders-api.vaultRole = 'orders-api' is not a Kubernetes auth role.*has: go-deployment-demo$",
    ):
        contract.platform_env(outputs, "orders-api")


def test_consumer_requirements_match_the_platform_pins() -> None:
    def pins(path: Path) -> dict[str, str]:
        out = {}
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, version = line.partition("==")
                assert version, f"{path}: {line!r} is not pinned with =="
                out[name.lower()] = version
        return out

    consumer, platform = pins(CONSUMER / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert consumer and all(platform.get(name) == version for name, version in consumer.items()), (consumer, platform)

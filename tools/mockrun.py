"""Run the Pulumi program for a stack under Pulumi's own mocks, with that stack's real configuration.

This is what the offline render, the tests and the benchmark share (pulumi/pulumi#4472: "run my
program's unit tests with my stack's config"). ``run_stack`` reads ``Pulumi.yaml`` (declared defaults,
applied like the CLI applies them) and ``Pulumi.<stack>.yaml``, replaces every ``secure:`` value by a
clearly marked placeholder that never leaves the process, runs ``__main__.py`` unchanged with
``runpy`` and returns every registered resource with its urn, type, name, parent and inputs in engine
form (camelCase keys, secrets still wrapped) plus the stack outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components import yamltext

ROOT = Path(__file__).resolve().parent.parent
# How the engine marks a secret value inside a property map (pulumi.runtime.rpc); not credentials.
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105
SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105
# Placeholder for secret config values in offline runs. Tests assert it never reaches a rendered file.
PLACEHOLDER_PREFIX = "OFFLINE-SECRET-PLACEHOLDER-"


class StackFileError(Exception):
    """A stack or project file is missing or malformed."""


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    provider: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
        }


@dataclass
class Run:
    project: str
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)
    _by_urn: dict[str, Resource] = field(default_factory=dict, repr=False, compare=False)

    def by_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, type_: str, name: str) -> Resource:
        """The resource of ``type_`` named ``name`` (Pulumi name, or Kubernetes metadata.name)."""
        matches = [
            r
            for r in self.resources
            if r.type == type_ and (r.name == name or (r.inputs.get("metadata") or {}).get("name") == name)
        ]
        if len(matches) != 1:
            names = sorted(r.name for r in self.by_type(type_))
            raise LookupError(f"{len(matches)} resources of type {type_} named {name!r}; {type_} names: {names}")
        return matches[0]

    def component_of(self, res: Resource) -> Resource | None:
        """The outermost ``hardening:*`` component that (transitively) parents ``res``."""
        if len(self._by_urn) != len(self.resources):  # built once per run (the render asks for every resource)
            self._by_urn = {r.urn: r for r in self.resources}
        by_urn = self._by_urn
        found: Resource | None = None
        cur: Resource | None = res
        while cur is not None:
            if cur.type.startswith("hardening:"):
                found = cur
            cur = by_urn.get(cur.parent) if cur.parent else None
        return found


def _flatten_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _load_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (or empty); StackFileError naming the file otherwise."""
    try:
        doc = yamltext.load_config(path.read_text())  # YAML 1.2 scalars, a key given twice refused: as the CLI
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        raise StackFileError(
            f"{path.name}: not valid YAML{where}: {f'{context}: ' if context else ''}{problem}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StackFileError(f"{path.name}: cannot be read ({exc})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise StackFileError(
            f"{path.name}: the top level is a {type(doc).__name__}; accepted: a mapping "
            "(`config:` with one `<project>:<key>: value` per line)"
        )
    return doc


def load_stack_config(stack: str, root: Path = ROOT) -> tuple[str, dict[str, str], list[str]]:
    """(project, config, secret_keys) as the Pulumi CLI would hand them to the program."""
    project_file = root / "Pulumi.yaml"
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {stack_file.name}; known stacks: {', '.join(known) or 'none'}")
    project_doc = _load_mapping(project_file)
    stack_doc = _load_mapping(stack_file)
    project = str(project_doc.get("name", ""))
    config: dict[str, str] = {}
    for key, decl in (project_doc.get("config") or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(decl, dict):
            if "default" in decl:
                config[full] = _flatten_value(decl["default"])
        else:
            config[full] = _flatten_value(decl)
    secret_keys: list[str] = []
    stack_config = stack_doc.get("config") or {}
    if not isinstance(stack_config, dict):
        raise StackFileError(f"{stack_file.name}: 'config' must be a mapping")
    for key, value in stack_config.items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = PLACEHOLDER_PREFIX + full.split(":", 1)[1]
            secret_keys.append(full)
        else:
            config[full] = _flatten_value(value)
    return project, config, secret_keys


def _capture_monitor(mocks: Any) -> Any:
    from pulumi.runtime import mocks as pm
    from pulumi.runtime import rpc

    class CapturingMonitor(pm.MockMonitor):
        def __init__(self, m: Any) -> None:
            super().__init__(m)
            self.order: list[Resource] = []
            self.thread_loops: set[asyncio.AbstractEventLoop] = set()

        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            # The mock monitor gives each worker thread an event loop; remember them to close them.
            with contextlib.suppress(RuntimeError):
                self.thread_loops.add(asyncio.get_event_loop())
            if request.type != "pulumi:pulumi:Stack":
                inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
                res = Resource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    custom=bool(request.custom),
                    inputs=_plain(inputs),
                    provider=request.provider,
                )
                self.order.append(res)
            return response

    return CapturingMonitor(mocks)


def _plain(value: Any) -> Any:
    """Deep-copy into JSON-compatible data (floats that are integral become ints)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _make_mocks() -> Any:
    import pulumi

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            state = dict(args.inputs)
            if args.typ == "random:index/randomPassword:RandomPassword":
                # A fixed, obviously fake value: the real one is generated by the provider at `pulumi up`.
                state["result"] = "mock-generated-password-" + args.name
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
            # Invokes (data sources) answer empty offline; a plain dict means "no check failures".
            return {}

    return Mocks()


def run_stack(
    stack: str,
    *,
    root: Path = ROOT,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    main: Path | None = None,
) -> Run:
    """Run ``__main__.py`` for ``stack`` under mocks and return what it registered.

    ``overrides`` replaces plain config values (``key`` or ``ns:key``); ``secrets`` adds secret config
    values (tests use them to check secrets stay masked). Raises whatever the program raises
    (``components.config.ConfigError`` for invalid configuration).
    """
    project, config, secret_keys = load_stack_config(stack, root)
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = _flatten_value(value)
    for key, value in (secrets or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        config[full] = value
        secret_keys.append(full)
    ctx = contextvars.Context()
    return ctx.run(_run_in_context, project, stack, config, secret_keys, main or root / "__main__.py", root)


def _run_in_context(
    project: str, stack: str, config: dict[str, str], secret_keys: list[str], main: Path, root: Path
) -> Run:
    import pulumi
    from pulumi.runtime import settings as ps

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ps.reset_options(project=project, stack=stack, root_directory=str(root), preview=False)
    pulumi.runtime.set_all_config(config, secret_keys)
    monitor = _capture_monitor(_make_mocks())
    pulumi.runtime.set_mocks(_make_mocks(), project=project, stack=stack, preview=False, monitor=monitor)
    saved_env = os.environ.pop("PULUMI_CONFIG", None)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from components import upstream

    installed: list[upstream.Installed] = []
    upstream.RECORDER.set(installed)
    try:
        try:
            runpy.run_path(str(main), run_name="__main__")
        except BaseException:
            # Let the RPCs the runtime already queued finish so nothing is left pending, then re-raise.
            with contextlib.suppress(Exception):
                loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
            raise
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
        outputs, secret_outputs = loop.run_until_complete(_collect_outputs())
    finally:
        # Transforms start the SDK's callback server; a real run stops it at the end, so must we.
        with contextlib.suppress(Exception):
            loop.run_until_complete(ps._shutdown_callbacks())  # type: ignore[no-untyped-call]
        if saved_env is not None:
            os.environ["PULUMI_CONFIG"] = saved_env
        asyncio.set_event_loop(None)
        for thread_loop in monitor.thread_loops | {loop}:
            if not thread_loop.is_running() and not thread_loop.is_closed():
                thread_loop.close()
    resources = list(monitor.order)
    resources += expand_upstream(resources, installed, stack=stack, project=project, root=root)
    return Run(project=project, stack=stack, resources=resources, outputs=outputs, secret_outputs=secret_outputs)


def expand_upstream(
    resources: list[Resource], installed: list[Any], *, stack: str, project: str, root: Path
) -> list[Resource]:
    """The children the Kubernetes provider creates for each upstream ConfigFile (``components.upstream``):
    offline nothing expands them, so the mock run adds them as the engine would see them."""
    from components import upstream

    out: list[Resource] = []
    for item in installed:
        parent = next((r for r in resources if r.type in upstream_types() and r.name == item.name), None)
        if parent is None:
            continue
        chain = parent.urn.split("::")[2]  # the parent's qualified type
        for type_, name, props in upstream.expand(item):
            urn = f"urn:pulumi:{stack}::{project}::{chain}${type_}::{name}"
            out.append(Resource(urn, type_, name, parent.urn, True, _plain(props), parent.provider))
    return out


def upstream_types() -> tuple[str, ...]:
    return ("kubernetes:yaml/v2:ConfigFile",)


async def _collect_outputs() -> tuple[dict[str, Any], set[str]]:
    from pulumi.runtime import settings as ps

    root = ps.get_root_resource()
    outputs: dict[str, Any] = {}
    secret: set[str] = set()
    for name, out in (getattr(root, "outputs", None) or {}).items():
        value, is_secret = await _resolve(out)
        outputs[name] = value
        if is_secret:
            secret.add(name)
    return outputs, secret


async def _resolve(value: Any) -> tuple[Any, bool]:
    import pulumi

    if isinstance(value, pulumi.Output):
        inner = await value.future(with_unknowns=True)
        is_secret = await value.is_secret()
        resolved, nested_secret = await _resolve(inner)
        return resolved, is_secret or nested_secret
    if isinstance(value, dict):
        out, any_secret = {}, False
        for k, v in value.items():
            out[k], s = await _resolve(v)
            any_secret |= s
        return out, any_secret
    if isinstance(value, (list, tuple)):
        items = [await _resolve(v) for v in value]
        return [i[0] for i in items], any(i[1] for i in items)
    return _plain(value), False


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_MARK


def mask_secrets(value: Any, mask: str = "[secret]") -> Any:
    """Replace every secret-wrapped value by ``mask``, keeping the shape of maps and lists inside a
    secret (so a Secret's keys stay visible); everything else is returned unchanged."""
    if is_secret_value(value):
        return _mask_leaves(value.get("value"), mask)
    if isinstance(value, dict):
        return {k: mask_secrets(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, mask) for v in value]
    return value


def _mask_leaves(value: Any, mask: str) -> Any:
    if isinstance(value, dict) and not is_secret_value(value):
        return {k: _mask_leaves(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v, mask) for v in value]
    return mask


# --- command line: what the program registers for a stack, without writing anything ---------------------
def _main(argv: list[str] | None) -> int:
    from tools import cli

    parser = cli.Parser(
        prog="python -m tools.mockrun",
        description="Run __main__.py for a stack under Pulumi's mocks with the stack's real configuration and "
        "list what it registers (nothing is written; `python -m tools.render` writes the manifests).",
    )
    cli.add_stack(parser)
    cli.add_json(parser)
    cli.add_quiet(parser)
    args = parser.parse_args(argv)
    run = run_stack(args.stack)
    if args.json:
        doc = {
            "project": run.project,
            "stack": run.stack,
            "resources": [mask_secrets(r.to_record()) for r in run.resources],
            "outputs": {
                k: ("[secret]" if k in run.secret_outputs else mask_secrets(v)) for k, v in run.outputs.items()
            },
        }
        print(json.dumps(doc, indent=1, default=str))
    elif not args.quiet:
        counts: dict[str, int] = {}
        for r in run.resources:
            counts[r.type] = counts.get(r.type, 0) + 1
        print(f"stack {run.stack}: {len(run.resources)} resources, {len(run.outputs)} outputs")
        for type_, n in sorted(counts.items()):
            print(f"  {n:>4}  {type_}")
    return cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.mockrun --stack dev``: resources by type (``--json``: every record, secrets masked);
    with the CLI convention's error handling (tools/cli.py). Returns the exit status."""
    from components.config import ConfigError
    from components.vendored import VendoredFileError
    from tools import cli

    return cli.run("mockrun", lambda: _main(argv), user_errors=(StackFileError, ConfigError, VendoredFileError))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # as the render ends: no interpreter teardown of the typed SDKs

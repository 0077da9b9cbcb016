"""Run the CrossGuard policy pack offline, the way the Pulumi engine drives it, and report the result.

    python -m tools.policy_report --stack prod --plan dist/prod/plan.json [--out dist/prod/policy.json]
    python -m tools.policy_report --write-docs        # regenerate the rule table in docs/POLICIES.md

What the engine does in ``pulumi preview --policy-pack policies --policy-pack-config <file>`` and this
module repeats without the CLI:

1. start the pack like ``pulumi-analyzer-policy-python`` does: ``python -u -m pulumi.policy <engine> .``
   in ``policies/`` (which runs ``policies/__main__.py``) and read the gRPC port it prints;
2. ``GetAnalyzerInfo``; load the stack's policy config file (policy name -> level string or object with
   ``enforcementLevel`` and properties) and reconcile it with every policy's default level and schema
   defaults exactly like ``ReconcilePolicyPackConfig`` (``all`` sets every level); validate it;
3. ``ConfigureStack`` and ``Configure``; ``Analyze`` once per resource; ``AnalyzeStack`` with all of them;
4. stop the process.

Stricter than the CLI on purpose: an unknown policy name or property key in the config file is an
error (the CLI ignores both silently, which hides typos).

Resource records are ``{"urn", "type", "name", "parent", "inputs"}`` with inputs in engine form (as
``tools.mockrun`` records them). Violation messages never contain property values of secrets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = ROOT / "policies"
CONFIG_DIR = PACK_DIR / "config"
DOCS_PATH = ROOT / "docs" / "POLICIES.md"
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
# The python policy runner parses but does not use the engine address; there is no engine offline.
OFFLINE_ENGINE_ADDRESS = "127.0.0.1:0"
START_TIMEOUT_S = 60.0
RPC_TIMEOUT_S = 120.0


class PolicyPackError(RuntimeError):
    """The pack could not be started or answered an RPC with an error."""


class PolicyConfigError(ValueError):
    """The policy config file is invalid; the message names every offending key."""


# --- policy config: parse and reconcile like the Pulumi CLI -----------------------------------------
@dataclass
class PolicyConfig:
    level: str | None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class PolicyInfo:
    name: str
    description: str
    level: str
    kind: str  # "resource" | "stack"
    severity: str
    remediation: str
    schema: dict[str, Any] = field(default_factory=dict)  # property -> JSON schema
    required: list[str] = field(default_factory=list)


def parse_policy_config(data: Any, source: str = "policy config") -> dict[str, PolicyConfig]:
    """Parse the ``--policy-pack-config`` format: name -> level string or {enforcementLevel, props...}."""
    if not isinstance(data, Mapping):
        raise PolicyConfigError(f"{source}: must be a JSON object of policy name -> level or object")
    out: dict[str, PolicyConfig] = {}
    errors = []
    for name, value in data.items():
        if isinstance(value, str):
            if value not in LEVELS:
                errors.append(f"{name}: {value!r} is not an enforcement level (accepted: {', '.join(LEVELS)})")
                continue
            out[name] = PolicyConfig(value)
        elif isinstance(value, Mapping):
            props = dict(value)
            level = props.pop("enforcementLevel", None)
            if level is not None and level not in LEVELS:
                errors.append(
                    f"{name}.enforcementLevel: {level!r} is not an enforcement level (accepted: {', '.join(LEVELS)})"
                )
                continue
            if level is None and not props:
                continue  # the CLI drops empty entries
            out[name] = PolicyConfig(level, props)
        else:
            errors.append(f"{name}: must be a level string or an object, got {type(value).__name__}")
    if errors:
        raise PolicyConfigError(f"{source}: " + "; ".join(errors))
    return out


def load_policy_config(path: Path) -> dict[str, PolicyConfig]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyConfigError(f"cannot read policy config {path}: {exc.strerror}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{path}: not valid JSON ({exc})") from None
    return parse_policy_config(data, str(path))


def _apply(result: dict[str, PolicyConfig], given: Mapping[str, PolicyConfig]) -> None:
    all_cfg = given.get("all")
    if all_cfg is not None and all_cfg.level is not None:
        for cfg in result.values():
            cfg.level = all_cfg.level
    for name, cfg in given.items():
        cur = result.get(name)
        level = cur.level if cur else None
        props = dict(cur.properties) if cur else {}
        if cfg.level is not None:
            level = cfg.level
        props.update(cfg.properties)
        result[name] = PolicyConfig(level, props)


def reconcile(
    policies: Sequence[PolicyInfo], given: Mapping[str, PolicyConfig], initial: Mapping[str, PolicyConfig] | None = None
) -> dict[str, PolicyConfig]:
    """Defaults (level, schema defaults) <- initial config <- given config; then validate."""
    result = {
        p.name: PolicyConfig(p.level, {k: v["default"] for k, v in p.schema.items() if "default" in v})
        for p in policies
    }
    if initial:
        _apply(result, initial)
    _apply(result, given)
    errors = []
    known = {p.name: p for p in policies}
    for name in given:
        if name != "all" and name not in known:
            errors.append(f"{name}: no such policy in the pack (known: {', '.join(sorted(known))})")
    for p in policies:
        cfg = result[p.name]
        for key, value in cfg.properties.items():
            if key not in p.schema:
                accepted = ", ".join(sorted(p.schema)) or "none"
                errors.append(f"{p.name}.{key}: unknown property (accepted: {accepted})")
                continue
            errors.extend(f"{p.name}.{key}: {e}" for e in validate_schema(value, p.schema[key]))
        errors.extend(f"{p.name}.{req}: required" for req in p.required if req not in cfg.properties)
    if errors:
        raise PolicyConfigError("invalid policy config: " + "; ".join(errors))
    return result


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def validate_schema(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """The JSON-schema subset policy schemas use: type, enum, minimum, maximum, items, properties,
    additionalProperties."""
    where = f"{path}: " if path else ""
    typ = schema.get("type")
    if typ is not None:
        ok_types = _JSON_TYPES.get(str(typ), ())
        is_bool = isinstance(value, bool)
        ok = isinstance(value, ok_types) and (typ == "boolean" or not is_bool)
        if typ == "integer" and isinstance(value, float) and value.is_integer():
            ok = True
        if not ok:
            return [f"{where}expected {typ}, got {json.dumps(value)}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}{json.dumps(value)} is not one of {json.dumps(schema['enum'])}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}{value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}{value} is above the maximum {schema['maximum']}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            errors.extend(validate_schema(item, schema["items"], f"{path}[{i}]"))
    if isinstance(value, dict):
        props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
        for k, v in value.items():
            sub = f"{path}.{k}" if path else k
            if k in props:
                errors.extend(validate_schema(v, props[k], sub))
            elif isinstance(extra, Mapping):
                errors.extend(validate_schema(v, extra, sub))
            elif extra is False:
                errors.append(f"{sub}: unknown key (accepted: {', '.join(sorted(props)) or 'none'})")
    return errors


# --- report ---------------------------------------------------------------------------------------
@dataclass
class Violation:
    policy: str
    level: str
    severity: str
    urn: str
    type: str
    name: str
    message: str
    remediation: str


@dataclass
class Report:
    stack: str
    pack: str
    version: str
    resources: int
    levels: dict[str, str]  # policy -> effective level for this stack
    violations: list[Violation] = field(default_factory=list)
    not_applicable: dict[str, int] = field(default_factory=dict)

    @property
    def mandatory_failures(self) -> int:
        return sum(1 for v in self.violations if v.level == "mandatory")

    @property
    def advisory_warnings(self) -> int:
        return sum(1 for v in self.violations if v.level == "advisory")

    def summary(self) -> dict[str, Any]:
        by_level = Counter(self.levels.values())
        return {
            "resources": self.resources,
            "policies": len(self.levels),
            "policiesByLevel": dict(sorted(by_level.items())),
            "mandatory": self.mandatory_failures,
            "advisory": self.advisory_warnings,
            "byPolicy": dict(sorted(Counter(v.policy for v in self.violations).items())),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "policyPack": {"name": self.pack, "version": self.version},
            "summary": self.summary(),
            "levels": dict(sorted(self.levels.items())),
            "violations": [asdict(v) for v in self.violations],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    def format_text(self) -> str:
        s = self.summary()
        lines = [
            f"policy pack {self.pack}@{self.version} on stack {self.stack}: {self.resources} resources, "
            f"{s['policies']} policies ({', '.join(f'{n} {lvl}' for lvl, n in s['policiesByLevel'].items())})"
        ]
        order = {"mandatory": 0, "remediate": 1, "advisory": 2}
        for v in sorted(self.violations, key=lambda v: (order.get(v.level, 3), v.policy, v.urn)):
            subject = f"{v.type} {v.name}" if v.type else "stack"
            lines.append(f"  {v.level.upper():<9} {v.policy}  [{subject}]")
            lines.append(f"            {v.message}")
            lines.append(f"            fix: {v.remediation}")
        verdict = "FAIL" if self.mandatory_failures else "ok"
        lines.append(
            f"policy summary: {self.mandatory_failures} mandatory, {self.advisory_warnings} advisory "
            f"violation(s) -> {verdict}"
        )
        return "\n".join(lines)


# --- the pack as a process ----------------------------------------------------------------------------
def default_config_path(stack: str) -> Path:
    return CONFIG_DIR / f"{stack}.json"


def _pack_version(pack_dir: Path) -> str:
    import yaml

    try:
        doc = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return ""
    return str(doc.get("version") or "")


class PolicyPackProcess:
    """The policy pack as the engine runs it: a subprocess serving the Analyzer gRPC service.

    ``start()`` only launches the interpreter (so it can warm up while the program runs);
    ``analyze(records)`` waits for its port, configures it for the stack and analyses;
    ``stop()`` ends the process. Also a context manager.

    To overlap analysis with the program run, as the engine does: ``begin()`` once, ``submit(record)``
    for each resource as it is registered (returns at once; the pack works in its own process), then
    ``finish(all_records)`` for the report.
    """

    def __init__(
        self,
        stack: str,
        config_path: Path | str | None = None,
        pack_dir: Path | str | None = None,
        project: str = "hardening",
        python: str | None = None,
        skip_unread_types: bool = True,
    ) -> None:
        self.stack = stack
        self.config_path = Path(config_path) if config_path is not None else default_config_path(stack)
        self.pack_dir = Path(pack_dir) if pack_dir is not None else PACK_DIR
        self.project = project
        self.python = python or sys.executable
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._port: int | None = None
        self._channel: Any = None
        self._stub: Any = None
        self.skip_unread_types = skip_unread_types
        self._session: _Session | None = None

    # lifecycle -------------------------------------------------------------------------------------
    def start(self) -> PolicyPackProcess:
        if self.proc is not None:
            return self
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.update(
            {
                "PULUMI_PROJECT": self.project,
                "PULUMI_STACK": self.stack,
                "PULUMI_DRY_RUN": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in stop()
        self.proc = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", OFFLINE_ENGINE_ADDRESS, "."],
            cwd=self.pack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        return self

    def _stderr_tail(self, limit: int = 4000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-limit:]

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> int:
        """Wait for the port line the pack prints on stdout; returns the port."""
        if self._port is not None:
            return self._port
        self.start()
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout
        buf = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(out, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    raise PolicyPackError(f"policy pack did not print its port within {timeout:.0f}s")
                if not sel.select(min(left, 0.5)):
                    if self.proc.poll() is not None:
                        break
                    continue
                chunk = os.read(out.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        line = buf.split(b"\n", 1)[0].strip()
        if not line.isdigit():
            code = self.proc.poll()
            tail = self._stderr_tail()
            self.stop()
            raise PolicyPackError(
                f"policy pack in {self.pack_dir} failed to start (exit {code}, printed {line[:200]!r}):\n{tail}"
            )
        self._port = int(line)
        # Keep draining stdout so a chatty pack can never block on a full pipe.
        threading.Thread(target=self._drain, args=(out,), daemon=True).start()
        import grpc
        from pulumi.runtime.proto import analyzer_pb2_grpc

        self._channel = grpc.insecure_channel(
            f"127.0.0.1:{self._port}", options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
        )
        grpc.channel_ready_future(self._channel).result(timeout=max(1.0, deadline - time.monotonic()))
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        return self._port

    @staticmethod
    def _drain(stream: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            while os.read(stream.fileno(), 65536):
                pass

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._port = None
        self._session = None

    def __enter__(self) -> PolicyPackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # RPCs -------------------------------------------------------------------------------------------
    def _call(self, method: str, request: Any) -> Any:
        import grpc

        try:
            return getattr(self._stub, method)(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise PolicyPackError(
                f"policy pack {method} failed: {exc.details() if hasattr(exc, 'details') else exc}"
                f"\n{self._stderr_tail()}"
            ) from None

    def analyzer_info(self) -> tuple[str, list[PolicyInfo], dict[str, PolicyConfig]]:
        """``GetAnalyzerInfo``: pack name, policies (with defaults and schemas), initial config."""
        from google.protobuf import empty_pb2, json_format
        from pulumi.runtime import proto

        self.wait_ready()
        info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        level_names = {
            proto.ADVISORY: "advisory",
            proto.MANDATORY: "mandatory",
            proto.REMEDIATE: "remediate",
            proto.DISABLED: "disabled",
        }
        severity_names = {
            proto.POLICY_SEVERITY_LOW: "low",
            proto.POLICY_SEVERITY_MEDIUM: "medium",
            proto.POLICY_SEVERITY_HIGH: "high",
            proto.POLICY_SEVERITY_CRITICAL: "critical",
        }
        policies = []
        for p in info.policies:
            schema = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
            policies.append(
                PolicyInfo(
                    name=p.name,
                    description=p.description,
                    level=level_names[p.enforcementLevel],
                    kind="stack" if p.policy_type == proto.PolicyType.POLICY_TYPE_STACK else "resource",
                    severity=severity_names.get(p.severity, "unspecified"),
                    remediation=p.remediation_steps,
                    schema=schema,
                    required=list(p.configSchema.required) if p.HasField("configSchema") else [],
                )
            )
        initial = {
            k: PolicyConfig(level_names.get(v.enforcementLevel), json_format.MessageToDict(v.properties))
            for k, v in info.initialConfig.items()
        }
        return info.name, policies, initial

    def configure(self, config: Mapping[str, PolicyConfig]) -> None:
        from google.protobuf import struct_pb2
        from pulumi.runtime import proto

        levels = {
            "advisory": proto.ADVISORY,
            "mandatory": proto.MANDATORY,
            "remediate": proto.REMEDIATE,
            "disabled": proto.DISABLED,
        }
        self._call(
            "ConfigureStack",
            proto.AnalyzerStackConfigureRequest(
                stack=self.stack, project=self.project, organization="organization", dry_run=True
            ),
        )
        req = proto.ConfigureAnalyzerRequest()
        for name, cfg in config.items():
            props = struct_pb2.Struct()
            props.update(cfg.properties)
            req.policyConfig[name].CopyFrom(
                proto.PolicyConfig(enforcementLevel=levels[cfg.level or "advisory"], properties=props)
            )
        self._call("Configure", req)

    def _analyze_types(self) -> frozenset[str] | None:
        """Resource types some resource policy of this pack reads (None: send every resource).

        Only for the repository's own pack, whose registry says what each rule looks at: a resource of
        another type gets no diagnostic from any resource policy, so not sending it to ``Analyze`` changes
        nothing but the time taken. ``AnalyzeStack`` always receives every resource.
        """
        if not self.skip_unread_types or self.pack_dir.resolve() != PACK_DIR.resolve():
            return None
        from policies.registry import RULES

        return frozenset(t for r in RULES if r.kind == "resource" for t in r.applies_to)

    def begin(self) -> None:
        """Read the pack's policies, reconcile the stack's policy config with them and configure the pack.

        Raises :class:`PolicyConfigError` before any resource is analysed when the config is invalid.
        """
        from pulumi.runtime import proto

        pack_name, policies, initial = self.analyzer_info()
        config = reconcile(policies, load_policy_config(self.config_path), initial)
        self.configure(config)
        report = Report(
            stack=self.stack,
            pack=pack_name,
            version=_pack_version(self.pack_dir) or "0.0.1",
            resources=0,
            levels={p.name: (config[p.name].level or p.level) for p in policies},
        )
        self._session = _Session(
            report=report,
            policies={p.name: p for p in policies},
            types=self._analyze_types(),
            level_names={
                proto.ADVISORY: "advisory",
                proto.MANDATORY: "mandatory",
                proto.REMEDIATE: "remediate",
                proto.DISABLED: "disabled",
            },
        )

    def submit(self, record: Mapping[str, Any]) -> None:
        """Send one resource to ``Analyze`` now (as the engine does when the resource is registered)."""
        from pulumi.runtime import proto

        if self._session is None:
            self.begin()
        session = self._session
        assert session is not None
        _check_record(record, len(session.submitted))
        urn = str(record["urn"])
        if urn in session.submitted:
            return
        if session.types is not None and str(record["type"]) not in session.types:
            session.submitted[urn] = None
            return
        req = proto.AnalyzeRequest(
            type=str(record["type"]),
            properties=_struct(record["inputs"]),
            urn=urn,
            name=str(record["name"]),
            options=_options(record),
        )
        session.submitted[urn] = (record, self._stub.Analyze.future(req, timeout=RPC_TIMEOUT_S))

    def finish(self, records: Iterable[Mapping[str, Any]]) -> Report:
        """Analyse what was not submitted yet, collect every answer, run ``AnalyzeStack`` over ``records``."""
        from pulumi.runtime import proto

        records = list(records)
        for i, rec in enumerate(records):
            _check_record(rec, i)
        if self._session is None:
            self.begin()
        for rec in records:
            self.submit(rec)
        session = self._session
        assert session is not None
        self._session = None
        session.by_urn = {str(r["urn"]): r for r in records}
        for urn, pending in session.submitted.items():
            if pending is None:
                continue
            rec, fut = pending
            try:
                resp = fut.result()
            except Exception as exc:
                raise PolicyPackError(f"policy pack Analyze failed on {urn}: {exc}\n{self._stderr_tail()}") from None
            session.collect(resp, rec, self.stack)
        stack_req = proto.AnalyzeStackRequest(
            resources=[
                proto.AnalyzerResource(
                    type=str(rec["type"]),
                    properties=_struct(rec["inputs"]),
                    urn=str(rec["urn"]),
                    name=str(rec["name"]),
                    options=_options(rec),
                    parent=str(rec.get("parent") or ""),
                )
                for rec in records
            ]
        )
        session.collect(self._call("AnalyzeStack", stack_req), None, self.stack)
        session.report.resources = len(records)
        return session.report

    def analyze(self, records: Iterable[Mapping[str, Any]]) -> Report:
        """Configure the pack for the stack and run every resource and then the stack through it."""
        records = list(records)
        for i, rec in enumerate(records):
            _check_record(rec, i)
        self.begin()
        return self.finish(records)


class InProcessPack(PolicyPackProcess):
    """The repository's pack served in this interpreter: pulumi_policy's own analyzer servicer (the object
    ``PolicyPack`` serves over gRPC) called directly with the same protobuf requests, without a second
    interpreter and the wire in between. Same reconciliation, same ``Analyze``/``AnalyzeStack`` code,
    same report; ``tests/policies`` holds the two equal on both stacks. The offline render uses it (a
    second interpreter costs more than the whole analysis); ``PolicyPackProcess`` remains the engine's
    way, used by the tests and ``python -m tools.policy_report``.

    The servicer configures pulumi's runtime settings from ``PULUMI_PROJECT``/``PULUMI_STACK``/
    ``PULUMI_DRY_RUN`` when they are set, so call it only after the program has run (not concurrently).
    """

    def __init__(
        self,
        stack: str,
        config_path: Path | str | None = None,
        project: str = "hardening",
        skip_unread_types: bool = True,
    ) -> None:
        super().__init__(stack, config_path, PACK_DIR, project, skip_unread_types=skip_unread_types)
        self._servicer: Any = None

    def start(self) -> InProcessPack:
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> int:
        if self._servicer is None:
            from pulumi_policy.policy import _PolicyAnalyzerServicer

            from policies.registry import pack_arguments

            args = pack_arguments()

            def servicer(policies: list[Any]) -> Any:
                # as PolicyPack.__init__ builds it (its version is always "0.0.1"; PulumiPolicy.yaml has ours)
                return _PolicyAnalyzerServicer(args["name"], "0.0.1", policies, args["enforcement_level"])

            self._servicer = _PerTypeServicer(servicer, args["policies"], self._policy_types())
            self._stub = _DirectStub(self._servicer)
        return 0

    @staticmethod
    def _policy_types() -> dict[str, frozenset[str]]:
        """Resource policy name -> the resource types it reads (``Rule.applies_to``)."""
        from policies.registry import RULES

        return {r.name: r.applies_to for r in RULES if r.kind == "resource"}

    def stop(self) -> None:
        self._servicer = self._stub = None
        self._session = None

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request)
        except Exception as exc:
            raise PolicyPackError(f"policy pack {method} failed: {exc}") from exc


class _PerTypeServicer:
    """The pack's servicer, except that ``Analyze`` of a resource runs only the resource policies that read
    its type: pulumi_policy's servicer decodes a resource's properties again for every policy, though each
    of this pack's resource policies returns at once for a type it does not read (``Rule.applies_to``),
    so the answer is the same. Everything else, ``AnalyzeStack`` included, goes to the whole pack."""

    def __init__(
        self, make: Callable[[list[Any]], Any], policies: list[Any], types: Mapping[str, frozenset[str]]
    ) -> None:
        self._make = make
        self._policies = policies
        self._types = types
        self._whole = make(policies)
        self._by_type: dict[str, Any] = {}
        self._configured: list[tuple[str, Any]] = []

    def __getattr__(self, method: str) -> Any:
        return getattr(self._whole, method)

    def _configure_all(self, method: str, request: Any, context: Any) -> Any:
        """Configure the whole pack and every per-type servicer; replayed on per-type servicers made later."""
        self._configured.append((method, request))
        for sub in self._by_type.values():
            if sub is not None:
                getattr(sub, method)(request, context)
        return getattr(self._whole, method)(request, context)

    def Configure(self, request: Any, context: Any) -> Any:
        return self._configure_all("Configure", request, context)

    def ConfigureStack(self, request: Any, context: Any) -> Any:
        return self._configure_all("ConfigureStack", request, context)

    def Analyze(self, request: Any, context: Any) -> Any:
        from pulumi.runtime import proto

        if request.type not in self._by_type:
            # A policy outside the registry's resource rules (none today) sees every type.
            chosen = [p for p in self._policies if p.name not in self._types or request.type in self._types[p.name]]
            sub = self._make(chosen) if chosen else None
            for method, configured in self._configured if sub is not None else ():
                getattr(sub, method)(configured, context)
            self._by_type[request.type] = sub
        sub = self._by_type[request.type]
        return sub.Analyze(request, context) if sub is not None else proto.AnalyzeResponse()


class _DirectStub:
    """``AnalyzerStub``'s calling convention (``stub.Method(request)``, ``stub.Method.future(request)``)
    over a servicer in this process."""

    def __init__(self, servicer: Any) -> None:
        self._servicer = servicer

    def __getattr__(self, method: str) -> _DirectMethod:
        return _DirectMethod(getattr(self._servicer, method))


class _DirectMethod:
    def __init__(self, handler: Callable[[Any, Any], Any]) -> None:
        self._handler = handler

    def __call__(self, request: Any, timeout: float | None = None) -> Any:
        return self._handler(request, None)

    def future(self, request: Any, timeout: float | None = None) -> _Done:
        try:
            return _Done(self._handler(request, None), None)
        except Exception as exc:  # raised from result(), as a gRPC future does
            return _Done(None, exc)


@dataclass
class _Done:
    value: Any
    error: BaseException | None

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def _check_record(rec: Mapping[str, Any], index: int) -> None:
    missing = [k for k in ("urn", "type", "name", "inputs") if k not in rec]
    if missing:
        raise ValueError(f"resource record #{index} lacks {missing} (needs urn, type, name, parent, inputs)")


def _struct(inputs: Any) -> Any:
    from google.protobuf import struct_pb2

    s = struct_pb2.Struct()
    s.update(inputs or {})
    return s


def _options(rec: Mapping[str, Any]) -> Any:
    from pulumi.runtime import proto

    return proto.AnalyzerResourceOptions(parent=str(rec.get("parent") or ""))


@dataclass
class _Session:
    """One analysis: configured pack, requests in flight, the report being filled."""

    report: Report
    policies: dict[str, PolicyInfo]
    types: frozenset[str] | None
    level_names: dict[int, str]
    submitted: dict[str, Any] = field(default_factory=dict)  # urn -> (record, future) | None (not sent)
    by_urn: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def collect(self, resp: Any, rec: Mapping[str, Any] | None, stack: str) -> None:
        for d in resp.diagnostics:
            p = self.policies.get(d.policyName)
            message = d.message
            if p is not None and message.startswith(p.description):
                message = message[len(p.description) :].lstrip("\n") or p.description
            target = self.by_urn.get(d.urn) if d.urn else rec
            self.report.violations.append(
                Violation(
                    policy=d.policyName,
                    level=self.level_names.get(d.enforcementLevel, "advisory"),
                    severity=p.severity if p else "unspecified",
                    urn=str(target["urn"]) if target else d.urn,
                    type=str(target["type"]) if target else "",
                    name=str(target["name"]) if target else stack,
                    message=message,
                    remediation=p.remediation if p else "",
                )
            )
        for na in resp.not_applicable:
            self.report.not_applicable[na.policy_name] = self.report.not_applicable.get(na.policy_name, 0) + 1


def run_pack(
    resources: Iterable[Mapping[str, Any]],
    stack: str,
    config_path: Path | str | None = None,
    pack_dir: Path | str | None = None,
) -> Report:
    """Start the pack, analyse ``resources`` for ``stack`` with ``config_path`` (default
    ``policies/config/<stack>.json``), stop it, and return the report."""
    with PolicyPackProcess(stack, config_path, pack_dir) as pack:
        return pack.analyze(resources)


# --- docs ------------------------------------------------------------------------------------------
DOCS_BEGIN = "<!-- BEGIN GENERATED RULE TABLE (python -m tools.policy_report --write-docs) -->"
DOCS_END = "<!-- END GENERATED RULE TABLE -->"


def registry_infos() -> list[PolicyInfo]:
    """Policy metadata straight from the registry (what GetAnalyzerInfo would return)."""
    from policies.registry import RULES

    return [
        PolicyInfo(
            name=r.name,
            description=r.description,
            level=r.default_level,
            kind=r.kind,
            severity=r.severity,
            remediation=r.remediation,
            schema={k: dict(v) for k, v in r.config.items()},
            required=list(r.required),
        )
        for r in RULES
    ]


def rule_table(stacks: Sequence[str] = ("dev", "prod")) -> str:
    """Markdown table of every rule with its effective level per stack (from policies/config)."""
    from policies.registry import RULES

    infos = registry_infos()
    per_stack = {s: reconcile(infos, load_policy_config(default_config_path(s))) for s in stacks}
    head = ["rule", "area", "kind", "severity", *stacks, "checks", "how to fix"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in RULES:
        cells = [
            f"`{r.name}`",
            r.area,
            r.kind,
            r.severity,
            *[per_stack[s][r.name].level or r.default_level for s in stacks],
            r.description,
            r.remediation,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    lines.append("")
    lines.append("Configuration properties (set them next to `enforcementLevel` in `policies/config/<stack>.json`):")
    lines.append("")
    for r in RULES:
        if not r.config:
            continue
        props = "; ".join(
            f"`{k}` ({v.get('type')}, default `{json.dumps(v.get('default'))}`): {v.get('description', '')}"
            for k, v in r.config.items()
        )
        lines.append(f"- `{r.name}`: {props}")
    return "\n".join(lines)


def write_docs(path: Path = DOCS_PATH) -> None:
    text = path.read_text()
    start, end = text.index(DOCS_BEGIN) + len(DOCS_BEGIN), text.index(DOCS_END)
    path.write_text(text[:start] + "\n" + rule_table() + "\n" + text[end:])


# --- CLI ---------------------------------------------------------------------------------------------
def _records_from_plan(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text())
    resources = doc.get("resources") if isinstance(doc, Mapping) else doc
    if not isinstance(resources, list):
        raise SystemExit(f"{path}: expected a list of resources or an object with 'resources'")
    return resources


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.policy_report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="stack name (selects policies/config/<stack>.json)")
    parser.add_argument("--plan", type=Path, help="plan.json written by the render (resources with inputs)")
    parser.add_argument("--config", type=Path, help="policy config file (default policies/config/<stack>.json)")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--write-docs", action="store_true", help="regenerate the rule table in docs/POLICIES.md")
    args = parser.parse_args(argv)
    if args.write_docs:
        write_docs()
        return 0
    if not args.stack or not args.plan:
        parser.error("--stack and --plan are required (or --write-docs)")
    try:
        report = run_pack(_records_from_plan(args.plan), args.stack, args.config)
    except (PolicyConfigError, PolicyPackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report.to_json())
    print(report.format_text())
    return 1 if report.mandatory_failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""The policy pack the way ``pulumi preview --policy-pack policies`` runs it, for the one test that holds
the offline report equal to the engine's.

``pulumi-analyzer-policy-python`` starts ``python -u -m pulumi.policy <engine> .`` in the pack directory
(which runs ``policies/__main__.py``: ``PolicyPack(...)`` serving the Analyzer gRPC service) and reads the
port it prints. The engine then calls ``GetAnalyzerInfo``, ``ConfigureStack``, ``Configure`` with the
reconciled policy config, ``Analyze`` once per resource and ``AnalyzeStack`` with all of them. The
server listens on 127.0.0.1 only; the engine address is parsed but not used by the python runner.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from policies.pack_config import PACK_DIR, PolicyConfig
from tools import policy_report as pr

START_TIMEOUT_S = 60.0
RPC_TIMEOUT_S = 120.0


@contextmanager
def pack_process(stack: str, pack_dir: Path = PACK_DIR) -> Iterator[Any]:
    """The pack as a subprocess; yields an ``AnalyzerStub`` connected to it, stops it on exit."""
    import grpc
    from pulumi.runtime.proto import analyzer_pb2_grpc

    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update({"PULUMI_PROJECT": "hardening", "PULUMI_STACK": stack, "PULUMI_DRY_RUN": "true"})
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
            cwd=pack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        channel = None
        try:
            port = _read_port(proc, stderr)
            channel = grpc.insecure_channel(
                f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
            )
            grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
        finally:
            if channel is not None:
                channel.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            assert proc.stdout is not None
            proc.stdout.close()


def _read_port(proc: subprocess.Popen[bytes], stderr: Any) -> int:
    assert proc.stdout is not None
    buf, deadline = b"", time.monotonic() + START_TIMEOUT_S
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf and time.monotonic() < deadline and proc.poll() is None:
            if sel.select(0.5):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
    line = buf.split(b"\n", 1)[0].strip()
    if not line.isdigit():
        stderr.seek(0)
        tail = stderr.read().decode("utf-8", "replace")[-4000:]
        raise RuntimeError(f"policy pack did not start (printed {line[:200]!r}):\n{tail}")
    return int(line)


def _struct(value: Any) -> Any:
    from google.protobuf import struct_pb2

    s = struct_pb2.Struct()
    s.update(value or {})
    return s


def engine_report(stack: str, records: Sequence[Mapping[str, Any]], config: Mapping[str, PolicyConfig]) -> pr.Report:
    """The report built from the engine's own diagnostics: every RPC a preview makes, over gRPC."""
    from google.protobuf import empty_pb2
    from pulumi.runtime import proto

    levels = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "remediate": proto.REMEDIATE}
    levels["disabled"] = proto.DISABLED
    names = {v: k for k, v in levels.items()}
    by_urn = {str(r["urn"]): r for r in records}
    with pack_process(stack) as stub:
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=RPC_TIMEOUT_S)
        policies = {p.name: p for p in info.policies}
        stub.ConfigureStack(
            proto.AnalyzerStackConfigureRequest(stack=stack, project="hardening", organization="o", dry_run=True),
            timeout=RPC_TIMEOUT_S,
        )
        req = proto.ConfigureAnalyzerRequest()
        for name, cfg in config.items():
            req.policyConfig[name].CopyFrom(
                proto.PolicyConfig(enforcementLevel=levels[cfg.level or "advisory"], properties=_struct(cfg.properties))
            )
        stub.Configure(req, timeout=RPC_TIMEOUT_S)
        answers: list[tuple[Mapping[str, Any] | None, Any]] = []
        for r in records:
            opts = proto.AnalyzerResourceOptions(parent=str(r.get("parent") or ""))
            answers.append(
                (
                    r,
                    stub.Analyze(
                        proto.AnalyzeRequest(
                            type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"], name=r["name"], options=opts
                        ),
                        timeout=RPC_TIMEOUT_S,
                    ),
                )
            )
        stack_req = proto.AnalyzeStackRequest(
            resources=[
                proto.AnalyzerResource(
                    type=r["type"],
                    properties=_struct(r["inputs"]),
                    urn=r["urn"],
                    name=r["name"],
                    parent=str(r.get("parent") or ""),
                    options=proto.AnalyzerResourceOptions(parent=str(r.get("parent") or "")),
                )
                for r in records
            ]
        )
        answers.append((None, stub.AnalyzeStack(stack_req, timeout=RPC_TIMEOUT_S)))
    report = pr.Report(
        stack, info.name, pr.pack_version(), len(records), {n: c.level or "advisory" for n, c in config.items()}
    )
    for subject, resp in answers:
        for d in resp.diagnostics:
            p = policies[d.policyName]
            message = d.message[len(p.description) :].lstrip("\n") if d.message.startswith(p.description) else d.message
            target = by_urn.get(d.urn) if d.urn else subject
            urn, type_, name = (
                (str(target["urn"]), str(target["type"]), str(target["name"])) if target else (d.urn, "", stack)
            )
            level = names[d.enforcementLevel]
            report.violations.append(
                pr.Violation(d.policyName, level, _severity(p), urn, type_, name, message, p.remediation_steps)
            )
    return report


def _severity(p: Any) -> str:
    from pulumi.runtime import proto

    return {
        proto.POLICY_SEVERITY_LOW: "low",
        proto.POLICY_SEVERITY_MEDIUM: "medium",
        proto.POLICY_SEVERITY_HIGH: "high",
        proto.POLICY_SEVERITY_CRITICAL: "critical",
    }.get(p.severity, "unspecified")

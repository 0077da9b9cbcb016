"""Offline render: run the program for a stack under Pulumi's mocks and write everything it would deploy.

    python -m tools.render --stack dev [--out dist/dev] [--set key=value ...]

Writes, atomically (a failed render leaves the previous output untouched):
  dist/<stack>/k8s/NN-<component>.yaml   every Kubernetes object, multi-document, in apply order
  dist/<stack>/k8s/kustomization.yaml    the files in order (+ upstream release manifests), for kubectl -k
  dist/<stack>/workflows/<path>          every file the program commits to GitHub repositories
  dist/<stack>/plan.json                 every resource (urn, type, name, parent, inputs; secrets masked)
  dist/<stack>/policy.json, cost.json    the policy report and the cost estimate
and prints a summary. Exit status: 0 ok, 2 invalid configuration, 1 a mandatory policy failed.
No cluster, no Pulumi CLI, no credentials: this is also what a pull request from a fork can run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from components import yamltext
from tools.mockrun import ROOT, Resource, Run, StackFileError, mask_secrets, run_stack

MASK = "<redacted: Pulumi secret>"

# Apply order by kind (Helm's install order, trimmed); custom resources go last.
KIND_ORDER = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
]
_KIND_RANK = {k: i for i, k in enumerate(KIND_ORDER)}
# Components whose files must come first regardless of registration order.
FIRST_COMPONENTS = ("namespaces",)
UPSTREAM_MANIFEST_TYPES = ("kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml:ConfigFile")
REPOSITORY_FILE_TYPE = "github:index/repositoryFile:RepositoryFile"


@dataclass
class Rendered:
    """Everything a render produces, in memory, before anything is written."""

    stack: str
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text
    objects: list[dict[str, Any]] = field(default_factory=list)  # every manifest (masked)
    summary: list[str] = field(default_factory=list)
    exit_code: int = 0


def component_key(run: Run, res: Resource) -> str:
    comp = run.component_of(res)
    if comp is None:
        return "platform"
    if comp.type == "hardening:service:Service":
        return f"service-{comp.name}"  # one file per onboarded service
    return comp.type.split(":")[1]


def canonical(value: Any) -> Any:
    """Maps with sorted keys, recursively: the mock engine's property order is not stable."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def manifest(res: Resource) -> dict[str, Any]:
    """The Kubernetes manifest of a resource (apiVersion, kind, metadata first), secrets masked."""
    inputs = canonical(mask_secrets(res.inputs, MASK))
    meta = inputs.get("metadata") or {}
    if not meta.get("name"):
        raise ValueError(f"{res.urn}: metadata.name is not set; every object needs an explicit, stable name")
    doc: dict[str, Any] = {"apiVersion": inputs.get("apiVersion"), "kind": inputs.get("kind"), "metadata": meta}
    for key, value in inputs.items():
        if key not in doc:
            doc[key] = value
    return doc


def _apply_order(doc: dict[str, Any]) -> tuple[int, str, str, str]:
    meta = doc.get("metadata") or {}
    return (
        _KIND_RANK.get(str(doc.get("kind")), len(KIND_ORDER)),
        str(doc.get("kind")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def _is_k8s_object(res: Resource) -> bool:
    return (
        res.custom
        and res.type.startswith("kubernetes:")
        and res.type not in UPSTREAM_MANIFEST_TYPES
        and not res.type.startswith("kubernetes:helm")
    )


def render_run(run: Run) -> Rendered:
    out = Rendered(stack=run.stack)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    upstream: dict[str, list[dict[str, Any]]] = defaultdict(list)  # ConfigFile name -> its objects
    order: list[str] = []
    workflows = 0
    by_urn = {r.urn: r for r in run.resources}
    for res in run.resources:
        key = component_key(run, res)
        parent = by_urn.get(res.parent or "")
        if _is_k8s_object(res) and parent is not None and parent.type in UPSTREAM_MANIFEST_TYPES:
            # an upstream release manifest's objects (expanded like the provider does): their own folder
            upstream[parent.name].append(manifest(res))
        elif _is_k8s_object(res):
            if key not in order:
                order.append(key)
            groups[key].append(manifest(res))
        elif res.type == REPOSITORY_FILE_TYPE:
            inputs = mask_secrets(res.inputs, MASK)
            # one folder per repository: every service's repository gets the same workflow paths
            out.files[f"workflows/{inputs['repository']}/{inputs['file']}"] = str(inputs.get("content", ""))
            workflows += 1
    # Registration order under the mocks is asynchronous: order files by name (namespaces first) so that
    # file names are stable from run to run.
    ordered = [k for k in FIRST_COMPONENTS if k in order] + sorted(k for k in order if k not in FIRST_COMPONENTS)
    kustomize: list[str] = []
    for index, key in enumerate(ordered):
        docs = sorted(groups[key], key=_apply_order)
        out.objects.extend(docs)
        name = f"k8s/{index * 10:02d}-{key}.yaml"
        out.files[name] = yamltext.dump_all(docs)
        kustomize.append(name.removeprefix("k8s/"))
        if index == 0:
            # Upstream release manifests (CRDs, controllers) right after the namespaces, each in a folder of
            # its own so that it can be applied (and its CRDs established) first.
            for up_name in sorted(upstream):
                docs = sorted(upstream[up_name], key=_apply_order)
                out.objects.extend(docs)
                sub = f"upstream-{up_name}"
                out.files[f"k8s/{sub}/manifest.yaml"] = yamltext.dump_all(docs)
                out.files[f"k8s/{sub}/kustomization.yaml"] = yamltext.dump(
                    {
                        "apiVersion": "kustomize.config.k8s.io/v1beta1",
                        "kind": "Kustomization",
                        "resources": ["manifest.yaml"],
                    }
                )
                kustomize.append(sub)
    out.files["k8s/kustomization.yaml"] = yamltext.dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": kustomize}
    )
    plan = {
        "project": run.project,
        "stack": run.stack,
        "resources": [canonical(mask_secrets(r.to_record(), MASK)) for r in sorted(run.resources, key=lambda r: r.urn)],
        "outputs": {k: (MASK if k in run.secret_outputs else mask_secrets(v, MASK)) for k, v in run.outputs.items()},
    }
    out.files["plan.json"] = json.dumps(plan, indent=1, sort_keys=False) + "\n"
    kinds = Counter(
        (component_key(run, r), str(r.inputs.get("kind") or r.type.split(":")[-1]))
        for r in run.resources
        if r.custom and not r.type.startswith("pulumi:providers")
    )
    out.summary.append(
        f"stack {run.stack}: {len(run.resources)} resources, {len(out.objects)} Kubernetes "
        f"objects, {workflows} repository files"
    )
    by_comp: dict[str, list[str]] = defaultdict(list)
    for (comp, kind), n in sorted(kinds.items()):
        by_comp[comp].append(f"{kind} {n}")
    for comp in sorted(by_comp):
        out.summary.append(f"  {comp:<12} " + ", ".join(by_comp[comp]))
    return out


# --- optional reports: each plugs in when its module exists ----------------------------------------
def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


Report = Callable[[Run, Rendered, Any], None]


def _policy_step(run: Run, out: Rendered, pack: Any) -> None:
    report = pack.finish([r.to_record() for r in run.resources])
    out.files["policy.json"] = report.to_json()
    out.summary.append("")
    out.summary.append(report.format_text())
    if report.mandatory_failures:
        out.exit_code = 1


def _cost_step(run: Run, out: Rendered) -> None:
    from components.cost import estimate as cost_estimate

    plan = json.loads(out.files["plan.json"])
    if cost_estimate.COST_MODEL_OUTPUT not in plan["outputs"]:
        out.summary += ["", "cost: no estimate (the stack does not deploy CostVisibility, which exports the prices)"]
        return
    est = cost_estimate.estimate_plan(plan)
    out.files["cost.json"] = json.dumps(est.to_dict(), indent=1) + "\n"
    out.summary.append("")
    out.summary.append(est.format_text())


def write_atomically(out_dir: Path, files: dict[str, str]) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        backup = out_dir.with_name(f".{out_dir.name}-old")
        if backup.exists():
            shutil.rmtree(backup)
        if out_dir.exists():
            out_dir.rename(backup)
        tmp.rename(out_dir)
        if backup.exists():
            shutil.rmtree(backup)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def parse_sets(values: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value) if value[:1] in "[{" else value
        except json.JSONDecodeError:
            out[key] = value
    return out


def render(
    stack: str,
    out_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    policy: bool = True,
    cost: bool = True,
    stream: Any = None,
    root: Path | None = None,
) -> int:
    """Render ``stack``; returns the exit status (0, 1 or 2). Prints to ``stream`` (stdout)."""
    from components.config import ConfigError
    from components.vendored import VendoredFileError

    stream = stream or sys.stdout
    started = time.perf_counter()
    out_dir = out_dir or ROOT / "dist" / stack
    pack = None
    config_errors: tuple[type[BaseException], ...] = (ConfigError, StackFileError, VendoredFileError)
    if policy and _has_module("tools.policy_report"):
        policy_report = importlib.import_module("tools.policy_report")
        config_errors += (policy_report.PolicyConfigError,)
        # pulumi_policy's analyzer servicer in this process, after the run: the same requests and answers
        # as the engine's gRPC round trips (tests hold both equal), without a second interpreter.
        pack = policy_report.InProcessPack(stack=stack)
    try:
        run = run_stack(stack, overrides=overrides, root=root or ROOT)
        out = render_run(run)
        if pack is not None:
            _policy_step(run, out, pack)
        if cost and _has_module("components.cost.estimate"):
            _cost_step(run, out)
    except config_errors as exc:
        print(str(exc) if isinstance(exc, ConfigError) else f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if pack is not None:
            pack.stop()
    write_atomically(out_dir, out.files)
    elapsed = time.perf_counter() - started
    for line in out.summary:
        print(line, file=stream)
    print(f"\nwrote {len(out.files)} files to {out_dir} in {elapsed:.2f}s", file=stream)
    if out.exit_code == 1:
        print("render FAILED: a mandatory policy is violated (see above)", file=stream)
    return out.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", required=True, help="stack name: dev or prod (Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, help="output directory (default dist/<stack>)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key for this render only (repeatable)",
    )
    parser.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    args = parser.parse_args(argv)
    return render(args.stack, args.out, parse_sets(args.set), policy=not args.no_policy)


def exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: the files are written and closed, the mock
    runtime is stopped, and nothing registered with ``atexit`` has work left. Freeing the thousands of
    classes of the typed Pulumi SDKs one by one costs a few hundred milliseconds for nothing."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())

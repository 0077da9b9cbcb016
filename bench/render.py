"""Offline render cost versus Pulumi's own floor, measured side by side in one run.

(a) the full offline render of a stack, as ``make render`` runs it (``python -m tools.render``: program,
    builders, policy pack, cost estimate, files written);
(b) the floor: Pulumi's mock runtime registering the very same resources with the same inputs, replayed
    from that render's plan.json as plain resources;
(c) the floor with the typed Pulumi SDKs the program's resources come from imported first
    (``pulumi_kubernetes.core.v1`` and the other modules named by the resource types, ``pulumi_github``,
    ``pulumi_random``): what Pulumi costs a program that uses its typed SDKs, as the standards ask.

Each is a fresh interpreter (imports count for all), run alternately ROUNDS times so machine noise hits
all alike; all end the same way (output flushed, no interpreter teardown, as the render CLI ends). The
medians and the ratios a/b (target <= 2.0) and a/c are printed.

    .venv/bin/python bench/render.py [--stack prod] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOOR = """
import asyncio, importlib, json, os, sys
for module in {modules!r}:
    importlib.import_module(module)
import pulumi

SIG = "4dabf18193072939515e22adb298388d"

def unwrap(v):
    if isinstance(v, dict):
        if v.get(SIG):
            return pulumi.Output.secret(unwrap(v.get("value")))
        return {{k: unwrap(x) for k, x in v.items()}}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    return v

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name + "-id", dict(args.inputs)
    def call(self, args):
        return {{}}, None

plan = json.load(open({plan!r}))
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
pulumi.runtime.set_mocks(Mocks(), project=plan["project"], stack=plan["stack"], preview=False)
for r in plan["resources"]:
    if r["custom"]:
        pulumi.CustomResource(r["type"], r["name"], unwrap(r["inputs"]))
    else:
        pulumi.ComponentResource(r["type"], r["name"])
loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
sys.stdout.flush()
os._exit(0)
"""


def sdk_modules(types: list[str]) -> list[str]:
    """The typed SDK modules that define these resource types: ``kubernetes:core/v1:ConfigMap`` ->
    ``pulumi_kubernetes.core.v1``, ``kubernetes:rbac.authorization.k8s.io/v1:Role`` ->
    ``pulumi_kubernetes.rbac.v1``, a custom resource (``argoproj.io/...``) ->
    ``pulumi_kubernetes.apiextensions``, ``github:index/...`` -> ``pulumi_github``, providers -> the package."""
    out: set[str] = set()
    for token in types:
        package, module = token.split(":")[:2]
        if package == "hardening":  # this program's own components
            continue
        if package == "pulumi":
            if module == "providers":
                out.add(f"pulumi_{token.split(':')[2]}")
            continue
        base = f"pulumi_{package}"
        if module.startswith("index"):
            out.add(base)
            continue
        group, _, version = module.partition("/")
        if package == "kubernetes" and group.endswith(".k8s.io"):
            group = group.split(".")[0]
        elif package == "kubernetes" and "." in group:
            out.add(f"{base}.apiextensions")
            continue
        out.add(f"{base}.{group}.{version}" if version else f"{base}.{group}")
    return sorted(out)


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0,):
        raise SystemExit(f"benchmark step failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / args.stack
        render_argv = ["-m", "tools.render", "--stack", args.stack, "--out", str(out)]
        # as `make render` does first (site-packages were byte-compiled by pip)
        timed(["-m", "compileall", "-q", "components", "tools", "policies"])
        timed(render_argv)  # warm the file cache, and produce plan.json for the floor
        plan = out / "plan.json"
        resources = json.loads(plan.read_text())["resources"]
        modules = sdk_modules([r["type"] for r in resources])
        floor_argv = ["-c", FLOOR.format(plan=str(plan), modules=[])]
        typed_argv = ["-c", FLOOR.format(plan=str(plan), modules=modules)]
        full, floor, typed = [], [], []
        for _ in range(args.rounds):
            full.append(timed(render_argv))
            floor.append(timed(floor_argv))
            typed.append(timed(typed_argv))
    a, b, c = statistics.median(full), statistics.median(floor), statistics.median(typed)

    def runs(xs: list[float]) -> str:
        return ", ".join(f"{x:.2f}" for x in xs)

    print(f"stack {args.stack}: {len(resources)} resources, {args.rounds} alternating rounds (fresh interpreter each)")
    print(f"  (a) full offline render          : median {a:.2f}s  (runs: {runs(full)})")
    print(f"  (b) Pulumi mock floor            : median {b:.2f}s  (runs: {runs(floor)})")
    print(f"  (c) floor + typed SDK imports    : median {c:.2f}s  (runs: {runs(typed)})")
    print(f"      SDK modules: {', '.join(modules)}")
    verdict = "met" if a / b <= 2.0 else "MISSED: see docs/BENCHMARKS.md"
    print(f"  ratio a/b = {a / b:.2f}  (target <= 2.0: {verdict})")
    print(f"  ratio a/c = {a / c:.2f}  (ours, above Pulumi with the typed SDKs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Offline render cost versus Pulumi's own floor, measured side by side in one run, as services are added.

(a) the full offline render of a stack, as ``make render`` runs it (program, builders, policy pack, cost
    estimate, files written);
(c) the floor: Pulumi's mock runtime registering the very same resources with the same inputs (replayed from
    that render's plan.json), with the typed Pulumi SDKs the program's resources come from imported first
    (``pulumi_kubernetes.core.v1`` and the other modules named by the resource types, ``pulumi_github``,
    ``pulumi_random``): what Pulumi costs any program that uses its typed SDKs, as the standards ask.
    (A floor without those imports cannot be approached by a typed program: importing them alone costs more
    than that floor; docs/BENCHMARKS.md.)

Scenarios: the prod stack, and prod with synthetic services added until it runs 10 and 50 services (each a
folder under services/ and one stack entry, in a temporary copy of the project). Each measurement is a fresh
interpreter, alternated ROUNDS times so machine noise hits all alike. Printed: medians, a/c per scenario
(target <= 2.0, <= 1.5 where it can be had), and the marginal cost of one added service between 2->10 and
10->50 services (target: the 10->50 one at most 1.2 x the 2->10 one, i.e. linear growth).

    .venv/bin/python bench/render.py [--rounds 3] [--sizes 10,50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RENDER = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tools.render import exit_now, render
import io
exit_now(render("prod", Path({out!r}), stream=io.StringIO(), root=Path({root!r})))
"""
TEAMS = ("alpha", "beta", "gamma", "delta", "omega")


def synthetic_project(tmp: Path, total: int) -> Path:
    """A copy of the project whose prod stack runs ``total`` services (the real ones + synthetic)."""
    root = tmp / f"p{total}"
    root.mkdir()
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "services", root / "services")
    stack = yaml.safe_load((root / "Pulumi.prod.yaml").read_text())
    selected = stack["config"]["hardening:services"]
    for i in range(total - len(selected)):
        name = f"svc-{i:03d}"
        team = TEAMS[i % len(TEAMS)]
        folder = root / "services" / name
        folder.mkdir()
        score = {
            "apiVersion": "score.dev/v1b1",
            "metadata": {"name": name},
            "containers": {
                "main": {
                    "image": f"ghcr.io/example-org/{name}:1.0.{i}",
                    "variables": {"PORT": "8080", "TOKEN": "${resources.api.token}"},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                    "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}},
                }
            },
            "service": {"ports": {"http": {"port": 80, "targetPort": 8080}}},
            "resources": {"api": {"type": "vault-secret", "params": {"keys": ["token"]}}},
        }
        platform = {
            "apiVersion": "hardening/v1",
            "kind": "ServicePlatform",
            "team": team,
            "costCenter": f"cc-{team}",
            "repository": {"owner": "example-org", "name": name, "language": "go", "testCommand": "go test ./..."},
        }
        (folder / "score.yaml").write_text(yaml.safe_dump(score, sort_keys=False))
        (folder / "platform.yaml").write_text(yaml.safe_dump(platform, sort_keys=False))
        selected[name] = {"replicas": 2, "maxReplicas": 4}
    (root / "Pulumi.prod.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return root


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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="10,50", help="total service counts of the synthetic stacks")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = len(yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]["hardening:services"])
    results: dict[int, tuple[float, float, int]] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        timed(["-m", "compileall", "-q", "components", "tools", "policies"])  # as `make render` does first
        scenarios: dict[int, tuple[list[str], list[str], int]] = {}
        for total in [base, *sizes]:
            root = ROOT if total == base else synthetic_project(tmp, total)
            out = tmp / f"out{total}"
            render_argv = ["-c", RENDER.format(repo=str(ROOT), out=str(out), root=str(root))]
            timed(render_argv)  # warm the file cache, and produce plan.json for the floor
            plan = out / "plan.json"
            resources = json.loads(plan.read_text())["resources"]
            modules = sdk_modules([r["type"] for r in resources])
            scenarios[total] = (render_argv, ["-c", FLOOR.format(plan=str(plan), modules=modules)], len(resources))
        runs: dict[int, tuple[list[float], list[float]]] = {n: ([], []) for n in scenarios}
        for _ in range(args.rounds):
            for n, (render_argv, floor_argv, _count) in scenarios.items():
                runs[n][0].append(timed(render_argv))
                runs[n][1].append(timed(floor_argv))
        for n, (full, floor) in runs.items():
            results[n] = (statistics.median(full), statistics.median(floor), scenarios[n][2])

    print(f"prod and synthetic stacks, {args.rounds} alternating rounds (fresh interpreter each)")
    print("  services  resources   (a) render   (c) floor+SDKs   a/c")
    for n, (a, c, count) in results.items():
        verdict = "<= 1.5" if a / c <= 1.5 else ("<= 2.0" if a / c <= 2.0 else "MISSED 2.0")
        print(f"  {n:>8}  {count:>9}   {a:>8.2f}s   {c:>12.2f}s   {a / c:.2f} ({verdict})")
    if len(sizes) >= 2:
        (n1, n2) = sizes[0], sizes[-1]
        m1 = (results[n1][0] - results[base][0]) / (n1 - base)
        m2 = (results[n2][0] - results[n1][0]) / (n2 - n1)
        verdict = "met" if m2 <= 1.2 * m1 else "MISSED"
        print(f"  marginal cost of one service: {base}->{n1}: {m1 * 1000:.0f} ms, {n1}->{n2}: {m2 * 1000:.0f} ms")
        print(f"  ratio {m2 / m1:.2f} (target <= 1.2, linear growth: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

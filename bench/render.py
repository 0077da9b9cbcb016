"""Offline render cost versus Pulumi's own floor, measured side by side in one run.

(a) the full offline render of a stack (program, builders, policy pack, cost estimate, files written),
(b) the floor: Pulumi's mock runtime registering the very same resources with the same inputs, replayed
    from that render's plan.json as plain resources.

Each is a fresh interpreter (imports count for both), run alternately ROUNDS times so machine noise hits
both alike; the medians and their ratio a/b are printed. Target: a/b <= 2.0.

    .venv/bin/python bench/render.py [--stack prod] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RENDER = """
import sys
sys.path.insert(0, {root!r})
from tools.render import render
import io
code = render({stack!r}, __import__("pathlib").Path({out!r}), stream=io.StringIO())
sys.exit(code)
"""

FLOOR = """
import asyncio, json, sys
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
"""


def timed(code: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
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
        render_code = RENDER.format(root=str(ROOT), stack=args.stack, out=str(out))
        timed(render_code)  # warm the file cache, and produce plan.json for the floor
        plan = out / "plan.json"
        import json

        n = len(json.loads(plan.read_text())["resources"])
        floor_code = FLOOR.format(plan=str(plan))
        full, floor = [], []
        for _ in range(args.rounds):
            full.append(timed(render_code))
            floor.append(timed(floor_code))
    a, b = statistics.median(full), statistics.median(floor)
    print(f"stack {args.stack}: {n} resources, {args.rounds} alternating rounds (fresh interpreter each)")
    print(f"  (a) full offline render : median {a:.2f}s  (runs: {', '.join(f'{x:.2f}' for x in full)})")
    print(f"  (b) Pulumi mock floor   : median {b:.2f}s  (runs: {', '.join(f'{x:.2f}' for x in floor)})")
    print(f"  ratio a/b = {a / b:.2f}  (target <= 2.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

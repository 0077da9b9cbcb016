"""Cost estimate of a rendered stack, and the pull-request cost comment.

    python -m tools.cost estimate PLAN_OR_DIST_DIR [--json out.json]
    python -m tools.cost diff BASE HEAD [--threshold 20] [--markdown out.md] [--json out.json] [--fail-on-increase]

BASE/HEAD are render directories (``dist/<stack>``: ``plan.json`` is re-estimated with this code, else
``cost.json`` is read), ``plan.json`` files or ``cost.json`` files. ``--threshold`` defaults to HEAD's
``costIncreaseThresholdPercent`` (stack output ``costModel``), else 20. Exit status: 0 ok, 2 missing or
invalid input, 3 the increase is above the threshold and ``--fail-on-increase`` was given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.cost.diff import compare
from components.cost.estimate import SCHEMA, EstimateError, estimate_plan, load_json


def load_estimate(path: str | Path) -> dict[str, Any]:
    """The estimate (``Estimate.to_dict()``) of a render dir, a plan.json or a cost.json."""
    p = Path(path)
    if p.is_dir():
        for name in ("plan.json", "cost.json"):
            if (p / name).is_file():
                return load_estimate(p / name)
        raise EstimateError(
            f"{p}: neither plan.json nor cost.json in this directory (render it with "
            "`python -m tools.render --stack <stack> --out <dir>`)"
        )
    doc = load_json(p)
    if isinstance(doc, dict) and doc.get("schema") == SCHEMA:
        return doc
    if isinstance(doc, dict) and "resources" in doc:
        return estimate_plan(doc, source=str(p)).to_dict()
    raise EstimateError(f"{p}: neither a plan.json (with 'resources') nor a cost.json (schema {SCHEMA!r})")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    est = sub.add_parser("estimate", help="print the estimate of a render dir or plan.json")
    est.add_argument("source")
    est.add_argument("--json", type=Path, help="write the estimate as JSON")
    dif = sub.add_parser("diff", help="compare two renders; Markdown PR comment and JSON")
    dif.add_argument("base")
    dif.add_argument("head")
    dif.add_argument(
        "--threshold",
        type=float,
        help="percent increase that is flagged (default: HEAD's costIncreaseThresholdPercent, else 20)",
    )
    dif.add_argument("--markdown", type=Path, help="write the PR comment here")
    dif.add_argument("--json", type=Path, help="write the comparison as JSON")
    dif.add_argument("--fail-on-increase", action="store_true", help="exit 3 when above the threshold")
    args = parser.parse_args(argv)
    try:
        if args.command == "estimate":
            doc = load_estimate(args.source)
            from components.cost.estimate import money

            print(f"{doc['stack']}: {money(doc['monthly'], doc['currency'])} per month")
            for name, g in sorted(doc["byComponent"].items(), key=lambda kv: -kv[1]["monthly"]):
                print(f"  {name:<32} {money(g['monthly'], doc['currency']):>10}")
            if args.json:
                _write(args.json, json.dumps(doc, indent=1) + "\n")
            return 0
        base, head = load_estimate(args.base), load_estimate(args.head)
        threshold = args.threshold
        if threshold is None:
            threshold = (head.get("prices") or {}).get("increaseThresholdPercent", 20.0)
        result = compare(base, head, threshold, base_name=str(args.base), head_name=str(args.head))
    except EstimateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    markdown = result.to_markdown()
    if args.markdown:
        _write(args.markdown, markdown)
    if args.json:
        _write(args.json, json.dumps(result.to_dict(), indent=1) + "\n")
    print(markdown)
    if result.exceeded and args.fail_on_increase:
        print(f"cost increase above {result.threshold_percent:g} %", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

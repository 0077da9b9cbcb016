"""Cost estimate of a rendered stack, and the pull-request cost comment.

    python -m tools.cost estimate SOURCE [--json] [--out FILE]
    python -m tools.cost diff BASE HEAD [--threshold 20] [--fail-on-increase] [--json] [--out FILE]

SOURCE, BASE and HEAD are render directories (``dist/<stack>``: ``plan.json`` is re-estimated with this
code, else ``cost.json`` is read), ``plan.json`` files or ``cost.json`` files. ``diff`` prints the pull-request
comment (GitHub Markdown; its first line is the hidden marker ``<!-- hardening-cost-estimate -->`` the
preview workflow finds its one comment by); ``--json`` prints the machine form instead, ``--out FILE``
writes the output to FILE instead of stdout. ``--threshold`` defaults to HEAD's
``costIncreaseThresholdPercent`` (stack output ``costModel``), else 20. Comparing two different stacks
(dev -> prod) is allowed; the comment names both and a notice says so on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.cost.diff import compare
from components.cost.estimate import SCHEMA, EstimateError, estimate_plan, load_json, money
from tools import cli


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


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as exc:
        raise cli.UserError(f"--out {out}: cannot write it ({exc.strerror})") from None


def _estimate_text(doc: dict[str, Any]) -> str:
    lines = [f"{doc['stack']}: {money(doc['monthly'], doc['currency'])} per month"]
    for name, g in sorted(doc["byComponent"].items(), key=lambda kv: -kv[1]["monthly"]):
        lines.append(f"  {name:<32} {money(g['monthly'], doc['currency']):>10}")
    return "\n".join(lines) + "\n"


def _main(argv: Sequence[str] | None) -> int:
    parser = cli.Parser(prog="python -m tools.cost", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=cli.Parser)
    est = sub.add_parser("estimate", help="print the estimate of a render dir, plan.json or cost.json")
    est.add_argument("source")
    dif = sub.add_parser("diff", help="compare two renders: the pull-request comment (Markdown) or JSON")
    dif.add_argument("base")
    dif.add_argument("head")
    dif.add_argument(
        "--threshold",
        type=float,
        help="percent increase that is flagged (default: HEAD's costIncreaseThresholdPercent, else 20)",
    )
    dif.add_argument("--fail-on-increase", action="store_true", help="exit 3 when the increase is above the threshold")
    for p in (est, dif):
        cli.add_json(p)
        p.add_argument("--out", type=Path, metavar="FILE", help="write the output to FILE instead of stdout")
        cli.add_quiet(p)
    args = parser.parse_args(argv)
    if args.command == "estimate":
        doc = load_estimate(args.source)
        _emit(json.dumps(doc, indent=1) + "\n" if args.json else _estimate_text(doc), args.out)
        return cli.EXIT_OK
    base, head = load_estimate(args.base), load_estimate(args.head)
    threshold = args.threshold
    if threshold is None:
        threshold = (head.get("prices") or {}).get("increaseThresholdPercent", 20.0)
    result = compare(base, head, threshold, base_name=str(args.base), head_name=str(args.head))
    if result.base_stack != result.stack and not args.quiet:
        print(f"note: comparing stack {result.base_stack!r} ({args.base}) with stack {result.stack!r}", file=sys.stderr)
    _emit(json.dumps(result.to_dict(), indent=1) + "\n" if args.json else result.to_markdown(), args.out)
    if result.exceeded and args.fail_on_increase:
        print(f"cost increase above {result.threshold_percent:g} %", file=sys.stderr)
        return cli.EXIT_THRESHOLD
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The command with the CLI convention's error handling (tools/cli.py): returns the exit status."""
    return cli.run("cost", lambda: _main(argv), user_errors=(EstimateError,))


if __name__ == "__main__":
    sys.exit(main())

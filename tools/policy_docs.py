"""The rule table of docs/POLICIES.md, generated from the registry and the stacks' policy configs.

python -m tools.policy_docs            # rewrite the table between the markers
python -m tools.policy_docs --check    # exit 1 when the table is stale
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from policies.pack_config import stack_config
from policies.registry import RULES
from tools.cli import EXIT_FAILED, Parser, run

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "POLICIES.md"
DOCS_BEGIN = "<!-- BEGIN GENERATED RULE TABLE (python -m tools.policy_docs) -->"
DOCS_END = "<!-- END GENERATED RULE TABLE -->"
STACKS = ("dev", "prod")


def rule_table(stacks: Sequence[str] = STACKS) -> str:
    """Markdown: every rule with its level per stack, what it checks and how to fix it; then properties."""
    per_stack = {s: stack_config(s) for s in stacks}
    head = ["rule", "area", "kind", "severity", *stacks, "checks", "how to fix"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in RULES:
        levels = [per_stack[s][r.name].level or r.default_level for s in stacks]
        cells = [f"`{r.name}`", r.area, r.kind, r.severity, *levels, r.description, r.remediation]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    lines += ["", "Configuration properties (next to `enforcementLevel` in `policies/config/<stack>.json`;", ""]
    lines[-2] += " every rule also takes `exemptions`):"
    for r in RULES:
        if r.config:
            props = "; ".join(
                f"`{k}` ({v.get('type')}, default `{json.dumps(v.get('default'))}`): {v.get('description', '')}"
                for k, v in r.config.items()
            )
            lines.append(f"- `{r.name}`: {props}")
    return "\n".join(lines)


def current(text: str) -> str:
    start, end = text.index(DOCS_BEGIN) + len(DOCS_BEGIN), text.index(DOCS_END)
    return text[:start] + "\n" + rule_table() + "\n" + text[end:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="python -m tools.policy_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check that the table is current")
    args = parser.parse_args(argv)

    def go() -> int:
        text = DOCS_PATH.read_text()
        if args.check:
            if current(text) != text:
                print(f"{DOCS_PATH}: the rule table is stale; run `python -m tools.policy_docs`", file=sys.stderr)
                return EXIT_FAILED
            return 0
        DOCS_PATH.write_text(current(text))
        return 0

    return run("policy_docs", go)


if __name__ == "__main__":
    sys.exit(main())

"""docs/POLICIES.md carries the rule table generated from the registry and the stack configs."""

from __future__ import annotations

from policies import registry
from tools import policy_report as pr


def test_rule_table_in_docs_is_current() -> None:
    text = pr.DOCS_PATH.read_text()
    start = text.index(pr.DOCS_BEGIN) + len(pr.DOCS_BEGIN)
    end = text.index(pr.DOCS_END)
    assert text[start:end].strip() == pr.rule_table().strip(), (
        "docs/POLICIES.md is stale: run `python -m tools.policy_report --write-docs`"
    )


def test_every_rule_is_documented_with_its_levels_and_fix() -> None:
    text = pr.DOCS_PATH.read_text()
    infos = pr.registry_infos()
    levels = {s: pr.reconcile(infos, pr.load_policy_config(pr.default_config_path(s))) for s in ("dev", "prod")}
    for r in registry.RULES:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{r.name}` |")), None)
        assert row is not None, f"{r.name} missing from docs/POLICIES.md"
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[4:6] == [levels["dev"][r.name].level, levels["prod"][r.name].level]
        assert r.remediation.replace("|", "\\|") in row

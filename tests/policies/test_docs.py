"""docs/POLICIES.md carries the rule table generated from the registry and the stack configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import registry
from policies.pack_config import stack_config
from tools import policy_docs as pd


def test_rule_table_in_docs_is_current() -> None:
    text = pd.DOCS_PATH.read_text()
    assert pd.current(text) == text, "docs/POLICIES.md is stale: run `python -m tools.policy_docs`"
    assert pd.main(["--check"]) == 0


def test_check_fails_on_a_stale_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "POLICIES.md"
    stale.write_text(f"# x\n{pd.DOCS_BEGIN}\n| old |\n{pd.DOCS_END}\n")
    monkeypatch.setattr(pd, "DOCS_PATH", stale)
    assert pd.main(["--check"]) == 1
    assert pd.main([]) == 0 and pd.main(["--check"]) == 0
    assert "`images-no-latest-tag`" in stale.read_text()


def test_every_rule_is_documented_with_its_levels_and_fix() -> None:
    text = pd.DOCS_PATH.read_text()
    levels = {s: stack_config(s) for s in ("dev", "prod")}
    for r in registry.RULES:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{r.name}` |")), None)
        assert row is not None, f"{r.name} missing from docs/POLICIES.md"
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[4:6] == [levels["dev"][r.name].level, levels["prod"][r.name].level]
        assert r.remediation.replace("|", "\\|") in row

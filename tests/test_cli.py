"""One command-line convention for every tool under tools/ (tools/cli.py): ``--help`` with the exit-code
table, bad input as one line and exit 2 (never a traceback), a bug as exit 70 with the traceback in a file.

Each tool is one row of ``TOOLS``: its module, one bad input and a fragment of the message it must print.
Every runnable module under tools/ must have a row (``test_every_runnable_tool_has_a_row``).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools import cli

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Tool:
    module: str
    bad: tuple[str, ...]  # one bad input
    message: str  # what the message must say about it

    def __str__(self) -> str:
        return self.module


TOOLS = (
    Tool("tools.render", ("--stack", "nosuch"), "no stack file Pulumi.nosuch.yaml; known stacks: dev, prod"),
    Tool("tools.cost", ("estimate", "/nonexistent/plan.json"), "/nonexistent/plan.json: no such file"),
    Tool("tools.mockrun", ("--stack", "nosuch"), "no stack file Pulumi.nosuch.yaml"),
    Tool("tools.config_schema", ("--chek",), "unrecognized arguments: --chek"),
    Tool("tools.vendor", ("argo-rollouts", "--version", "v1.9.2", "--from", "/nonexistent"), "/nonexistent"),
    Tool("tools.vault", ("rotate-everything",), "invalid choice: 'rotate-everything'"),
    Tool("tools.policy_report", ("--stack", "dev", "--plan", "/nonexistent/plan.json"), "/nonexistent/plan.json"),
    Tool("tools.policy_docs", ("--chek",), "unrecognized arguments: --chek"),
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("tool", TOOLS, ids=str)
def test_help_prints_the_exit_code_table(tool: Tool) -> None:
    got = _run(tool.module, "--help")
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("usage: python -m " + tool.module), got.stdout[:200]
    # the one table, or a tool's own refinement of it (tools.vault names what 1 and 3 mean for Vault)
    table = got.stdout.split("exit status:", 1)[1] if "exit status:" in got.stdout else ""
    assert table, got.stdout
    for code, _meaning in cli.EXIT_CODES:
        assert re.search(rf"^  {code} ", table, re.M), (code, table)


@pytest.mark.parametrize("tool", TOOLS, ids=str)
def test_bad_input_exits_2_with_one_message_and_no_traceback(tool: Tool) -> None:
    got = _run(tool.module, *tool.bad)
    assert got.returncode == cli.EXIT_USAGE, (got.returncode, got.stderr)
    assert "Traceback" not in got.stderr + got.stdout
    assert got.stderr.startswith("error: ") and tool.message in got.stderr, got.stderr


def test_every_runnable_tool_has_a_row() -> None:
    runnable = set()
    for path in sorted((ROOT / "tools").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if path.name == "__main__.py":
            runnable.add(".".join(rel.parent.parts))
        elif 'if __name__ == "__main__":' in path.read_text():
            runnable.add(".".join(rel.parts))
    assert runnable == {t.module for t in TOOLS}


def test_a_bug_exits_70_with_the_traceback_in_a_file() -> None:
    def broken() -> int:
        raise RuntimeError("an unexpected state")

    err = io.StringIO()
    assert cli.run("demo", broken, err=err) == cli.EXIT_BUG
    line = err.getvalue()
    assert line.count("\n") == 1 and "Traceback" not in line
    match = re.search(r"the traceback is in (\S+\.log)", line)
    assert match, line
    log = Path(match.group(1))
    try:
        text = log.read_text()
        assert "Traceback" in text and "RuntimeError: an unexpected state" in text
    finally:
        log.unlink()


def test_readme_has_the_one_exit_code_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = "\n".join(["| code | meaning |", "| ---: | --- |", *(f"| {c} | {m} |" for c, m in cli.EXIT_CODES)])
    assert table in readme

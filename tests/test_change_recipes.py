"""The routine changes of docs/CONTRIBUTING.md, made exactly as its recipes say, on a copy of the program.

For each recipe (a new alert, a new policy, a new stack setting) the test copies the program's files into a
temporary directory, applies the recipe's edits there, runs the generators the recipe names, and then
checks in a fresh interpreter on that copy that the change took effect: the alert is in the rule files
Monitoring mounts, with its runbook; the policy fires in the pack on a violating resource and not on a
compliant one; the setting is read from a stack file, validated, and declared in the generated
Pulumi.yaml. Finally it counts the program files the recipe touched (not tests, docs, generated files or
stack values) and asserts the target of #21: one place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the program is made of (tests are not copied: a recipe's tests are counted apart).
COPIED = ("components", "policies", "tools", "docs", "services", "__main__.py", "Pulumi.yaml")
GENERATED = {"Pulumi.yaml", "docs/POLICIES.md"}  # rewritten by make config-schema / tools.policy_docs
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "venv")


def _copy_program(dest: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        else:
            shutil.copy2(src, dest / name)
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy2(stack_file, dest / stack_file.name)
    (dest / "vendor").symlink_to(ROOT / "vendor")  # upstream files, read only (checked by their SHA256SUMS)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not {"__pycache__", ".cache", "vendor"} & set(p.relative_to(root).parts)
    }


def _kind(path: str) -> str:
    if path in GENERATED:
        return "generated"
    if path.startswith("tests/"):
        return "test"
    if path.startswith("docs/") or path.endswith(".md"):
        return "doc"
    if path.startswith("Pulumi.") and path != "Pulumi.yaml":
        return "stack value"
    return "program"


def _insert(path: Path, before: str, text: str) -> None:
    """Insert ``text`` before the only occurrence of ``before`` in ``path`` (the recipe's edit)."""
    content = path.read_text(encoding="utf-8")
    assert content.count(before) == 1, f"{path}: the recipe's anchor {before!r} is not unique"
    path.write_text(content.replace(before, text + before), encoding="utf-8")


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\n" + text, encoding="utf-8")


def _python(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        [sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# --- the recipes, as docs/CONTRIBUTING.md words them ------------------------------------------------
ALERT = "LokiRecipeTestAlert"


def new_alert(root: Path) -> None:
    """One ``_Alert(...)`` entry in the area's rules module, and its runbook section in the area's guide."""
    _insert(
        root / "components/logging/rules.py",
        "    ]\n\n\n# The default ``for`` of every alert",
        textwrap.indent(
            textwrap.dedent(
                f"""\
                _Alert(
                    "{ALERT}",
                    "warning",
                    "15m",
                    f'sum by (namespace, pod) (rate(loki_panic_total{{{{{{loki}}}}}}[5m])) > 0',
                    "Loki {{{{ $labels.pod }}}} panics",
                    "Loki {{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}} recovered from panics.",
                ),
                """
            ),
            "        ",
        ),
    )
    _insert(
        root / "docs/LOGGING_GUIDE.md",
        "### LokiRetentionNotApplied\n",
        f"### {ALERT}\n\n*warning* — Loki recovered from a panic: read its logs around the time.\n\n",
    )


CHECK_ALERT = f"""
import json
from components.logging.addons import monitoring_addons
from components.monitoring.rules import all_rules, rule_files
from components.program_addons import all_addons
from components.service.load import load_services
from tests_support import settings
s = settings("dev")
files = rule_files(runbook_base_url=s.monitoring.runbook_base_url,
                   extra_groups=all_addons(s, load_services(s.services, __import__("pathlib").Path("."))).rule_groups)
print(json.dumps([r for r in all_rules(files) if r.get("alert") == "{ALERT}"]))
"""

POLICY = "workload-recipe-test-no-debug-label"


def new_policy(root: Path) -> None:
    """One rule function and its ``POLICY_<NAME> = Rule(...)`` next to it in ``policies/rules/<area>.py``."""
    _append(
        root / "policies/rules/workloads.py",
        textwrap.dedent(
            f'''

            def no_debug_label(res: Resource, config: Mapping[str, Any]) -> list[str]:
                labels = (res.props.get("metadata") or {{}}).get("labels") or {{}}
                return [f"{{res.props['metadata']['name']}} carries the debug label"] if "debug" in labels else []


            POLICY_WORKLOAD_RECIPE_TEST_NO_DEBUG_LABEL = Rule(
                name="{POLICY}",
                area="workloads",
                severity="low",
                kind="resource",
                default_level="mandatory",
                check=no_debug_label,
                applies_to=WORKLOAD_TYPES,
                description="No workload carries a debug label.",
                remediation="Remove the debug label.",
            )
            '''
        ),
    )


CHECK_POLICY = f"""
import json
from tools.policy_report import InProcessPack
def deployment(name, labels):
    props = {{"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {{"name": name, "namespace": "apps", "labels": labels}}, "spec": {{}}}}
    return {{"urn": f"urn:pulumi:dev::hardening::kubernetes:apps/v1:Deployment::{{name}}",
             "type": "kubernetes:apps/v1:Deployment", "name": name, "inputs": props}}
report = InProcessPack("dev").finish([deployment("bad", {{"debug": "1"}}), deployment("good", {{}})])
print(json.dumps({{"fired": sorted(v.name for v in report.violations if v.policy == "{POLICY}"),
                  "level": report.levels.get("{POLICY}")}}))
"""

SETTING_KEY = "lokiRecipeTestLines"


def new_setting(root: Path) -> None:
    """One ``setting(...)`` field of a settings dataclass in components/config.py; then make config-schema.
    A stack that wants another value than the default sets it in its stack file (a value, not a place)."""
    _insert(
        root / "components/config.py",
        "\n\n@dataclass(frozen=True)\nclass VaultSettings:",
        f'    recipe_test_lines: int = setting("{SETTING_KEY}", "integer", 10, "Lines per test.", _integer(1, 100))\n',
    )
    _append(root / "Pulumi.dev.yaml", f"  hardening:{SETTING_KEY}: 42\n")


CHECK_SETTING = f"""
import json
from components.config import ConfigError
from tests_support import settings
out = {{"dev": settings("dev").logging.recipe_test_lines, "prod": settings("prod").logging.recipe_test_lines}}
try:
    settings("dev", {SETTING_KEY}=0)
except ConfigError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""

# Loads a stack the way the Pulumi CLI hands it to the program (tools.mockrun), then validates it.
SUPPORT = """
from components.config import NAMESPACE, load_settings
from tools.mockrun import load_stack_config
import pathlib
def settings(stack, **overrides):
    _, config, secrets = load_stack_config(stack, pathlib.Path("."))
    values = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(NAMESPACE + ":")}
    return load_settings({**values, **overrides}, stack=stack, secret_names={s.split(":", 1)[1] for s in secrets})
"""

Recipe = tuple[Callable[[Path], None], list[list[str]], str]
RECIPES: dict[str, Recipe] = {
    "alert": (new_alert, [], CHECK_ALERT),
    "policy": (new_policy, [["-m", "tools.policy_docs"]], CHECK_POLICY),
    "setting": (new_setting, [["-m", "tools.config_schema"]], CHECK_SETTING),
}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, str], Any]]:
    """Every recipe applied to its own copy, the generators and checks run in parallel (one interpreter each)."""
    roots: dict[str, tuple[Path, dict[str, str]]] = {}
    for name, (edit, _, _) in RECIPES.items():
        root = tmp_path_factory.mktemp(f"recipe-{name}")
        _copy_program(root)
        before = _digests(root)
        edit(root)
        roots[name] = (root, before)
    gens = [
        (name, gen, _python(roots[name][0], *gen)) for name, (_, generators, _) in RECIPES.items() for gen in generators
    ]
    for name, gen, proc in gens:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {' '.join(gen)}: {out}{err}"
    procs = {}
    for name, (_, _, check) in RECIPES.items():
        root = roots[name][0]
        (root / "tests_support.py").write_text(SUPPORT)
        procs[name] = _python(root, "-c", check)
    results: dict[str, tuple[Path, dict[str, str], Any]] = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {err}"
        root, before = roots[name]
        (root / "tests_support.py").unlink()
        results[name] = (root, before, json.loads(out.strip().splitlines()[-1]))
    return results


def _touched(root: Path, before: dict[str, str]) -> dict[str, list[str]]:
    after = _digests(root)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    out: dict[str, list[str]] = {}
    for path in changed:
        out.setdefault(_kind(path), []).append(path)
    return out


def test_a_new_alert_is_one_place_and_ships_with_its_runbook(applied: dict[str, Any]) -> None:
    root, before, rules = applied["alert"]
    (rule,) = rules
    assert rule["labels"] == {"severity": "warning"} and rule["for"] == "15m"
    assert rule["expr"] == 'sum by (namespace, pod) (rate(loki_panic_total{job="loki"}[5m])) > 0'
    assert rule["annotations"]["runbook_url"].endswith(f"/LOGGING_GUIDE.md#{ALERT.lower()}")
    assert _touched(root, before) == {"program": ["components/logging/rules.py"], "doc": ["docs/LOGGING_GUIDE.md"]}


def test_a_new_policy_is_one_place_and_fires_in_the_pack(applied: dict[str, Any]) -> None:
    root, before, result = applied["policy"]
    assert result == {"fired": ["bad"], "level": "mandatory"}
    assert POLICY in (root / "docs/POLICIES.md").read_text()  # its row, regenerated
    assert _touched(root, before) == {"program": ["policies/rules/workloads.py"], "generated": ["docs/POLICIES.md"]}


def test_a_new_setting_is_one_place_read_from_the_stack_file_and_declared(applied: dict[str, Any]) -> None:
    root, before, result = applied["setting"]
    assert (result["dev"], result["prod"]) == (42, 10)  # dev's stack file sets it; prod takes the default
    assert f"hardening:{SETTING_KEY}" in result["error"] and "0" in result["error"]
    assert f"  {SETTING_KEY}:\n    type: integer\n" in (root / "Pulumi.yaml").read_text()
    assert _touched(root, before) == {
        "program": ["components/config.py"],
        "generated": ["Pulumi.yaml"],
        "stack value": ["Pulumi.dev.yaml"],
    }


def test_the_recipes_are_the_ones_contributing_shows() -> None:
    text = (ROOT / "docs" / "CONTRIBUTING.md").read_text()
    for needle in (
        "`_Alert(...)` entry",
        "`POLICY_<NAME> = Rule(...)`",
        "`setting(key, type, default, description, check)`",
        "tests/test_change_recipes.py",
    ):
        assert needle in text, needle

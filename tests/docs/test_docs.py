"""The docs hold together: runbook URLs land on headings, relative links resolve, OUTPUTS.md is the contract."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs import markdown as md
from tools.mockrun import ROOT, load_stack_config, mask_secrets

DOCS = ROOT / "docs"
STACKS = ("dev", "prod")
RULES_CONFIGMAP = "prometheus-rules"


# -- the Markdown helper itself ------------------------------------------------------------------


def test_github_anchor_rules() -> None:
    assert md.anchor("HighErrorRatio") == "higherrorratio"
    assert md.anchor("1. Deploy") == "1-deploy"
    assert md.anchor("Loki is not deleting old logs") == "loki-is-not-deleting-old-logs"
    assert md.anchor("Render exit codes 1/2 (`tools.render`)") == "render-exit-codes-12-toolsrender"
    assert md.anchor("Canary stuck or aborted") == "canary-stuck-or-aborted"
    assert md.anchor("[OUTPUTS](OUTPUTS.md) and *more*") == "outputs-and-more"
    text = "# A\n```sh\n# not a heading\n```\n## A\n## snake_case name\n"
    assert md.anchors(text) == {"a", "a-1", "snake_case-name"}


def test_links_skip_code(tmp_path: Path) -> None:
    path = tmp_path / "probe.md"
    path.write_text("see [a](x.md#y) and `[b](no.md)`\n```\n[c](no2.md)\n```\n[ref]: z.md\n")
    assert [link.target for link in md.links(path)] == ["x.md#y", "z.md"]


# -- every alert's runbook_url is a heading that exists -------------------------------------------


def _alert_rules(run: Any) -> list[dict[str, Any]]:
    configmaps = [
        r
        for r in run.by_type("kubernetes:core/v1:ConfigMap")
        if (r.inputs.get("metadata") or {}).get("name") == RULES_CONFIGMAP
    ]
    assert len(configmaps) == 1, f"expected one ConfigMap {RULES_CONFIGMAP}, found {len(configmaps)}"
    rules = []
    for key, text in mask_secrets(configmaps[0].inputs["data"]).items():
        for group in (yaml.safe_load(text) or {}).get("groups", []):
            rules += [dict(rule, _file=key) for rule in group.get("rules", []) if "alert" in rule]
    return rules


@pytest.mark.parametrize("stack", STACKS)
def test_every_runbook_url_resolves_to_a_heading(stack_run: Any, stack: str) -> None:
    _, config, _ = load_stack_config(stack)
    base = config["hardening:runbookBaseUrl"].rstrip("/")
    assert base.endswith("/docs"), f"runbookBaseUrl {base!r} should point at the docs/ folder"
    rules = _alert_rules(stack_run(stack))
    assert len(rules) >= 20, f"only {len(rules)} alert rules in {stack}"
    problems = []
    for rule in rules:
        url = rule["annotations"]["runbook_url"]
        where = f"{rule['_file']}: {rule['alert']}: {url}"
        if not url.startswith(base + "/") or "#" not in url:
            problems.append(f"{where}: not <runbookBaseUrl>/<file>#<anchor>")
            continue
        rel, _, fragment = url[len(base) + 1 :].partition("#")
        doc = DOCS / rel
        if not doc.is_file():
            problems.append(f"{where}: docs/{rel} does not exist")
        elif fragment not in md.anchors(doc.read_text()):
            problems.append(f"{where}: docs/{rel} has no heading with anchor #{fragment}")
    assert not problems, "broken runbook links:\n" + "\n".join(problems)


# -- every relative link in docs/*.md and README.md resolves --------------------------------------


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def test_relative_links_resolve() -> None:
    files = _markdown_files()
    assert len(files) >= 5
    problems = []
    checked = 0
    for path in files:
        for link in md.links(path):
            if md.is_external(link.target):
                continue
            checked += 1
            rel, _, fragment = link.target.partition("#")
            target = (path.parent / rel).resolve() if rel else path
            if not target.exists():
                problems.append(
                    f"{link}: {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target} does not exist"
                )
            elif fragment and target.suffix == ".md" and fragment not in md.anchors(target.read_text()):
                problems.append(f"{link}: no heading with anchor #{fragment} in {target.name}")
    assert checked >= 10, f"only {checked} relative links found: is the parser broken?"
    assert not problems, "broken links:\n" + "\n".join(problems)


# -- docs/OUTPUTS.md and the stacks' exports agree ------------------------------------------------

TYPES = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "map<string, string>": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "list<string>": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}
STABILITY = ("stable", "may change")
STACK_SCOPES = {"both": set(STACKS), "prod only": {"prod"}, "dev only": {"dev"}}


def documented_outputs() -> dict[str, dict[str, str]]:
    """name -> {type, stability, stacks} from the table of docs/OUTPUTS.md whose header starts 'output'."""
    text = (DOCS / "OUTPUTS.md").read_text()
    found = [
        t for t in md.tables(text) if t and [c.lower() for c in t[0][:4]] == ["output", "type", "stability", "stacks"]
    ]
    assert len(found) == 1, "docs/OUTPUTS.md needs one table with the columns output | type | stability | stacks"
    out: dict[str, dict[str, str]] = {}
    for row in found[0][1:]:
        m = re.fullmatch(r"`([A-Za-z][A-Za-z0-9]*)`", row[0])
        assert m, f"docs/OUTPUTS.md: first cell {row[0]!r} is not a `camelCaseName`"
        name = m.group(1)
        assert name not in out, f"docs/OUTPUTS.md lists {name} twice"
        out[name] = {"type": row[1].replace("&lt;", "<").replace("&gt;", ">"), "stability": row[2], "stacks": row[3]}
    return out


def test_outputs_doc_matches_both_stacks(stack_run: Any) -> None:
    doc = documented_outputs()
    exported = {stack: stack_run(stack).outputs for stack in STACKS}
    problems = []
    for name, row in doc.items():
        if row["type"] not in TYPES:
            problems.append(f"{name}: type {row['type']!r} is not one of {', '.join(TYPES)}")
        if row["stability"] not in STABILITY:
            problems.append(f"{name}: stability {row['stability']!r} is not one of {', '.join(STABILITY)}")
        if row["stacks"] not in STACK_SCOPES:
            problems.append(f"{name}: stacks {row['stacks']!r} is not one of {', '.join(STACK_SCOPES)}")
            continue
        for stack in STACKS:
            expected = stack in STACK_SCOPES[row["stacks"]]
            present = name in exported[stack]
            if expected and not present:
                problems.append(f"{name}: documented for {row['stacks']} but not exported by {stack}")
            elif present and not expected:
                problems.append(f"{name}: exported by {stack} but documented as {row['stacks']}")
            elif present and row["type"] in TYPES and not TYPES[row["type"]](exported[stack][name]):
                problems.append(f"{name}: {stack} exports {exported[stack][name]!r}, not a {row['type']}")
    for stack in STACKS:
        for name in sorted(set(exported[stack]) - set(doc)):
            problems.append(f"{name}: exported by {stack} but missing from docs/OUTPUTS.md")
    assert not problems, "docs/OUTPUTS.md and the stack outputs disagree:\n" + "\n".join(problems)


def test_outputs_doc_shows_the_real_prod_values(stack_run: Any) -> None:
    """The 'prod value' column quotes the real prod value for every plain string output."""
    text = (DOCS / "OUTPUTS.md").read_text()
    prod = stack_run("prod").outputs
    table = next(t for t in md.tables(text) if t[0][0] == "output")
    column = [c.lower() for c in table[0]].index("prod value")
    stale = []
    for row in table[1:]:
        name = row[0].strip("`")
        if isinstance(prod.get(name), str) and f"`{prod[name]}`" not in row[column]:
            stale.append(f"{name}: doc shows {row[column]!r}, prod exports {prod[name]!r}")
    assert not stale, "\n".join(stale)


# -- the dev/prod matrix of PHASE5_GUIDE.md is the stack files' -----------------------------------


def test_phase5_stack_matrix_matches_the_stack_files() -> None:
    stacks = {s: (yaml.safe_load((ROOT / f"Pulumi.{s}.yaml").read_text()) or {})["config"] for s in STACKS}
    text = (DOCS / "PHASE5_GUIDE.md").read_text()
    table = next(t for t in md.tables(text) if [c.lower() for c in t[0]] == ["setting", "dev", "prod"])
    compared, problems = 0, []
    for row in table[1:]:
        keys = re.findall(r"`([A-Za-z]+)`", row[0].split("(")[0])
        if not keys:
            continue  # prose rows (policy levels)
        for col, stack in ((1, "dev"), (2, "prod")):
            cells = [c.strip() for c in row[col].split(" / ")]
            values = cells if len(cells) == len(keys) else cells * len(keys)
            for key, cell in zip(keys, values, strict=True):
                m = re.fullmatch(r"`(.*)`", cell)
                full = f"hardening:{key}"
                if not m or full not in stacks[stack]:
                    problems.append(
                        f"{key} ({stack}): cell {cell!r} / key in Pulumi.{stack}.yaml: {full in stacks[stack]}"
                    )
                    continue
                compared += 1
                expected = stacks[stack][full]
                if yaml.safe_load(m.group(1)) != expected and m.group(1) != expected:
                    problems.append(f"{key} ({stack}): guide says {m.group(1)}, Pulumi.{stack}.yaml has {expected!r}")
    assert compared >= 40, f"only {compared} values compared"
    assert not problems, "PHASE5_GUIDE.md stack matrix is stale:\n" + "\n".join(problems)

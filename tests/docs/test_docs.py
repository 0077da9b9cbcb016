"""The docs hold together: runbook URLs land on headings, relative links resolve, OUTPUTS.md is the contract."""

from __future__ import annotations

import json
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
    "map<string, object>": lambda v: isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()),
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


def _table(text: str, header: list[str]) -> list[list[str]]:
    found = [t for t in md.tables(text) if t and [c.lower() for c in t[0][: len(header)]] == header]
    assert len(found) == 1, f"expected one table with the columns {' | '.join(header)}, found {len(found)}"
    return found[0]


def documented_service_keys() -> dict[str, dict[str, str]]:
    """key -> {type, stability, prod} from the 'Per-service entries' table of docs/OUTPUTS.md."""
    table = _table((DOCS / "OUTPUTS.md").read_text(), ["key", "type", "stability", "what"])
    out: dict[str, dict[str, str]] = {}
    for row in table[1:]:
        m = re.fullmatch(r"`([A-Za-z][A-Za-z0-9]*)`", row[0])
        assert m, f"docs/OUTPUTS.md: per-service key {row[0]!r} is not a `camelCaseName`"
        assert m.group(1) not in out, f"docs/OUTPUTS.md lists the per-service key {m.group(1)} twice"
        out[m.group(1)] = {
            "type": row[1].replace("&lt;", "<").replace("&gt;", ">"),
            "stability": row[2],
            "prod": row[4],
        }
    return out


def test_outputs_doc_lists_every_key_of_every_service_entry(stack_run: Any) -> None:
    """Every entry of ``services`` in both stacks has exactly the documented keys, of the documented types."""
    doc = documented_service_keys()
    assert {"namespace", "url", "vaultRole"} <= set(doc)
    problems = [
        f"{k}: type {r['type']!r} is not one of {', '.join(TYPES)}" for k, r in doc.items() if r["type"] not in TYPES
    ]
    problems += [f"{k}: stability {r['stability']!r}" for k, r in doc.items() if r["stability"] not in STABILITY]
    entries = 0
    for stack in STACKS:
        for name, entry in stack_run(stack).outputs["services"].items():
            entries += 1
            where = f"{stack}: services.{name}"
            for key in sorted(set(entry) - set(doc)):
                problems.append(f"{where}.{key}: exported but missing from docs/OUTPUTS.md 'Per-service entries'")
            for key in sorted(set(doc) - set(entry)):
                problems.append(f"{where}.{key}: documented but not exported")
            for key in sorted(set(doc) & set(entry)):
                check = TYPES.get(doc[key]["type"])
                if check is not None and not check(entry[key]):
                    problems.append(f"{where}.{key}: {entry[key]!r} is not a {doc[key]['type']}")
    assert entries >= 3, f"only {entries} service entries in dev + prod"
    assert not problems, "docs/OUTPUTS.md per-service keys and the stacks disagree:\n" + "\n".join(problems)


def test_outputs_doc_shows_the_real_prod_service_entry(stack_run: Any) -> None:
    """The 'prod value' column of the per-service table is prod's orders-api entry, value for value."""
    entry = stack_run("prod").outputs["services"]["orders-api"]
    stale = []
    for key, row in documented_service_keys().items():
        value = entry.get(key)
        shown = f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"
        if shown != row["prod"]:
            stale.append(f"{key}: doc shows {row['prod']!r}, prod's orders-api exports {shown}")
    assert not stale, "\n".join(stale)


# -- the dev/prod matrix of PHASE5_GUIDE.md is the stack files' -----------------------------------


_UNSET = object()
NOT_SET = "—"  # a matrix cell for a key the stack file does not set (the default applies)


def _stack_value(config: dict[str, Any], key: str) -> Any:
    """``key`` of a stack file: a top-level setting, or a dotted path into one (``services.orders-api.replicas``)."""
    first, *rest = key.split(".")
    value = config.get(f"hardening:{first}", _UNSET)
    for part in rest:
        value = value.get(part, _UNSET) if isinstance(value, dict) else _UNSET
    return value


def test_phase5_stack_matrix_matches_the_stack_files() -> None:
    stacks = {s: (yaml.safe_load((ROOT / f"Pulumi.{s}.yaml").read_text()) or {})["config"] for s in STACKS}
    text = (DOCS / "PHASE5_GUIDE.md").read_text()
    table = next(t for t in md.tables(text) if [c.lower() for c in t[0]] == ["setting", "dev", "prod"])
    compared, unset, problems = 0, 0, []
    for row in table[1:]:
        keys = re.findall(r"`([A-Za-z][A-Za-z0-9.-]*)`", row[0].split("(")[0])
        if not keys:
            continue  # prose rows (policy levels)
        for col, stack in ((1, "dev"), (2, "prod")):
            cells = [c.strip() for c in row[col].split(" / ")]
            values = cells if len(cells) == len(keys) else cells * len(keys)
            for key, cell in zip(keys, values, strict=True):
                expected = _stack_value(stacks[stack], key)
                if cell == NOT_SET:
                    unset += 1
                    if expected is not _UNSET:
                        problems.append(f"{key} ({stack}): guide says not set, Pulumi.{stack}.yaml has {expected!r}")
                    continue
                m = re.fullmatch(r"`(.*)`", cell)
                if not m or expected is _UNSET:
                    problems.append(
                        f"{key} ({stack}): cell {cell!r} / key in Pulumi.{stack}.yaml: {expected is not _UNSET}"
                    )
                    continue
                compared += 1
                if yaml.safe_load(m.group(1)) != expected and m.group(1) != expected:
                    problems.append(f"{key} ({stack}): guide says {m.group(1)}, Pulumi.{stack}.yaml has {expected!r}")
    assert compared >= 40, f"only {compared} values compared"
    assert unset >= 1, "no not-set cell compared: is the matrix parser broken?"
    assert not problems, "PHASE5_GUIDE.md stack matrix is stale:\n" + "\n".join(problems)

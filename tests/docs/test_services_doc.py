"""docs/SERVICES.md is true: its complete example runs, every message it quotes is the loader's, its field
table is the schema's (with the defaults the loader applies), and its quota and SLI tables are the stacks'."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.service import spec as sp
from components.service.load import PLATFORM_SCHEMA, ServiceError, load_services
from tests.docs import markdown as md
from tests.service.stacks import edit_yaml, project_copy
from tools.mockrun import ROOT, run_stack

DOC = ROOT / "docs" / "SERVICES.md"
QUOTA = "kubernetes:core/v1:ResourceQuota"


def _text() -> str:
    return DOC.read_text()


def _table(header: list[str]) -> list[list[str]]:
    found = [t for t in md.tables(_text()) if [c.lower() for c in t[0][: len(header)]] == header]
    assert len(found) == 1, f"docs/SERVICES.md: expected one table with the columns {header}, found {len(found)}"
    return found[0]


def _literal(cell: str) -> str:
    m = re.fullmatch(r"`([^`]*)`", cell)
    assert m, f"docs/SERVICES.md: {cell!r} is not one `literal`"
    return m.group(1)


# -- the complete example ------------------------------------------------------------------------


def _example_blocks() -> dict[str, str]:
    """The fenced yaml blocks of SERVICES.md whose first line is a ``# <path>`` comment, by that path."""
    blocks = re.findall(r"^```yaml\n# (\S+)[^\n]*\n(.*?)^```$", _text(), flags=re.MULTILINE | re.DOTALL)
    return {path: body for path, body in blocks}


def _with_example(root: Path) -> None:
    blocks = _example_blocks()
    folder = root / "services" / "payments-api"
    folder.mkdir()
    for name in ("score.yaml", "platform.yaml"):
        (folder / name).write_text(blocks[f"services/payments-api/{name}"])
    selection = yaml.safe_load(blocks["Pulumi.prod.yaml"])["hardening:services"]
    edit_yaml(root / "Pulumi.prod.yaml", lambda d: d["config"]["hardening:services"].update(selection))


def test_the_complete_example_is_complete() -> None:
    blocks = _example_blocks()
    assert set(blocks) == {
        "services/payments-api/score.yaml",
        "services/payments-api/platform.yaml",
        "Pulumi.prod.yaml",
    }
    platform = yaml.safe_load(blocks["services/payments-api/platform.yaml"])
    assert set(platform) == set(PLATFORM_SCHEMA["properties"]), "the example writes out every top-level field"
    for key in ("metrics", "sli", "thresholds", "delivery", "secrets", "repository"):
        assert set(platform[key]) == set(PLATFORM_SCHEMA["properties"][key]["properties"]), key
    assert set(yaml.safe_load(blocks["Pulumi.prod.yaml"])["hardening:services"]["payments-api"]) == {
        "tag",
        "replicas",
        "maxReplicas",
        "resources",
        "host",
        "canary",
    }


def test_the_complete_example_runs_in_the_prod_stack(tmp_path: Path) -> None:
    """The three blocks, dropped into a copy of the project, run under mocks as the doc says they do."""
    root = project_copy(tmp_path, _with_example)
    run = run_stack("prod", root=root)
    entry = run.outputs["services"]["payments-api"]
    text = " ".join(_text().split())
    assert entry["image"] == "ghcr.io/example-org/payments-api:0.4.1" and f"`{entry['image']}`" in text
    assert entry["namespace"] == "payments" and entry["publicUrl"] == "https://payments.example.com"
    assert entry["vaultRole"] == "payments-api" and "its Vault role is `payments-api`" in text
    assert entry["vaultSecretPaths"] == ["apps/payments-api/db", "apps/payments-api/provider"]
    assert "`secret/apps/payments-api/db` and `secret/apps/payments-api/provider`" in text
    rollout = run.get("kubernetes:argoproj.io/v1alpha1:Rollout", "payments-api-rollout").inputs["spec"]
    steps = rollout["strategy"]["canary"]["steps"]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [10, 50]
    assert {s["pause"]["duration"] for s in steps if "pause" in s} == {"2m"}
    assert "10 % → 2 m → 50 % → 2 m canary" in text
    hpa = run.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "payments-api-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4) and "(2 to 4 replicas at" in text
    # The secret placeholders never become environment values; ${metadata.name} is resolved.
    container = rollout["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env["SERVICE_NAME"] == "payments-api" and "DATABASE_PASSWORD" not in env


# -- every quoted message is the loader's ----------------------------------------------------------

Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Change:
    def change(doc: Any) -> None:
        *parents, last = path.split(".")
        for p in parents:
            doc = doc[int(p)] if p.isdigit() else doc[p]
        doc[last] = value

    return change


def _pop(path: str) -> Change:
    def change(doc: Any) -> None:
        *parents, last = path.split(".")
        for p in parents:
            doc = doc[int(p)] if p.isdigit() else doc[p]
        del doc[last]

    return change


DEMO, ORDERS = "go-deployment-demo", "orders-api"
# (service, the file to change or "stack", the change or the stack overrides): each yields a message SERVICES.md quotes
MESSAGES: list[tuple[str, str, Any]] = [
    (DEMO, "score.yaml", _set("containers.side", {"image": "ghcr.io/example-org/side:1.0.0"})),
    (DEMO, "score.yaml", _set("resources.pg", {"type": "postgres"})),
    (DEMO, "score.yaml", _set("containers.main.volumes", {"/data": {"source": "x"}})),
    (DEMO, "score.yaml", _set("containers.main.livenessProbe", {"exec": {"command": ["true"]}})),
    (ORDERS, "score.yaml", _set("containers.main.livenessProbe.httpGet.scheme", "HTTPS")),
    (DEMO, "score.yaml", _set("containers.main.readinessProbe", {"httpGet": {"path": "/ready", "port": 9999}})),
    (DEMO, "score.yaml", _set("containers.main.files./etc/x", {"source": "x.txt"})),
    (DEMO, "score.yaml", _set("service.ports.web.protocol", "UDP")),
    (ORDERS, "score.yaml", _set("metadata.annotations", {"example.com/owner": "x"})),
    (DEMO, "score.yaml", _set("containers.main.variables.X", "${metadata.annotations.x}")),
    (DEMO, "score.yaml", _set("containers.main.variables.X", "${resources.cache.url}")),
    (DEMO, "score.yaml", _set("containers.main.variables.X", "${resources.db.token}")),
    (DEMO, "score.yaml", _set("containers.main.image", "ghcr.io/example-org/go-deployment-demo")),
    (ORDERS, "score.yaml", _set("extra", 1)),
    (DEMO, "platform.yaml", _set("owner", "x")),
    (DEMO, "platform.yaml", _set("metrics.port", 9100)),
    (DEMO, "platform.yaml", _set("slos.0.objective", 100)),
    (DEMO, "platform.yaml", _pop("slos.1.thresholdSeconds")),
    (DEMO, "platform.yaml", _set("namespace", "monitoring")),
    (DEMO, "stack", {"image": "x"}),
    (DEMO, "stack", {"replicas": 3, "maxReplicas": 2}),
    (DEMO, "stack", {"canary": {"weights": [50, 20]}}),
    (DEMO, "stack", {"tag": "latest"}),
]
# Problems that need two services or none.
SELECTIONS: list[dict[str, Any]] = [
    {ORDERS: {"host": "a.example.com"}, DEMO: {"host": "a.example.com"}},
    {},
    {"payments-api": {}},
]


def _problems(tmp: Path, service: str, where: str, change: Any) -> list[str]:
    root = project_copy(tmp)
    if where != "stack":
        edit_yaml(root / "services" / service / where, change)
    with pytest.raises(ServiceError) as info:
        load_services({service: change if where == "stack" else {}}, root)
    return info.value.problems


def _quoted_messages() -> set[str]:
    """Every cell of SERVICES.md's 'message' columns, without its backticks."""
    out = set()
    for table in md.tables(_text()):
        header = [c.lower() for c in table[0]]
        if "message" in header:
            col = header.index("message")
            out |= {_literal(row[col]) for row in table[1:]}
    return out


def test_every_quoted_message_is_what_the_loader_says(tmp_path: Path) -> None:
    produced: list[str] = []
    for i, (service, where, change) in enumerate(MESSAGES):
        problems = _problems(tmp_path / str(i), service, where, change)
        assert problems, (service, where)
        produced += problems
    demo_in_web = project_copy(tmp_path / "web")
    edit_yaml(demo_in_web / "services" / DEMO / "platform.yaml", _set("namespace", "web"))
    for root, selection in [(demo_in_web, {ORDERS: {}, DEMO: {}}), *((ROOT, s) for s in SELECTIONS)]:
        with pytest.raises(ServiceError) as info:
            load_services(selection, root)
        produced += info.value.problems
    text = " ".join(_text().split())
    quoted = _quoted_messages()
    # Every message the doc quotes in a table is one the loader produced, word for word ...
    assert not quoted - set(produced), "quoted in docs/SERVICES.md but not produced:\n" + "\n".join(
        quoted - set(produced)
    )
    # ... and every message produced here is quoted somewhere in the doc (tables, prose or the shell example),
    # except the second message a 'latest' tag also yields (it names the Score image).
    missing = [p for p in produced if p not in text and "' has no immutable tag; set one there" not in p]
    assert not missing, "produced but not quoted in docs/SERVICES.md:\n" + "\n".join(missing)
    assert len(quoted) >= 20


# -- the platform.yaml field table ----------------------------------------------------------------


def _schema_fields(schema: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        if "properties" in sub:
            out |= _schema_fields(sub, f"{path}.")
        elif sub.get("type") == "array" and "properties" in sub.get("items", {}):
            out |= {path} | _schema_fields(sub["items"], f"{path}[].")
        else:
            out.add(path)
    return out


def _field_table() -> dict[str, list[str]]:
    return {_literal(row[0]): row for row in _table(["field", "accepted", "default", "what"])[1:]}


def test_the_field_table_lists_every_schema_field() -> None:
    documented, schema = set(_field_table()), _schema_fields(PLATFORM_SCHEMA)
    assert len(schema) >= 35
    assert documented == schema, (
        f"undocumented: {sorted(schema - documented)}; not in the schema: {sorted(documented - schema)}"
    )
    required = [f for f in PLATFORM_SCHEMA["required"] if f != "repository"] + ["repository.owner", "repository.name"]
    assert all(_field_table()[field][2] == "required" for field in required), required


MINIMAL_PLATFORM = {
    "apiVersion": "hardening/v1",
    "kind": "ServicePlatform",
    "team": "acme",
    "costCenter": "cc-acme",
    "repository": {"owner": "acme", "name": "tiny"},
}
# field -> the value the loader derives when platform.yaml does not set it
DEFAULTS: dict[str, Callable[[sp.ServiceSpec], Any]] = {
    "runAsUser": lambda s: s.run_as_user,
    "metrics.path": lambda s: s.metrics.path,
    "sli.durationHistogram": lambda s: s.sli.duration_histogram,
    "sli.statusLabel": lambda s: s.sli.status_label,
    "sli.routeLabel": lambda s: s.sli.route_label,
    "sli.errorStatusRegex": lambda s: s.sli.error_status_regex,
    "slos[].window": lambda s: s.slos[0].window,
    "thresholds.errorRatio": lambda s: s.thresholds.error_ratio,
    "thresholds.latencyP95Seconds": lambda s: s.thresholds.latency_p95_seconds,
    "thresholds.canaryMinRequests": lambda s: s.thresholds.canary_min_requests,
    "delivery.strategy": lambda s: s.delivery.strategy,
    "delivery.weights": lambda s: list(s.delivery.weights),
    "delivery.pause": lambda s: s.delivery.pause,
    "delivery.analysisInterval": lambda s: s.delivery.analysis_interval,
    "delivery.failureLimit": lambda s: s.delivery.failure_limit,
    "secrets.delivery": lambda s: s.secrets_delivery.mode,
    "secrets.agentFormat": lambda s: s.secrets_delivery.agent_format,
    "secrets.renderInterval": lambda s: s.secrets_delivery.render_interval,
    "repository.dockerfile": lambda s: s.repository.dockerfile,
    "repository.context": lambda s: s.repository.context,
    "repository.language": lambda s: s.repository.language,
    "repository.testCommand": lambda s: s.repository.test_command,
}


def test_the_documented_defaults_are_the_loaders(tmp_path: Path) -> None:
    """A platform.yaml with only the required fields: every literal default of the table is what the loader
    derives; the prose defaults (namespace, metrics.port, slos) are checked one by one."""
    root = project_copy(tmp_path)
    (root / "services" / DEMO / "platform.yaml").write_text(yaml.safe_dump(MINIMAL_PLATFORM))
    (spec,) = load_services({DEMO: {}}, root)
    table = _field_table()
    wrong = []
    for field, derive in DEFAULTS.items():
        cell = _literal(table[field][2])
        documented = yaml.safe_load(cell) if cell != "" else ""
        if documented != derive(spec) and cell != derive(spec):
            wrong.append(f"{field}: doc says {cell!r}, the loader derives {derive(spec)!r}")
    assert not wrong, "docs/SERVICES.md defaults are stale:\n" + "\n".join(wrong)
    assert spec.namespace == "acme" and table["namespace"][2] == "the `team`"
    assert spec.metrics.port == spec.ports[0].target_port == 3000
    assert spec.slos == (sp.Slo("availability", "availability", 99.9, "28d"),)
    assert table["slos"][2] == "one SLO: `availability`, 99.9 %, `28d`"
    assert spec.sli.requests == "http_server_request_duration_seconds_count"
    assert table["sli.requestsCounter"][2] == "the histogram's `_count`"
    assert spec.repository.language_version == "" and table["repository.languageVersion"][2] == "none"


# -- the SLI table and the quota table are the stacks' ----------------------------------------------


def test_the_sli_table_is_the_services_definitions() -> None:
    orders, demo = load_services({ORDERS: {}, DEMO: {}}, ROOT)
    default = sp.SliContract()
    rows = {row[0].strip("`"): row for row in _table(["", "opentelemetry default"])[1:]}
    for key, attr in (
        ("durationHistogram", "duration_histogram"),
        ("requestsCounter", "requests_counter"),
        ("statusLabel", "status_label"),
        ("routeLabel", "route_label"),
    ):
        shown = [_literal(c) for c in rows[key][1:4]]
        expected = [getattr(s, attr) or s.requests for s in (default, orders.sli, demo.sli)]
        assert shown == expected, key
    slos = rows["SLOs"][1:4]
    for cell, service in zip(slos[1:], (orders, demo), strict=True):
        for slo in service.slos:
            assert f"{slo.objective_percent:g} %" in cell and f"/ {slo.window}" in cell, (cell, slo)
            if slo.kind == "latency":
                assert f"under {slo.threshold_seconds:g} s" in cell, (cell, slo)


def test_the_quota_table_is_the_rendered_prod_quota(stack_run: Any) -> None:
    run = stack_run("prod")
    table = _table(["namespace", "services", "pods"])
    header = table[0]
    assert {r[0].strip("`") for r in table[1:]} == set(
        run.outputs["services"][s]["namespace"] for s in run.outputs["services"]
    )
    for row in table[1:]:
        ns = row[0].strip("`")
        (quota,) = [q for q in run.by_type(QUOTA) if q.inputs["metadata"]["namespace"] == ns]
        hard = quota.inputs["spec"]["hard"]
        for col in range(2, len(header)):
            assert _literal(row[col]) == str(hard[header[col]]), (ns, header[col], hard)

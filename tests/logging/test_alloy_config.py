"""The Alloy configuration builder, read back with an independent tokenizer/parser (tests/logging/river.py)."""

from __future__ import annotations

import re

import pytest

from components.logging import alloy_config as ac
from components.logging import names
from tests.logging.river import BinOp, Block, Call, Ref, RiverError, parse, tokenize
from tests.logging.support import json_services

STACKS = ("dev", "prod")


def _tree(stack: str) -> Block:
    return parse(ac.render_for(json_services(stack)))


# --- the checker itself: it must reject what Alloy would reject -------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('a "x" {\n  b = 1\n', "missing '}'"),
        ('a "x" {\n  b = 1\n}\n}\n', "expected an attribute or block name"),
        ('a {\n  b = "unterminated\n}\n', "unterminated string"),
        ('a {\n  b = "bad \\q escape"\n}\n', "unknown escape"),
        ("a {\n  b = [1, 2\n}\n", "expected ',' or ']'"),
        ("a {\n  b = { c = 1 \n}\n", "missing '}'"),
        ("a {\n  b =\n}\n", "has no value"),
        ("a {\n  b = 1\n  b = 2\n}\n", "set twice"),
        ("a {\n  b = 1 c = 2\n}\n", "unexpected"),
        ('a {\n  b = sys.env("X"\n}\n', "expected ',' or ')'"),
        ("a { /* open comment\n}\n", "unterminated block comment"),
        ("a {\n  b = 1 # not a comment\n}\n", "unexpected character"),
    ],
)
def test_checker_rejects_malformed_config(text: str, message: str) -> None:
    with pytest.raises(RiverError, match=re.escape(message)):
        parse(text)


def test_checker_reads_literals_escapes_and_expressions() -> None:
    tree = parse(
        '// c\nblock.kind "label" {\n  s = "a\\"b\\\\c\\n\\x41"\n  r = `raw "x"`\n'
        '  l = ["x", 2, true, null]\n  o = { k = "v", "q" = 1 }\n  e = "p=" + sys.env("N")\n'
        "  /* multi\n line */\n  inner {\n    ref = a.b.c\n  }\n}\n"
    )
    b = tree.one("block.kind", "label")
    assert b.attrs["s"] == 'a"b\\c\nA'
    assert b.attrs["r"] == 'raw "x"'
    assert b.attrs["l"] == ["x", 2, True, None]
    assert b.attrs["o"] == {"k": "v", "q": 1}
    assert b.attrs["e"] == BinOp("+", "p=", Call("sys.env", ("N",)))
    assert b.one("inner").attrs["ref"] == Ref("a.b.c")
    assert [t.kind for t in tokenize('x = "y"')] == ["ident", "punct", "string", "eof"]


# --- the rendered configuration ------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_config_is_well_formed_with_exactly_the_pipeline_components(stack: str) -> None:
    text = ac.render_for(json_services(stack))
    tree = parse(text)  # raises on unbalanced braces/brackets, bad strings, stray tokens
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")
    assert [(b.name, b.label) for b in tree.blocks] == [
        ("logging", None),
        ("discovery.kubernetes", "pods"),
        ("discovery.relabel", "pods"),
        ("loki.source.kubernetes", "pods"),
        ("loki.process", "pods"),
        ("loki.write", "loki"),
    ]
    assert tree.attrs == {}


@pytest.mark.parametrize("stack", STACKS)
def test_discovery_is_limited_to_the_pods_of_its_own_node(stack: str) -> None:
    disc = _tree(stack).one("discovery.kubernetes", "pods")
    assert disc.attrs == {"role": "pod"}
    sel = disc.one("selectors")
    assert sel.attrs == {"role": "pod", "field": BinOp("+", "spec.nodeName=", Call("sys.env", (names.NODE_NAME_ENV,)))}
    assert sel.blocks == []


@pytest.mark.parametrize("stack", STACKS)
def test_stream_labels_are_namespace_pod_container_app(stack: str) -> None:
    relabel = _tree(stack).one("discovery.relabel", "pods")
    assert relabel.attrs == {"targets": Ref("discovery.kubernetes.pods.targets")}
    rules = [r.attrs for r in relabel.find("rule")]
    assert {r["target_label"] for r in rules} == {"namespace", "pod", "container", "app"} == set(ac.STREAM_LABELS)
    by_target = {(r["target_label"], r["source_labels"][0]): r for r in rules}
    assert ("namespace", "__meta_kubernetes_namespace") in by_target
    assert ("pod", "__meta_kubernetes_pod_name") in by_target
    assert ("container", "__meta_kubernetes_pod_container_name") in by_target
    # app: app.kubernetes.io/name first, then the pod label "app" overrides it (later rule wins)
    app_sources = [r["source_labels"] for r in rules if r["target_label"] == "app"]
    assert app_sources == [["__meta_kubernetes_pod_label_app_kubernetes_io_name"], ["__meta_kubernetes_pod_label_app"]]
    assert all(r.get("regex") == "(.+)" for r in rules if r["target_label"] == "app")
    # no rule drops targets: every pod of the node is collected
    assert not [r for r in rules if r.get("action") in ("drop", "keep")]


@pytest.mark.parametrize("stack", STACKS)
def test_pipeline_wiring_from_source_to_loki_service(stack: str) -> None:
    tree = _tree(stack)
    src = tree.one("loki.source.kubernetes", "pods")
    assert src.attrs == {
        "targets": Ref("discovery.relabel.pods.output"),
        "forward_to": [Ref("loki.process.pods.receiver")],
    }
    proc = tree.one("loki.process", "pods")
    assert proc.attrs == {"forward_to": [Ref("loki.write.loki.receiver")]}
    endpoint = tree.one("loki.write", "loki").one("endpoint")
    assert endpoint.attrs == {"url": "http://loki.logging.svc:3100/loki/api/v1/push"}


@pytest.mark.parametrize("stack", STACKS)
def test_app_json_logs_get_a_level_label(stack: str) -> None:
    matches = _tree(stack).one("loki.process", "pods").find("stage.match")
    expected = [{"selector": f'{{namespace="{ns}", app="{name}"}}'} for ns, name in json_services(stack)]
    assert [m.attrs for m in matches] == expected and len(expected) == {"dev": 1, "prod": 2}[stack]
    for match in matches:
        assert match.one("stage.json").attrs == {"expressions": {"level": ""}}
        assert match.one("stage.labels").attrs == {"values": {"level": ""}}


def test_quote_escapes_what_would_break_the_syntax() -> None:
    nasty = 'a"b\\c\nd\te\x01'
    assert parse(f"x = {ac.quote(nasty)}\n").attrs["x"] == nasty


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"loki_push_url": "http://loki.logging.svc:3100/"}, "loki_push_url"),
        ({"loki_push_url": 'http://x/loki/api/v1/push" }'}, "loki_push_url"),
        ({"node_name_env": "node-name"}, "node_name_env"),
        ({"log_level": "verbose"}, "log_level"),
        ({"json_apps": (("web", 'x" + sys.env("A")'),)}, "json_apps[0]"),
        ({"json_apps": (("Web", "app"),)}, "json_apps[0]"),
    ],
)
def test_bad_input_is_rejected_naming_the_field(change: dict[str, object], field: str) -> None:
    base = {"loki_push_url": names.loki_push_url(), "json_apps": (("web", "orders-api"),)}
    with pytest.raises(ValueError, match=rf"Alloy config: {re.escape(field)} = .* accepted: "):
        ac.alloy_config(ac.AlloyConfigInput(**{**base, **change}))  # type: ignore[arg-type]


def test_json_stage_follows_the_app_settings() -> None:
    match = parse(ac.render_for((("shop", "cart"),))).one("loki.process", "pods").one("stage.match")
    assert match.attrs["selector"] == '{namespace="shop", app="cart"}'

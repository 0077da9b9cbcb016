"""Policy HCL builder and parser (unit)."""

from __future__ import annotations

import pytest

from components.vault.policy_hcl import (
    CAPABILITIES,
    PathRule,
    PolicyError,
    app_read_policy,
    ci_read_policy,
    parse_policy,
    render_policy,
)


def test_render_parse_round_trip_keeps_every_field() -> None:
    rules = [
        PathRule("secret/data/apps/x/*", ("read", "list")),
        PathRule(
            "sys/policies/acl/+",
            ("update",),
            required_parameters=("policy",),
            allowed_parameters={"policy": ("a", "b")},
            denied_parameters={"other": ()},
            min_wrapping_ttl="1s",
            max_wrapping_ttl="90s",
        ),
    ]
    text = render_policy(rules, name="p", comment="two lines\nof comment")
    assert text.startswith("# two lines\n# of comment\n")
    assert parse_policy(text, name="p") == rules


def test_app_policy_reads_only_its_own_path() -> None:
    rules = parse_policy(app_read_policy("orders-api"), name="app")
    assert {r.path for r in rules} == {"secret/data/apps/orders-api", "secret/data/apps/orders-api/*"}
    assert all(r.capabilities == ("read",) for r in rules)


def test_ci_policy_reads_only_ci() -> None:
    rules = parse_policy(ci_read_policy(), name="ci")
    assert [(r.path, r.capabilities) for r in rules] == [("secret/data/ci/*", ("read",))]


def test_parser_accepts_vault_syntax_variants() -> None:
    text = """
    // a comment
    /* a block
       comment */
    path "a/*" { capabilities = ["read", "list",] }
    path "b" {
      capabilities = ["deny"]
      allowed_parameters = { "*" = [] }
    }
    """
    rules = parse_policy(text, name="v")
    assert [r.path for r in rules] == ["a/*", "b"]
    assert rules[1].allowed_parameters == {"*": ()}


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('path "a" { capabilities = ["reed"] }', ["line 1", "unknown capability 'reed'", "accepted: create"]),
        ('path "a" {\n  capabilitie = ["read"]\n}', ["line 2", "unknown key 'capabilitie'", "accepted: capabilities"]),
        ('path "a" {\n  capabilities = ["read"\n}', ["line 3", "expected ',' or ']'"]),
        ('pth "a" { capabilities = ["read"] }', ["line 1", "only path blocks"]),
        ('path "a" { }', ["no capabilities"]),
        ('path "a" { capabilities = ["read"] }\npath "a" { capabilities = ["list"] }', ["line 2", "appears twice"]),
        ('path "a*b" { capabilities = ["read"] }', ["only allowed at the end"]),
        ('path "a" { capabilities = ["deny", "read"] }', ["'deny' cannot be combined"]),
        ('path "a" { capabilities = ["read"] ', ["expected a key such as capabilities", "end of text"]),
        ("", ["empty"]),
        ('path "a" { capabilities = ["read"] } @', ["line 1", "unexpected text"]),
    ],
)
def test_bad_hcl_is_reported_with_line_and_accepted_values(text: str, needles: list[str]) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, name="broken")
    msg = str(err.value)
    assert msg.startswith("policy 'broken'")
    for needle in needles:
        assert needle in msg


def test_render_refuses_unknown_capabilities_and_duplicates() -> None:
    with pytest.raises(PolicyError, match="unknown capability 'admin'"):
        render_policy([PathRule("a", ("admin",))], name="x")
    with pytest.raises(PolicyError, match="appears twice"):
        render_policy([PathRule("a", ("read",)), PathRule("a", ("list",))], name="x")
    assert "sudo" in CAPABILITIES

"""The policy pack's speed-ups give the answers of the plain computation they replace.

``secrets.scan_text`` skips a pattern's regex when the text lacks what every match must contain, and
searches for URL credentials only on the lines that hold ``://``; the registry's validators share one
plain copy of each resource's properties between rules. Each is checked here against the direct form.
"""

from __future__ import annotations

import random

import pytest

from policies import registry
from policies.rules import secrets

SAMPLES = [
    "ghp_" + "a" * 36,
    "x github_pat_" + "b" * 60 + " y",
    "key: AKIAABCDEFGHIJKLMNOP\n",
    "ASIA" + "Z" * 16,
    "xoxb-1234567890ab",
    "https://hooks.slack.com/services/T123/B456/xyz",
    "AIza" + "b" * 35,
    "hvs." + "c" * 24,
    "see hvb." + "c" * 30,
    "first line\npostgres://user:pass@host/db\nlast",
    "http://u:p@h",
    "ftp://a:bbbb@c\nhttp://x:y@z",
    "\u2028http://u:pwd1@h",
    "-----BEGIN RSA PRIVATE KEY-----",
    "password: hunter2",
    "PASSWORD = 'abc'",
    "db_Password: x\napi_key=123",
    "pa\u017f\u017fword: literal",  # long s: case-insensitively an "s" for the regex, not for str.lower
    "Auth_Token: abc\n",
    "client_secret: '${X}'",
    "nothing to see here: https://example.org/path",
]


def direct_scan(text: str) -> list[str]:
    """scan_text as every pattern's regex over the whole text, without the shortcuts."""
    found = [f"contains a {label}" for label, pat in secrets.TOKEN_PATTERNS.items() if pat.search(text)]
    for m in secrets.CONTENT_KEY.finditer(text):
        if secrets._literal(m.group(2)) and m.group(2).lower() not in ("true", "false", "null", "~", "''", '""'):
            found.append(f"sets {m.group(1)} to a literal value")
    return found


def mutations(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abcAKIzx_-.:/@'\" \n\t$={}#,0123456789"
    out = []
    for _ in range(count):
        chars = list(rng.choice(SAMPLES))
        for _ in range(rng.randint(0, 6)):
            pos = rng.randint(0, len(chars))
            if rng.random() < 0.5:
                chars.insert(pos, rng.choice(alphabet))
            elif chars:
                chars.pop(min(pos, len(chars) - 1))
        out.append("".join(chars))
    return out


@pytest.mark.parametrize("text", SAMPLES + mutations(7, 400))
def test_scan_text_equals_the_direct_scan(text: str) -> None:
    expected = direct_scan(text)
    assert secrets.scan_text(text) == expected
    assert secrets.scan_text(text, tokens_only=True) == [h for h in expected if h.startswith("contains")]


def test_samples_hit_every_token_pattern() -> None:
    found = {hit for text in SAMPLES for hit in direct_scan(text)}
    assert {f"contains a {label}" for label in secrets.TOKEN_PATTERNS} <= found
    assert any(hit.startswith("sets ") for hit in found)


def test_rules_sharing_a_resource_each_report_as_alone() -> None:
    props = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 1.0,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:latest", "securityContext": {}}]},
            },
        },
    }
    alone = {
        r.name: registry.check_resource(r.name, "kubernetes:apps/v1:Deployment", props)
        for r in registry.RULES
        if r.kind == "resource" and "kubernetes:apps/v1:Deployment" in r.applies_to
    }
    from pulumi_policy import ResourceValidationArgs

    from tools.policy_report import _opts

    shared: dict[str, list[str]] = {}
    for policy in registry.pulumi_policies():
        if policy.name not in alone:
            continue
        cfg = registry.effective_config(registry.rule(policy.name), {})
        args = ResourceValidationArgs("kubernetes:apps/v1:Deployment", props, "urn:x", "web", _opts({}), None, cfg)
        messages: list[str] = []
        policy.validate(args, lambda message, urn=None, into=messages: into.append(message))
        shared[policy.name] = messages
    assert shared == alone
    assert any(alone.values())  # the case has violations, so a copy shared wrongly would show

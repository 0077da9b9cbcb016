"""Vault ACL policies as data: render them to HCL and parse HCL back, with errors that name the line.

A policy is a list of ``PathRule`` (path glob + capabilities + optional parameter constraints).
``render_policy`` writes the canonical HCL Vault stores; ``parse_policy`` reads the subset of HCL the
policy language uses (``path "<glob>" { key = value }`` blocks, ``#``/``//``/``/* */`` comments) and
raises ``PolicyError`` naming the policy, the line and what is accepted. The reconcile command parses
every policy before its first write, so a typo never reaches a server half-applied.

The two builders the platform uses are least-privilege by construction: ``app_read_policy`` lets a
workload read its own KV v2 path and nothing else, ``ci_read_policy`` lets CI read ``ci/*`` only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe", "recover")
RULE_KEYS = (
    "capabilities",
    "required_parameters",
    "allowed_parameters",
    "denied_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
)
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$")
_TTL = re.compile(r"^\d+(s|m|h)$")


class PolicyError(ValueError):
    """An invalid policy; the message names the policy, the line or field, and what is accepted."""


@dataclass(frozen=True)
class PathRule:
    path: str
    capabilities: tuple[str, ...]
    required_parameters: tuple[str, ...] = ()
    allowed_parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    denied_parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    min_wrapping_ttl: str = ""
    max_wrapping_ttl: str = ""


def check_policy_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name) or name in ("root", "default"):
        raise PolicyError(
            f"policy name {name!r}: accepted: lower-case letters, digits, '.', '_', '-' "
            "(1-128 characters), not 'root' or 'default'"
        )


def _check_rule(policy: str, rule: PathRule, where: str, caps_where: str = "") -> None:
    if not rule.path or any(c in rule.path for c in '"\n\\'):
        raise PolicyError(
            f"policy {policy!r}, {where}: path {rule.path!r} must be a non-empty string "
            "without quotes, backslashes or newlines"
        )
    if "*" in rule.path[:-1]:
        raise PolicyError(
            f"policy {policy!r}, {where}: path {rule.path!r}: '*' is only allowed at the end "
            "(use '+' for one path segment)"
        )
    if not rule.capabilities:
        raise PolicyError(
            f"policy {policy!r}, {where}: path {rule.path!r} has no capabilities; accepted: {', '.join(CAPABILITIES)}"
        )
    where = caps_where or where
    for cap in rule.capabilities:
        if cap not in CAPABILITIES:
            raise PolicyError(
                f"policy {policy!r}, {where}: unknown capability {cap!r}; accepted: {', '.join(CAPABILITIES)}"
            )
    if "deny" in rule.capabilities and len(rule.capabilities) > 1:
        raise PolicyError(f"policy {policy!r}, {where}: 'deny' cannot be combined with other capabilities")
    for key in ("min_wrapping_ttl", "max_wrapping_ttl"):
        value = getattr(rule, key)
        if value and not _TTL.match(value):
            raise PolicyError(f"policy {policy!r}, {where}: {key} {value!r}; accepted: a duration like 30s, 5m, 1h")


def render_policy(rules: Sequence[PathRule], *, name: str = "policy", comment: str = "") -> str:
    """Canonical HCL for ``rules`` (validated first)."""
    lines: list[str] = []
    for text in comment.splitlines():
        lines.append(f"# {text}".rstrip())
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        _check_rule(name, rule, f"rule {i}")
        if rule.path in seen:
            raise PolicyError(f"policy {name!r}: path {rule.path!r} appears twice")
        seen.add(rule.path)
        if lines:
            lines.append("")
        lines.append(f'path "{rule.path}" {{')
        lines.append(f"  capabilities = {_list(rule.capabilities)}")
        if rule.required_parameters:
            lines.append(f"  required_parameters = {_list(rule.required_parameters)}")
        for key in ("allowed_parameters", "denied_parameters"):
            params: Mapping[str, tuple[str, ...]] = getattr(rule, key)
            if params:
                lines.append(f"  {key} = {{")
                for pname in sorted(params):
                    lines.append(f'    "{pname}" = {_list(params[pname])}')
                lines.append("  }")
        for key in ("min_wrapping_ttl", "max_wrapping_ttl"):
            if getattr(rule, key):
                lines.append(f'  {key} = "{getattr(rule, key)}"')
        lines.append("}")
    return "\n".join(lines) + "\n"


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+) | (?P<nl>\n) | (?P<comment>\#[^\n]*|//[^\n]*) | (?P<block>/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*") | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<punct>[{}\[\]=,])
""",
    re.VERBOSE | re.DOTALL,
)


def _tokens(policy: str, text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            snippet = text[pos : pos + 20].split("\n")[0]
            raise PolicyError(f"policy {policy!r}, line {line}: unexpected text {snippet!r}")
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "string":
            out.append(("string", value[1:-1].replace('\\"', '"').replace("\\\\", "\\"), line))
        elif kind in ("ident", "punct"):
            out.append((kind, value, line))
        line += value.count("\n")
        pos = m.end()
    out.append(("eof", "", line))
    return out


class _Parser:
    def __init__(self, policy: str, text: str) -> None:
        self.policy = policy
        self.toks = _tokens(policy, text)
        self.i = 0

    def fail(self, msg: str) -> PolicyError:
        line = self.toks[min(self.i, len(self.toks) - 1)][2]
        return PolicyError(f"policy {self.policy!r}, line {line}: {msg}")

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self, kind: str, value: str | None = None, what: str = "") -> str:
        k, v, _ = self.peek()
        if k != kind or (value is not None and v != value):
            shown = "end of text" if k == "eof" else repr(v)
            raise self.fail(f"expected {what or value or kind}, found {shown}")
        self.i += 1
        return v

    def rules(self) -> list[PathRule]:
        rules: list[PathRule] = []
        seen: set[str] = set()
        while self.peek()[0] != "eof":
            k, v, _ = self.peek()
            if k != "ident" or v != "path":
                raise self.fail(
                    f"expected a 'path \"<glob>\" {{ ... }}' block, found {v!r}; a policy holds only path blocks"
                )
            self.i += 1
            start = self.i
            line = self.peek()[2]
            path = self.take("string", what="a quoted path after 'path'")
            if path in seen:
                self.i = start
                raise self.fail(f"path {path!r} appears twice")
            seen.add(path)
            self.take("punct", "{", "'{'")
            body: dict[str, object] = {}
            key_lines: dict[str, int] = {}
            while self.peek()[:2] != ("punct", "}"):
                key_lines[self.peek()[1]] = self.peek()[2]
                key = self.take("ident", what="a key such as capabilities, or '}'")
                if key not in RULE_KEYS:
                    self.i -= 1
                    raise self.fail(f"unknown key {key!r} in path {path!r}; accepted: {', '.join(RULE_KEYS)}")
                if key in body:
                    self.i -= 1
                    raise self.fail(f"key {key!r} set twice in path {path!r}")
                self.take("punct", "=", "'='")
                body[key] = self.value(key)
                if self.peek()[:2] == ("punct", ","):
                    self.i += 1
            self.take("punct", "}", "'}'")
            rule = self.build(path, body)
            caps_line = key_lines.get("capabilities", line)
            _check_rule(self.policy, rule, f"line {line}", f"line {caps_line}")
            rules.append(rule)
        if not rules:
            raise PolicyError(f"policy {self.policy!r}: no path blocks; an empty policy grants nothing")
        return rules

    def value(self, key: str) -> object:
        k, v, _ = self.peek()
        if k == "string":
            self.i += 1
            return v
        if (k, v) == ("punct", "["):
            return self.string_list(key)
        if (k, v) == ("punct", "{"):
            self.i += 1
            out: dict[str, tuple[str, ...]] = {}
            while self.peek()[:2] != ("punct", "}"):
                pk, pv, _ = self.peek()
                if pk not in ("string", "ident"):
                    raise self.fail(f"{key}: expected a parameter name, found {pv!r}")
                self.i += 1
                self.take("punct", "=", "'='")
                out[pv] = self.string_list(f"{key}.{pv}")
                if self.peek()[:2] == ("punct", ","):
                    self.i += 1
            self.i += 1
            return out
        raise self.fail(f"{key}: expected a string, a list or a map, found {v!r}")

    def string_list(self, key: str) -> tuple[str, ...]:
        self.take("punct", "[", f"'[' to start the {key} list")
        items: list[str] = []
        while self.peek()[:2] != ("punct", "]"):
            items.append(self.take("string", what=f"a quoted string in {key}"))
            if self.peek()[:2] == ("punct", ","):
                self.i += 1
            elif self.peek()[:2] != ("punct", "]"):
                raise self.fail(f"{key}: expected ',' or ']'")
        self.i += 1
        return tuple(items)

    def build(self, path: str, body: dict[str, object]) -> PathRule:
        def lst(key: str) -> tuple[str, ...]:
            value = body.get(key, ())
            if not isinstance(value, tuple):
                raise self.fail(f"{key} in path {path!r} must be a list of strings")
            return value

        def mapping(key: str) -> dict[str, tuple[str, ...]]:
            value = body.get(key, {})
            if not isinstance(value, dict):
                raise self.fail(f"{key} in path {path!r} must be a map of lists")
            return value

        def string(key: str) -> str:
            value = body.get(key, "")
            if not isinstance(value, str):
                raise self.fail(f"{key} in path {path!r} must be a string")
            return value

        if "capabilities" not in body:
            raise self.fail(f"path {path!r} has no capabilities; accepted: {', '.join(CAPABILITIES)}")
        return PathRule(
            path,
            lst("capabilities"),
            lst("required_parameters"),
            mapping("allowed_parameters"),
            mapping("denied_parameters"),
            string("min_wrapping_ttl"),
            string("max_wrapping_ttl"),
        )


def parse_policy(text: str, *, name: str = "policy") -> list[PathRule]:
    """Parse policy HCL into rules; ``PolicyError`` names the line and the problem."""
    if not isinstance(text, str) or not text.strip():
        raise PolicyError(f"policy {name!r}: empty; accepted: HCL with one or more path blocks")
    return _Parser(name, text).rules()


# --------------------------------------------------------------------------------------------------
# The platform's policies
# --------------------------------------------------------------------------------------------------
def kv_data_path(mount: str, *parts: str) -> str:
    return "/".join([mount.strip("/"), "data", *[p.strip("/") for p in parts if p]])


def app_read_policy(app: str, *, mount: str = "secret", prefix: str = "apps") -> str:
    """Read-only access to ``<mount>/data/<prefix>/<app>`` and below; nothing else (KV v2)."""
    base = kv_data_path(mount, prefix, app)
    return render_policy(
        [PathRule(base, ("read",)), PathRule(base + "/*", ("read",))],
        name=f"app-{app}",
        comment=f"Workload {app!r}: read its own secrets only (KV v2 {mount}/{prefix}/{app}/*).",
    )


def ci_read_policy(*, mount: str = "secret", prefix: str = "ci", name: str = "ci") -> str:
    """Read-only access to ``<mount>/data/<prefix>/*`` (CI deploy credentials) and nothing else."""
    return render_policy(
        [PathRule(kv_data_path(mount, prefix) + "/*", ("read",))],
        name=name,
        comment=f"CI (GitHub Actions OIDC): read the deploy credentials under {mount}/{prefix}/* only.",
    )

"""The declarative Vault document (unit): builder, ``hardening/v2`` round trip, schema violations, each
semantic refusal, the v1 conversion, and the Kubernetes role data (Kubernetes login cannot run here: no
TokenReview API)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from components.vault import declarative as dc
from components.vault.document import schema
from components.vault.policy_hcl import parse_policy
from tools.vault.reconcile import KUBERNETES_ROLE_DEFAULTS, ROLE_DEFAULTS, role_body, role_diff
from tools.vault.reconcile import KV_CONFIG_DEFAULTS as KV

K8S = ("auth", "kubernetes", "roles", "orders-api")
PREVIEW = ("auth", "jwt", "roles", "ci-orders-api-preview")


def platform() -> dc.VaultConfig:
    return dc.platform_config(
        workloads=[dc.Workload("orders-api", "web", "orders-api"), dc.Workload("billing", "billing", "billing")],
        ci=[dc.CiAccess("example-org/orders-api")],
        rotation_period="90d",
    )


def doc() -> dict[str, Any]:
    return dc.to_document(platform())


def at(d: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        d = d[key]
    return d


def problems(d: Any) -> list[str]:
    with pytest.raises(dc.ConfigurationError) as err:
        dc.from_document(d)
    return err.value.problems


def test_document_round_trips_through_yaml_and_json() -> None:
    cfg = platform()
    assert dc.load_document(dc.render_document(cfg)) == cfg
    assert dc.load_document(dc.render_document(cfg, fmt="json")) == cfg
    text = dc.render_document(cfg)
    assert "app-orders-api: |" in text  # policies stay readable in the ConfigMap
    rendered = json.loads(dc.render_document(cfg, fmt="json"))
    assert (rendered["apiVersion"], rendered["kind"]) == ("hardening/v2", "VaultConfiguration")
    assert list(rendered) == ["apiVersion", "kind", "secrets", "policies", "auth", "audit"]


def test_the_schema_is_draft_2020_12_and_closes_every_object() -> None:
    raw = json.loads(schema.SCHEMA_FILE.read_text())
    assert raw["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def objects(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, list):
            return [o for n in node for o in objects(n)]
        if not isinstance(node, dict):
            return []
        own = [node] if "properties" in node and node.get("type") == "object" else []
        return own + [o for v in node.values() for o in objects(v)]

    closed = objects(raw)
    assert len(closed) >= 10
    assert all(o.get("additionalProperties") is False for o in closed if o is not raw["$defs"]["authMethod"])
    assert schema.validator().is_valid(doc())


def test_kv_mount_has_version_limit_and_90_day_rotation() -> None:
    cfg = platform()
    assert cfg.secrets == {
        "secret": {
            "type": "kv",
            "description": "Application and CI secrets (KV v2)",
            "options": {"version": "2"},
            "config": {"max_versions": 10, "cas_required": False},
            "rotation_period": "2160h",
        }
    }
    assert (cfg.kv_mount, cfg.rotation_period) == ("secret", "2160h")
    assert dc.parse_duration("90d") == dc.parse_duration("2160h") and dc.DEFAULT_ROTATION_PERIOD == "2160h"


def test_one_kubernetes_role_per_workload_in_the_api_field_names() -> None:
    roles = platform().auth["kubernetes"]["roles"]
    assert roles["orders-api"] == {
        "bound_service_account_names": ["orders-api"],
        "bound_service_account_namespaces": ["web"],
        "token_policies": ["app-orders-api"],
        "token_ttl": "1h",
        "token_max_ttl": "4h",
    }
    assert roles["billing"]["bound_service_account_namespaces"] == ["billing"]
    body = role_body("kubernetes", roles["orders-api"])  # what reconcile writes to auth/kubernetes/role/orders-api
    assert {k: v for k, v in body.items() if body[k] != KUBERNETES_ROLE_DEFAULTS[k]} == roles["orders-api"]
    # every other field is sent with Vault's default, so a field set by hand is put back
    assert set(body) == set(KUBERNETES_ROLE_DEFAULTS) and body["token_period"] == 0
    with_audience = dc.platform_config(workloads=[dc.Workload("a", "b", "a", audience="vault")], ci=[])
    assert with_audience.auth["kubernetes"]["roles"]["a"]["audience"] == "vault"


def test_each_app_policy_reads_only_its_own_path_and_ci_only_ci() -> None:
    cfg = platform()
    paths = {n: {(r.path, r.capabilities) for r in parse_policy(h, name=n)} for n, h in cfg.policies.items()}
    assert paths["app-orders-api"] == {
        ("secret/data/apps/orders-api", ("read",)),
        ("secret/data/apps/orders-api/*", ("read",)),
    }
    assert paths["app-billing"] == {("secret/data/apps/billing", ("read",)), ("secret/data/apps/billing/*", ("read",))}
    for env in ("production", "staging", "preview"):
        assert paths[f"ci-orders-api-{env}"] == {(f"secret/data/ci/orders-api/{env}/*", ("read",))}
    assert dc.ci_secret_path("orders-api", "preview") == "secret/data/ci/orders-api/preview"
    assert len(paths) == 5


def test_one_github_role_per_environment_bound_to_repository_environment_branch_and_event() -> None:
    jwt = platform().auth["jwt"]
    assert jwt["config"] == {"bound_issuer": dc.GITHUB_OIDC_ISSUER, "oidc_discovery_url": dc.GITHUB_OIDC_ISSUER}
    bodies = jwt["roles"]
    assert list(bodies) == ["ci-orders-api-production", "ci-orders-api-staging", "ci-orders-api-preview"]
    repo = ["example-org/orders-api"]
    assert bodies["ci-orders-api-production"]["bound_claims"] == {
        "repository": repo,
        "environment": ["production"],
        "ref": ["refs/heads/main"],
        "event_name": ["push", "workflow_dispatch"],
    }
    assert bodies["ci-orders-api-staging"]["bound_claims"]["ref"] == ["refs/heads/staging"]
    preview = bodies["ci-orders-api-preview"]
    assert preview["bound_claims"] == {
        "repository": repo,
        "environment": ["preview"],
        "ref": ["refs/pull/*/merge"],
        "event_name": ["pull_request"],
    }
    assert (preview["bound_claims_type"], preview["token_ttl"], preview["token_max_ttl"]) == ("glob", "5m", "10m")
    for name, body in bodies.items():
        assert body["bound_audiences"] == ["https://github.com/example-org"]
        assert body["token_policies"] == [name] and body["role_type"] == "jwt" and body["user_claim"] == "sub"
    assert bodies["ci-orders-api-production"]["token_ttl"] == "15m"
    assert dc.ci_role_name("Orders-API", "staging") == "ci-orders-api-staging"
    only_prod = dc.platform_config(workloads=[], ci=[dc.CiAccess("o/r", environments=("production",))])
    assert dc.outputs(only_prod)["jwt_roles"] == ["ci-r-production"]


def test_outputs_name_the_auth_mounts_and_roles() -> None:
    assert dc.outputs(platform()) == {
        "kv_mount": "secret",
        "rotation_period": "2160h",
        "kubernetes_auth_path": "kubernetes",
        "kubernetes_roles": ["orders-api", "billing"],
        "jwt_auth_path": "jwt",
        "jwt_roles": ["ci-orders-api-production", "ci-orders-api-staging", "ci-orders-api-preview"],
    }
    assert dc.app_secret_path("orders-api") == "secret/data/apps/orders-api"


def test_schema_violations_and_semantic_refusals_are_all_reported_at_once_with_their_path() -> None:
    d = doc()
    d["secrets"]["secret"]["config"]["max_version"] = 3
    d["auth"]["kubernetes"]["type"] = "ldap"
    d["policies"]["app-billing"] = 'path "secret/data/apps/billing" { capabilities = ["reed"] }'
    d["audit"]["file"]["log_raw"] = True
    found = problems(d)
    assert found == [
        "audit.file.log_raw: unknown key; accepted: type, description, options",
        "auth.kubernetes.type: 'ldap'; accepted: kubernetes or jwt",
        "secrets.secret.config.max_version: unknown key; accepted: max_versions, cas_required, delete_version_after",
        "policies.app-billing: policy 'app-billing', line 1: unknown capability 'reed'; accepted: create, read, "
        "update, patch, delete, list, sudo, deny, subscribe, recover",
    ]  # the broken policy is not reported again where it is referenced


def _set(path: tuple[str, ...], key: str, value: Any) -> Any:
    return lambda d: at(d, path).__setitem__(key, value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # schema
        (
            _set(K8S, "bound_service_account_names", ["*"]),
            "auth.kubernetes.roles.orders-api.bound_service_account_names[0]: '*'; accepted: one name",
        ),
        (
            _set(K8S, "bound_service_account_namespaces", []),
            "auth.kubernetes.roles.orders-api.bound_service_account_namespaces: []; accepted: a non-empty list",
        ),
        (
            _set(K8S, "token_ttl", "forever"),
            "auth.kubernetes.roles.orders-api.token_ttl: 'forever'; accepted: a duration such as 45s, 15m or 1h",
        ),
        (
            _set(K8S, "token_tll", "1h"),
            "auth.kubernetes.roles.orders-api.token_tll: unknown key; accepted: bound_service_account_names",
        ),
        (
            lambda d: at(d, K8S).pop("token_policies"),
            "auth.kubernetes.roles.orders-api.token_policies: missing (required)",
        ),
        (
            _set(("auth", "kubernetes", "roles"), "Orders", {}),
            "auth.kubernetes.roles.Orders: the name 'Orders'; accepted: a role name",
        ),
        (
            _set(PREVIEW, "bound_audiences", []),
            "auth.jwt.roles.ci-orders-api-preview.bound_audiences: []; accepted: a non-empty list of audiences",
        ),
        (
            _set(PREVIEW, "bound_claims_type", "regex"),
            "auth.jwt.roles.ci-orders-api-preview.bound_claims_type: 'regex'; accepted: string or glob",
        ),
        (_set(("auth", "jwt"), "type", "github"), "auth.jwt.type: 'github'; accepted: kubernetes or jwt"),
        (
            _set(("auth", "kubernetes", "config"), "kubernetes_host", "http://k"),
            "auth.kubernetes.config.kubernetes_host: 'http://k'; accepted: an https URL",
        ),
        (_set(("secrets", "secret", "options"), "version", 2), 'secrets.secret.options.version: 2; accepted: "2"'),
        (
            _set(("secrets", "secret", "config"), "max_versions", 0),
            "secrets.secret.config.max_versions: 0; accepted: an integer from 1 to 1000",
        ),
        (
            _set(("secrets", "secret"), "rotation_period", "quarterly"),
            "secrets.secret.rotation_period: 'quarterly'; accepted: a duration such as 2160h or 90d",
        ),
        (_set(("audit", "file"), "type", "socket"), "audit.file.type: 'socket'; accepted: file"),
        (
            _set(("audit", "file", "options"), "file_path", "relative.log"),
            "audit.file.options.file_path: 'relative.log'; accepted: an absolute file path or stdout",
        ),
        (
            _set(("policies",), "root", 'path "a" { capabilities = ["read"] }'),
            "policies.root: the name 'root'; accepted: a policy name",
        ),
        (lambda d: d.update(kind="Other"), "kind: 'Other'; accepted: VaultConfiguration"),
        (lambda d: d.pop("apiVersion"), "apiVersion: missing (required)"),
        (lambda d: d.update(kv={}), "kv: unknown key; accepted: apiVersion, kind, policies, auth, secrets, audit"),
        # semantics
        (
            _set(K8S, "token_policies", ["admin"]),
            "auth.kubernetes.roles.orders-api.token_policies: policy 'admin' is not defined in policies",
        ),
        (
            _set(K8S, "token_ttl", "8h"),
            "auth.kubernetes.roles.orders-api.token_ttl: '8h' is longer than token_max_ttl '4h'",
        ),
        (
            _set(K8S, "token_max_ttl", "30d"),
            "auth.kubernetes.roles.orders-api.token_max_ttl: '30d'; accepted: a duration",
        ),
        (
            _set(K8S, "token_max_ttl", "200h"),
            "auth.kubernetes.roles.orders-api.token_max_ttl: '200h'; accepted: between 60s and 168h",
        ),
        (_set(K8S, "token_ttl", 30), "auth.kubernetes.roles.orders-api.token_ttl: 30; accepted: between 60s and 24h"),
        (
            _set(PREVIEW, "bound_claims", {"ref": "refs/heads/main"}),
            "auth.jwt.roles.ci-orders-api-preview.bound_claims: GitHub tokens must be bound to a repository",
        ),
        (
            _set(PREVIEW, "bound_claims", {"repository": "o/r"}),
            "auth.jwt.roles.ci-orders-api-preview.bound_claims: GitHub tokens must also be bound to a branch",
        ),
        (
            _set(PREVIEW, "bound_claims", {"repository": "x", "ref": "r"}),
            "auth.jwt.roles.ci-orders-api-preview.bound_claims.repository: 'x'; accepted: owner/name",
        ),
        (
            _set(("auth", "jwt", "config"), "jwt_validation_pubkeys", ["-----BEGIN PUBLIC KEY-----"]),
            "auth.jwt.config: set exactly one of oidc_discovery_url or jwt_validation_pubkeys",
        ),
        (
            _set(("secrets", "secret"), "rotation_period", "30m"),
            "secrets.secret.rotation_period: '30m'; accepted: between 1h and 87600h",
        ),
        (
            _set(("policies",), "everything", 'path "*" { capabilities = ["read"] }'),
            "policies.everything: policy 'everything' grants ['read'] on every path",
        ),
        (
            _set(("policies",), "other", 'path "kv/data/x" { capabilities = ["read"] }'),
            "policies.other: policy 'other' path 'kv/data/x': no KV v2 mount 'kv' in secrets; defined: secret",
        ),
        (
            lambda d: d["secrets"].pop("secret"),
            "policies.app-orders-api: policy 'app-orders-api' path 'secret/data/apps/orders-api': no KV v2 mount",
        ),
    ],
)
def test_each_invalid_field_is_named(mutate: Any, expected: str) -> None:
    d = copy.deepcopy(doc())
    mutate(d)
    found = problems(d)
    assert any(p.startswith(expected) for p in found), found


def test_yaml_syntax_errors_give_the_line_and_duplicate_keys_are_refused() -> None:
    with pytest.raises(dc.ConfigurationError, match=r"document: not valid YAML/JSON at line 3, column 1"):
        dc.load_document("secrets:\n  path: [unclosed\n")
    with pytest.raises(dc.ConfigurationError, match=r"document: \['a list'\]; accepted: the desired Vault"):
        dc.load_document("- a list\n")
    with pytest.raises(dc.ConfigurationError, match=r"key 'a' is given twice"):
        dc.load_document("apiVersion: hardening/v2\nkind: VaultConfiguration\npolicies:\n  a: x\n  a: y\n")


V1_DOC = """
apiVersion: hardening/v1
kind: VaultConfiguration
kv: {path: secret, max_versions: 5, rotation_period: 720h}
policies:
  - {name: app-a, hcl: 'path "secret/data/apps/a/*" { capabilities = ["read"] }'}
auth:
  - type: kubernetes
    path: kubernetes
    config: {kubernetes_host: "https://kubernetes.default.svc"}
    roles: [{name: a, service_account: a, namespace: web, policies: [app-a], audience: vault}]
  - type: jwt
    path: jwt
    config: {bound_issuer: "https://token.actions.githubusercontent.com",
             oidc_discovery_url: "https://token.actions.githubusercontent.com"}
    roles:
      - {name: ci, policies: [app-a], bound_audiences: [x],
         bound_claims: {repository: [o/r], ref: [refs/heads/main]}}
audit: [{type: file, path: file, file_path: /vault/audit/audit.log}]
"""


def test_a_v1_document_is_refused_with_the_command_that_converts_it() -> None:
    with pytest.raises(dc.ConfigurationError) as err:
        dc.load_document(V1_DOC)
    (msg,) = err.value.problems
    assert msg.startswith("apiVersion: 'hardening/v1' is the old document shape (hardening/v1); accepted: hardening/v2")
    assert "python -m tools.vault convert" in msg
    no_version = V1_DOC.replace("apiVersion: hardening/v1\n", "")
    with pytest.raises(dc.ConfigurationError, match=r"apiVersion: '\(none\)' is the old document shape"):
        dc.load_document(no_version)


def test_conversion_keeps_every_v1_value_and_default() -> None:
    cfg = dc.load_document(dc.convert_text(V1_DOC))
    assert cfg.secrets["secret"]["config"] == {"max_versions": 5, "cas_required": False}
    assert cfg.rotation_period == "720h"
    assert cfg.auth["kubernetes"]["roles"]["a"] == {
        "bound_service_account_names": ["a"],
        "bound_service_account_namespaces": ["web"],
        "audience": "vault",
        "token_policies": ["app-a"],
        "token_ttl": "1h",
        "token_max_ttl": "4h",
    }
    assert cfg.auth["jwt"]["roles"]["ci"] == {
        "bound_claims_type": "string",
        "user_claim": "sub",
        "token_ttl": "15m",
        "token_max_ttl": "30m",
        "role_type": "jwt",
        "bound_audiences": ["x"],
        "bound_claims": {"repository": ["o/r"], "ref": ["refs/heads/main"]},
        "token_policies": ["app-a"],
    }
    assert cfg.audit == {
        "file": {"type": "file", "description": "File audit log", "options": {"file_path": "/vault/audit/audit.log"}}
    }
    # the platform's v1 documents convert to exactly what the v2 builder renders
    assert json.loads(dc.convert_text(V1_DOC, "json"))["apiVersion"] == "hardening/v2"
    with pytest.raises(dc.ConfigurationError, match=r"apiVersion: 'hardening/v2'; accepted: hardening/v1"):
        dc.convert_text(dc.render_document(platform()))
    bad = V1_DOC.replace("namespace: web", "namespace: '*'")
    with pytest.raises(dc.ConfigurationError, match=r"auth.kubernetes.roles.a.bound_service_account_namespaces\[0\]"):
        dc.convert_text(bad)


def test_builder_validates_its_inputs_and_its_own_output() -> None:
    one = [dc.Workload("a", "b", "a")]
    with pytest.raises(dc.ConfigurationError, match=r"secrets.secret.rotation_period: 'soon'"):
        dc.platform_config(workloads=one, ci=[dc.CiAccess("o/r")], rotation_period="soon")
    with pytest.raises(dc.ConfigurationError) as err:
        dc.platform_config(
            workloads=[*one, dc.Workload("a", "B_ad", "a")],
            ci=[
                dc.CiAccess("not-a-repo"),
                dc.CiAccess("o/r", environments=("prod",)),
                dc.CiAccess("p/r", production_ref="main"),
                dc.CiAccess("o/My.Repo"),
            ],
        )
    assert err.value.problems == [
        "workloads[1].namespace: 'B_ad'; accepted: a DNS-1123 label such as orders-api",
        "workloads[1].name: 'a' appears twice; accepted: one entry per workload",
        "ci[0].repository: 'not-a-repo'; accepted: owner/name",
        "ci[1].environments: ('prod',); accepted: a non-empty tuple of distinct production, staging, preview",
        "ci[2].repository: 'p/r': another entry has the name 'r'",
        "ci[2].production_ref: 'main'; accepted: a branch ref such as refs/heads/main",
        "ci[3].repository: 'o/My.Repo'; accepted: a name of lower-case letters, digits and '-' (it names the Vault "
        "roles ci-<name>-<environment>)",
    ]


def test_durations() -> None:
    assert dc.parse_duration("1h30m") == 5400
    assert dc.format_duration(dc.parse_duration("90d")) == "2160h"
    assert dc.format_duration(90) == "90s"
    for bad in ("", "h", "10", "1x", "-1h", "1h 2m"):
        with pytest.raises(ValueError):
            dc.parse_duration(bad)


def test_rendered_document_holds_no_secret_material() -> None:
    text = dc.render_document(platform())
    assert yaml.safe_load(text)["auth"]["kubernetes"]["config"] == {"kubernetes_host": "https://kubernetes.default.svc"}
    for word in ("password", "token:", "secret_id", "PRIVATE KEY"):
        assert word not in text


def _read_back(auth_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """A role as the server reads it back after ``write(**body)``: durations in seconds."""
    out = dict(role_body(auth_type, body))
    for key in ("token_ttl", "token_max_ttl"):
        out[key] = int(dc.parse_duration(out[key]))
    return out


@pytest.mark.parametrize(
    ("auth_type", "name", "field", "hand_value", "shown"),
    [
        ("kubernetes", "orders-api", "token_ttl", 7200, "token_ttl 7200 -> '1h'"),
        ("kubernetes", "orders-api", "token_max_ttl", 86400, "token_max_ttl 86400 -> '4h'"),
        (
            "kubernetes",
            "orders-api",
            "bound_service_account_namespaces",
            ["web", "intruders"],
            "bound_service_account_namespaces ['web', 'intruders'] -> ['web']",
        ),
        ("kubernetes", "orders-api", "bound_service_account_names", ["default"], "bound_service_account_names"),
        ("kubernetes", "orders-api", "token_policies", ["app-orders-api", "admin"], "token_policies"),
        ("kubernetes", "orders-api", "audience", "other", "audience 'other' -> ''"),
        ("kubernetes", "orders-api", "token_period", 2592000, "token_period 2592000 -> 0"),
        ("kubernetes", "orders-api", "alias_name_source", "serviceaccount_name", "alias_name_source"),
        ("kubernetes", "orders-api", "some_new_field", "x", "some_new_field 'x' -> (unset: not in the configuration)"),
        ("jwt", "ci-orders-api-preview", "bound_claims_type", "string", "bound_claims_type 'string' -> 'glob'"),
        ("jwt", "ci-orders-api-preview", "bound_claims", {"repository": "example-org/orders-api"}, "bound_claims"),
        ("jwt", "ci-orders-api-preview", "bound_audiences", ["x"], "bound_audiences ['x']"),
        ("jwt", "ci-orders-api-preview", "user_claim", "actor", "user_claim 'actor' -> 'sub'"),
        ("jwt", "ci-orders-api-preview", "token_max_ttl", 3600, "token_max_ttl 3600 -> '10m'"),
        ("jwt", "ci-orders-api-preview", "bound_subject", "repo:x", "bound_subject 'repo:x' -> ''"),
    ],
)
def test_reconcile_reports_drift_on_each_role_field(
    auth_type: str, name: str, field: str, hand_value: Any, shown: str
) -> None:
    body = platform().auth[auth_type]["roles"][name]
    current = _read_back(auth_type, body)
    assert role_diff(role_body(auth_type, body), current, defaults=ROLE_DEFAULTS[auth_type]) == []
    current[field] = hand_value
    (diff,) = role_diff(role_body(auth_type, body), current, defaults=ROLE_DEFAULTS[auth_type])
    assert diff.startswith(shown), diff


def test_drift_compares_as_the_server_reads_back() -> None:
    want = {"token_ttl": "1h", "delete_version_after": "0s", "bound_claims": {"ref": "refs/heads/main"}}
    have = {"token_ttl": 3600, "delete_version_after": "0s", "bound_claims": {"ref": ["refs/heads/main"]}}
    assert role_diff(role_body("jwt", want), {**role_body("jwt", {}), **have}) == []
    assert role_diff({"delete_version_after": "24h"}, {"delete_version_after": "24h0m0s"}) == []
    # a default-valued field this server does not return is not drift; a non-default one is
    assert role_diff({"metadata_cas_required": False, "max_versions": 10}, {"max_versions": 10}, defaults=KV) == []
    assert role_diff({"metadata_cas_required": True, "max_versions": 10}, {"max_versions": 10}, defaults=KV) == [
        "metadata_cas_required -> True"
    ]

"""The declarative Vault configuration (unit): builder, document round trip, validation messages, and the
Kubernetes role data (Kubernetes login cannot run here: no TokenReview API)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from components.vault import declarative as dc
from components.vault.policy_hcl import parse_policy
from tools.vault.reconcile import KUBERNETES_ROLE_DEFAULTS, jwt_role_body, kubernetes_role_body


def platform() -> dc.VaultConfig:
    return dc.platform_config(
        workloads=[dc.Workload("orders-api", "web", "orders-api"), dc.Workload("billing", "billing", "billing")],
        ci=[dc.CiAccess("example-org/orders-api")],
        rotation_period="90d",
    )


def doc() -> dict[str, Any]:
    return dc.to_document(platform())


def problems(d: Any) -> list[str]:
    with pytest.raises(dc.ConfigurationError) as err:
        dc.from_document(d)
    return err.value.problems


def test_document_round_trips_through_yaml_and_json() -> None:
    cfg = platform()
    assert dc.load_document(dc.render_document(cfg)) == cfg
    assert dc.load_document(dc.render_document(cfg, fmt="json")) == cfg
    text = dc.render_document(cfg)
    assert "hcl: |" in text  # policies stay readable in the ConfigMap
    assert json.loads(dc.render_document(cfg, fmt="json"))["kind"] == "VaultConfiguration"


def test_kv_mount_has_version_limit_and_90_day_rotation() -> None:
    cfg = platform()
    assert cfg.kv.rotation_period == "2160h" and dc.parse_duration("90d") == dc.parse_duration("2160h")
    assert cfg.kv.max_versions == 10
    assert dc.DEFAULT_ROTATION_PERIOD == "2160h"


def test_one_kubernetes_role_per_workload_bound_to_its_service_account_and_namespace() -> None:
    k8s = next(a for a in platform().auth if isinstance(a, dc.KubernetesAuth))
    assert [(r.name, r.service_account, r.namespace, r.policies) for r in k8s.roles] == [
        ("orders-api", "orders-api", "web", ("app-orders-api",)),
        ("billing", "billing", "billing", ("app-billing",)),
    ]
    body = kubernetes_role_body(k8s.roles[0])  # what reconcile writes to auth/kubernetes/role/orders-api
    assert {k: v for k, v in body.items() if body[k] != KUBERNETES_ROLE_DEFAULTS[k]} == {
        "bound_service_account_names": ["orders-api"],
        "bound_service_account_namespaces": ["web"],
        "token_policies": ["app-orders-api"],
        "token_ttl": 3600,
        "token_max_ttl": 14400,
    }
    # every other field is sent with Vault's default, so a field set by hand is put back
    assert set(body) == set(KUBERNETES_ROLE_DEFAULTS) and body["token_period"] == 0


def test_each_app_policy_reads_only_its_own_path_and_ci_only_ci() -> None:
    cfg = platform()
    paths = {p.name: {(r.path, r.capabilities) for r in parse_policy(p.hcl, name=p.name)} for p in cfg.policies}
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
    jwt = next(a for a in platform().auth if isinstance(a, dc.JwtAuth))
    assert jwt.bound_issuer == jwt.oidc_discovery_url == "https://token.actions.githubusercontent.com"
    bodies = {r.name: jwt_role_body(r) for r in jwt.roles}
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
    assert preview["bound_claims_type"] == "glob" and preview["token_ttl"] == 300 and preview["token_max_ttl"] == 600
    for name, body in bodies.items():
        assert body["bound_audiences"] == ["https://github.com/example-org"]
        assert body["token_policies"] == [name] and body["role_type"] == "jwt"
    assert bodies["ci-orders-api-production"]["token_ttl"] == 900
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


def test_unknown_keys_auth_types_and_bad_hcl_are_all_reported_with_their_field() -> None:
    d = doc()
    d["kv"]["max_version"] = 3
    d["auth"][0]["type"] = "ldap"
    d["policies"][1]["hcl"] = 'path "secret/data/apps/billing" { capabilities = ["reed"] }'
    d["audit"][0]["log_raw"] = True
    found = problems(d)
    assert (
        "kv.max_version: unknown key; accepted: path, max_versions, rotation_period, cas_required, description" in found
    )
    assert "auth[0].type: 'ldap' is not a supported auth type; accepted: jwt, kubernetes" in found
    assert any(p.startswith("policies[1].hcl: policy 'app-billing', line 1: unknown capability 'reed'") for p in found)
    assert any(p.startswith("audit[0].log_raw: unknown key") for p in found)
    assert len(found) == 4  # the broken policy is not reported again where it is referenced


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["auth"][0]["roles"][0].update(service_account="*"), "auth[0].roles[0].service_account: '*'"),
        (lambda d: d["auth"][0]["roles"][0].update(namespace="*"), "auth[0].roles[0].namespace: '*'"),
        (
            lambda d: d["auth"][0]["roles"][0].update(policies=["admin"]),
            "auth[0].roles[0].policies: policy 'admin' is not defined in policies",
        ),
        (lambda d: d["auth"][0]["roles"][0].update(token_ttl="forever"), "auth[0].roles[0].token_ttl: 'forever'"),
        (lambda d: d["auth"][0]["roles"][0].update(token_ttl="8h"), "auth[0].roles[0].token_ttl: 8h is longer than"),
        (
            lambda d: d["auth"][1]["roles"][0].update(bound_claims={"ref": "refs/heads/main"}),
            "auth[1].roles[0].bound_claims: GitHub tokens must be bound to a repository",
        ),
        (
            lambda d: d["auth"][1]["roles"][0].update(bound_claims={"repository": "o/r"}),
            "auth[1].roles[0].bound_claims: GitHub tokens must also be bound to a branch",
        ),
        (lambda d: d["auth"][1]["roles"][0].update(bound_audiences=[]), "auth[1].roles[0].bound_audiences: empty"),
        (
            lambda d: d["auth"][1]["config"].update(jwt_validation_pubkeys=["x"]),
            "auth[1].config: set exactly one of oidc_discovery_url or jwt_validation_pubkeys",
        ),
        (lambda d: d["auth"][1].update(path="kubernetes"), "auth[1].path: 'kubernetes' is used by two auth methods"),
        (lambda d: d["kv"].update(rotation_period="quarterly"), "kv.rotation_period: 'quarterly'"),
        (lambda d: d["kv"].update(max_versions=0), "kv.max_versions: 0; accepted: an integer from 1 to 1000"),
        (lambda d: d["audit"][0].update(type="socket"), "audit[0].type: 'socket' is not a supported audit device"),
        (lambda d: d["audit"][0].update(file_path="relative.log"), "audit[0].file_path: 'relative.log'"),
        (
            lambda d: d["policies"].append({"name": "root", "hcl": 'path "*" { capabilities = ["sudo"] }'}),
            "policies[5].name: policy name 'root'",
        ),
        (
            lambda d: d["policies"].append({"name": "everything", "hcl": 'path "*" { capabilities = ["read"] }'}),
            "policies[5].hcl: policy 'everything' grants ['read'] on every path",
        ),
        (lambda d: d.update(kind="Other"), "kind: 'Other'; accepted: VaultConfiguration"),
        (lambda d: d.pop("apiVersion"), "apiVersion: missing (required)"),
    ],
)
def test_each_invalid_field_is_named(mutate: Any, expected: str) -> None:
    d = copy.deepcopy(doc())
    mutate(d)
    found = problems(d)
    assert any(p.startswith(expected) for p in found), found


def test_yaml_syntax_errors_give_the_line() -> None:
    with pytest.raises(dc.ConfigurationError, match=r"document: not valid YAML/JSON at line 3, column 1"):
        dc.load_document("kv:\n  path: [unclosed\n")
    with pytest.raises(dc.ConfigurationError, match=r"expected a mapping"):
        dc.load_document("- a list\n")


def test_builder_validates_its_inputs_and_its_own_output() -> None:
    one = [dc.Workload("a", "b", "a")]
    with pytest.raises(dc.ConfigurationError, match=r"kv.rotation_period: 'soon'"):
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
    assert yaml.safe_load(text)["auth"][0]["config"] == {"kubernetes_host": "https://kubernetes.default.svc"}
    for word in ("password", "token:", "secret_id", "PRIVATE KEY"):
        assert word not in text

"""CiPipelines under Pulumi's mocks with the stacks' real configuration."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from components.ci.workflows import WorkflowOptions, render_workflows
from tools.mockrun import Resource, Run, is_secret_value, run_stack
from tools.render import render_run

COMPONENT = "hardening:ci:CiPipelines"
FILE = "github:index/repositoryFile:RepositoryFile"
ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
SECRET = "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret"
RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
PROVIDER = "pulumi:providers:github"
SECRETS = {
    "pulumiAccessToken": "pul-0ff1ine-access-token-aaaa",
    "ciKubeconfig": "apiVersion: v1\nkind: Config\nusers: [{name: ci, user: {token: kube-0ff1ine-bbbb}}]",
    "railwayToken": "rw-0ff1ine-token-cccc",
    "railwayServiceId": "svc-0ff1ine-dddd",
    "renderApiKey": "rnd-0ff1ine-key-eeee",
    "renderServiceId": "srv-0ff1ineffff",
    "flyApiToken": "fo1_0ff1ine-token-gggg",
}


def of(run: Run, type_: str, service: str = "orders-api") -> list[Resource]:
    """Resources of ``type_`` in the CI component of one service (each service's repository has its own)."""
    comp = run.get(COMPONENT, f"{service}-ci")
    return [r for r in run.by_type(type_) if r.parent == comp.urn]


def github_resources(run: Run) -> list[str]:
    return [r.type for r in run.resources if r.type.startswith(("github:", PROVIDER))]


def test_dev_manages_nothing_on_github_but_builds_the_workflows(stack_run: Callable[[str], Run]) -> None:
    run = stack_run("dev")
    assert len(run.by_type(COMPONENT)) == 1
    assert github_resources(run) == []
    # the service declares a test command and no lint command (services/orders-api/platform.yaml)
    assert run.outputs["services"]["orders-api"]["ciRequiredChecks"] == ["test", "image", "config-scan"]


def test_prod_commits_every_workflow_to_main(stack_run: Callable[[str], Run]) -> None:
    run = stack_run("prod")
    # Pulumi.prod.yaml: every target on, secrets from Vault.
    from components.config import load_settings
    from components.service.load import load_services
    from tests.canary.support import stack_settings

    settings = stack_settings("prod")
    (orders,) = [s for s in load_services(settings.services) if s.name == "orders-api"]
    expected = render_workflows(WorkflowOptions.for_service(orders, settings.ci))
    assert load_settings({}).ci.manage_github is False  # the default: nothing managed unless a stack says so
    files = {r.inputs["file"]: r for r in of(run, FILE)}
    assert set(files) == {f".github/workflows/{name}" for name in expected}
    for name, text in expected.items():
        inputs = files[f".github/workflows/{name}"].inputs
        assert inputs["content"] == text
        assert inputs["branch"] == "main" and inputs["overwriteOnCreate"] is True
        assert inputs["repository"] == "orders-api"
    (provider,) = [p for p in run.by_type(PROVIDER) if p.name == "orders-api-ci-github"]
    assert provider.inputs["owner"] == "example-org"
    for res in run.resources:
        if res.type.startswith("github:") and res.inputs.get("repository") == "orders-api":
            assert "pulumi:providers:github::orders-api-ci-github::" in res.provider, res.name


def test_environments_reviewers_and_branch_policies(stack_run: Callable[[str], Run]) -> None:
    run = stack_run("prod")
    envs = {r.inputs["environment"]: r.inputs for r in of(run, ENVIRONMENT)}
    assert set(envs) == {"production", "staging", "preview"}
    prod = envs["production"]
    assert prod["reviewers"] == [{"users": [1000001]}]
    assert prod["preventSelfReview"] is True and prod["canAdminsBypass"] is False
    assert prod["deploymentBranchPolicy"] == {"customBranchPolicies": True, "protectedBranches": False}
    assert "reviewers" not in envs["staging"]
    policies = {(r.inputs["environment"], r.inputs["branchPattern"]) for r in of(run, POLICY)}
    assert policies == {("production", "main"), ("staging", "staging")}


def test_ruleset_requires_the_real_check_names_of_the_committed_ci_workflow(stack_run: Callable[[str], Run]) -> None:
    run = stack_run("prod")
    (ruleset,) = of(run, RULESET)
    inputs = ruleset.inputs
    assert inputs["target"] == "branch" and inputs["enforcement"] == "active"
    assert inputs["conditions"]["refName"]["includes"] == ["refs/heads/main"]
    checks = inputs["rules"]["requiredStatusChecks"]["requiredChecks"]
    assert {c["integrationId"] for c in checks} == {15368}  # from GitHub Actions only
    # Job names of the ci-cd.yml this same run commits (the check-run names GitHub reports).
    ci_file = next(r for r in of(run, FILE) if r.inputs["file"].endswith("/ci-cd.yml"))
    jobs = yaml.safe_load(ci_file.inputs["content"])["jobs"]
    job_names = {job.get("name", job_id) for job_id, job in jobs.items()}
    required = {c["context"] for c in checks}
    assert required == job_names
    assert any(
        j["steps"] and any("trivy-action" in s.get("uses", "") for s in j["steps"])
        for j in jobs.values()
        if j.get("name") in required
    )  # the scan is required
    assert inputs["rules"]["pullRequest"]["requiredApprovingReviewCount"] == 1
    assert inputs["rules"]["nonFastForward"] is True and inputs["rules"]["deletion"] is True


EXTERNAL = {"RAILWAY_TOKEN", "RAILWAY_SERVICE_ID", "RENDER_API_KEY", "RENDER_SERVICE_ID", "FLY_API_TOKEN"}


def test_vault_mode_stores_only_the_external_targets_secrets_on_github(stack_run: Callable[[str], Run]) -> None:
    """#18.4: Railway, Render and Fly.io credentials never depend on the cluster's Vault, in Vault mode too;
    the cluster's own credentials (Pulumi token, kubeconfig) stay in Vault."""
    assert stack_run("prod").by_type(SECRET) == []  # prod: ciVaultSecrets true, no secret set
    run = run_stack("prod", secrets=SECRETS)
    got = {(r.inputs["environment"], r.inputs["secretName"]) for r in of(run, SECRET)}
    assert got == {("production", name) for name in EXTERNAL}


@pytest.mark.parametrize(
    ("overrides", "present", "expected"),
    [
        (
            {"ciVaultSecrets": False},
            set(SECRETS),
            {"production": EXTERNAL},
        ),
        (
            {"ciVaultSecrets": False, "deployRender": False, "deployFly": False},
            set(SECRETS),
            {"production": {"RAILWAY_TOKEN", "RAILWAY_SERVICE_ID"}},
        ),
        (
            {"ciVaultSecrets": False},
            {"pulumiAccessToken", "flyApiToken"},
            {"production": {"FLY_API_TOKEN"}},
        ),
    ],
)
def test_environment_secrets_only_for_set_keys_and_enabled_targets(
    overrides: dict, present: set, expected: dict
) -> None:
    run = run_stack("prod", overrides=overrides, secrets={k: SECRETS[k] for k in present})
    got: dict[str, set[str]] = {}
    for res in of(run, SECRET):
        got.setdefault(res.inputs["environment"], set()).add(res.inputs["secretName"])
        assert is_secret_value(res.inputs["value"]), res.name  # secret in state
        assert "plaintextValue" not in res.inputs
    assert got == expected


def test_no_secret_value_reaches_plan_or_workflows() -> None:
    run = run_stack("prod", overrides={"ciVaultSecrets": False}, secrets=SECRETS)
    # 5 external-target secrets; a service repository runs no preview (that is the platform repository's)
    assert len(of(run, SECRET)) == 5
    out = render_run(run)
    workflows = {k: v for k, v in out.files.items() if k.startswith("workflows/orders-api/")}
    assert len(workflows) == 4  # ci-cd, deploy-production, deploy-staging, rollback (no preview: not the platform repo)
    for path in ["plan.json", *workflows]:
        text = out.files[path]
        for key, value in SECRETS.items():
            for fragment in {value, *value.split()}:
                if len(fragment) >= 12:
                    assert fragment not in text, f"{key} leaked into {path}"
    # The workflows refer to the secrets by name only.
    assert "${{ secrets.RAILWAY_TOKEN }}" in workflows["workflows/orders-api/.github/workflows/deploy-production.yml"]


def test_reviewers_and_vault_address_are_validated_before_anything_registers() -> None:
    from components.config import ConfigError

    with pytest.raises(ConfigError, match=r"hardening:ciVaultAddress: empty while ciVaultSecrets is true"):
        run_stack("prod", overrides={"ciVaultAddress": ""})
    with pytest.raises(
        ConfigError,
        match=r"hardening:productionReviewers: .* accepted: a list of at most 6 "
        r"numeric GitHub user ids",
    ):
        run_stack("prod", overrides={"productionReviewers": ["platform-lead"]})
    with pytest.raises(ConfigError, match=r"hardening:productionReviewers: 7 reviewers; accepted: at most 6"):
        run_stack("prod", overrides={"productionReviewers": list(range(1, 8))})

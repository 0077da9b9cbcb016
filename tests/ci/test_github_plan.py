"""GitHub setup that works on the first run (#18.6): plan-aware environments/rulesets, the App bypass
actor, and one CiPipelines per service repository with resources named by the service.

``github_features`` is pure; the component runs under Pulumi's mocks with a small program that builds it
the way ``__main__.py`` builds one per service (``CiPipelinesArgs.for_service``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.ci.component import GithubFeatures, GithubPlanError, github_features
from components.config import ConfigError
from tools.mockrun import Run, run_stack

ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
FILE = "github:index/repositoryFile:RepositoryFile"

PROGRAM = """
import dataclasses
import pulumi
from components.ci import CiPipelines, CiPipelinesArgs
from components.config import settings_from_pulumi
from components.service.load import load_services

settings = settings_from_pulumi()
settings = dataclasses.replace(settings, ci=dataclasses.replace(settings.ci, manage_github=True))
for spec in load_services({"orders-api": {}}):
    args = CiPipelinesArgs.for_service(spec, settings)
    args = dataclasses.replace(args, github_plan=PLAN, repository_visibility=VISIBILITY, github_app_id=APP_ID)
    CiPipelines(f"{spec.name}-ci", args)
"""


def run_program(tmp_path: Path, plan: str, visibility: str, app_id: int) -> Run:
    main = tmp_path / "program.py"
    main.write_text(f"PLAN = {plan!r}\nVISIBILITY = {visibility!r}\nAPP_ID = {app_id!r}\n" + PROGRAM)
    return run_stack("prod", main=main)


def test_public_repositories_get_everything_on_every_plan() -> None:
    for plan in ("free", "team", "enterprise"):
        assert github_features(plan, "public", reviewers_requested=True) == GithubFeatures(True, True, True)


def test_a_private_repository_on_the_free_plan_is_refused_with_both_settings_named() -> None:
    with pytest.raises(ConfigError) as info:
        github_features("free", "private", reviewers_requested=False)
    msg = str(info.value)
    assert "hardening:githubPlan: 'free' with a private repository" in msg
    assert "githubRepositoryVisibility: public" in msg and "team or enterprise" in msg


def test_team_plan_leaves_reviewers_out_with_a_warning_enterprise_keeps_them() -> None:
    team = github_features("team", "private", reviewers_requested=True)
    assert (team.environments, team.reviewers, team.rulesets) == (True, False, True)
    assert "need GitHub Enterprise" in team.warnings[0]
    assert github_features("team", "internal", reviewers_requested=False).warnings == ()
    assert github_features("enterprise", "private", reviewers_requested=True) == GithubFeatures(True, True, True)


@pytest.mark.parametrize(
    ("plan", "visibility", "fragment"),
    [("pro", "public", "githubPlan: 'pro'"), ("team", "secret", "githubRepositoryVisibility: 'secret'")],
)
def test_bad_plan_values_are_named(plan: str, visibility: str, fragment: str) -> None:
    with pytest.raises(GithubPlanError, match=fragment):
        github_features(plan, visibility, reviewers_requested=False)


def test_one_component_per_service_named_by_it_team_plan_and_app_bypass(tmp_path: Path) -> None:
    run = run_program(tmp_path, "team", "private", 987654)
    names = {r.name for r in run.resources if r.type.startswith("github:")}
    assert {"orders-api-ci-ci-cd.yml", "orders-api-ci-production", "orders-api-ci-main"} <= names
    assert all(n.startswith("orders-api-ci-") for n in names), names
    envs = {r.inputs["environment"]: r.inputs for r in run.by_type(ENVIRONMENT)}
    assert "reviewers" not in envs["production"]  # GitHub Team: no required reviewers on private repos
    assert envs["production"]["deploymentBranchPolicy"]["customBranchPolicies"] is True
    (ruleset,) = run.by_type(RULESET)
    actors = {(a["actorType"], a["actorId"]) for a in ruleset.inputs["bypassActors"]}
    assert actors == {("RepositoryRole", 5), ("Integration", 987654)}
    files = {r.inputs["file"] for r in run.by_type(FILE)}
    assert ".github/workflows/preview.yml" not in files  # the program lives in example-org/hardening


def test_enterprise_keeps_the_reviewers_and_no_app_means_admins_only(tmp_path: Path) -> None:
    run = run_program(tmp_path, "enterprise", "private", 0)
    envs = {r.inputs["environment"]: r.inputs for r in run.by_type(ENVIRONMENT)}
    assert envs["production"]["reviewers"] == [{"users": [1000001]}]
    (ruleset,) = run.by_type(RULESET)
    assert [a["actorType"] for a in ruleset.inputs["bypassActors"]] == ["RepositoryRole"]


def test_free_private_fails_before_any_github_resource(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="githubPlan: 'free' with a private repository"):
        run_program(tmp_path, "free", "private", 0)


def test_a_well_formed_github_token_reaches_the_provider_as_a_secret() -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    run = run_stack("prod", secrets={"github:token": token})
    (provider,) = [p for p in run.by_type("pulumi:providers:github") if p.name == "orders-api-ci-github"]
    from tools.mockrun import is_secret_value

    assert is_secret_value(provider.inputs["token"])


@pytest.mark.parametrize("token", ["hunter2-not-a-token", "ghp_short", "github_pat_x"])
def test_a_malformed_github_token_is_named_and_never_printed(token: str) -> None:
    from components.ci.component import check_github_token

    with pytest.raises(ConfigError) as info:
        check_github_token(token)
    assert "github:token: the value is not a GitHub token" in str(info.value)
    assert token not in str(info.value)
    with pytest.raises(Exception) as run_info:
        run_stack("prod", secrets={"github:token": token})
    assert "github:token" in str(run_info.value) and token not in str(run_info.value)


def test_the_offline_renders_placeholder_is_not_mistaken_for_a_bad_token() -> None:
    from components.ci.component import OFFLINE_PLACEHOLDER
    from tools.mockrun import PLACEHOLDER_PREFIX

    assert OFFLINE_PLACEHOLDER == PLACEHOLDER_PREFIX
    run = run_stack("prod", secrets={"github:token": PLACEHOLDER_PREFIX + "token"})
    assert run.by_type("pulumi:providers:github")

"""CiPipelines: a service repository's workflows, environments, secrets and main-branch ruleset on GitHub.

With ``manage`` off (dev by default) the component registers nothing on GitHub but still builds and
validates every workflow, so a bad option fails ``pulumi preview`` in every stack. With it on, an
explicit ``github.Provider`` (the repository's owner, token from ``github:token``, format-checked, or
``GITHUB_TOKEN``) manages:

- one ``RepositoryFile`` per workflow on ``main`` (``overwrite_on_create``);
- environments: ``production`` (required reviewers, admins cannot bypass, self-review prevented,
  deployments only from ``main``), ``staging`` (only from ``staging``), ``preview`` (PR previews);
- environment secrets, only for secret config keys that are set, from Pulumi secret config (secret in
  state): the external targets' (Railway, Render, Fly.io) and the platform dispatch token in every mode
  (deploys and rollbacks to them must not depend on the cluster's Vault), and in GitHub mode the PR
  preview's Pulumi token and this stack's ``KUBECONFIG_<STACK>`` (Vault mode: read through OIDC);
- a ruleset on ``main``: pull requests with one approval, no force-push or deletion, and the ci-cd.yml
  checks by their real names, from GitHub Actions only. Repository admins may bypass it so that
  ``pulumi up`` can commit the workflow files (use a dedicated admin token for that), and so may the
  GitHub App ``githubAppId`` when one is configured (an ``Integration`` bypass actor).

Plan-aware (``githubPlan`` free|team|enterprise, ``githubRepositoryVisibility``): GitHub offers
environments, environment secrets and rulesets on private repositories only on paid plans, and required
reviewers on private repositories only on Enterprise (docs.github.com: "Managing environments for
deployment", "About rulesets"). What GitHub would refuse with a 422 is not created: reviewers are left
out with a warning where they are not available, and a private repository on the free plan is refused
up front with a message naming both settings.

One component per service repository: ``CiPipelines(f"{spec.name}-ci", CiPipelinesArgs.for_service(spec,
settings))``; its resources take the component's name as their prefix (``orders-api-ci-ci-cd.yml``,
``orders-api-ci-production``, ...).

Reviewers are numeric GitHub user ids (``productionReviewers``): GitHub's API takes ids only, and a
``github.get_user`` lookup cannot run offline (the render and the tests run under Pulumi's mocks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.ci.workflows import (
    ENVIRONMENT_BRANCH,
    GITHUB_ACTIONS_APP_ID,
    PLANS,
    PREVIEW,
    PRODUCTION,
    STAGING,
    WORKFLOW_DIR,
    WorkflowOptions,
    environment_secrets,
    render_workflows,
    required_checks,
)
from components.config import ConfigError, secret_value

TYPE = "hardening:ci:CiPipelines"
MAIN = "main"
ADMIN_ROLE_ID = 5  # GitHub's built-in "admin" repository role (ruleset bypass actor)


VISIBILITIES = ("public", "private", "internal")
# GitHub token formats: classic (ghp_), fine-grained (github_pat_), App installation (ghs_), OAuth/user (gho_,
# ghu_); a 40-hex classic token from before 2021.
_GITHUB_TOKEN = re.compile(r"^(gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255}|[0-9a-f]{40})$")


# The offline render's stand-in for a secret value (tools/mockrun.py PLACEHOLDER_PREFIX): not checked.
OFFLINE_PLACEHOLDER = "OFFLINE-SECRET-PLACEHOLDER-"


def check_github_token(token: str) -> str:
    """The token unchanged, or ConfigError naming the key and the accepted formats (never the value)."""
    if not (token or "").startswith(OFFLINE_PLACEHOLDER) and not _GITHUB_TOKEN.match(token or ""):
        raise ConfigError(
            [
                "github:token: the value is not a GitHub token; accepted: a classic token (ghp_..., scopes "
                "repo and workflow), a fine-grained token (github_pat_...) or a GitHub App installation "
                "token (ghs_...), set with `pulumi config set github:token --secret <token>`"
            ]
        )
    return token


class GithubPlanError(ConfigError):
    """The GitHub plan cannot host what the stack asks for (exit 2 in the render, no traceback)."""


@dataclass(frozen=True)
class GithubFeatures:
    """What GitHub accepts for one repository on one plan (pure: ``github_features``)."""

    environments: bool
    reviewers: bool
    rulesets: bool
    warnings: tuple[str, ...] = ()


def github_features(plan: str, visibility: str, *, reviewers_requested: bool) -> GithubFeatures:
    """Environments, required reviewers and rulesets GitHub accepts; raises GithubPlanError otherwise.

    Public repositories get all three on every plan. Private/internal: environments, environment secrets,
    branch policies and rulesets need Team or Enterprise; required reviewers need Enterprise."""
    problems = []
    if plan not in PLANS:
        problems.append(f"hardening:githubPlan: {plan!r} is invalid; accepted: {', '.join(PLANS)}")
    if visibility not in VISIBILITIES:
        problems.append(
            f"hardening:githubRepositoryVisibility: {visibility!r} is invalid; accepted: {', '.join(VISIBILITIES)}"
        )
    if problems:
        raise GithubPlanError(problems)
    if visibility == "public":
        return GithubFeatures(True, True, True)
    if plan == "free":
        raise GithubPlanError(
            [
                f"hardening:githubPlan: 'free' with a {visibility} repository: GitHub offers no environments, "
                "environment secrets or rulesets there, so the deploy workflows could not work; accepted: "
                "githubPlan team or enterprise, or a public repository (githubRepositoryVisibility: public)"
            ]
        )
    warnings: tuple[str, ...] = ()
    if plan == "team" and reviewers_requested:
        warnings = (
            "productionReviewers are not applied: required reviewers on a private or internal repository "
            "need GitHub Enterprise (githubPlan: enterprise); production keeps its branch policy only",
        )
    return GithubFeatures(True, plan == "enterprise", True, warnings)


@dataclass
class CiPipelinesArgs:
    manage: bool
    workflows: WorkflowOptions
    production_reviewers: tuple[int, ...] = ()
    secrets_present: frozenset[str] = field(default_factory=frozenset)
    stack: str = ""
    github_token: pulumi.Input[str] | None = None
    github_plan: str = "free"  # free | team | enterprise
    repository_visibility: str = "public"  # public | private | internal
    github_app_id: int = 0  # a GitHub App that commits the workflow files: a ruleset bypass actor

    @classmethod
    def for_service(cls, spec: Any, settings: Any) -> CiPipelinesArgs:
        """The CI of one service's repository (``spec``: a ServiceSpec) with the stack's CI settings
        (``settings.ci``; ``settings.stack`` and ``settings.secrets_present`` name the stack and its secrets).
        Name the component by the service (``CiPipelines(f"{spec.name}-ci", ...)``): its resources take
        that name as their prefix."""
        ci = settings.ci
        return cls(
            manage=ci.manage_github,
            workflows=WorkflowOptions.for_service(spec, ci),
            production_reviewers=tuple(ci.production_reviewers),
            secrets_present=frozenset(settings.secrets_present),
            stack=settings.stack,
            github_token=pulumi.Config("github").get_secret("token"),
            github_plan=getattr(ci, "github_plan", "free"),
            repository_visibility=getattr(ci, "repository_visibility", "public"),
            github_app_id=getattr(ci, "github_app_id", 0),
        )


class CiPipelines(pulumi.ComponentResource):
    """The app repository's CI/CD on GitHub (see the module docstring)."""

    # Pulumi evaluates these annotations at run time, and pulumi_github is imported only when GitHub is
    # managed: the resource fields are typed by their base class (RepositoryFile, RepositoryEnvironment,
    # ActionsEnvironmentSecret, RepositoryRuleset).
    workflow_texts: dict[str, str]
    required_checks: tuple[str, ...]
    files: dict[str, pulumi.CustomResource]
    environments: dict[str, pulumi.CustomResource]
    secrets: dict[str, pulumi.CustomResource]
    ruleset: pulumi.CustomResource | None

    def __init__(self, name: str, args: CiPipelinesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        wf = args.workflows
        # Built (and validated) in every stack, managed or not.
        features = github_features(
            args.github_plan, args.repository_visibility, reviewers_requested=bool(args.production_reviewers)
        )
        self.workflow_texts = render_workflows(wf)
        self.required_checks = required_checks(wf)
        self.files, self.environments, self.secrets, self.ruleset = {}, {}, {}, None
        outputs: dict[str, Any] = {
            "managed": args.manage,
            "repository": wf.full_repository,
            "workflows": [f"{WORKFLOW_DIR}/{f}" for f in self.workflow_texts],
            "requiredChecks": list(self.required_checks),
        }
        if not args.manage:
            self.register_outputs(outputs)
            return

        import pulumi_github as github  # only a stack that manages GitHub pays for the SDK's import

        for warning in features.warnings:
            pulumi.log.warn(warning, self)
        prefix = name  # one component per service repository, named by the service: "<service>-ci"
        # A malformed github:token fails here, by name, instead of as a 401 halfway through the first up.
        token = pulumi.Output.secret(args.github_token).apply(check_github_token) if args.github_token else None
        provider = github.Provider(
            f"{prefix}-github", owner=wf.owner, token=token, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        repo = wf.repository
        origin = f" (stack {args.stack})" if args.stack else ""
        for file, text in self.workflow_texts.items():
            self.files[file] = github.RepositoryFile(
                f"{prefix}-{file}",
                repository=repo,
                branch=MAIN,
                file=f"{WORKFLOW_DIR}/{file}",
                content=text,
                commit_message=f"ci: update {file}, generated by the hardening CiPipelines component{origin}",
                overwrite_on_create=True,
                opts=child,
            )

        reviewers = (
            [github.RepositoryEnvironmentReviewerArgs(users=list(args.production_reviewers))]
            if args.production_reviewers and features.reviewers
            else None
        )
        environments: dict[str, github.RepositoryEnvironment] = {}
        for env in (PRODUCTION, STAGING, PREVIEW):
            branch = ENVIRONMENT_BRANCH.get(env)
            environment = github.RepositoryEnvironment(
                f"{prefix}-{env}",
                repository=repo,
                environment=env,
                reviewers=reviewers if env == PRODUCTION else None,
                prevent_self_review=True if env == PRODUCTION else None,
                can_admins_bypass=False if env == PRODUCTION else None,
                deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                    custom_branch_policies=True, protected_branches=False
                )
                if branch
                else None,
                opts=child,
            )
            self.environments[env] = environments[env] = environment
            if branch:
                github.RepositoryEnvironmentDeploymentPolicy(
                    f"{prefix}-{env}-branch-{branch}",
                    repository=repo,
                    environment=environment.environment,
                    branch_pattern=branch,
                    opts=child,
                )

        for env, names in environment_secrets(wf, args.secrets_present, args.stack).items():
            for secret_name, key in names.items():
                self.secrets[f"{env}/{secret_name}"] = github.ActionsEnvironmentSecret(
                    f"{prefix}-{env}-{secret_name.lower().replace('_', '-')}",
                    repository=repo,
                    environment=environments[env].environment,
                    secret_name=secret_name,
                    value=secret_value(key),
                    opts=child,
                )

        bypass = [
            github.RepositoryRulesetBypassActorArgs(
                actor_type="RepositoryRole", actor_id=ADMIN_ROLE_ID, bypass_mode="always"
            )
        ]
        if args.github_app_id:
            bypass.append(
                github.RepositoryRulesetBypassActorArgs(
                    actor_type="Integration", actor_id=args.github_app_id, bypass_mode="always"
                )
            )
        self.ruleset = github.RepositoryRuleset(
            f"{prefix}-{MAIN}",
            name=f"{MAIN}: reviewed, checked by CI and the scans",
            repository=repo,
            target="branch",
            enforcement="active",
            conditions=github.RepositoryRulesetConditionsArgs(
                ref_name=github.RepositoryRulesetConditionsRefNameArgs(includes=[f"refs/heads/{MAIN}"], excludes=[])
            ),
            bypass_actors=bypass,
            rules=github.RepositoryRulesetRulesArgs(
                deletion=True,
                non_fast_forward=True,
                pull_request=github.RepositoryRulesetRulesPullRequestArgs(
                    required_approving_review_count=1,
                    dismiss_stale_reviews_on_push=True,
                    require_last_push_approval=True,
                    required_review_thread_resolution=True,
                ),
                required_status_checks=github.RepositoryRulesetRulesRequiredStatusChecksArgs(
                    required_checks=[
                        github.RepositoryRulesetRulesRequiredStatusChecksRequiredCheckArgs(
                            context=check, integration_id=GITHUB_ACTIONS_APP_ID
                        )
                        for check in self.required_checks
                    ],
                    strict_required_status_checks_policy=True,
                ),
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(self.files.values()))),
        )
        outputs["environments"] = list(self.environments)
        outputs["secretNames"] = sorted(self.secrets)
        self.register_outputs(outputs)

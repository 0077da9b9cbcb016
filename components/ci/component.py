"""CiPipelines: the app repository's workflows, environments, secrets and main-branch ruleset on GitHub.

With ``manage`` off (dev by default) the component registers nothing on GitHub but still builds and
validates every workflow, so a bad option fails ``pulumi preview`` in every stack. With it on, an
explicit ``github.Provider`` (owner from stack config, token from ``github:token`` or ``GITHUB_TOKEN``)
manages:

- one ``RepositoryFile`` per workflow on ``main`` (``overwrite_on_create``);
- environments: ``production`` (required reviewers, admins cannot bypass, self-review prevented,
  deployments only from ``main``), ``staging`` (only from ``staging``), ``preview`` (PR previews);
- environment secrets for the deploy targets that are on, only for secret config keys that are set,
  from Pulumi secret config (secret in state); none in Vault mode (the workflows read Vault via OIDC);
- a ruleset on ``main``: pull requests with one approval, no force-push or deletion, and the ci-cd.yml
  checks by their real names, from GitHub Actions only. Repository admins may bypass it so that
  ``pulumi up`` can commit the workflow files (use a dedicated admin token for that).

Reviewers are numeric GitHub user ids (``productionReviewers``): GitHub's API takes ids only, and a
``github.get_user`` lookup cannot run offline (the render and the tests run under Pulumi's mocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.ci.workflows import (
    ENVIRONMENT_BRANCH,
    GITHUB_ACTIONS_APP_ID,
    PREVIEW,
    PRODUCTION,
    SECRET_NAMES,
    STAGING,
    WORKFLOW_DIR,
    WorkflowOptions,
    environment_secrets,
    render_workflows,
    required_checks,
)
from components.config import secret_value

TYPE = "hardening:ci:CiPipelines"
MAIN = "main"
ADMIN_ROLE_ID = 5  # GitHub's built-in "admin" repository role (ruleset bypass actor)


@dataclass
class CiPipelinesArgs:
    manage: bool
    workflows: WorkflowOptions
    production_reviewers: tuple[int, ...] = ()
    secrets_present: frozenset[str] = field(default_factory=frozenset)
    stack: str = ""
    github_token: pulumi.Input[str] | None = None

    @classmethod
    def for_service(cls, spec: Any, settings: Any) -> CiPipelinesArgs:
        """The CI of one service's repository (``spec``: a ServiceSpec) with the stack's CI settings."""
        token = pulumi.Config("github").get_secret("token")
        return cls(
            manage=settings.ci.manage_github,
            workflows=WorkflowOptions.for_service(spec, settings.ci),
            production_reviewers=tuple(settings.ci.production_reviewers),
            secrets_present=frozenset(settings.secrets_present),
            stack=settings.stack,
            github_token=token,
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

        provider = github.Provider(
            f"{name}-github", owner=wf.owner, token=args.github_token, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        repo = wf.repository
        origin = f" (stack {args.stack})" if args.stack else ""
        for file, text in self.workflow_texts.items():
            self.files[file] = github.RepositoryFile(
                f"{name}-{file}",
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
            if args.production_reviewers
            else None
        )
        environments: dict[str, github.RepositoryEnvironment] = {}
        for env in (PRODUCTION, STAGING, PREVIEW):
            branch = ENVIRONMENT_BRANCH.get(env)
            environment = github.RepositoryEnvironment(
                f"{name}-{env}",
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
                    f"{name}-{env}-branch-{branch}",
                    repository=repo,
                    environment=environment.environment,
                    branch_pattern=branch,
                    opts=child,
                )

        for env, keys in environment_secrets(wf, args.secrets_present).items():
            for key in keys:
                secret_name = SECRET_NAMES[key]
                self.secrets[f"{env}/{secret_name}"] = github.ActionsEnvironmentSecret(
                    f"{name}-{env}-{secret_name.lower().replace('_', '-')}",
                    repository=repo,
                    environment=environments[env].environment,
                    secret_name=secret_name,
                    value=secret_value(key),
                    opts=child,
                )

        self.ruleset = github.RepositoryRuleset(
            f"{name}-{MAIN}",
            name=f"{MAIN}: reviewed, checked by CI and the scans",
            repository=repo,
            target="branch",
            enforcement="active",
            conditions=github.RepositoryRulesetConditionsArgs(
                ref_name=github.RepositoryRulesetConditionsRefNameArgs(includes=[f"refs/heads/{MAIN}"], excludes=[])
            ),
            bypass_actors=[
                github.RepositoryRulesetBypassActorArgs(
                    actor_type="RepositoryRole", actor_id=ADMIN_ROLE_ID, bypass_mode="always"
                )
            ],
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

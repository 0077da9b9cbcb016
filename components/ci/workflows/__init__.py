"""GitHub Actions workflows of the app repository, as pure builders.

    opts = WorkflowOptions.for_service(spec, settings.ci)
    docs = build_workflows(opts)         # {"ci-cd.yml": {...}, "deploy-production.yml": {...}, ...}
    texts = render_workflows(opts)       # the same as YAML text, "# <version>" after every pinned uses:
    required_checks(opts)                # check names the main-branch ruleset requires

See each module's docstring for what a workflow does and why.
"""

from __future__ import annotations

from typing import Any

from components.ci.workflows import ci_cd as _ci_cd
from components.ci.workflows import deploy as _deploy
from components.ci.workflows import preview as _preview
from components.ci.workflows.common import (
    ENVIRONMENT_BRANCH,
    ENVIRONMENTS,
    EXTERNAL_TARGETS,
    GITHUB_ACTIONS_APP_ID,
    PLANS,
    PREVIEW,
    PRODUCTION,
    SECRET_NAMES,
    STAGING,
    TARGET_SECRETS,
    WorkflowOptions,
    WorkflowOptionsError,
    ci_role_name,
    emit,
    kubeconfig_secret,
    secret_names_in,
)

WORKFLOW_DIR = ".github/workflows"
FILES = (_ci_cd.FILE, _deploy.FILES[PRODUCTION], _deploy.FILES[STAGING], _deploy.ROLLBACK_FILE, _preview.FILE)


def build_workflows(opts: WorkflowOptions) -> dict[str, dict[str, Any]]:
    """File name -> workflow document, in ``FILES`` order (preview.yml only where the repository holds
    the Pulumi program: it renders the stacks and previews them)."""
    docs = {
        _ci_cd.FILE: _ci_cd.ci_cd(opts),
        _deploy.FILES[PRODUCTION]: _deploy.deploy(opts, PRODUCTION),
        _deploy.FILES[STAGING]: _deploy.deploy(opts, STAGING),
        _deploy.ROLLBACK_FILE: _deploy.rollback(opts),
    }
    if opts.hosts_program:
        docs[_preview.FILE] = _preview.preview(opts)
    return docs


def render_workflows(opts: WorkflowOptions) -> dict[str, str]:
    """File name -> YAML text."""
    return {name: emit(doc) for name, doc in build_workflows(opts).items()}


def required_checks(opts: WorkflowOptions) -> tuple[str, ...]:
    """Check names a change to main must pass: every ci-cd.yml job (lint, test, image scan, config scan)."""
    return _ci_cd.check_names(_ci_cd.ci_cd(opts))


def environment_secrets(
    opts: WorkflowOptions, secrets_present: frozenset[str] | set[str], stack: str = ""
) -> dict[str, dict[str, str]]:
    """GitHub environment -> {secret name: secret config key} to store there, limited to the keys that
    are set and the targets that are on.

    - External targets (Railway, Render, Fly.io) are always GitHub environment secrets, in Vault mode
      too: their deploys and rollbacks must not depend on the cluster's Vault.
    - The Kubernetes dispatch token: GitHub secret in GitHub mode; in Vault mode also a GitHub secret,
      because rollbacks never read Vault (deploys read it from Vault, role ``ci-<repo>-<environment>``).
    - Preview: ``PULUMI_ACCESS_TOKEN`` and this stack's kubeconfig as ``KUBECONFIG_<STACK>`` (GitHub
      mode only; Vault mode reads them from ``ci/preview``). The other stacks' kubeconfigs are set by
      their own stacks or by hand.
    Staging's tokens are not managed (see the guide): the stack holds one set, production's."""
    wanted: dict[str, dict[str, str]] = {
        PRODUCTION: {SECRET_NAMES[k]: k for t in opts.targets for k in TARGET_SECRETS[t]},
        PREVIEW: {},
    }
    if not opts.vault_secrets and opts.hosts_program:
        wanted[PREVIEW] = {"PULUMI_ACCESS_TOKEN": "pulumiAccessToken"}
        if stack in opts.preview_stacks:
            wanted[PREVIEW][kubeconfig_secret(stack)] = "ciKubeconfig"
    return {env: {n: k for n, k in names.items() if k in secrets_present} for env, names in wanted.items()}


__all__ = [
    "ENVIRONMENTS",
    "ENVIRONMENT_BRANCH",
    "EXTERNAL_TARGETS",
    "FILES",
    "GITHUB_ACTIONS_APP_ID",
    "PLANS",
    "PREVIEW",
    "PRODUCTION",
    "SECRET_NAMES",
    "STAGING",
    "TARGET_SECRETS",
    "WORKFLOW_DIR",
    "WorkflowOptions",
    "WorkflowOptionsError",
    "build_workflows",
    "ci_role_name",
    "emit",
    "environment_secrets",
    "kubeconfig_secret",
    "render_workflows",
    "required_checks",
    "secret_names_in",
]

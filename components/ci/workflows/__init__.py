"""GitHub Actions workflows of the app repository, as pure builders.

    opts = WorkflowOptions.from_settings(settings)
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
    GITHUB_ACTIONS_APP_ID,
    PREVIEW,
    PRODUCTION,
    SECRET_NAMES,
    STAGING,
    TARGET_SECRETS,
    WorkflowOptions,
    WorkflowOptionsError,
    emit,
    secret_names_in,
)

WORKFLOW_DIR = ".github/workflows"
FILES = (_ci_cd.FILE, _deploy.FILES[PRODUCTION], _deploy.FILES[STAGING], _deploy.ROLLBACK_FILE, _preview.FILE)


def build_workflows(opts: WorkflowOptions) -> dict[str, dict[str, Any]]:
    """File name -> workflow document, in ``FILES`` order."""
    return {
        _ci_cd.FILE: _ci_cd.ci_cd(opts),
        _deploy.FILES[PRODUCTION]: _deploy.deploy(opts, PRODUCTION),
        _deploy.FILES[STAGING]: _deploy.deploy(opts, STAGING),
        _deploy.ROLLBACK_FILE: _deploy.rollback(opts),
        _preview.FILE: _preview.preview(opts),
    }


def render_workflows(opts: WorkflowOptions) -> dict[str, str]:
    """File name -> YAML text."""
    return {name: emit(doc) for name, doc in build_workflows(opts).items()}


def required_checks(opts: WorkflowOptions) -> tuple[str, ...]:
    """Check names a change to main must pass: every ci-cd.yml job (lint, test, image scan, config scan)."""
    return _ci_cd.check_names(_ci_cd.ci_cd(opts))


def environment_secrets(opts: WorkflowOptions, secrets_present: frozenset[str] | set[str]) -> dict[str, list[str]]:
    """GitHub environment -> secret config keys to store there (Vault mode: none), limited to the keys
    that are set and the targets that are on. Staging's platform tokens are not managed (see the guide):
    the stack holds one set of tokens, and those are production's."""
    if opts.vault_secrets:
        return {}
    wanted = {
        PRODUCTION: [k for t in opts.targets for k in TARGET_SECRETS[t]],
        PREVIEW: list(TARGET_SECRETS["kubernetes"]),
    }
    return {env: [k for k in keys if k in secrets_present] for env, keys in wanted.items()}


__all__ = [
    "ENVIRONMENT_BRANCH",
    "FILES",
    "GITHUB_ACTIONS_APP_ID",
    "PREVIEW",
    "PRODUCTION",
    "SECRET_NAMES",
    "STAGING",
    "TARGET_SECRETS",
    "WORKFLOW_DIR",
    "WorkflowOptions",
    "WorkflowOptionsError",
    "build_workflows",
    "emit",
    "environment_secrets",
    "render_workflows",
    "required_checks",
    "secret_names_in",
]

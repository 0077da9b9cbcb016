"""Every pinned version the platform deploys, read from ``versions.yaml`` beside this module (like
kube-prometheus' versions.json): one data file Renovate's regex managers bump (renovate.json).

An upgrade is a one-line diff there. Images carry an explicit tag, never ``latest``; the policy pack
rejects anything else. GitHub Actions are pinned by full commit SHA (see ``ACTIONS``), verified
against each repository's tag; keep the version in the comment that the workflow builders emit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

VERSIONS_FILE: Final = Path(__file__).with_name("versions.yaml")


def _load() -> dict[str, Any]:
    doc = yaml.safe_load(VERSIONS_FILE.read_text())
    if not isinstance(doc, dict):
        raise ValueError(f"{VERSIONS_FILE.name}: the top level must be a mapping")
    return doc


_DOC: Final = _load()

# Container images -------------------------------------------------------------------------------
IMAGES: Final[dict[str, str]] = {str(k): str(v) for k, v in _DOC["images"].items()}

# Vendored upstream releases (vendor/<package>/<version>/, hash-checked; `python -m tools.vendor` upgrades)
# Argo Rollouts: the release install manifest (CRDs + controller) applied with kubernetes.yaml.v2.ConfigFile.
ARGO_ROLLOUTS_VERSION: Final = str(_DOC["vendored"]["argo-rollouts"])
ARGO_ROLLOUTS_PACKAGE: Final = "argo-rollouts"
ARGO_ROLLOUTS_INSTALL: Final = "install.yaml"
# Score (score.dev/v1b1): the workload schema every services/<name>/score.yaml is validated against.
SCORE_SPEC_VERSION: Final = str(_DOC["vendored"]["score-spec"])
SCORE_SPEC_PACKAGE: Final = "score-spec"
SCORE_SCHEMA: Final = "score-v1b1.json"

# GitHub Actions: (full commit SHA, version tag). Verified with git ls-remote (docs/PHASE5_GUIDE.md).
ACTIONS: Final[dict[str, tuple[str, str]]] = {
    str(k): (str(v["sha"]), str(v["version"])) for k, v in _DOC["actions"].items()
}

# Tools the workflows install -------------------------------------------------------------------
TRIVY_VERSION: Final = str(_DOC["tools"]["trivy"])
PULUMI_CLI_VERSION: Final = str(_DOC["tools"]["pulumi-cli"])
PYTHON_VERSION: Final = str(_DOC["tools"]["python"])
FLYCTL_VERSION: Final = str(_DOC["tools"]["flyctl"])
# A service's toolchain version when its platform.yaml states no languageVersion (CI test job).
TOOLCHAIN_DEFAULTS: Final[dict[str, str]] = {str(k): str(v) for k, v in _DOC["toolchains"].items()}
JAVA_DISTRIBUTION: Final = str(_DOC["java-distribution"])


def image(name: str) -> str:
    """The pinned image reference for ``name``; a KeyError names the known images."""
    try:
        return IMAGES[name]
    except KeyError:
        raise KeyError(f"no pinned image named {name!r}; known: {', '.join(sorted(IMAGES))}") from None


def action(name: str) -> str:
    """``owner/repo@<sha> # <version>`` for a workflow ``uses:`` line (comment added by the emitter)."""
    sha, _version = ACTIONS[name]
    return f"{name}@{sha}"


def action_version(name: str) -> str:
    return ACTIONS[name][1]

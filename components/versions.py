"""Every pinned version the platform deploys, in one place (like kube-prometheus' versions.json).

An upgrade is a one-line diff here. Images carry an explicit tag, never ``latest``; the policy pack
rejects anything else. GitHub Actions are pinned by full commit SHA (see ``ACTIONS``), verified
against each repository's tag; keep the version in the comment that the workflow builders emit.
"""

from __future__ import annotations

from typing import Final

# Container images -------------------------------------------------------------------------------
IMAGES: Final[dict[str, str]] = {
    "prometheus": "quay.io/prometheus/prometheus:v3.5.0",
    "alertmanager": "quay.io/prometheus/alertmanager:v0.28.1",
    "config-reloader": "quay.io/prometheus-operator/prometheus-config-reloader:v0.83.0",
    "kube-state-metrics": "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.15.0",
    "node-exporter": "quay.io/prometheus/node-exporter:v1.9.1",
    "blackbox-exporter": "quay.io/prometheus/blackbox-exporter:v0.27.0",
    "grafana": "docker.io/grafana/grafana:12.1.0",
    # 3.5.8+ images carry no shell (BusyBox removed; 3.6+ are distroless static): probes are HTTP only.
    "loki": "docker.io/grafana/loki:3.7.5",
    "alloy": "docker.io/grafana/alloy:v1.18.1",
    "vault": "docker.io/hashicorp/vault:2.1.2",
    # OpenCost: tag and digest as pinned by opencost-helm-chart 2.5.17 (appVersion 1.120.1).
    "opencost": (
        "ghcr.io/opencost/opencost:1.120.1@sha256:b0701f9b54e43c9abee98f5784792a5b469ca8951e87da32b161c1fa539ab0e1"
    ),
    "opencost-ui": (
        "ghcr.io/opencost/opencost-ui:1.120.1@sha256:7c08640291228fd13854c9aa0538a6fdbcc2410bfbb66177a7a40d2634983c52"
    ),
    "argo-rollouts": "quay.io/argoproj/argo-rollouts:v1.9.1",
    "app-base": "docker.io/library/python:3.12.11-slim-bookworm",
}

# Vendored upstream releases (vendor/<package>/<version>/, hash-checked; `python -m tools.vendor` upgrades)
# Argo Rollouts: the release install manifest (CRDs + controller) applied with kubernetes.yaml.v2.ConfigFile.
ARGO_ROLLOUTS_VERSION: Final = "v1.9.1"
ARGO_ROLLOUTS_PACKAGE: Final = "argo-rollouts"
ARGO_ROLLOUTS_INSTALL: Final = "install.yaml"
# Score (score.dev/v1b1): the workload schema every services/<name>/score.yaml is validated against.
SCORE_SPEC_VERSION: Final = "0.4.1"
SCORE_SPEC_PACKAGE: Final = "score-spec"
SCORE_SCHEMA: Final = "score-v1b1.json"

# GitHub Actions: (full commit SHA, version tag). Verified with git ls-remote (docs/PHASE5_GUIDE.md).
ACTIONS: Final[dict[str, tuple[str, str]]] = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "docker/setup-buildx-action": ("37fe631027851001ddb9b187196cc803df7f5f0e", "v4.3.0"),
    "docker/login-action": ("4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0"),
    "docker/metadata-action": ("dc802804100637a589fabce1cb79ff13a1411302", "v6.2.0"),
    "docker/build-push-action": ("53b7df96c91f9c12dcc8a07bcb9ccacbed38856a", "v7.3.0"),
    # trivy-action tags were hijacked in March 2026 (CVE-2026-33634); v0.36.0 was released after.
    "aquasecurity/trivy-action": ("ed142fd0673e97e23eac54620cfb913e5ce36c25", "v0.36.0"),
    "github/codeql-action/upload-sarif": ("8aad20d150bbac5944a9f9d289da16a4b0d87c1e", "v4.36.2"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
    "hashicorp/vault-action": ("4c06c5ccf5c0761b6029f56cfb1dcf5565918a3b", "v3.4.0"),
    "superfly/flyctl-actions/setup-flyctl": ("ed8efb33836e8b2096c7fd3ba1c8afe303ebbff1", "1.6"),
    "step-security/harden-runner": ("b09bb98e06d4d774595224525879c09bc6e98c40", "v2.20.1"),
}

# Tools the workflows install -------------------------------------------------------------------
TRIVY_VERSION: Final = "v0.70.0"
PULUMI_CLI_VERSION: Final = "3.272.0"
PYTHON_VERSION: Final = "3.11"
FLYCTL_VERSION: Final = "0.4.87"  # superfly/flyctl tag v0.4.87 (2026-08-20)


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

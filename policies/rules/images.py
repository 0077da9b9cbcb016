"""Image rules: explicit tags (never ``latest``), digest pinning, allowed registries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .common import WORKLOAD_TYPES, Resource, Rule, container_label, containers, workload_check

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def normalized(self) -> str:
        return f"{self.registry}/{self.repository}"


def parse_image(image: str) -> ImageRef:
    """Split ``[registry/]repository[:tag][@digest]`` the way container runtimes resolve it."""
    rest, digest = image, None
    if "@" in image:
        rest, digest = image.split("@", 1)
    last_slash = rest.rfind("/")
    tag = None
    if ":" in rest[last_slash + 1 :]:
        rest, tag = rest.rsplit(":", 1)
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry, repository = "docker.io", rest
        if "/" not in repository:
            repository = f"library/{repository}"
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest)


def _images(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for fld, c in containers(spec):
        image = c.get("image")
        if isinstance(image, str):
            out.append((container_label(fld, c), image))
        elif image is None:
            out.append((container_label(fld, c), ""))
    return out


def _no_latest(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for who, image in _images(spec):
        if not image:
            msgs.append(f"{who} has no image")
            continue
        ref = parse_image(image)
        if ref.tag == "latest":
            msgs.append(f"{who} uses image {image!r} with the mutable tag 'latest'")
        elif ref.tag is None and ref.digest is None:
            msgs.append(f"{who} uses untagged image {image!r} (it resolves to 'latest')")
    return msgs


def _digest(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for who, image in _images(spec):
        ref = parse_image(image) if image else None
        if ref is None or ref.digest is None or not _DIGEST.match(ref.digest):
            msgs.append(f"{who} image {image!r} is not pinned by digest (@sha256:<64 hex>)")
    return msgs


def _registries(res: Resource, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    allowed = [a.rstrip("/") for a in config.get("allowedRegistries") or [] if isinstance(a, str) and a]
    msgs = []
    for who, image in _images(spec):
        if not image:
            continue
        normalized = parse_image(image).normalized
        if not any(normalized == a or normalized.startswith(a + "/") for a in allowed):
            msgs.append(
                f"{who} pulls {image!r} (resolved {normalized!r}) from a registry not in allowedRegistries "
                f"{sorted(allowed)}"
            )
    return msgs


no_latest_tag = workload_check(_no_latest)


POLICY_IMAGES_NO_LATEST_TAG = Rule(
    name="images-no-latest-tag",
    area="images",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=no_latest_tag,
    applies_to=WORKLOAD_TYPES,
    description="Container images carry an explicit tag: never `latest`, never untagged.",
    remediation="Pin the image to a released tag in components/versions.py (IMAGES) and reference it "
    "with versions.image(name); for the app image use the immutable build tag (git SHA).",
)


pinned_by_digest = workload_check(_digest)


POLICY_IMAGES_PINNED_BY_DIGEST = Rule(
    name="images-pinned-by-digest",
    area="images",
    severity="medium",
    kind="resource",
    default_level="advisory",
    check=pinned_by_digest,
    applies_to=WORKLOAD_TYPES,
    description="Container images are pinned by digest (@sha256:...), so a re-pushed tag cannot change them.",
    remediation="Append the digest to the pinned tag (`repo:tag@sha256:<digest>`, from "
    "`crane digest repo:tag` or the registry UI). Make the rule mandatory in "
    "policies/config/<stack>.json once every image carries one.",
)


allowed_registries = workload_check(_registries)


POLICY_IMAGES_ALLOWED_REGISTRIES = Rule(
    name="images-allowed-registries",
    area="images",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=allowed_registries,
    applies_to=WORKLOAD_TYPES,
    config={
        "allowedRegistries": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Registry hosts or host/path prefixes images may come from "
            "(`docker.io`, `ghcr.io/acme`). Short names resolve to docker.io/library.",
            "default": ["quay.io", "registry.k8s.io", "docker.io", "ghcr.io"],
        },
    },
    description="Images come only from the registries allowed for the stack.",
    remediation="Use an image from an allowed registry (mirror it there if needed) or, if the registry "
    "is trusted, add it to allowedRegistries in policies/config/<stack>.json.",
)

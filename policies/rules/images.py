"""Image rules: explicit tags (never ``latest``), digest pinning, allowed registries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .common import Resource, container_label, containers, workload_check

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
pinned_by_digest = workload_check(_digest)
allowed_registries = workload_check(_registries)

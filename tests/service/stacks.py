"""A copy of the project with changed service definitions or stack files, for tests that run the program on it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

PROGRAM_FILES = ("__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml")


def project_copy(tmp: Path, edit: Callable[[Path], None] | None = None) -> Path:
    """``tmp/p`` with the program's entry point, project and stack files, services/ and policies/config/."""
    root = tmp / "p"
    root.mkdir(parents=True)
    for name in PROGRAM_FILES:
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "services", root / "services")
    if edit is not None:
        edit(root)
    return root


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def add_service(root: Path, name: str, score: dict[str, Any], platform: dict[str, Any]) -> None:
    folder = root / "services" / name
    folder.mkdir(parents=True)
    (folder / "score.yaml").write_text(yaml.safe_dump(score, sort_keys=False))
    (folder / "platform.yaml").write_text(yaml.safe_dump(platform, sort_keys=False))


def select(root: Path, stack: str, name: str, overrides: dict[str, Any]) -> None:
    edit_yaml(root / f"Pulumi.{stack}.yaml", lambda d: d["config"]["hardening:services"].__setitem__(name, overrides))

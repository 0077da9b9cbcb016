"""Every pinned version is in components/versions.yaml, and Renovate's regex managers (renovate.json) see every
entry: an update is one reviewed pull request, never a version nobody bumps."""

from __future__ import annotations

import json
import re

import yaml

from components import versions
from tests.conftest import ROOT

TEXT = (ROOT / "components" / "versions.yaml").read_text()


def _patterns(datasource: str) -> list[re.Pattern[str]]:
    config = json.loads((ROOT / "renovate.json").read_text())
    out = []
    for manager in config["customManagers"]:
        if manager["datasourceTemplate"] == datasource:
            # JavaScript's named groups (?<name>...) are Python's (?P<name>...)
            out += [re.compile(p.replace("(?<", "(?P<")) for p in manager["matchStrings"]]
    return out


def _found(datasource: str) -> dict[str, dict[str, str | None]]:
    text = "\n" + TEXT.replace("\n", "\n\n")  # each line on its own, as the managers' \n...\n anchors expect
    return {m["depName"]: m.groupdict() for p in _patterns(datasource) for m in p.finditer(text)}


def test_renovate_sees_every_image_with_its_tag_and_digest() -> None:
    found = _found("docker")
    for name, ref in versions.IMAGES.items():
        repo, _, rest = ref.partition("@")[0].rpartition(":")[0], None, ref
        assert repo in found, (name, ref)
        assert found[repo]["currentValue"] == ref.split("@")[0].rsplit(":", 1)[1]
        if "@" in rest:
            assert found[repo]["currentDigest"] == ref.split("@", 1)[1]


def test_renovate_sees_every_action_with_its_sha_and_version() -> None:
    found = _found("github-tags")
    for name, (sha, version) in versions.ACTIONS.items():
        repo = "/".join(name.split("/")[:2])
        hits = [g for dep, g in found.items() if dep == repo]
        assert any(g["currentDigest"] == sha for g in hits) or any(
            m["currentDigest"] == sha and m["currentValue"] == version
            for p in _patterns("github-tags")
            for m in p.finditer("\n" + TEXT.replace("\n", "\n\n"))
        ), name


def test_renovate_sees_the_ci_tools() -> None:
    found = _found("github-releases")
    assert found["aquasecurity/trivy"]["currentValue"] == versions.TRIVY_VERSION
    assert found["pulumi/pulumi"]["currentValue"] == versions.PULUMI_CLI_VERSION
    assert found["superfly/flyctl"]["currentValue"] == versions.FLYCTL_VERSION


def test_versions_py_holds_no_version_of_its_own() -> None:
    """One place: the module only reads the data file."""
    source = (ROOT / "components" / "versions.py").read_text()
    assert not re.search(r"['\"]v?[0-9]+\.[0-9]+\.[0-9]+['\"]", source)
    doc = yaml.safe_load(TEXT)
    assert set(doc) == {"images", "actions", "tools", "toolchains", "java-distribution", "vendored"}

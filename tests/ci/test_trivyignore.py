"""``.trivyignore.yaml`` (#18.7): the repository's file is in Trivy's YAML format and every entry has a
reason and an expiry; the checker catches each way an entry can be wrong."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from components.ci import trivyignore
from components.ci.workflows import build_workflows
from components.ci.workflows import ci_cd as ci_cd_mod
from tests.ci.helpers import options, steps_using

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 1)
GOOD = {
    "id": "CVE-2025-0001",
    "statement": "Only reachable through the admin CLI, which the image does not ship; upstream fix pending",
    "expired_at": "2027-01-15",
    "purls": ["pkg:deb/debian/libexample@1.2.3"],
}


def test_the_repository_file_is_valid_and_is_what_the_scans_read() -> None:
    doc = yaml.safe_load((ROOT / trivyignore.FILE).read_text())
    assert set(doc) == set(trivyignore.LISTS)
    assert trivyignore.problems(doc, dt.date.today()) == []
    assert ci_cd_mod.TRIVY_IGNORE_FILE == trivyignore.FILE
    for job in build_workflows(options())["ci-cd.yml"]["jobs"].values():
        for step in steps_using(job, "aquasecurity/trivy-action"):
            assert trivyignore.FILE in step["with"]["trivyignores"]


def test_a_complete_entry_passes() -> None:
    assert trivyignore.problems({"vulnerabilities": [GOOD]}, TODAY) == []
    dated = {**GOOD, "expired_at": dt.date(2027, 1, 15)}  # YAML reads an unquoted date as a date
    assert trivyignore.problems({"misconfigurations": [dated]}, TODAY) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"expired_at": None}, "expired_at None is missing or invalid"),
        ({"expired_at": "next year"}, "expired_at 'next year' is missing or invalid"),
        ({"expired_at": "2027-12-31"}, "more than 90 days ahead"),
        ({"statement": None}, "statement is missing"),
        ({"statement": "ok"}, "statement is missing or too short"),
        ({"id": "CVE 1; rm"}, "id 'CVE 1; rm' is invalid"),
        ({"purls": []}, "purls must be a non-empty list"),
        ({"reason": "x"}, "unknown field 'reason'"),
    ],
)
def test_each_bad_field_is_named(change: dict, fragment: str) -> None:
    entry = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    found = trivyignore.problems({"vulnerabilities": [entry]}, TODAY)
    assert any(fragment in p and "vulnerabilities[0]" in p for p in found), found


def test_unknown_lists_and_shapes_are_refused() -> None:
    assert "'ignores' is not a Trivy ignore list" in trivyignore.problems({"ignores": []}, TODAY)[0]
    assert "must be a list" in trivyignore.problems({"secrets": {"id": "x"}}, TODAY)[0]
    assert "top level must be a mapping" in trivyignore.problems(["CVE-1"], TODAY)[0]


def test_expired_entries_are_reported() -> None:
    old = {**GOOD, "expired_at": "2026-11-30"}
    assert trivyignore.expired({"vulnerabilities": [old, GOOD]}, TODAY) == [
        "vulnerabilities: CVE-2025-0001 expired on 2026-11-30"
    ]

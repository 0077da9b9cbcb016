"""Upstream files the program reads, vendored under ``vendor/`` and checked against their SHA-256.

Each vendored release lives in ``vendor/<package>/<version>/`` with upstream's LICENSE, a README that
says where each file came from, and ``SHA256SUMS`` (``sha256sum`` format, so ``sha256sum -c`` works
too). ``tools/vendor.py`` re-creates such a folder for a new version and rewrites the sums, so an
upgrade is one reviewed diff. Nothing reads an upstream URL or a folder outside the repository at run time.

``verified(package, version, name)`` returns the file's path relative to the project root (what
``pulumi up`` hands the Kubernetes provider, so state does not depend on where the repository is
checked out) after checking its hash; a file that does not match its sum, a missing file and a
missing sum each raise ``VendoredFileError`` naming the file, and the program stops before any
resource is registered.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

try:  # pulumi is always installed for the program; keep the module importable without it for tools.
    from pulumi import RunError as _BaseError
except ImportError:  # pragma: no cover
    _BaseError = Exception  # type: ignore[assignment,misc]

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = "vendor"
SUMS_FILE = "SHA256SUMS"


class VendoredFileError(_BaseError):  # type: ignore[misc,valid-type]
    """A vendored file is missing, unlisted or does not match its recorded SHA-256."""


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def release_dir(package: str, version: str, root: Path | None = None) -> Path:
    return (root or ROOT) / VENDOR_DIR / package / version


def read_sums(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` from ``folder/SHA256SUMS``; VendoredFileError when it is missing or malformed."""
    sums_path = folder / SUMS_FILE
    if not sums_path.is_file():
        raise VendoredFileError(f"{_rel(sums_path)}: missing; re-create the folder with `python -m tools.vendor`")
    sums: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name or "/" in name:
            raise VendoredFileError(f"{_rel(sums_path)}:{number}: expected '<sha256>  <file name>', got {line!r}")
        sums[name] = digest
    return sums


def verify_folder(folder: Path) -> list[str]:
    """Every problem of a vendored folder: files that do not match, are missing or are not listed."""
    try:
        sums = read_sums(folder)
    except VendoredFileError as exc:
        return [str(exc)]
    problems = []
    for name, digest in sorted(sums.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{_rel(path)}: listed in {SUMS_FILE} but missing")
        elif (actual := sha256_file(path)) != digest:
            problems.append(
                f"{_rel(path)}: SHA-256 {actual} does not match {digest} in {SUMS_FILE}; "
                "a vendored file is changed only by `python -m tools.vendor`"
            )
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != SUMS_FILE and path.name not in sums:
            problems.append(f"{_rel(path)}: not listed in {SUMS_FILE}")
    return problems


def verified(package: str, version: str, name: str, root: Path | None = None) -> str:
    """The project-relative path of ``vendor/<package>/<version>/<name>`` once its SHA-256 matches."""
    base = root or ROOT
    folder = release_dir(package, version, base)
    sums = read_sums(folder)
    path = folder / name
    if name not in sums:
        raise VendoredFileError(f"{_rel(path)}: not listed in {_rel(folder / SUMS_FILE)}")
    if not path.is_file():
        raise VendoredFileError(f"{_rel(path)}: missing (listed in {SUMS_FILE})")
    actual = sha256_file(path)
    if actual != sums[name]:
        raise VendoredFileError(
            f"{_rel(path)}: SHA-256 {actual} does not match {sums[name]} recorded in {SUMS_FILE}; the vendored "
            "file was changed by hand. Restore it (git checkout) or re-vendor the release with "
            "`python -m tools.vendor`."
        )
    return path.relative_to(base).as_posix()


def read_verified(package: str, version: str, name: str, root: Path | None = None) -> str:
    """The text of a vendored file after its hash check."""
    base = root or ROOT
    return (base / verified(package, version, name, base)).read_text()


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)

"""Vendor an upstream release into ``vendor/<package>/<version>/`` and record each file's SHA-256.

    python -m tools.vendor argo-rollouts --version v1.9.1 --from DIR_OR_URL [--license FILE_OR_URL]
    python -m tools.vendor score-spec --version 0.4.1 --from DIR_OR_URL [--license FILE_OR_URL]
    python -m tools.vendor check

``--from`` is a directory or an ``https://`` prefix; each upstream file is read from ``<from>/<name>``.
The folder is written anew (LICENSE, README.md with each file's origin and upstream SHA-256, and
``SHA256SUMS``), so an upgrade is one reviewed diff; then bump the version in ``components/versions.py``.

Argo Rollouts: the release asset ``install.yaml`` pins the controller image; the source tree's copy
says ``argo-rollouts:latest``. Given the source form, the tool pins the image exactly as upstream's
release build does (``make manifests IMAGE_TAG=<version>``, which runs ``kustomize edit set image``),
and the README says so. Any other image tag is refused.

Exit status (the table is in ``--help``): 0 ok, 1 ``check`` found a vendored file that does not match its
SHA256SUMS, 2 bad input (a missing or mismatched upstream file, a bad option; the message names it).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components import vendored
from components.vendored import SUMS_FILE, VendoredFileError
from tools import cli

ARGO_IMAGE = "quay.io/argoproj/argo-rollouts"
# The tag the upstream source tree leaves on the controller image; the release build (and this tool) pins it.
SOURCE_TAG = "latest"


@dataclass(frozen=True)
class Package:
    name: str
    upstream: str  # repository URL, for the README
    files: tuple[tuple[str, str], ...]  # (vendored name, path at the source)
    license: str


PACKAGES = {
    "argo-rollouts": Package(
        "argo-rollouts",
        "https://github.com/argoproj/argo-rollouts",
        (
            ("install.yaml", "install.yaml"),
            ("rollout-crd.yaml", "rollout-crd.yaml"),
            ("analysis-template-crd.yaml", "analysis-template-crd.yaml"),
            ("cluster-analysis-template-crd.yaml", "cluster-analysis-template-crd.yaml"),
            ("analysis-run-crd.yaml", "analysis-run-crd.yaml"),
        ),
        "Apache-2.0",
    ),
    "score-spec": Package(
        "score-spec",
        "https://github.com/score-spec/spec",
        (("score-v1b1.json", "score-v1b1.json"), ("score-full.yaml", "score-full.yaml")),
        "Apache-2.0",
    ),
}


class VendorError(Exception):
    """Bad input to the vendor tool; the message names the file or option."""


def _read(source: str, name: str) -> bytes:
    if re.match(r"^https://", source):
        url = f"{source.rstrip('/')}/{name}"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - https only, checked above
                return bytes(resp.read())
        except OSError as exc:
            raise VendorError(f"cannot download {url}: {exc}") from None
    path = Path(source) / name
    if not path.is_file():
        raise VendorError(f"{path}: no such file (--from {source})")
    return path.read_bytes()


def _read_one(location: str) -> bytes:
    if re.match(r"^https://", location):
        base, _, name = location.rpartition("/")
        return _read(base, name)
    path = Path(location)
    if not path.is_file():
        raise VendorError(f"{path}: no such file (--license)")
    return path.read_bytes()


def pin_argo_install(text: str, version: str) -> tuple[str, str]:
    """(install.yaml with the controller image pinned to ``version``, a note on what was done)."""
    tags = set(re.findall(rf"image: {re.escape(ARGO_IMAGE)}:(\S+)", text))
    if not tags:
        raise VendorError(f"install.yaml: no {ARGO_IMAGE} image; is this the Argo Rollouts install manifest?")
    if tags == {version}:
        return text, "the release asset, unchanged (its controller image is already pinned)"
    if tags == {SOURCE_TAG}:
        pinned = text.replace(f"image: {ARGO_IMAGE}:{SOURCE_TAG}", f"image: {ARGO_IMAGE}:{version}")
        return pinned, (
            f"the tag's source `manifests/install.yaml` with the controller image set to `{ARGO_IMAGE}:{version}`, "
            f"exactly as upstream's release build does (`make manifests IMAGE_TAG={version}` runs "
            "`kustomize edit set image`); that image line is the only difference from the release asset"
        )
    raise VendorError(
        f"install.yaml: controller image tag(s) {sorted(tags)}; accepted: {version} (the release asset) or "
        "latest (the source tree, pinned by this tool)"
    )


def vendor(package: str, version: str, source: str, license_from: str | None, root: Path) -> Path:
    """Write ``vendor/<package>/<version>/`` from ``source``; returns the folder."""
    if package not in PACKAGES:
        raise VendorError(f"package {package!r}; accepted: {', '.join(PACKAGES)}")
    if not re.fullmatch(r"v?\d+\.\d+\.\d+([-.][0-9A-Za-z.]+)?", version):
        raise VendorError(f"--version {version!r}; accepted: a release version such as v1.9.1 or 0.4.1")
    pkg = PACKAGES[package]
    files: dict[str, bytes] = {}
    origins: list[str] = []
    for name, at in pkg.files:
        data = _read(source, at)
        upstream_sum = hashlib.sha256(data).hexdigest()
        note = "unchanged"
        if package == "argo-rollouts" and name == "install.yaml":
            text, note = pin_argo_install(data.decode(), version)
            data = text.encode()
        files[name] = data
        origins.append(f"| `{name}` | `{at}` | `{upstream_sum}` | {note} |")
    license_data = _read_one(license_from) if license_from else _read(source, "LICENSE")
    if b"Apache License" not in license_data:
        raise VendorError(f"LICENSE: not the {pkg.license} text this package is released under")
    files["LICENSE"] = license_data
    files["README.md"] = _readme(pkg, version, source, origins).encode()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))

    target = vendored.release_dir(package, version, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / SUMS_FILE).write_text(sums)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def _readme(pkg: Package, version: str, source: str, origins: list[str]) -> str:
    shown = source if source.startswith("https://") else f"a local copy ({Path(source).name}/)"
    return (
        f"# {pkg.name} {version} (vendored)\n\n"
        f"Upstream: {pkg.upstream}, release `{version}`, licensed {pkg.license} (`LICENSE` is upstream's).\n"
        f"Read from {shown} by `python -m tools.vendor {pkg.name} --version {version}`; do not edit these files "
        f"by hand: `{SUMS_FILE}` records each file's SHA-256, and the program and the tests refuse a file that "
        "does not match.\n\n"
        "| file | upstream path | upstream SHA-256 | what was done |\n| --- | --- | --- | --- |\n"
        + "\n".join(origins)
        + "\n"
    )


def check(root: Path) -> list[str]:
    base = root / vendored.VENDOR_DIR
    problems: list[str] = []
    folders = sorted(p for p in base.glob("*/*") if p.is_dir())
    if not folders:
        return [f"{base}: no vendored release"]
    for folder in folders:
        problems += vendored.verify_folder(folder)
    return problems


def _main(argv: Sequence[str] | None) -> int:
    parser = cli.Parser(prog="python -m tools.vendor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in PACKAGES:
        one = sub.add_parser(name, help=f"vendor a {name} release")
        one.add_argument("--version", required=True)
        one.add_argument("--from", dest="source", required=True, metavar="DIR_OR_URL")
        one.add_argument("--license", dest="license_from", metavar="FILE_OR_URL")
    check_parser = sub.add_parser("check", help="verify every vendored file against its SHA256SUMS (exit 1 if not)")
    cli.add_quiet(check_parser)
    args = parser.parse_args(argv)
    root = vendored.ROOT
    if args.command == "check":
        problems = check(root)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if not problems and not args.quiet:
            print("vendored files: every SHA-256 matches")
        return cli.EXIT_FAILED if problems else cli.EXIT_OK
    folder = vendor(args.command, args.version, args.source, args.license_from, root)
    print(f"wrote {folder.relative_to(root)}; review the diff, then set the version in components/versions.py")
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The command with the CLI convention's error handling (tools/cli.py): returns the exit status."""
    return cli.run("vendor", lambda: _main(argv), user_errors=(VendorError, VendoredFileError))


if __name__ == "__main__":
    sys.exit(main())

"""app/Dockerfile checked structurally (docker cannot build here), the dependency pins it installs, and
the read-only-root-filesystem promise exercised on the real server."""

from __future__ import annotations

import re
import shlex
import shutil
from importlib.metadata import distribution
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from app.orders_api.settings import Settings
from components.versions import IMAGES

from .appserver import AppProcess
from .conftest import order_body

APP = Path(__file__).resolve().parents[2] / "app"
DOCKERFILE = APP / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        assert result, "the Dockerfile must start with FROM"
        result[-1].append(ins)
    return result


def test_every_stage_uses_the_pinned_base_image() -> None:
    froms = [args.split() for ins, args in instructions() if ins == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    for words in froms:
        assert words[0] == IMAGES["app-base"]
        assert len(words) == 3 and words[1].upper() == "AS"
    assert ":latest" not in DOCKERFILE.read_text()


def test_final_stage_runs_as_numeric_non_root_user() -> None:
    final = stages()[-1]
    users = [args for ins, args in final if ins == "USER"]
    assert users, "the runtime stage must set USER"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER must be numeric (runAsNonRoot can verify only numeric ids), got {users[-1]}"
    assert int(match.group(1)) != 0 and int(match.group(2) or 1) != 0
    entry = [args for ins, args in final if ins == "ENTRYPOINT"]
    assert entry == ['["python", "-m", "orders_api"]']
    last = [ins for ins, _ in final]
    assert last.index("USER") < last.index("ENTRYPOINT")


def test_final_stage_is_read_only_friendly_and_minimal() -> None:
    final = stages()[-1]
    env = " ".join(args for ins, args in final if ins == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # no __pycache__ writes at run time
    assert "HOME=/tmp" in env and "TMPDIR=/tmp" in env
    assert not [args for ins, args in final if ins == "RUN"], "nothing is installed in the runtime stage"
    copies = [args for ins, args in final if ins == "COPY"]
    assert copies and all(c.startswith("--from=build") for c in copies)
    assert [args for ins, args in final if ins == "EXPOSE"] == [str(Settings().port)]
    build = stages()[0]
    assert any("compileall" in args and "/app/orders_api" in args for ins, args in build if ins == "RUN")


def test_no_secrets_baked_in() -> None:
    for ins, args in instructions():
        if ins in {"ENV", "ARG", "LABEL"}:
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_.]*)=", args) or [args.split("=")[0]]
            for name in names:
                assert not re.search(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE", name, re.I), (ins, args)
        assert ins != "ADD", "ADD can fetch remote content; use COPY"
    ignore = [
        line for line in (APP / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", ".dockerignore must exclude everything by default"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == {"orders_api", "requirements.txt", "constraints.txt"}


def test_copied_sources_exist_and_are_in_the_context() -> None:
    allowed = {"orders_api", "requirements.txt", "constraints.txt"}
    for ins, args in stages()[0]:
        if ins == "COPY" and not args.startswith("--from"):
            *sources, _dest = shlex.split(args)
            for source in sources:
                assert (APP / source).exists(), source
                assert source.rstrip("/") in allowed, source


def test_constraints_pin_the_whole_runtime_closure_as_tested() -> None:
    constraints = {}
    for line in (APP / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraint without ==: {line}"
            constraints[name.lower()] = version
    closure: dict[str, str] = {}

    def walk(name: str) -> None:
        dist = distribution(name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in closure:
            return
        closure[key] = dist.version
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                walk(req.name)

    top = [
        Requirement(line)
        for line in (APP / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for req in top:
        walk(req.name)
        assert str(req.specifier) == f"=={constraints[req.name.lower()]}"
    assert constraints == closure, "regenerate app/constraints.txt from the test environment"
    assert "RUN" in DOCKERFILE.read_text() and "-c constraints.txt" in DOCKERFILE.read_text()


@pytest.mark.server
def test_server_writes_nothing_in_its_code_directory(tmp_path: Path) -> None:
    """What a read-only root filesystem needs: serving traffic leaves the code tree untouched."""
    code = tmp_path / "image-app"
    shutil.copytree(APP / "orders_api", code / "orders_api", ignore=shutil.ignore_patterns("__pycache__"))
    before = sorted((p.relative_to(code), p.stat().st_mtime_ns) for p in code.rglob("*"))
    app = AppProcess(tmp_path, {"APP_SECRET_API_KEY": "ro-key-123456"})
    app.server.cwd = code
    try:
        app.start()
        for _ in range(20):
            assert (
                httpx.post(
                    app.url + "/orders", json=order_body(), timeout=5, headers={"Authorization": "Bearer ro-key-123456"}
                ).status_code
                == 201
            )
        assert httpx.get(app.url + "/metrics", timeout=5).status_code == 200
    finally:
        app.stop()
    after = sorted((p.relative_to(code), p.stat().st_mtime_ns) for p in code.rglob("*"))
    assert after == before

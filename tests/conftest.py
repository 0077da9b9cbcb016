"""Shared pytest configuration and fixtures.

``stack_run(stack)`` runs ``__main__.py`` for a stack under Pulumi's mocks with that stack's real
configuration (cached per session) and returns a ``tools.mockrun.Run`` to query resources by type and
name. ``rendered(stack)`` is the offline render of a stack written to a temporary ``dist/``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.mockrun import Run, run_stack  # noqa: E402

STACKS = ("dev", "prod")


@pytest.fixture(scope="session")
def stack_run() -> Callable[[str], Run]:
    cache: dict[str, Run] = {}

    def get(stack: str) -> Run:
        if stack not in cache:
            cache[stack] = run_stack(stack)
        return cache[stack]

    return get


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Render a stack once per session; returns its output directory."""
    from tools.render import render

    cache: dict[str, Path] = {}

    def get(stack: str) -> Path:
        if stack not in cache:
            out = tmp_path_factory.mktemp(f"dist-{stack}") / stack
            buf = io.StringIO()
            code = render(stack, out, stream=buf)
            assert code == 0, f"render {stack} exited {code}:\n{buf.getvalue()}"
            cache[stack] = out
        return cache[stack]

    return get

"""Shared pytest configuration and fixtures.

``stack_run(stack)`` runs ``__main__.py`` for a stack under Pulumi's mocks with that stack's real
configuration (cached per session) and returns a ``tools.mockrun.Run`` to query resources by type and
name. ``rendered(stack)`` is the offline render of a stack written to a temporary ``dist/`` (once per session;
``rendered_summary(stack)`` is the summary that render printed).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Cache bytecode (pytest's rewritten test modules, the program's modules) even where PYTHONDONTWRITEBYTECODE is
# set, as here and on some CI machines: compiling ~300 modules from source cost every run, and every xdist
# worker, ~4 s. Python and pytest check each cached file against its source, so a stale one is never used.
sys.dont_write_bytecode = False
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
def _session_renders(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, str]]:
    from tools.render import render

    cache: dict[str, tuple[Path, str]] = {}

    def get(stack: str) -> tuple[Path, str]:
        if stack not in cache:
            out = tmp_path_factory.mktemp(f"dist-{stack}") / stack
            buf = io.StringIO()
            code = render(stack, out, stream=buf)
            assert code == 0, f"render {stack} exited {code}:\n{buf.getvalue()}"
            cache[stack] = (out, buf.getvalue())
        return cache[stack]

    return get


@pytest.fixture(scope="session")
def rendered(_session_renders: Callable[[str], tuple[Path, str]]) -> Callable[[str], Path]:
    """Render a stack once per session; returns its output directory."""
    return lambda stack: _session_renders(stack)[0]


@pytest.fixture(scope="session")
def rendered_summary(_session_renders: Callable[[str], tuple[Path, str]]) -> Callable[[str], str]:
    """The summary the session's render of a stack printed (the text ``python -m tools.render`` shows)."""
    return lambda stack: _session_renders(stack)[1]

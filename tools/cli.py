"""One command-line convention for every tool under ``tools/``.

- Flag names: ``--stack`` (a stack name: picks ``Pulumi.<stack>.yaml``), ``--out`` (where files are
  written), ``--json`` (machine output on stdout instead of text), ``--quiet`` (errors only).
- Exit codes (``EXIT_*``), the same meaning in every tool, printed at the end of every ``--help``:

  ====  ===============================================================================
  0     success
  1     a check failed: a mandatory policy is violated (render, policy report), a Vault error
  2     bad input: a flag, a file, a stack setting, a service definition (the message names it)
  3     a threshold was crossed on request: cost increase (``--fail-on-increase``), rotation overdue
  70    a bug: an unexpected exception; its traceback is written to a file the message names
  ====  ===============================================================================

- User errors never print a traceback: raise ``UserError`` (or a subclass, or register the tool's own
  input-error classes with ``run(..., user_errors=...)``) and ``run`` prints ``error: <message>`` and
  returns 2. Anything else is a bug: ``run`` writes the traceback to ``$TMPDIR/hardening-<tool>-<pid>.log``
  and prints one line naming that file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_THRESHOLD = 3
EXIT_BUG = 70

EXIT_CODES = (
    (EXIT_OK, "success"),
    (EXIT_FAILED, "a check failed (a mandatory policy is violated; a Vault error)"),
    (EXIT_USAGE, "bad input: a flag, file, stack setting or service definition (the message names it)"),
    (EXIT_THRESHOLD, "a threshold was crossed on request (cost increase with --fail-on-increase; rotation overdue)"),
    (EXIT_BUG, "a bug: the traceback is written to a file the message names"),
)


class UserError(Exception):
    """Bad input from the user: printed as one line, exit 2, never a traceback."""


def exit_code_epilog() -> str:
    return "exit status:\n" + "\n".join(f"  {code:<3} {meaning}" for code, meaning in EXIT_CODES)


class Parser(argparse.ArgumentParser):
    """argparse with the convention: the exit-code table in ``--help``, usage errors as one line and exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        epilog = kwargs.pop("epilog", None)
        kwargs["epilog"] = f"{epilog}\n\n{exit_code_epilog()}" if epilog else exit_code_epilog()
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def add_stack(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--stack", required=required, help="stack name: dev or prod (Pulumi.<stack>.yaml)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine output (JSON) on stdout instead of text")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print errors only")


def run(
    tool: str,
    main: Callable[[], int],
    *,
    user_errors: Sequence[type[BaseException]] = (),
    err: TextIO | None = None,
) -> int:
    """Call ``main`` with the convention's error handling; returns the exit code."""
    stream = err or sys.stderr
    expected: tuple[type[BaseException], ...] = (UserError, *user_errors)
    try:
        return main()
    except expected as exc:
        print(f"error: {exc}", file=stream)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=stream)
        return 130
    except Exception:  # a bug: keep the terminal clean, keep the traceback
        fd, path = tempfile.mkstemp(prefix=f"hardening-{tool}-{os.getpid()}-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        print(f"error: {tool} failed unexpectedly (a bug); the traceback is in {path}", file=stream)
        return EXIT_BUG

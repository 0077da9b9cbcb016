"""``python -m tools.vault <command>``: the Vault operations that must not live in Pulumi state.

Commands (each takes ``--address`` (default ``$VAULT_ADDR``), ``--ca-cert`` (default ``$VAULT_CACERT``),
``--timeout`` (seconds per request, default 60 like the Vault CLI) and, where a token is needed,
``--token-file`` (default ``$VAULT_TOKEN``)):

``status``            seal state (no token needed); exit 0 unsealed, 2 sealed or not initialised, 1 error,
                      like ``vault status``; ``--wait SECONDS`` polls until unsealed (bounded).
``init``              Shamir shares/threshold; keys PGP-encrypted with ``--pgp-key`` files, otherwise
                      written to new mode-0600 files (never overwritten) in ``--out`` (default
                      ``$XDG_STATE_HOME/hardening/vault``), refused inside a git work tree unless ``--force``.
                      A timed-out answer is checked against ``sys/init``: the message says whether the keys
                      are lost and how to recover. Nothing secret on stdout unless ``--print-secrets``.
``unseal``            keys from ``--key-file`` (the init JSON or one key per line) or standard input
                      (hidden prompt on a terminal); prints "2 of 3 keys, 1 more needed".
``reconcile``         validate the declarative configuration document, compute and print the plan (every
                      change, every unmanaged item), then apply it in dependency order, stopping at the
                      first refusal (``--dry-run``: plan only; ``--prune[=CLASSES]``: also delete unmanaged
                      policies, roles, auth methods, secrets engines, audit devices).
``convert``           print the ``hardening/v2`` document equivalent to a ``hardening/v1`` one (validated;
                      ``--format yaml|json``); ``reconcile`` refuses a v1 document (exit 2) and names this.
``seed``              write initial secrets from a file or ``-`` (stdin) without echoing them.
``rotation-report``   secrets older than their rotation period; exit code 3 when any is overdue.

Exit codes (``connection.EXIT_CODES``, printed by ``--help``): 0 ok, 1 Vault error, 2 bad input (any
malformed document or flag; ``status``: sealed or not initialised), 3 rotation overdue, 70 a bug.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import getpass
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

import requests

from components.vault import declarative
from components.vault.declarative import DEFAULT_ROTATION_PERIOD, ConfigurationError
from tools import cli as conv
from tools.vault import reconcile as rec
from tools.vault import secrets as sec
from tools.vault.connection import (
    DEFAULT_TIMEOUT,
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_SEALED,
    EXIT_USAGE,
    Target,
    ToolError,
    authenticated_client,
    explain,
    require_unsealed,
    resolve_target,
    seal_status,
)

DEFAULT_KEYS_FILE = "vault-unseal-keys.json"
DEFAULT_ROOT_TOKEN_FILE = "vault-root-token"  # noqa: S105 - a file name
PROGRESS_EVERY = 5.0  # seconds between "waiting for Vault ..." lines
MAX_WAIT = 3600.0
INIT_SETTLE = 60.0  # after a lost init answer: how long to ask sys/init whether Vault initialised anyway
RECOVERY_ANCHOR = "docs/SECURITY_GUIDE.md#init-timed-out"
T = TypeVar("T")


def default_key_dir() -> Path:
    """``$XDG_STATE_HOME/hardening/vault`` (``~/.local/state/hardening/vault`` when unset or relative)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return base / "hardening" / "vault"


def git_work_tree(path: Path) -> Path | None:
    """The git work tree that contains ``path`` (a ``.git`` directory or file in it or a parent), if any."""
    here = path.resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def exit_code_table() -> str:
    return "exit status:\n" + "\n".join(f"  {code:<3} {meaning}" for code, meaning in EXIT_CODES)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: accepted: a number of seconds") from None
    if not 0 < value <= MAX_WAIT:
        raise argparse.ArgumentTypeError(f"{text!r}: accepted: seconds, more than 0 and at most {MAX_WAIT:.0f}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = conv.Parser(add_help=False)
    common.add_argument("--address", help="Vault URL (default: $VAULT_ADDR)")
    common.add_argument("--ca-cert", help="PEM CA bundle that signed Vault's certificate (default: $VAULT_CACERT)")
    common.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per request (default {DEFAULT_TIMEOUT:.0f}, like the Vault CLI)",
    )
    tok = conv.Parser(add_help=False)
    tok.add_argument("--token-file", help="file holding the token (default: $VAULT_TOKEN)")

    p = conv.Parser(
        prog="python -m tools.vault",
        description="Vault operations: status, init, unseal, reconcile, seed, "
        "rotation report. Secrets never reach stdout unless asked for.",
    )
    p.epilog = exit_code_table()  # the tool's own table (one table, not the generic one)
    sub = p.add_subparsers(dest="command", required=True, parser_class=conv.Parser)

    st = sub.add_parser("status", parents=[common], help="show the seal state (exit 0 unsealed, 2 sealed)")
    st.add_argument(
        "--wait",
        type=_positive_seconds,
        metavar="SECONDS",
        help="poll until Vault is unsealed, at most this long (a progress line every 5 s on stderr)",
    )

    i = sub.add_parser("init", parents=[common], help="initialise Vault (Shamir keys)")
    i.add_argument("--shares", type=int, default=5, help="number of key shares (default 5)")
    i.add_argument("--threshold", type=int, default=3, help="shares needed to unseal (default 3)")
    i.add_argument(
        "--pgp-key",
        action="append",
        default=[],
        metavar="FILE",
        help="PGP public key file (armored or binary), one per share, in order; keys are then "
        "encrypted to their holders",
    )
    i.add_argument("--root-token-pgp-key", metavar="FILE", help="PGP public key file to encrypt the root token")
    i.add_argument(
        "--out",
        metavar="DIR",
        help="directory for the key files, created mode 0700 (default: $XDG_STATE_HOME/hardening/vault, "
        "i.e. ~/.local/state/hardening/vault); refused inside a git work tree unless --force",
    )
    i.add_argument(
        "--keys-file",
        help=f"new file for the keys (mode 0600; default <--out>/{DEFAULT_KEYS_FILE}); refused if it exists",
    )
    i.add_argument(
        "--root-token-file",
        help=f"new file for the root token (mode 0600; default <--out>/{DEFAULT_ROOT_TOKEN_FILE})",
    )
    i.add_argument("--force", action="store_true", help="allow writing the key files inside a git work tree")
    i.add_argument("--print-secrets", action="store_true", help="also print the keys and root token on stdout")

    u = sub.add_parser("unseal", parents=[common], help="submit unseal keys")
    u.add_argument(
        "--key-file",
        action="append",
        default=[],
        metavar="FILE",
        help="the JSON written by init, or a text file with one key per line (repeatable); "
        "without it keys are read from standard input",
    )

    r = sub.add_parser("reconcile", parents=[common, tok], help="plan, then apply the declarative configuration")
    r.add_argument("--config", required=True, help="configuration document (YAML/JSON), or - for stdin")
    r.add_argument("--dry-run", action="store_true", help="print the plan only")
    r.add_argument(
        "--prune",
        nargs="?",
        const="all",
        metavar="CLASSES",
        help="also delete unmanaged items: all (the default), or a comma-separated list of "
        f"{', '.join(rec.PRUNE_CLASSES)}; root/default policies, system mounts and token/ are never deleted",
    )

    cv = sub.add_parser("convert", help="print the hardening/v2 document equivalent to a hardening/v1 one")
    cv.add_argument("source", help="the hardening/v1 document (YAML/JSON), or - for standard input")
    cv.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (default yaml)")

    s = sub.add_parser("seed", parents=[common, tok], help="write initial secrets (file or - for stdin)")
    s.add_argument("source", help="seed document (YAML/JSON) or - for standard input")
    s.add_argument("--config", help="configuration document: takes the KV mount and default rotation period")
    s.add_argument("--mount", help="KV v2 mount (default: from --config, else secret)")
    s.add_argument(
        "--rotation-period", help=f"default rotation period (default: from --config, else {DEFAULT_ROTATION_PERIOD})"
    )
    s.add_argument("--overwrite", action="store_true", help="write a new version of existing secrets (rotation)")

    rr = sub.add_parser("rotation-report", parents=[common, tok], help="secrets older than their rotation period")
    rr.add_argument("--config", help="configuration document: takes the KV mount and default rotation period")
    rr.add_argument("--mount", help="KV v2 mount (default: from --config, else secret)")
    rr.add_argument("--prefix", default="", help="only secrets under this path")
    rr.add_argument("--rotation-period", help="default period for secrets without rotation_period metadata")
    conv.add_json(rr)
    for parser in sub.choices.values():
        parser.epilog = exit_code_table()
    return p


def waiting(fn: Callable[[], T], what: str, err: TextIO, every: float = PROGRESS_EVERY) -> T:
    """Run ``fn`` while printing ``waiting for <what> (12 s)`` on ``err`` every ``every`` seconds."""
    result: list[T] = []
    failure: list[BaseException] = []

    def call() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    start = time.monotonic()
    worker.start()
    while True:
        worker.join(every)
        if not worker.is_alive():
            break
        err.write(f"waiting for {what} ({time.monotonic() - start:.0f} s)\n")
        err.flush()
    if failure:
        raise failure[0]
    return result[0]


# --------------------------------------------------------------------------------------------------
def _read_text(source: str, what: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text()
    except OSError as exc:
        raise ToolError(f"{what} {source}: cannot read it ({exc.strerror})", EXIT_USAGE) from None


def _load_config(source: str) -> declarative.VaultConfig:
    text = _read_text(source, "--config")
    try:
        return declarative.load_document(text)
    except ConfigurationError as exc:
        raise _config_error(source, exc) from None


def _config_error(source: str, exc: ConfigurationError) -> ToolError:
    return ToolError(
        f"invalid Vault configuration in {source} ({len(exc.problems)} problem(s), nothing "
        f"applied): " + " | ".join(exc.problems),
        EXIT_USAGE,
    )


def _target(args: argparse.Namespace, *, need_token: bool) -> Target:
    return resolve_target(
        args.address, args.ca_cert, getattr(args, "token_file", None), need_token=need_token, timeout=args.timeout
    )


def _create_private(path: Path) -> int:
    """Create ``path`` with mode 0600, refusing an existing file."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ToolError(
            f"{path} already exists: refusing to overwrite it; move it away or pass another file name", EXIT_USAGE
        ) from None
    except OSError as exc:
        raise ToolError(f"cannot create {path}: {exc.strerror}", EXIT_USAGE) from None


def pgp_key_b64(path: str) -> str:
    """A PGP public key file (ASCII-armored or binary) as the base64 string Vault's API expects."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ToolError(f"--pgp-key {path}: cannot read it ({exc.strerror})", EXIT_USAGE) from None
    text = raw.decode("ascii", errors="ignore")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" in text:
        body = text.split("-----BEGIN PGP PUBLIC KEY BLOCK-----", 1)[1].split("-----END PGP PUBLIC KEY BLOCK", 1)[0]
        lines = [ln.strip() for ln in body.strip().splitlines()]
        if "" in lines:  # armor headers (Comment:, Version:) end with an empty line
            lines = lines[lines.index("") + 1 :]
        data = "".join(ln for ln in lines if ln and not ln.startswith("="))
        try:
            base64.b64decode(data, validate=True)
        except binascii.Error:
            raise ToolError(f"--pgp-key {path}: damaged ASCII armor", EXIT_USAGE) from None
        return data
    if not raw or raw[0] & 0x80 == 0:
        raise ToolError(f"--pgp-key {path}: not a PGP public key (armored or binary)", EXIT_USAGE)
    return base64.b64encode(raw).decode()


def _status_line(target: Target, st: dict[str, Any]) -> str:
    state = "not initialised" if not st.get("initialized") else ("sealed" if st.get("sealed") else "unsealed")
    line = f"Vault at {target.address}: {state}"
    if st.get("initialized") and st.get("sealed"):
        line += (
            f" ({st.get('progress', 0)} of {st.get('t')} keys given, {st.get('t', 0) - st.get('progress', 0)} "
            "more needed)"
        )
    return f"{line}; version {st.get('version', '?')}, {st.get('n', 0)} key shares, threshold {st.get('t', 0)}"


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Exit 0 unsealed, 2 sealed or not initialised, 1 error (like ``vault status``); ``--wait`` polls."""
    target = _target(args, need_token=False)
    start = time.monotonic()
    deadline = start + (args.wait or 0)
    next_note = start + PROGRESS_EVERY
    while True:
        problem: ToolError | None = None
        st: dict[str, Any] | None = None
        try:
            st = seal_status(target)
        except Exception as exc:
            problem = explain(exc, target.address)
            if problem is None:
                raise
        if st is not None and st.get("initialized") and not st.get("sealed"):
            out.write(_status_line(target, st) + "\n")
            return EXIT_OK
        now = time.monotonic()
        if now >= deadline:
            if st is None:
                assert problem is not None
                if args.wait:
                    raise ToolError(f"{problem} (gave up after {args.wait:.0f} s of --wait)", problem.code)
                raise problem
            out.write(_status_line(target, st) + "\n")
            if args.wait:
                err.write(f"gave up after {args.wait:.0f} s: Vault at {target.address} is still not unsealed\n")
            return EXIT_SEALED
        if now >= next_note:
            state = "unreachable" if st is None else ("not initialised" if not st.get("initialized") else "sealed")
            err.write(f"waiting for Vault at {target.address} to be unsealed: {state} ({now - start:.0f} s)\n")
            err.flush()
            next_note += PROGRESS_EVERY
        time.sleep(min(1.0, max(0.0, deadline - now)))


def _key_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    out_dir = Path(args.out).expanduser() if args.out else default_key_dir()
    keys = Path(args.keys_file).expanduser() if args.keys_file else out_dir / DEFAULT_KEYS_FILE
    token = Path(args.root_token_file).expanduser() if args.root_token_file else out_dir / DEFAULT_ROOT_TOKEN_FILE
    return keys, token


def _prepare_key_dirs(paths: Sequence[Path], force: bool) -> None:
    """Refuse a git work tree (unless ``force``); create missing directories with mode 0700."""
    for path in paths:
        tree = git_work_tree(path.parent if path.parent.exists() else _existing_ancestor(path))
        if tree is not None and not force:
            raise ToolError(
                f"{path} is inside the git work tree {tree}: unseal keys and the root token must not be "
                "committed; accepted: a directory outside any repository (--out DIR, default "
                f"{default_key_dir()}), or --force",
                EXIT_USAGE,
            )
    for path in paths:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ToolError(f"cannot create the directory {path.parent}: {exc.strerror}", EXIT_USAGE) from None


def _existing_ancestor(path: Path) -> Path:
    here = path.resolve()
    while not here.exists():
        here = here.parent
    return here


def _after_lost_answer(target: Target, exc: BaseException, err: TextIO, wait: float = INIT_SETTLE) -> ToolError:
    """The init request failed without an answer: ask ``sys/init`` whether Vault initialised anyway (a node
    busy initialising may answer ``false`` or not at all for a while, so ask until ``wait`` runs out)."""
    start = time.monotonic()
    deadline, next_note = start + wait, start + PROGRESS_EVERY
    known: bool | None = None
    err.write(f"no answer from Vault at {target.address} to init: checking sys/init for up to {wait:.0f} s\n")
    while True:
        try:
            known = bool(target.client(with_token=False).sys.read_init_status().get("initialized"))
        except Exception:  # still busy or unreachable: try again until the deadline
            known = None
        now = time.monotonic()
        if known or now >= deadline:
            break
        if now >= next_note:
            err.write(f"waiting for Vault at {target.address} to report whether it initialised ({now - start:.0f} s)\n")
            next_note += PROGRESS_EVERY
        time.sleep(1.0)
    cause = "did not answer in time" if isinstance(exc, requests.exceptions.Timeout) else "dropped the connection"
    recovery = (
        "Nobody holds its unseal keys or root token, so it can never be unsealed: wipe it and initialise again "
        "with a longer --timeout (Kubernetes: scale the StatefulSet vault to 0, delete the PVCs data-vault-N and "
        f"audit-vault-N, scale back, rerun init; see {RECOVERY_ANCHOR})"
    )
    if known:
        return ToolError(
            f"Vault at {target.address} {cause} to init, and sys/init now says it IS initialised: the unseal keys "
            f"and root token it generated never reached this tool and are lost. {recovery}"
        )
    if known is None:
        return ToolError(
            f"Vault at {target.address} {cause} to init and sys/init could not be read: it may or may not be "
            "initialised. Run `python -m tools.vault status`: if it says not initialised, rerun init with a longer "
            f"--timeout; if it says sealed, the keys are lost. {recovery}"
        )
    return ToolError(
        f"Vault at {target.address} {cause} to init, and sys/init says it is NOT initialised: nothing was "
        "created and no key is lost; rerun init with a longer --timeout (default 60 s)"
    )


def _write_private(fd: int, text: str) -> None:
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _check_init_args(args: argparse.Namespace) -> None:
    if not 1 <= args.threshold <= args.shares <= 255:
        raise ToolError(
            f"--shares {args.shares} --threshold {args.threshold}: accepted: 1 <= threshold <= shares <= 255",
            EXIT_USAGE,
        )
    if args.shares > 1 and args.threshold == 1:
        raise ToolError(
            "--threshold 1 with several shares lets any single holder unseal; accepted: threshold >= 2 when shares > 1",
            EXIT_USAGE,
        )
    if args.pgp_key and len(args.pgp_key) != args.shares:
        raise ToolError(
            f"--pgp-key given {len(args.pgp_key)} time(s) for {args.shares} shares; accepted: exactly "
            "one PGP key per share",
            EXIT_USAGE,
        )


def _check_key_files(keys_path: Path, token_path: Path) -> None:
    if keys_path.resolve() == token_path.resolve():
        raise ToolError("--keys-file and --root-token-file must be different files", EXIT_USAGE)
    for path in (keys_path, token_path):
        if path.exists():
            raise ToolError(
                f"{path} already exists: refusing to overwrite it; move it away or pass another file name", EXIT_USAGE
            )


def _print_secrets(out: TextIO, result: dict[str, Any]) -> None:
    for n, key in enumerate(result["keys_base64"], 1):
        out.write(f"unseal key {n}: {key}\n")
    out.write(f"root token: {result['root_token']}\n")


def cmd_init(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _check_init_args(args)
    pgp_keys = [pgp_key_b64(p) for p in args.pgp_key] or None
    root_pgp = pgp_key_b64(args.root_token_pgp_key) if args.root_token_pgp_key else None
    keys_path, token_path = _key_paths(args)
    _check_key_files(keys_path, token_path)
    _prepare_key_dirs((keys_path, token_path), args.force)
    target = _target(args, need_token=False)
    if seal_status(target).get("initialized"):
        raise ToolError(f"Vault at {target.address} is already initialised; nothing done")
    fds = [_create_private(keys_path)]

    def discard() -> None:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        for path in (keys_path, token_path)[: len(fds)]:
            with contextlib.suppress(OSError):
                path.unlink()  # still empty: nothing was received

    try:
        fds.append(_create_private(token_path))
        client = target.client(with_token=False)
        result = waiting(
            lambda: client.sys.initialize(
                secret_shares=args.shares,
                secret_threshold=args.threshold,
                pgp_keys=pgp_keys,
                root_token_pgp_key=root_pgp,
            ),
            f"Vault at {target.address} to initialise (timeout {args.timeout:.0f} s)",
            err,
        )
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
        discard()
        raise _after_lost_answer(target, exc, err) from None
    except BaseException:
        discard()
        raise
    keys_doc = {
        "unseal_keys_b64": result["keys_base64"],
        "shares": args.shares,
        "threshold": args.threshold,
        "pgp_encrypted": bool(pgp_keys),
        "address": target.address,
    }
    try:
        _write_private(fds[0], json.dumps(keys_doc, indent=2) + "\n")
        _write_private(fds[1], result["root_token"] + "\n")
    except OSError as exc:
        # Vault is initialised and these are the only copies: hand them over rather than lose them.
        err.write(
            f"error: Vault at {target.address} is initialised but writing {keys_path} / {token_path} failed "
            f"({exc.strerror}); the unseal keys and root token follow on stdout ONCE: store them now\n"
        )
        _print_secrets(out, result)
        return EXIT_ERROR
    keys_note = "PGP-encrypted to the given keys" if pgp_keys else "in clear: hand one share to each holder"
    token_note = "PGP-encrypted" if root_pgp else "in clear"
    out.write(
        f"initialised Vault at {target.address}: {args.shares} key share(s), threshold {args.threshold}\n"
        f"unseal keys ({keys_note}) written to {keys_path} (mode 0600)\n"
        f"root token ({token_note}) written to {token_path} (mode 0600)\n"
        f"next: python -m tools.vault unseal --key-file <share>; then reconcile; then revoke the root "
        "token\n"
    )
    if args.print_secrets:
        _print_secrets(out, result)
    return EXIT_OK


def _keys_from_file(path: str) -> list[str]:
    text = _read_text(path, "--key-file")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            raise ToolError(f"--key-file {path}: not valid JSON", EXIT_USAGE) from None
        if doc.get("pgp_encrypted"):
            raise ToolError(
                f"--key-file {path}: the keys are PGP-encrypted; decrypt your share (base64 -d | gpg "
                "-d) and pass it on standard input",
                EXIT_USAGE,
            )
        keys = doc.get("unseal_keys_b64") or doc.get("keys_base64") or doc.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ToolError(f"--key-file {path}: no 'unseal_keys_b64' list in it", EXIT_USAGE)
        return keys
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _given_unseal_keys(args: argparse.Namespace) -> list[str]:
    """The keys from ``--key-file`` files, else from standard input (not a terminal)."""
    keys: list[str] = []
    if args.key_file:
        for path in args.key_file:
            keys += _keys_from_file(path)
    else:
        keys = [ln.strip() for ln in sys.stdin.read().splitlines() if ln.strip()]
    if not keys:
        raise ToolError("no unseal key given: pass --key-file or write keys to standard input", EXIT_USAGE)
    return keys


def _prompted_keys() -> Iterator[str]:
    """Keys typed at a hidden prompt, until an empty one."""
    while key := getpass.getpass("Unseal key (input hidden, empty to stop): ").strip():
        yield key


def cmd_unseal(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = _target(args, need_token=False)
    st = seal_status(target)
    if not st.get("initialized"):
        raise ToolError(f"Vault at {target.address} is not initialised: run `python -m tools.vault init` first")
    if not st.get("sealed"):
        out.write(f"Vault at {target.address} is already unsealed\n")
        return EXIT_OK
    client = target.client(with_token=False)
    interactive = not args.key_file and sys.stdin.isatty()
    keys = [] if interactive else _given_unseal_keys(args)

    def submit(key: str) -> dict[str, Any]:
        try:
            return dict(client.sys.submit_unseal_key(key))
        except Exception as exc:
            problem = explain(exc, target.address)
            if problem is None:
                raise
            after = seal_status(target)
            reason = str(problem).split("refused the request: ")[-1]
            raise ToolError(
                f"unseal key rejected by Vault at {target.address} ({reason}); progress is now "
                f"{after.get('progress', 0)} of {after.get('t', '?')}: start again with valid "
                "keys"
            ) from None

    def progress(resp: dict[str, Any]) -> bool:
        if not resp.get("sealed"):
            out.write(f"unsealed: Vault at {target.address} accepted {resp.get('t')} of {resp.get('t')} keys\n")
            return True
        t, got = int(resp.get("t", 0)), int(resp.get("progress", 0))
        out.write(f"unseal progress: {got} of {t} keys, {t - got} more needed\n")
        return False

    for key in _prompted_keys() if interactive else iter(keys):
        if progress(submit(key)):
            break
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    prune = rec.parse_prune(args.prune)
    cfg = _load_config(args.config)  # everything validated before the first request
    target = _target(args, need_token=True)
    client = authenticated_client(target)
    the_plan = rec.plan(client, cfg, prune=prune)
    changes = the_plan.changes
    if changes:
        out.write(f"plan for Vault at {target.address}: {len(changes)} change(s)\n")
        for change in changes:
            out.write(f"  {change.line()}\n")
    else:
        out.write(f"no changes: Vault at {target.address} matches {args.config}\n")
    if the_plan.unmanaged:
        out.write(f"unmanaged: {len(the_plan.unmanaged)} item(s) on the server are not in {args.config}\n")
        for item in the_plan.unmanaged:
            out.write(f"  {item.line()}\n")
    if not changes:
        return EXIT_OK
    if args.dry_run:
        out.write("dry run: nothing applied\n")
        return EXIT_OK

    def report(line: str) -> None:
        out.write(f"  {line}\n")

    rec.apply(changes, report=report, address=target.address)
    out.write(f"applied {len(changes)} change(s)\n")
    return EXIT_OK


def _mount_and_period(args: argparse.Namespace) -> tuple[str, str]:
    mount, period = "secret", DEFAULT_ROTATION_PERIOD
    if args.config:
        cfg = _load_config(args.config)
        mount, period = cfg.kv_mount, cfg.rotation_period
    mount = args.mount or mount
    period = args.rotation_period or period
    try:
        declarative.parse_duration(period)
    except ValueError:
        raise ToolError(
            f"--rotation-period {period!r}: accepted: a duration such as 2160h or 90d", EXIT_USAGE
        ) from None
    return mount, period


def _require_kv2(client: Any, mount: str, address: str) -> None:
    mounts = client.sys.list_mounted_secrets_engines().get("data") or {}
    have = mounts.get(mount.strip("/") + "/")
    if have is None or have.get("type") != "kv" or str((have.get("options") or {}).get("version")) != "2":
        raise ToolError(
            f"Vault at {address} has no KV version 2 mount at {mount}/: run `python -m tools.vault reconcile` first"
        )


def cmd_convert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    text = _read_text(args.source, "convert")
    try:
        out.write(declarative.convert_text(text, args.format))
    except ConfigurationError as exc:
        raise _config_error(args.source, exc) from None
    return EXIT_OK


def cmd_seed(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    mount, period = _mount_and_period(args)
    entries = sec.parse_seed(_read_text(args.source, "seed document"), period)  # validated before any write
    target = _target(args, need_token=True)
    client = authenticated_client(target)
    _require_kv2(client, mount, target.address)
    for line in sec.seed(client, mount, entries, overwrite=args.overwrite):
        out.write(line + "\n")
    return EXIT_OK


def cmd_rotation_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    mount, period = _mount_and_period(args)
    target = _target(args, need_token=True)
    client = authenticated_client(target)
    _require_kv2(client, mount, target.address)
    report = sec.rotation_report(client, mount, period, prefix=args.prefix.strip("/"))
    out.write((json.dumps(report, indent=2) if args.json else sec.format_report(report)) + "\n")
    return EXIT_OVERDUE if report["overdue"] else EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {
    "status": cmd_status,
    "init": cmd_init,
    "unseal": cmd_unseal,
    "reconcile": cmd_reconcile,
    "convert": cmd_convert,
    "seed": cmd_seed,
    "rotation-report": cmd_rotation_report,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit codes: ``connection.EXIT_CODES``. Known failures are one line on stderr; a bug exits 70 with the
    traceback in a file (``tools.cli.run``)."""
    out = out or sys.stdout
    stream = err or sys.stderr
    args = build_parser().parse_args(argv)
    address = getattr(args, "address", None) or os.environ.get("VAULT_ADDR", "<no address>")

    def command() -> int:
        try:
            return COMMANDS[args.command](args, out, stream)
        except Exception as exc:  # a known failure becomes one line; anything else is a bug (tools.cli.run)
            tool_err = explain(exc, address)
            if tool_err is None:
                raise
            stream.write("error: " + " ".join(str(tool_err).split()) + "\n")
            return tool_err.code if tool_err.code != EXIT_OK else EXIT_ERROR

    return conv.run("vault", command, err=stream)


# Keep a reference for readers: require_unsealed is the check every authenticated command runs first.
__all__ = ["EXIT_ERROR", "build_parser", "main", "pgp_key_b64", "require_unsealed"]

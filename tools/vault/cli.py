"""``python -m tools.vault <command>``: the Vault operations that must not live in Pulumi state.

Commands (each takes ``--address`` (default ``$VAULT_ADDR``), ``--ca-cert`` (default ``$VAULT_CACERT``)
and, where a token is needed, ``--token-file`` (default ``$VAULT_TOKEN``)):

``status``            seal state (no token needed).
``init``              Shamir shares/threshold; keys PGP-encrypted with ``--pgp-key`` files, otherwise
                      written to a new mode-0600 file (never overwritten); the root token likewise.
                      Nothing secret on stdout unless ``--print-secrets``.
``unseal``            keys from ``--key-file`` (the init JSON or one key per line) or standard input
                      (hidden prompt on a terminal); prints "2 of 3 keys, 1 more needed".
``reconcile``         validate the declarative configuration document, print the plan, apply it
                      (``--dry-run``: plan only; ``--prune``: also delete unmanaged policies and roles).
``seed``              write initial secrets from a file or ``-`` (stdin) without echoing them.
``rotation-report``   secrets older than their rotation period; exit code 3 when any is overdue.

Exit codes: 0 success, 1 error (one line on stderr, no traceback), 2 usage, 3 overdue secrets.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from components.vault import declarative
from components.vault.declarative import DEFAULT_ROTATION_PERIOD, ConfigurationError
from tools.vault import reconcile as rec
from tools.vault import secrets as sec
from tools.vault.connection import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_OVERDUE,
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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, like every other failure
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--address", help="Vault URL (default: $VAULT_ADDR)")
    common.add_argument("--ca-cert", help="PEM CA bundle that signed Vault's certificate (default: $VAULT_CACERT)")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    tok = _Parser(add_help=False)
    tok.add_argument("--token-file", help="file holding the token (default: $VAULT_TOKEN)")

    p = _Parser(
        prog="python -m tools.vault",
        description="Vault operations: init, unseal, reconcile, seed, "
        "rotation report. Secrets never reach stdout unless asked for.",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("status", parents=[common], help="show the seal state")

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
        "--keys-file",
        default=DEFAULT_KEYS_FILE,
        help=f"new file for the keys (mode 0600; default {DEFAULT_KEYS_FILE}); refused if it exists",
    )
    i.add_argument(
        "--root-token-file",
        default=DEFAULT_ROOT_TOKEN_FILE,
        help=f"new file for the root token (mode 0600; default {DEFAULT_ROOT_TOKEN_FILE})",
    )
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

    r = sub.add_parser("reconcile", parents=[common, tok], help="apply the declarative configuration")
    r.add_argument("--config", required=True, help="configuration document (YAML/JSON), or - for stdin")
    r.add_argument("--dry-run", action="store_true", help="print the plan only")
    r.add_argument("--prune", action="store_true", help="also delete policies and roles not in the configuration")

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
    rr.add_argument("--json", action="store_true", help="machine-readable output for CI")
    return p


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
        raise ToolError(
            f"invalid Vault configuration in {source} ({len(exc.problems)} problem(s), nothing "
            f"applied): " + " | ".join(exc.problems)
        ) from None


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


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    target = _target(args, need_token=False)
    st = seal_status(target)
    state = "not initialised" if not st.get("initialized") else ("sealed" if st.get("sealed") else "unsealed")
    line = f"Vault at {target.address}: {state}"
    if st.get("initialized") and st.get("sealed"):
        line += (
            f" ({st.get('progress', 0)} of {st.get('t')} keys given, {st.get('t', 0) - st.get('progress', 0)} "
            "more needed)"
        )
    out.write(f"{line}; version {st.get('version', '?')}, {st.get('n', 0)} key shares, threshold {st.get('t', 0)}\n")
    return EXIT_OK


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
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
    pgp_keys = [pgp_key_b64(p) for p in args.pgp_key] or None
    root_pgp = pgp_key_b64(args.root_token_pgp_key) if args.root_token_pgp_key else None
    keys_path, token_path = Path(args.keys_file), Path(args.root_token_file)
    if keys_path.resolve() == token_path.resolve():
        raise ToolError("--keys-file and --root-token-file must be different files", EXIT_USAGE)
    for path in (keys_path, token_path):
        if path.exists():
            raise ToolError(
                f"{path} already exists: refusing to overwrite it; move it away or pass another file name", EXIT_USAGE
            )
    target = _target(args, need_token=False)
    if seal_status(target).get("initialized"):
        raise ToolError(f"Vault at {target.address} is already initialised; nothing done")
    fds = [_create_private(keys_path)]
    try:
        fds.append(_create_private(token_path))
        client = target.client(with_token=False)
        result = client.sys.initialize(
            secret_shares=args.shares, secret_threshold=args.threshold, pgp_keys=pgp_keys, root_token_pgp_key=root_pgp
        )
    except BaseException:
        for fd in fds:
            os.close(fd)
        for path in (keys_path, token_path)[: len(fds)]:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    keys_doc = {
        "unseal_keys_b64": result["keys_base64"],
        "shares": args.shares,
        "threshold": args.threshold,
        "pgp_encrypted": bool(pgp_keys),
        "address": target.address,
    }
    with os.fdopen(fds[0], "w") as fh:
        json.dump(keys_doc, fh, indent=2)
        fh.write("\n")
    with os.fdopen(fds[1], "w") as fh:
        fh.write(result["root_token"] + "\n")
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
        for n, key in enumerate(result["keys_base64"], 1):
            out.write(f"unseal key {n}: {key}\n")
        out.write(f"root token: {result['root_token']}\n")
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


def cmd_unseal(args: argparse.Namespace, out: TextIO) -> int:
    target = _target(args, need_token=False)
    st = seal_status(target)
    if not st.get("initialized"):
        raise ToolError(f"Vault at {target.address} is not initialised: run `python -m tools.vault init` first")
    if not st.get("sealed"):
        out.write(f"Vault at {target.address} is already unsealed\n")
        return EXIT_OK
    client = target.client(with_token=False)
    interactive = not args.key_file and sys.stdin.isatty()
    keys: list[str] = []
    if args.key_file:
        for path in args.key_file:
            keys += _keys_from_file(path)
    elif not interactive:
        keys = [ln.strip() for ln in sys.stdin.read().splitlines() if ln.strip()]
    if not keys and not interactive:
        raise ToolError("no unseal key given: pass --key-file or write keys to standard input", EXIT_USAGE)

    def submit(key: str) -> dict[str, Any]:
        try:
            return dict(client.sys.submit_unseal_key(key))
        except Exception as exc:
            err = explain(exc, target.address)
            after = seal_status(target)
            reason = str(err).split("refused the request: ")[-1]
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

    if interactive:
        while True:
            key = getpass.getpass("Unseal key (input hidden, empty to stop): ").strip()
            if not key:
                return EXIT_OK
            if progress(submit(key)):
                return EXIT_OK
    for key in keys:
        if progress(submit(key)):
            return EXIT_OK
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace, out: TextIO) -> int:
    cfg = _load_config(args.config)  # everything validated before the first request
    target = _target(args, need_token=True)
    client = authenticated_client(target)
    changes = rec.plan(client, cfg, prune=args.prune)
    if not changes:
        out.write(f"no changes: Vault at {target.address} matches {args.config}\n")
        return EXIT_OK
    out.write(f"plan for Vault at {target.address}: {len(changes)} change(s)\n")
    for change in changes:
        out.write(f"  {change.line()}\n")
    if args.dry_run:
        out.write("dry run: nothing applied\n")
        return EXIT_OK

    def report(line: str) -> None:
        out.write(f"  {line}\n")

    rec.apply(changes, report=report)
    out.write(f"applied {len(changes)} change(s)\n")
    return EXIT_OK


def _mount_and_period(args: argparse.Namespace) -> tuple[str, str]:
    mount, period = "secret", DEFAULT_ROTATION_PERIOD
    if args.config:
        cfg = _load_config(args.config)
        mount, period = cfg.kv.path, cfg.kv.rotation_period
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


def cmd_seed(args: argparse.Namespace, out: TextIO) -> int:
    mount, period = _mount_and_period(args)
    entries = sec.parse_seed(_read_text(args.source, "seed document"), period)  # validated before any write
    target = _target(args, need_token=True)
    client = authenticated_client(target)
    _require_kv2(client, mount, target.address)
    for line in sec.seed(client, mount, entries, overwrite=args.overwrite):
        out.write(line + "\n")
    return EXIT_OK


def cmd_rotation_report(args: argparse.Namespace, out: TextIO) -> int:
    mount, period = _mount_and_period(args)
    target = _target(args, need_token=True)
    client = authenticated_client(target)
    _require_kv2(client, mount, target.address)
    report = sec.rotation_report(client, mount, period, prefix=args.prefix.strip("/"))
    out.write((json.dumps(report, indent=2) if args.json else sec.format_report(report)) + "\n")
    return EXIT_OVERDUE if report["overdue"] else EXIT_OK


COMMANDS = {
    "status": cmd_status,
    "init": cmd_init,
    "unseal": cmd_unseal,
    "reconcile": cmd_reconcile,
    "seed": cmd_seed,
    "rotation-report": cmd_rotation_report,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    address = args.address or os.environ.get("VAULT_ADDR", "<no address>")
    try:
        return COMMANDS[args.command](args, out)
    except BaseException as exc:  # every failure becomes one line
        if isinstance(exc, SystemExit):
            raise
        tool_err = explain(exc, address)
        err.write("error: " + " ".join(str(tool_err).split()) + "\n")
        return tool_err.code if tool_err.code != EXIT_OK else EXIT_ERROR


# Keep a reference for readers: require_unsealed is the check every authenticated command runs first.
__all__ = ["EXIT_ERROR", "build_parser", "main", "pgp_key_b64", "require_unsealed"]

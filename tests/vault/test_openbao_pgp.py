"""``init`` with PGP keys against a real OpenBao: each unseal key share is encrypted to its holder's key
(armored or binary key files), the root token to the operator's; nothing usable lands on disk or stdout;
each holder decrypts their share with GnuPG (Debian's ``gpg``) and unseals."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.openbao import openbao

from .support import assert_one_line_failure, cli

pytestmark = pytest.mark.server


def gpg(home: Path, *args: str, data: bytes | None = None) -> bytes:
    proc = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", *args],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def holder(tmp_path: Path, name: str, *, armor: bool) -> tuple[Path, Path]:
    """A GnuPG home with a fresh RSA key for ``name``; returns (home, exported public key file)."""
    home = tmp_path / f"gnupg-{name}"
    home.mkdir(mode=0o700)
    gpg(home, "--quick-gen-key", f"{name} <{name}@example.invalid>", "rsa2048", "sign,encr", "never")
    key_file = tmp_path / f"{name}.{'asc' if armor else 'gpg'}"
    key_file.write_bytes(gpg(home, *(["--armor"] if armor else []), "--export", f"{name}@example.invalid"))
    return home, key_file


def decrypt(home: Path, b64: str) -> str:
    return gpg(home, "--decrypt", data=base64.b64decode(b64)).decode().strip()


def test_init_encrypts_shares_and_root_token_to_pgp_keys(tmp_path: Path) -> None:
    alice_home, alice_key = holder(tmp_path, "alice", armor=True)
    bob_home, bob_key = holder(tmp_path, "bob", armor=False)
    with openbao(tmp_path / "bao") as bao:
        keys_file, root_file = tmp_path / "keys.json", tmp_path / "root.pgp"
        res = cli(
            "init",
            "--shares",
            "2",
            "--threshold",
            "2",
            "--pgp-key",
            str(alice_key),
            "--pgp-key",
            str(bob_key),
            "--root-token-pgp-key",
            str(alice_key),
            "--keys-file",
            str(keys_file),
            "--root-token-file",
            str(root_file),
            addr=bao.addr,
        )
        assert res.code == 0, res
        assert "PGP-encrypted to the given keys" in res.out and "root token (PGP-encrypted)" in res.out
        doc = json.loads(keys_file.read_text())
        assert doc["pgp_encrypted"] is True and len(doc["unseal_keys_b64"]) == 2

        assert_one_line_failure(
            cli("unseal", "--key-file", str(keys_file), addr=bao.addr), "PGP-encrypted", "decrypt your share"
        )
        alice_share = decrypt(alice_home, doc["unseal_keys_b64"][0])
        bob_share = decrypt(bob_home, doc["unseal_keys_b64"][1])
        with pytest.raises(AssertionError):  # bob cannot read alice's share
            decrypt(bob_home, doc["unseal_keys_b64"][0])
        assert alice_share not in res.text and alice_share not in keys_file.read_text()

        res = cli("unseal", addr=bao.addr, stdin=alice_share + "\n")
        assert "1 of 2 keys, 1 more needed" in res.out, res
        res = cli("unseal", addr=bao.addr, stdin=bob_share + "\n")
        assert res.code == 0 and "unsealed" in res.out, res
        bao.wait_active()

        root = decrypt(alice_home, root_file.read_text().strip())
        token_file = tmp_path / "root-token"
        token_file.write_text(root)
        os.chmod(token_file, 0o600)
        res = cli("rotation-report", "--token-file", str(token_file), addr=bao.addr)
        # the token works: the failure is about the missing KV mount, not the token
        assert_one_line_failure(res, "no KV version 2 mount at secret/", "reconcile")

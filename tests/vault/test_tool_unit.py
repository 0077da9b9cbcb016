"""The operator command without a server: every bad input fails with one clear line before any request."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from components.vault import declarative as dc
from tests.support.procs import free_port
from tools.vault import cli
from tools.vault.connection import EXIT_USAGE
from tools.vault.secrets import parse_seed

from .support import REPOSITORY, Result, assert_one_line_failure
from .support import cli as run_process


@pytest.fixture(autouse=True)
def _no_vault_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_CACERT"):
        monkeypatch.delenv(name, raising=False)


def run(*args: str, addr: str | None = None, token: str | None = None) -> Result:
    """The command in-process (fast); ``test_runs_as_a_module`` covers ``python -m tools.vault`` itself."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        if addr:
            mp.setenv("VAULT_ADDR", addr)
        if token:
            mp.setenv("VAULT_TOKEN", token)
        try:
            code = cli.main(list(args), out, err)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


def test_runs_as_a_module() -> None:
    res = run_process("status", addr=closed_address())
    assert_one_line_failure(res, "cannot reach Vault at http://127.0.0.1:")
    assert res.code == 1
    assert run_process("--help").out.startswith("usage: python -m tools.vault")


def closed_address() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def valid_config(tmp_path: Path) -> Path:
    path = tmp_path / "vault-config.yaml"
    path.write_text(
        dc.render_document(
            dc.platform_config(workloads=[dc.Workload("orders-api", "web", "orders-api")], ci=[dc.CiAccess(REPOSITORY)])
        )
    )
    return path


def test_unreachable_address_is_one_line() -> None:
    res = run("status", addr=closed_address())
    assert_one_line_failure(res, "cannot reach Vault at http://127.0.0.1:", "port-forward")
    assert res.code == 1


def test_missing_address_and_token_are_usage_errors(tmp_path: Path) -> None:
    assert_one_line_failure(run("status"), "no Vault address", "VAULT_ADDR")
    res = run("reconcile", "--config", str(valid_config(tmp_path)), addr=closed_address())
    assert_one_line_failure(res, "no token", "VAULT_TOKEN", "--token-file")
    assert res.code == EXIT_USAGE
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    res = run("rotation-report", "--token-file", str(empty), addr=closed_address())
    assert_one_line_failure(res, "the file is empty")


def test_invalid_configuration_fails_before_any_request(tmp_path: Path) -> None:
    doc = yaml.safe_load(valid_config(tmp_path).read_text())
    doc["policies"]["app-orders-api"] = 'path "secret/data/apps/orders-api" {\n  capabilities = ["read", "own"]\n}'
    doc["auth"]["jwt"]["type"] = "github"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    # the address is closed: a request would fail with "cannot reach"; the configuration error comes first
    res = run("reconcile", "--config", str(bad), addr=closed_address(), token="t")
    assert_one_line_failure(
        res,
        "invalid Vault configuration",
        "nothing applied",
        "policies.app-orders-api: policy 'app-orders-api', line 2: unknown capability 'own'",
        "auth.jwt.type: 'github'; accepted: kubernetes or jwt",
    )
    assert res.code == EXIT_USAGE  # a malformed document is bad input, like a bad flag
    res = run("reconcile", "--config", str(tmp_path / "missing.yaml"), addr=closed_address(), token="t")
    assert_one_line_failure(res, "cannot read it")
    assert res.code == EXIT_USAGE
    bad.write_text("secrets: [unclosed\n")
    res = run("reconcile", "--config", str(bad), addr=closed_address(), token="t")
    assert_one_line_failure(res, "not valid YAML/JSON at line")
    assert res.code == EXIT_USAGE
    seed = tmp_path / "seed.yaml"
    seed.write_text("secrets: {}\n")
    res = run("seed", str(seed), addr=closed_address(), token="t")
    assert_one_line_failure(res, "seed document")
    assert res.code == EXIT_USAGE


def test_a_v1_document_is_refused_and_convert_prints_its_v2_form(tmp_path: Path) -> None:
    v2 = yaml.safe_load(valid_config(tmp_path).read_text())
    v1 = {
        "apiVersion": "hardening/v1",
        "kind": "VaultConfiguration",
        "kv": {"path": "secret", "max_versions": 10, "rotation_period": "2160h"},
        "policies": [{"name": n, "hcl": h} for n, h in v2["policies"].items()],
        "auth": [{"type": "kubernetes", "path": "kubernetes", "config": {"kubernetes_host": "https://k.svc"}}],
        "audit": [{"type": "file", "path": "file", "file_path": "/vault/audit/audit.log"}],
    }
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(v1))
    res = run("reconcile", "--config", str(old), addr=closed_address(), token="t")
    assert_one_line_failure(res, "hardening/v1", "accepted: hardening/v2", "python -m tools.vault convert")
    assert res.code == EXIT_USAGE
    res = run("convert", str(old))
    assert res.code == 0, res.err
    converted = dc.load_document(res.out)
    assert converted.policies == v2["policies"] and converted.auth["kubernetes"]["roles"] == {}
    res = run("convert", str(valid_config(tmp_path)))
    assert_one_line_failure(res, "accepted: hardening/v1")
    assert res.code == EXIT_USAGE


def test_help_gives_the_one_exit_code_table() -> None:
    for args in (["--help"], ["reconcile", "--help"], ["status", "--help"]):
        text = run_process(*args).out
        assert "exit status:\n  0   ok (status: Vault is unsealed)\n  1   Vault error" in text, text
        assert "  2   bad input: a flag, a malformed document or file; status: Vault is sealed" in text
        assert "  3   rotation-report: a secret is overdue for rotation" in text
        assert text.count("exit status:") == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--shares", "3", "--threshold", "4"], "1 <= threshold <= shares <= 255"),
        (["--shares", "3", "--threshold", "1"], "threshold >= 2 when shares > 1"),
        (["--shares", "2", "--threshold", "2", "--pgp-key", "a.asc"], "one PGP key per share"),
        (["--shares", "1", "--threshold", "1", "--pgp-key", "/nonexistent.asc"], "cannot read it"),
    ],
)
def test_init_arguments_are_checked_first(args: list[str], needle: str) -> None:
    res = run("init", *args, addr=closed_address())
    assert_one_line_failure(res, needle)
    assert res.code == EXIT_USAGE


def test_init_refuses_to_overwrite_key_files(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text("precious")
    res = run("init", "--keys-file", str(keys), "--root-token-file", str(tmp_path / "root"), addr=closed_address())
    assert_one_line_failure(res, "already exists: refusing to overwrite")
    assert keys.read_text() == "precious"


def test_argparse_errors_are_one_line_too() -> None:
    res = run_process("reconcile", addr=closed_address())
    assert_one_line_failure(res, "--config", "python -m tools.vault reconcile --help")
    assert res.code == EXIT_USAGE
    assert run_process("frobnicate").code == EXIT_USAGE


def test_seed_document_errors_never_show_values() -> None:
    text = yaml.safe_dump(
        {
            "secrets": [
                {"path": "apps/orders-api", "data": {"api_key": 12345678, "ok": "hunter2-value"}},
                {"path": "../escape", "data": {"k": "v"}},
                {"path": "ci/registry", "data": {"token": "tok-SECRET-1"}, "rotation_period": "someday"},
                {"path": "ci/cloud", "data": {"bad key": "tok-SECRET-2"}, "owner": "x"},
            ]
        }
    )
    with pytest.raises(Exception) as err:
        parse_seed(text, "2160h")
    msg = str(err.value)
    assert "nothing written" in msg
    assert "secrets[0] (apps/orders-api).data.api_key: the value must be a non-empty string" in msg
    assert "secrets[1].path: '../escape'" in msg
    assert "secrets[2] (ci/registry).rotation_period: 'someday'" in msg
    assert "secrets[3]: unknown key(s) ['owner']" in msg
    assert "secrets[3] (ci/cloud).data: key 'bad key'" in msg
    for value in ("12345678", "hunter2", "tok-SECRET"):
        assert value not in msg


def test_seed_document_defaults_rotation_period() -> None:
    entries = parse_seed(
        "secrets:\n- path: ci/registry\n  data: {token: x}\n- path: ci/cloud\n"
        "  data: {token: y}\n  rotation_period: 30d\n",
        "2160h",
    )
    assert [(e.path, e.rotation_period) for e in entries] == [("ci/registry", "2160h"), ("ci/cloud", "720h")]

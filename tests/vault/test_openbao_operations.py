"""Issue 20 against a real OpenBao started from the builder-rendered server configuration: init never strands an
initialised Vault without its keys, key files stay out of git work trees, ``status`` exits like ``vault
status`` (with a bounded ``--wait``), reconcile reports and prunes every unmanaged item, compares every role
field, and stops at the first refusal naming what failed and what was already applied."""

from __future__ import annotations

import json
import stat
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from components.vault import server_config as sc
from tests.support.openbao import OpenBao, openbao
from tests.support.procs import free_port
from tools.vault import reconcile as rec

from .support import ROOT, adapted_server_hcl, assert_one_line_failure, cli, configuration_document, public_pem, rsa_key

pytestmark = pytest.mark.server

# Raft at its slowest timing (10): init takes several seconds, long enough for a short client timeout to
# expire while the server carries on and completes, as it did for the operator in issue 20.
SLOW = replace(sc.ServerConfigInput(environment="dev"), raft_performance_multiplier=10)


def _init_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["init", "--shares", "3", "--threshold", "2", *extra]


def test_timed_out_init_says_the_keys_are_lost_and_how_to_recover(tmp_path: Path) -> None:
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(SLOW, b)) as bao:
        res = cli(*_init_args(tmp_path), "--out", str(tmp_path / "keys"), "--timeout", "2", addr=bao.addr)
        assert res.code == 1, res
        assert bao.seal_status()["initialized"] is True  # the server finished init without the client
        last = res.err.strip().splitlines()[-1]
        assert last.startswith("error: ") and "Traceback" not in res.text
        for needle in ("did not answer in time", "IS initialised", "are lost", "wipe it", "longer --timeout"):
            assert needle in last, (needle, last)
        assert "checking sys/init" in res.err
        assert list((tmp_path / "keys").iterdir()) == []  # no empty or half-written key files left


def test_default_timeout_waits_out_a_slow_init_and_the_operator_holds_the_keys(tmp_path: Path) -> None:
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(SLOW, b)) as bao:
        t0 = time.monotonic()
        res = cli(*_init_args(tmp_path), "--out", str(tmp_path / "keys"), addr=bao.addr)
        took = time.monotonic() - t0
        assert res.code == 0, res
        keys = json.loads((tmp_path / "keys" / "vault-unseal-keys.json").read_text())["unseal_keys_b64"]
        root = (tmp_path / "keys" / "vault-root-token").read_text().strip()
        if took > 6:  # a progress line every 5 s while the server works
            assert "waiting for Vault at" in res.err and "to initialise" in res.err, res
        assert cli("unseal", "--key-file", str(tmp_path / "keys" / "vault-unseal-keys.json"), addr=bao.addr).code == 0
        bao.wait_active()
        assert bao.client(root).auth.token.lookup_self()["data"]["policies"] == ["root"]
        assert len(keys) == 3


def test_key_files_default_outside_the_repository_and_never_inside_a_work_tree(tmp_path: Path) -> None:
    state = tmp_path / "state"
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        for where in (repo / "secrets", ROOT):
            res = cli(
                *_init_args(tmp_path), "--out", str(where), addr=bao.addr, extra_env={"XDG_STATE_HOME": str(state)}
            )
            assert_one_line_failure(res, "inside the git work tree", "--force", "--out")
            assert res.code == 2
        # the default ($HOME/.local/state/...) is inside the repository in this test's environment: refused too
        res = cli(*_init_args(tmp_path), addr=bao.addr, extra_env={"XDG_STATE_HOME": ""})
        assert_one_line_failure(res, "inside the git work tree")
        assert not (ROOT / "vault-unseal-keys.json").exists() and not (repo / "secrets").exists()
        assert bao.seal_status()["initialized"] is False  # refused before any request

        res = cli(*_init_args(tmp_path), addr=bao.addr, extra_env={"XDG_STATE_HOME": str(state)})
        assert res.code == 0, res
        out_dir = state / "hardening" / "vault"
        assert stat.S_IMODE(out_dir.stat().st_mode) == 0o700
        for name in ("vault-unseal-keys.json", "vault-root-token"):
            assert stat.S_IMODE((out_dir / name).stat().st_mode) == 0o600
            assert f"written to {out_dir / name}" in res.out

    with openbao(tmp_path / "bao2", lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        res = cli(*_init_args(tmp_path), "--out", str(repo / "secrets"), "--force", addr=bao.addr)
        assert res.code == 0 and (repo / "secrets" / "vault-root-token").exists(), res


def test_gitignore_covers_both_key_files() -> None:
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "vault-unseal-keys.json", "vault-root-token", "x/vault-root-token"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout.split() == ["vault-unseal-keys.json", "vault-root-token", "x/vault-root-token"], proc


def test_status_exit_codes_follow_vault_and_wait_is_bounded(tmp_path: Path) -> None:
    assert cli("status", addr=f"http://127.0.0.1:{free_port()}").code == 1
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        res = cli("status", addr=bao.addr)
        assert res.code == 2 and "not initialised" in res.out, res
        keys, _ = bao.init(shares=3, threshold=2)
        res = cli("status", addr=bao.addr)
        assert res.code == 2 and "sealed (0 of 2 keys given, 2 more needed)" in res.out, res
        res = cli("status", "--wait", "2", addr=bao.addr)
        assert res.code == 2 and "gave up after 2 s" in res.err, res

        def unseal_later() -> None:
            time.sleep(6)
            bao.unseal(keys[:2])

        helper = threading.Thread(target=unseal_later)
        helper.start()
        res = cli("status", "--wait", "60", addr=bao.addr)
        helper.join()
        assert res.code == 0 and ": unsealed;" in res.out, res
        assert f"waiting for Vault at {bao.addr} to be unsealed: sealed (5 s)" in res.err, res
        assert cli("status", addr=bao.addr).code == 0
        assert_one_line_failure(cli("status", "--wait", "-1", addr=bao.addr), "--wait", "accepted")


def _reconciled(bao: OpenBao, tmp_path: Path) -> tuple[str, Path]:
    keys, root = bao.init(shares=1, threshold=1)
    bao.unseal(keys)
    config = tmp_path / "vault-config.yaml"
    config.write_text(yaml.safe_dump(configuration_document(bao, public_pem(rsa_key())), sort_keys=False))
    res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
    assert res.code == 0, res
    return root, config


def _with_extra_audit(b: OpenBao) -> str:
    extra = f'\naudit "file" "extra" {{\n  options {{\n    file_path = "{b.tmp_dir}/extra.log"\n  }}\n}}\n'
    return adapted_server_hcl(sc.ServerConfigInput(), b) + extra


def test_reconcile_reports_every_unmanaged_item_and_prunes_each_class(tmp_path: Path) -> None:
    with openbao(tmp_path / "bao", _with_extra_audit) as bao:
        root, config = _reconciled(bao, tmp_path)
        admin = bao.client(root)
        admin.sys.create_or_update_acl_policy("hand-made", 'path "secret/data/x" { capabilities = ["read"] }')
        admin.write_data(
            "auth/kubernetes/role/stray",
            data={"bound_service_account_names": ["s"], "bound_service_account_namespaces": ["s"]},
        )
        admin.sys.enable_auth_method("userpass", path="people")
        admin.sys.enable_secrets_engine("kv", path="scratch", options={"version": "1"})

        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
        assert res.code == 0 and res.out.startswith("no changes:"), res
        for line in (
            "unmanaged: 5 item(s)",
            "? audit device extra/ (--prune=audit deletes it)",
            "? kv secrets engine scratch/ (--prune=secrets deletes it)",
            "? policy hand-made (--prune=policies deletes it)",
            "? kubernetes role kubernetes/stray (--prune=roles deletes it)",
            "? userpass auth method people/ (--prune=auth deletes it)",
        ):
            assert line in res.out, (line, res.out)
        for protected in ("policy root", "policy default", "sys/", "identity/", "cubbyhole/", "token/"):
            assert protected not in res.out

        assert_one_line_failure(
            cli("reconcile", "--config", str(config), "--prune=policies,bogus", addr=bao.addr, token=root),
            "--prune",
            "'bogus'",
            "accepted: all or a comma-separated list of policies, roles, auth, secrets, audit",
        )
        res = cli("reconcile", "--config", str(config), "--prune=auth", addr=bao.addr, token=root)
        assert res.code == 0 and "- delete userpass auth method people/" in res.out, res
        assert "people/" not in admin.sys.list_auth_methods()["data"]
        assert "hand-made" in admin.sys.list_acl_policies()["data"]["keys"]  # other classes untouched

        # every remaining class at once; OpenBao refuses to disable the audit device its configuration
        # declares: the run stops there, names it, and lists what was already applied
        res = cli("reconcile", "--config", str(config), "--prune", addr=bao.addr, token=root)
        assert res.code == 1, res
        err = res.err.strip()
        assert err.startswith("error: change 4 of 4 failed: - delete audit device extra/"), err
        assert "configuration-managed audit device" in err
        assert "Already applied: - delete kubernetes role kubernetes/stray" in err
        assert "- delete policy hand-made" in err and "- delete kv secrets engine scratch/" in err
        assert "scratch/" not in admin.sys.list_mounted_secrets_engines()["data"]
        assert set(admin.sys.list_acl_policies()["data"]["keys"]) >= {"root", "default"}
        assert "token/" in admin.sys.list_auth_methods()["data"]
        res = cli(
            "reconcile", "--config", str(config), "--prune=policies,roles,auth,secrets", addr=bao.addr, token=root
        )
        assert res.code == 0 and res.out.startswith("no changes:") and "? audit device extra/" in res.out, res


def test_reconcile_compares_every_role_field(tmp_path: Path) -> None:
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        root, config = _reconciled(bao, tmp_path)
        admin = bao.client(root)
        doc = yaml.safe_load(config.read_text())
        jwt_role = next(iter(doc["auth"]["jwt"]["roles"]))
        admin.write_data(
            f"auth/jwt/role/{jwt_role}", data={"role_type": "jwt", "token_period": "720h", "bound_subject": "x"}
        )
        admin.write_data("auth/kubernetes/role/orders-api", data={"token_num_uses": 3, "token_type": "service"})
        res = cli("reconcile", "--config", str(config), "--dry-run", addr=bao.addr, token=root)
        assert res.code == 0, res
        assert f"~ update jwt role jwt/{jwt_role}: bound_subject 'x' -> ''; token_period 2592000 -> 0" in res.out
        assert "~ update kubernetes role kubernetes/orders-api: token_num_uses 3 -> 0; token_type 'service'" in res.out
        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
        assert res.code == 0 and "applied 2 change(s)" in res.out, res
        role = admin.read(f"auth/jwt/role/{jwt_role}")["data"]
        k8s_role = admin.read("auth/kubernetes/role/orders-api")["data"]
        # the tool knows every field this server has (a new server field fails here, not silently)
        assert set(role) - rec.DEPRECATED_ROLE_ALIASES == set(rec.JWT_ROLE_DEFAULTS)
        assert set(k8s_role) - rec.DEPRECATED_ROLE_ALIASES <= set(rec.KUBERNETES_ROLE_DEFAULTS)
        assert role["token_period"] == 0 and role["bound_subject"] == "" and role["token_max_ttl"] == 1800
        assert cli("reconcile", "--config", str(config), addr=bao.addr, token=root).out.startswith("no changes:")

        # auth method configuration: every field too (a default_role lets a login skip naming its role)
        jwt_cfg = admin.read("auth/jwt/config")["data"]
        admin.write_data("auth/jwt/config", data={**jwt_cfg, "default_role": jwt_role, "jwt_supported_algs": ["RS256"]})
        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
        assert res.code == 0, res
        assert (
            f"~ update jwt auth config jwt/: default_role '{jwt_role}' -> ''; jwt_supported_algs ['RS256'] -> []"
            in res.out
        )
        assert admin.read("auth/jwt/config")["data"]["default_role"] == ""
        assert set(admin.read("auth/jwt/config")["data"]) - rec.READ_ONLY_CONFIG_FIELDS == set(rec.JWT_CONFIG_DEFAULTS)
        k8s_cfg = set(admin.read("auth/kubernetes/config")["data"]) - rec.READ_ONLY_CONFIG_FIELDS
        assert k8s_cfg == set(rec.KUBERNETES_CONFIG_DEFAULTS)
        assert cli("reconcile", "--config", str(config), addr=bao.addr, token=root).out.startswith("no changes:")


def test_a_role_or_mount_field_changed_by_hand_is_reported_and_put_back(tmp_path: Path) -> None:
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        root, config = _reconciled(bao, tmp_path)
        admin = bao.client(root)
        role = admin.read("auth/kubernetes/role/orders-api")["data"]
        namespaces = role["bound_service_account_namespaces"]
        # someone widens the role and lengthens its tokens, and keeps fewer secret versions
        admin.write_data(
            "auth/kubernetes/role/orders-api",
            data={**role, "token_ttl": "2h", "bound_service_account_namespaces": [*namespaces, "intruders"]},
        )
        admin.write_data("secret/config", data={"max_versions": 2, "delete_version_after": "24h"})
        res = cli("reconcile", "--config", str(config), "--dry-run", addr=bao.addr, token=root)
        assert res.code == 0 and "dry run: nothing applied" in res.out, res
        assert (
            "~ update kubernetes role kubernetes/orders-api: bound_service_account_namespaces "
            f"{[*namespaces, 'intruders']!r} -> {namespaces!r}; token_ttl 7200 -> '1h'" in res.out
        ), res.out
        assert "~ update kv settings secret/: delete_version_after '24h0m0s' -> '0s'; max_versions 2 -> 10" in res.out
        assert admin.read("auth/kubernetes/role/orders-api")["data"]["token_ttl"] == 7200  # dry run: untouched
        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
        assert res.code == 0 and "applied 2 change(s)" in res.out, res
        fixed = admin.read("auth/kubernetes/role/orders-api")["data"]
        assert fixed["token_ttl"] == 3600 and fixed["bound_service_account_namespaces"] == namespaces
        assert admin.read("secret/config")["data"]["max_versions"] == 10
        assert cli("reconcile", "--config", str(config), addr=bao.addr, token=root).out.startswith("no changes:")


def test_reconcile_stops_at_the_first_refusal_and_a_rerun_finishes(tmp_path: Path) -> None:
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        keys, root = bao.init(shares=1, threshold=1)
        bao.unseal(keys)
        admin = bao.client(root)
        # an operator token that may read everything, mount secrets engines and write policies, but not
        # enable auth methods: the server refuses halfway through the plan
        admin.sys.create_or_update_acl_policy(
            "half-admin",
            'path "*" { capabilities = ["read", "list", "sudo"] }\n'
            'path "sys/mounts/*" { capabilities = ["create", "update", "read"] }\n'
            'path "secret/config" { capabilities = ["create", "update", "read"] }\n'
            'path "sys/policies/acl/*" { capabilities = ["create", "update", "read", "list"] }\n',
        )
        half = admin.auth.token.create(policies=["half-admin"], ttl="10m")["auth"]["client_token"]
        config = tmp_path / "vault-config.yaml"
        config.write_text(yaml.safe_dump(configuration_document(bao, public_pem(rsa_key())), sort_keys=False))
        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=half)
        assert res.code == 1, res
        err = res.err.strip().splitlines()[-1]
        assert "failed: + create auth method kubernetes/: " in err and "permission denied" in err, err
        assert "Already applied: + create secrets engine secret/" in err and "+ create policy app-orders-api" in err
        assert "run reconcile again" in err
        assert "kubernetes/" not in admin.sys.list_auth_methods()["data"]
        res = cli("reconcile", "--config", str(config), addr=bao.addr, token=root)
        assert res.code == 0 and "create policy" not in res.out and "+ create auth method kubernetes/" in res.out
        assert cli("reconcile", "--config", str(config), addr=bao.addr, token=root).out.startswith("no changes:")

"""Issue 6 end to end against a real OpenBao started from the builder-rendered server configuration
(adapted only in listener address, storage and audit paths): init -> unseal -> reconcile twice (the second a
no-op) -> seed -> the app's token reads its secret and nothing else -> rotation report flags a secret with a
short period -> rotate it -> seal: every command fails with one clear line -> wrong unseal key rejected.
Every step goes through ``python -m tools.vault`` in a fresh process, as an operator runs it."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from pathlib import Path

import hvac
import hvac.exceptions
import pytest
import yaml

from components.vault import server_config as sc
from tests.support.openbao import openbao
from tests.support.procs import wait_until

from .support import (
    APP,
    APP_NAMESPACE,
    adapted_server_hcl,
    assert_one_line_failure,
    cli,
    configuration_document,
    public_pem,
    rsa_key,
)

pytestmark = pytest.mark.server

APP_SECRET = {"api_key": "ak-7f3e9c1d2b", "database_url": "postgresql://orders:pw-Q8v2@db:5432/orders"}
REGISTRY = {"token": "ghp-registry-5d1c"}
CLOUD = {"fly_api_token": "fo1-cloud-88aa", "railway_token": "rw-cloud-77bb"}
SHORT = {"password": "short-lived-31ce"}
ALL_VALUES = [*APP_SECRET.values(), *REGISTRY.values(), *CLOUD.values(), *SHORT.values()]


def seed_document() -> str:
    return yaml.safe_dump(
        {
            "secrets": [
                {"path": f"apps/{APP}", "data": APP_SECRET},
                {"path": "ci/registry", "data": REGISTRY},
                {"path": "ci/cloud", "data": CLOUD},
                {"path": "ci/short-lived", "data": SHORT, "rotation_period": "2s"},
            ]
        }
    )


def assert_no_secret(text: str, *secrets: str) -> None:
    for value in secrets:
        assert value not in text, "a secret value leaked into output"


def denied(client: hvac.Client, fn: str, **kwargs: object) -> bool:
    try:
        getattr(client.secrets.kv.v2, fn)(mount_point="secret", **kwargs)
    except hvac.exceptions.Forbidden:
        return True
    return False


def test_issue6_full_path(tmp_path: Path) -> None:
    cfg = sc.ServerConfigInput(environment="dev")  # the dev stack's server configuration
    with openbao(tmp_path / "bao", lambda b: adapted_server_hcl(cfg, b)) as bao:
        addr = bao.addr
        keys_file, root_file = tmp_path / "keys.json", tmp_path / "root-token"

        # --- init: 3 shares, threshold 2; files mode 0600; nothing secret on stdout ------------------------
        res = cli(
            "init",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--keys-file",
            str(keys_file),
            "--root-token-file",
            str(root_file),
            addr=addr,
        )
        assert res.code == 0, res
        keys_doc = json.loads(keys_file.read_text())
        keys, root = keys_doc["unseal_keys_b64"], root_file.read_text().strip()
        assert len(keys) == 3 and keys_doc["threshold"] == 2 and root
        for path in (keys_file, root_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert_no_secret(res.text, *keys, root)
        assert "written to" in res.out
        again = cli(
            "init", "--keys-file", str(tmp_path / "k2.json"), "--root-token-file", str(tmp_path / "r2"), addr=addr
        )
        assert_one_line_failure(again, "already initialised")
        assert not (tmp_path / "k2.json").exists()

        # --- unseal: key by key from standard input, with progress ------------------------------------------
        res = cli("unseal", addr=addr, stdin=keys[0] + "\n")
        assert res.code == 0 and "unseal progress: 1 of 2 keys, 1 more needed" in res.out, res
        res = cli("unseal", addr=addr, stdin=keys[2] + "\n")
        assert res.code == 0 and "unsealed" in res.out, res
        assert_no_secret(res.text, *keys)
        bao.wait_active()

        # --- reconcile: dry run applies nothing; first run applies; second run is a no-op -------------------
        jwt_key = rsa_key()
        config_path = tmp_path / "vault-config.yaml"
        config_path.write_text(yaml.safe_dump(configuration_document(bao, public_pem(jwt_key)), sort_keys=False))
        admin = bao.client(root)
        res = cli("reconcile", "--config", str(config_path), "--dry-run", addr=addr, token=root)
        assert res.code == 0 and "dry run: nothing applied" in res.out, res
        assert "+ create policy app-orders-api" in res.out
        assert "+ create kubernetes role kubernetes/orders-api" in res.out
        assert set(admin.sys.list_acl_policies()["data"]["keys"]) == {"default", "root"}
        t0 = time.monotonic()
        res = cli("reconcile", "--config", str(config_path), "--token-file", str(root_file), addr=addr)
        first_run = time.monotonic() - t0
        assert res.code == 0 and "applied 14 change(s)" in res.out, res
        t0 = time.monotonic()
        res = cli("reconcile", "--config", str(config_path), "--token-file", str(root_file), addr=addr)
        second_run = time.monotonic() - t0
        assert res.code == 0, res
        assert res.out.startswith("no changes:"), res.out
        print(f"reconcile: first run {first_run:.2f}s (14 changes), second run {second_run:.2f}s (no changes)")

        # what reconcile wrote, read back from the server
        role = admin.read("auth/kubernetes/role/orders-api")["data"]
        assert role["bound_service_account_names"] == [APP]
        assert role["bound_service_account_namespaces"] == [APP_NAMESPACE]
        assert role["token_policies"] == ["app-orders-api"] and role["token_ttl"] == 3600
        assert admin.secrets.kv.v2.read_configuration(mount_point="secret")["data"]["max_versions"] == 10
        assert "file/" in admin.sys.list_enabled_audit_devices()["data"]

        # drift and pruning: a hand-edited policy is restored; unmanaged policies/roles go only with --prune
        admin.sys.create_or_update_acl_policy(
            "ci-orders-api-production", 'path "secret/data/*" { capabilities = ["read"] }'
        )
        admin.sys.create_or_update_acl_policy("hand-made", 'path "secret/data/x" { capabilities = ["read"] }')
        admin.write_data(
            "auth/kubernetes/role/stray",
            data={"bound_service_account_names": ["s"], "bound_service_account_namespaces": ["s"]},
        )
        res = cli("reconcile", "--config", str(config_path), addr=addr, token=root)
        assert (
            res.code == 0
            and "~ update policy ci-orders-api-production: HCL differs" in res.out
            and "applied 1 change(s)" in res.out
        )
        assert "hand-made" in admin.sys.list_acl_policies()["data"]["keys"]
        res = cli("reconcile", "--config", str(config_path), "--prune", addr=addr, token=root)
        assert res.code == 0, res
        assert "- delete policy hand-made" in res.out and "- delete kubernetes role kubernetes/stray" in res.out
        assert "hand-made" not in admin.sys.list_acl_policies()["data"]["keys"]
        assert cli("reconcile", "--config", str(config_path), "--prune", addr=addr, token=root).out.startswith(
            "no changes:"
        )

        # an invalid configuration is refused before any write
        broken = yaml.safe_load(config_path.read_text())
        broken["policies"]["new-one"] = 'path "a" { capabilities = ["read"] }'
        broken["policies"]["app-orders-api"] = "path {"
        bad_path = tmp_path / "broken.yaml"
        bad_path.write_text(yaml.safe_dump(broken))
        res = cli("reconcile", "--config", str(bad_path), addr=addr, token=root)
        assert_one_line_failure(res, "invalid Vault configuration", "policies.app-orders-api: policy 'app-orders-api'")
        assert "new-one" not in admin.sys.list_acl_policies()["data"]["keys"]

        # --- seed from standard input, without echoing; existing secrets are kept ----------------------------
        res = cli("seed", "-", "--config", str(config_path), addr=addr, token=root, stdin=seed_document())
        assert res.code == 0, res
        assert f"wrote secret/apps/{APP}: version 1, keys api_key, database_url, rotation_period 2160h" in res.out
        assert "wrote secret/ci/short-lived: version 1, keys password, rotation_period 2s" in res.out
        assert_no_secret(res.text, *ALL_VALUES)
        res = cli("seed", "-", addr=addr, token=root, stdin=seed_document())
        assert res.code == 0 and res.out.count("kept secret/") == 4, res
        meta = admin.secrets.kv.v2.read_secret_metadata(path=f"apps/{APP}", mount_point="secret")["data"]
        assert meta["custom_metadata"]["rotation_period"] == "2160h"

        # --- the app's token (what Kubernetes login issues for the orders-api role) reads only its secret ----
        app_token = admin.auth.token.create(policies=["app-orders-api"], ttl="10m")["auth"]["client_token"]
        app = bao.client(app_token)
        got = app.secrets.kv.v2.read_secret_version(
            path=f"apps/{APP}", mount_point="secret", raise_on_deleted_version=True
        )
        assert got["data"]["data"] == APP_SECRET
        assert denied(app, "read_secret_version", path="ci/registry", raise_on_deleted_version=True)
        assert denied(app, "read_secret_version", path="apps/billing", raise_on_deleted_version=True)
        assert denied(app, "create_or_update_secret", path=f"apps/{APP}", secret={"api_key": "overwritten"})
        assert denied(app, "list_secrets", path="apps")
        with pytest.raises(hvac.exceptions.Forbidden):
            app.sys.list_acl_policies()
        res = cli("seed", "-", "--overwrite", addr=addr, token=app_token, stdin=seed_document())
        assert_one_line_failure(res, "denied")

        # --- rotation report: the 2 s secret becomes overdue; JSON for CI; rotating it clears the report ----
        time.sleep(2.5)
        res = cli("rotation-report", "--json", "--config", str(config_path), addr=addr, token=root)
        assert res.code == 3, res
        report = json.loads(res.out)
        overdue = [r["path"] for r in report["secrets"] if r["overdue"]]
        assert overdue == ["secret/ci/short-lived"] and report["overdue"] == 1
        assert len(report["secrets"]) == 4
        assert_no_secret(res.text, *ALL_VALUES)
        table = cli("rotation-report", addr=addr, token=root)
        assert table.code == 3 and "OVERDUE by" in table.out and "4 secret(s), 1 overdue" in table.out, table
        rotated = yaml.safe_dump(
            {"secrets": [{"path": "ci/short-lived", "data": {"password": "rotated-9b0f"}, "rotation_period": "1h"}]}
        )
        res = cli("seed", "-", "--overwrite", addr=addr, token=root, stdin=rotated)
        assert res.code == 0 and "wrote secret/ci/short-lived: version 2" in res.out, res
        res = cli("rotation-report", "--json", addr=addr, token=root)
        assert res.code == 0 and json.loads(res.out)["overdue"] == 0, res

        # --- bad token ----------------------------------------------------------------------------------
        res = cli("reconcile", "--config", str(config_path), addr=addr, token="s.not-a-real-token")
        assert_one_line_failure(res, "rejected the token")

        # --- the audit log recorded the traffic without any secret in clear ---------------------------------
        audit = (bao.tmp_dir / "audit.log").read_text()
        assert "secret/data/apps/orders-api" in audit
        assert_no_secret(audit, *ALL_VALUES, "rotated-9b0f", root)

        # --- sealed: every command fails with one clear line -------------------------------------------------
        bao.seal(root)
        res = cli("status", addr=addr)
        assert res.code == 2 and "sealed (0 of 2 keys given, 2 more needed)" in res.out, res
        for args in (
            ["reconcile", "--config", str(config_path)],
            ["seed", "-"],
            ["rotation-report"],
            ["rotation-report", "--json"],
        ):
            res = cli(*args, addr=addr, token=root, stdin=seed_document())
            assert_one_line_failure(res, "is sealed", "unseal")
        assert_one_line_failure(
            cli("init", "--keys-file", str(tmp_path / "k3"), "--root-token-file", str(tmp_path / "r3"), addr=addr),
            "already initialised",
        )

        # --- wrong unseal key: rejected, progress reset; the right keys (init's JSON file) still unseal -----
        wrong = base64.b64encode(os.urandom(33)).decode()
        res = cli("unseal", addr=addr, stdin=f"{wrong}\n{keys[1]}\n")
        assert_one_line_failure(res, "unseal key rejected", "progress is now 0 of 2")
        assert_no_secret(res.text, wrong, keys[1])
        assert_one_line_failure(cli("unseal", addr=addr, stdin="not base64 !\n"), "unseal key rejected")
        assert bao.seal_status()["sealed"] is True
        res = cli("unseal", "--key-file", str(keys_file), addr=addr)
        assert res.code == 0 and "unsealed" in res.out, res
        bao.wait_active()
        assert cli("unseal", "--key-file", str(keys_file), addr=addr).out.endswith("already unsealed\n")
        again_app = bao.client(app_token)
        assert (
            again_app.secrets.kv.v2.read_secret_version(
                path=f"apps/{APP}", mount_point="secret", raise_on_deleted_version=True
            )["data"]["data"]
            == APP_SECRET
        )


def test_restart_comes_back_sealed_and_keeps_data(tmp_path: Path) -> None:
    """Raft storage on disk: a restarted server is sealed, and unsealing it restores the secrets."""
    with openbao(tmp_path, lambda b: adapted_server_hcl(sc.ServerConfigInput(), b)) as bao:
        keys, root = bao.init(shares=1, threshold=1)
        bao.unseal(keys)
        admin = bao.client(root)
        admin.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})

        def kv_ready() -> bool:  # a new KV v2 mount upgrades itself for a moment
            admin.secrets.kv.v2.configure(mount_point="secret")
            return True

        wait_until(kv_ready, 10, what="the KV v2 mount")
        admin.secrets.kv.v2.create_or_update_secret(path="apps/x", secret={"k": "v"}, mount_point="secret")
        bao.restart()
        assert bao.seal_status()["sealed"] is True
        res = cli("unseal", addr=bao.addr, stdin=keys[0] + "\n")
        assert res.code == 0 and "unsealed" in res.out, res
        bao.wait_active()
        data = bao.client(root).secrets.kv.v2.read_secret_version(
            path="apps/x", mount_point="secret", raise_on_deleted_version=True
        )
        assert data["data"]["data"] == {"k": "v"}

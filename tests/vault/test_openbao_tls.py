"""The prod server configuration (TLS listener, telemetry) on a real OpenBao, adapted only in listener
address, TLS file paths and storage paths (and without Kubernetes service registration: no API server here):
the tool trusts the listener through --ca-cert and fails clearly without it; the health endpoints the probes
use behave as the StatefulSet needs (readiness fails while uninitialised or sealed, liveness does not); the
Prometheus metrics endpoint answers without a token."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from components.vault import server_config as sc
from tests.support.openbao import openbao

from .support import adapted_server_hcl, assert_one_line_failure, cli, write_tls_files

pytestmark = pytest.mark.server


def status_of(url: str, ca: Path) -> int:
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(url, timeout=5, context=ctx) as resp:  # noqa: S310 - loopback only
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_prod_configuration_with_tls_probes_and_metrics(tmp_path: Path) -> None:
    prod = sc.ServerConfigInput(environment="prod", replicas=1, tls=sc.TlsFiles("vault-tls"))
    tls = write_tls_files(tmp_path / "tls", sc.tls_dns_names(prod))
    ca = Path(tls.ca_path)
    hcl = lambda b: adapted_server_hcl(replace(prod, tls=tls), b)  # noqa: E731
    with openbao(tmp_path / "bao", hcl, ca_cert=ca) as bao:
        assert bao.addr.startswith("https://")
        assert "tls_disable     = false" in bao.hcl and sc.check_server_hcl(bao.hcl, "prod") == []
        base = bao.addr

        def probes() -> tuple[int, int]:
            return status_of(base + sc.READINESS_PATH, ca), status_of(base + sc.LIVENESS_PATH, ca)

        assert probes() == (501, 204)  # not initialised: not ready, but alive (an operator must init it)

        res = cli("status", "--ca-cert", str(ca), addr=base)
        assert res.code == 2 and "not initialised" in res.out, res  # like `vault status`: 2 = not unsealed
        assert_one_line_failure(cli("status", addr=base), "TLS error", "certificate verify failed", "--ca-cert")
        plain = base.replace("https://", "http://")
        assert_one_line_failure(cli("status", addr=plain), "speaks TLS: use an https:// address")
        res = cli(
            "init",
            "--shares",
            "1",
            "--threshold",
            "1",
            "--keys-file",
            str(tmp_path / "k.json"),
            "--root-token-file",
            str(tmp_path / "root"),
            extra_env={"VAULT_CACERT": str(ca)},
            addr=base,
        )
        assert res.code == 0, res
        assert probes() == (503, 204)  # sealed: not ready, alive
        res = cli("unseal", "--ca-cert", str(ca), "--key-file", str(tmp_path / "k.json"), addr=base)
        assert res.code == 0 and "unsealed" in res.out, res
        bao.wait_active()
        assert probes() == (200, 200)

        ctx = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(  # noqa: S310
            f"{base}{sc.METRICS_PATH}?{sc.METRICS_QUERY}",
            timeout=5,
            context=ctx,
        ) as resp:
            metrics = resp.read().decode()
        assert resp.status == 200 and "# TYPE" in metrics and "_core_unsealed" in metrics

"""Helpers for the Vault tests: the operator command as a subprocess, test keys and certificates, and the
builder-rendered server configuration adapted only in listener address, TLS paths and storage paths."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from components.vault import declarative as dc
from components.vault import server_config as sc
from tests.support.openbao import OpenBao

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "example-org/orders-api"
OWNER_AUDIENCE = "https://github.com/example-org"
APP = "orders-api"
APP_NAMESPACE = "web"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli(
    *args: str,
    addr: str | None = None,
    token: str | None = None,
    stdin: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Result:
    """Run ``python -m tools.vault`` as an operator would (fresh process, no inherited Vault variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(ROOT / ".no-home")  # never read an operator's ~/.vault-token
    if addr:
        env["VAULT_ADDR"] = addr
    if token:
        env["VAULT_TOKEN"] = token
    env.update(extra_env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "tools.vault", *args],
        cwd=ROOT,
        env=env,
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_failure(res: Result, *needles: str) -> None:
    """Exit code != 0, exactly one line on stderr starting with 'error:', no traceback."""
    assert res.code != 0, res
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert len(lines) == 1, res.err
    assert lines[0].startswith("error: "), res.err
    assert "Traceback" not in res.text
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])


# --- keys and certificates -------------------------------------------------------------------------
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def github_token(
    key: rsa.RSAPrivateKey,
    *,
    repository: str = REPOSITORY,
    ref: str = "refs/heads/main",
    audience: str = OWNER_AUDIENCE,
    issuer: str = dc.GITHUB_OIDC_ISSUER,
    ttl: int = 300,
    environment: str | None = None,
    event_name: str = "push",
) -> str:
    """A token shaped like GitHub Actions' OIDC tokens, signed by the test key."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl,
        "sub": f"repo:{repository}:ref:{ref}",
        "repository": repository,
        "repository_owner": repository.split("/")[0],
        "ref": ref,
        "ref_type": "branch",
        "workflow": "deploy",
        "event_name": event_name,
        "actor": "octocat",
        "run_id": "1",
    }
    if event_name.startswith("pull_request"):
        claims["sub"] = f"repo:{repository}:pull_request"
        claims["ref_type"] = ""
    if environment:
        claims["environment"] = environment
        claims["sub"] = f"repo:{repository}:environment:{environment}"
    return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": "test"})


def self_signed_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hardening test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def write_tls_files(directory: Path, dns_names: list[str]) -> sc.TlsFiles:
    """A CA and a server certificate for 127.0.0.1 + ``dns_names``, written as a kubernetes.io/tls Secret
    would be mounted (tls.crt, tls.key, ca.crt)."""
    ca_key, ca = self_signed_ca()
    key = rsa_key()
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    sans += [x509.DNSName(n) for n in dns_names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vault")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return sc.TlsFiles(secret_name="vault-tls", mount_dir=str(directory))


def ca_pem() -> str:
    return self_signed_ca()[1].public_bytes(serialization.Encoding.PEM).decode()


# --- server and declarative configuration, as rendered by the builders ------------------------------
def adapted_server_hcl(cfg: sc.ServerConfigInput, bao: OpenBao) -> str:
    """The builder's HCL for ``cfg``, adapted only in listener address/ports and storage/audit paths.

    Outside Kubernetes there is no API server to register with, so service registration is off; the
    audit device is declared in the server configuration (OpenBao refuses to create it through the API).
    """
    audit = sc.AuditFileStanza(file_path=str(bao.tmp_dir / "audit.log"))
    return sc.render_server_hcl(
        replace(
            cfg,
            listen_address="127.0.0.1",
            port=bao.port,
            cluster_port=bao.cluster_port,
            data_path=str(bao.data_dir),
            audit_dir=str(bao.tmp_dir),
            kubernetes_service_registration=False,
            audit_devices=(audit,),
        )
    )


def configuration_document(bao: OpenBao, jwt_public_pem: str) -> dict[str, Any]:
    """The platform's declarative configuration document, adapted for a server outside Kubernetes and
    without internet: JWT keys instead of GitHub's discovery URL, an explicit Kubernetes CA certificate
    (no service-account files here), and the audit file in the test directory."""
    cfg = dc.platform_config(
        workloads=[dc.Workload(APP, APP_NAMESPACE, APP)],
        ci=[dc.CiAccess(REPOSITORY)],
        audit_file=str(bao.tmp_dir / "audit.log"),
    )
    doc = dc.to_document(cfg)
    doc["auth"]["jwt"]["config"] = {"bound_issuer": dc.GITHUB_OIDC_ISSUER, "jwt_validation_pubkeys": [jwt_public_pem]}
    doc["auth"]["kubernetes"]["config"]["kubernetes_ca_cert"] = ca_pem()
    dc.from_document(doc)  # still valid
    return doc

"""The Vault Agent sidecar (components/service/vault_agent.py).

Unit tier: the builder's layout, escaping and checks, the pod parts against every workload policy of the
pack, and kubernetes-validate --strict. Server tier: the real ``bao agent`` runs the rendered
configuration against a real OpenBao server (TLS) whose real Kubernetes auth method reviews the
service-account token with a TokenReview API on loopback (tests/service/support.py): rendered files
hold the secrets, a rotated secret reaches its file, the env file survives hostile values.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import hvac
import jsonschema
import pytest
import yaml

from components.config import ConfigError
from components.k8s import camel
from components.service import vault_agent as va
from components.service.load import ServiceError, load_services
from components.service.spec import ContainerFile, SecretResource, ServiceSpec
from components.vault import declarative as dc
from policies import registry
from tests.policies import engine as e
from tests.service import support as s
from tests.support.crds import validate_custom_resource
from tests.support.openbao import OpenBao, openbao
from tests.support.procs import wait_until
from tests.vault.support import rsa_key, write_tls_files
from tools.vault.reconcile import role_body

ROOT = Path(__file__).resolve().parents[2]
VAULT = "https://vault.vault.svc:8200"
CA = "/vault/tls/ca.crt"
NAMESPACE = "demo"

# Values no quoting may break: quotes of both kinds, $, backticks, backslashes, newlines, template braces.
HOSTILE = "p'a\"ss $HOME `id` \\n\\\\ {{ .Data }} $(whoami)\nline two\n'"


def demo_spec() -> ServiceSpec:
    (spec,) = load_services({"go-deployment-demo": {}})
    return spec


def demo_input(**over: Any) -> va.AgentInput:
    inp = va.agent_input(demo_spec(), vault_address=VAULT, ca_file=CA, auth_mount="kubernetes", kv_mount="secret")
    return replace(inp, **over)


def hostile_input(**over: Any) -> va.AgentInput:
    """Every kind of placeholder use: a single-placeholder variable, a mixed one, a file with literal
    template braces and Score's $$ escape, two resources."""
    inp = va.AgentInput(
        service="shop",
        role="shop",
        vault_address=VAULT,
        secrets=(SecretResource("db", ("username", "password")), SecretResource("api", ("token",))),
        variables={
            "DB_PASSWORD": "${resources.db.password}",
            "DSN": "postgres://${resources.db.username}:${resources.db.password}@db:5432/shop?x='y'&h=$$HOME",
            "API_TOKEN": "${resources.api.token}",
            "MODE": "plain $$literal",
        },
        files=(
            ContainerFile(
                "/etc/shop/config.yaml",
                'user: "${resources.db.username}"\nliteral: "{{ not a template }} $${resources.db.password}"\n',
                "0440",
            ),
            ContainerFile("/etc/shop/token", "${resources.api.token}"),
        ),
        format="env",
        image="docker.io/hashicorp/vault:2.1.2",
    )
    return replace(inp, **over)


# --------------------------------------------------------------------------------------------------
# Unit: layout
# --------------------------------------------------------------------------------------------------
def test_demo_spec_renders_every_key_file_and_env_file() -> None:
    tmpl = va.agent_templates(demo_input())
    assert set(tmpl) == {
        "/vault/secrets/db/username",
        "/vault/secrets/db/password",
        "/vault/secrets/files/etc/demo/config.yaml",
        "/vault/secrets/env",
    }
    read = '{{ with secret "secret/data/apps/go-deployment-demo/db" }}'
    assert tmpl["/vault/secrets/db/password"] == read + "{{ .Data.data.password }}{{ end }}"
    env = tmpl["/vault/secrets/env"].splitlines()
    assert env == [
        f"export DB_PASSWORD='{read}{{{{ .Data.data.password | replaceAll \"'\" \"'\\\\''\" }}}}{{{{ end }}}}'",
        f"export DB_USER='{read}{{{{ .Data.data.username | replaceAll \"'\" \"'\\\\''\" }}}}{{{{ end }}}}'",
    ]


def test_files_format_has_no_env_file() -> None:
    assert va.ENV_FILE not in va.agent_templates(demo_input(format="files"))


def test_agent_config_auto_auth_without_sink_and_render_interval() -> None:
    hcl = va.agent_config(demo_input(render_interval="2s"))
    assert 'method "kubernetes"' in hcl and 'mount_path = "auth/kubernetes"' in hcl
    assert 'role       = "go-deployment-demo"' in hcl
    assert 'token_path = "/var/run/secrets/vault/token"' in hcl
    assert "sink" not in hcl.replace("no sink", "")
    assert 'static_secret_render_interval = "2s"' in hcl and "exit_on_retry_failure         = true" in hcl
    assert f'ca_cert = "{CA}"' in hcl and f'address = "{VAULT}"' in hcl
    assert hcl.count("template {") == 4 and hcl.count("error_on_missing_key = true") == 4
    assert "ca_cert" not in va.agent_config(demo_input(ca_file="", vault_address="http://vault.vault.svc:8200"))


def test_config_map_holds_every_template_source_the_config_names() -> None:
    inp = demo_input()
    data = va.config_map_data(inp)
    sources = [line.split('"')[1] for line in data[va.CONFIG_FILE].splitlines() if "source " in line]
    assert sorted(f"{va.CONFIG_DIR}/{k}" for k in data if k != va.CONFIG_FILE) == sorted(sources)
    assert set(va.agent_templates(inp).values()) == {v for k, v in data.items() if k != va.CONFIG_FILE}
    parts = va.pod_parts(inp)
    assert parts.config_map_name == "go-deployment-demo-vault-agent" and parts.config_map_data == data


def test_pod_parts_native_sidecar_volumes_and_app_wiring() -> None:
    inp = demo_input()
    p = va.pod_parts(inp)
    car = p.sidecar
    assert car["restart_policy"] == "Always" and car["image"] == "docker.io/hashicorp/vault:2.1.2"
    assert car["command"] == ["vault", "agent", "-config=/vault/config/agent.hcl"]
    sc = car["security_context"]
    assert sc["run_as_non_root"] and sc["read_only_root_filesystem"] and not sc["allow_privilege_escalation"]
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccomp_profile"] == {"type": "RuntimeDefault"}
    assert set(car["resources"]["requests"]) == set(car["resources"]["limits"]) == {"cpu", "memory"}
    probe = car["startup_probe"]["exec"]["command"]
    for path in va.agent_templates(inp):
        assert f"test -f {path}" in probe[2]
    assert car["liveness_probe"]["exec"]["command"] == probe

    vols = {v["name"]: v for v in p.volumes}
    assert vols[va.SECRETS_VOLUME]["empty_dir"] == {"medium": "Memory", "size_limit": va.SECRETS_SIZE_LIMIT}
    assert vols[va.CONFIG_VOLUME]["config_map"]["name"] == p.config_map_name
    (src,) = vols[va.TOKEN_VOLUME]["projected"]["sources"]
    assert src["service_account_token"] == {"audience": "vault", "expiration_seconds": 600, "path": "token"}
    car_mounts = {m["name"]: m for m in car["volume_mounts"]}
    assert car_mounts[va.TOKEN_VOLUME]["mount_path"] == "/var/run/secrets/vault"
    assert car_mounts[va.SECRETS_VOLUME]["read_only"] is False

    # The app: the secrets directory and each Score file, read-only; never the token.
    assert all(m["read_only"] for m in p.app_mounts)
    assert {m["name"] for m in p.app_mounts} == {va.SECRETS_VOLUME}
    assert {m["mount_path"]: m.get("sub_path") for m in p.app_mounts} == {
        "/vault/secrets": None,
        "/etc/demo/config.yaml": "files/etc/demo/config.yaml",
    }
    assert p.app_env == [
        {"name": "DB_PASSWORD_FILE", "value": "/vault/secrets/db/password"},
        {"name": "DB_USER_FILE", "value": "/vault/secrets/db/username"},
    ]
    assert va.plain_env(inp) == [{"name": "PORT", "value": "3000"}, {"name": "LOG_FORMAT", "value": "json"}]


def test_every_score_file_is_mounted_from_its_rendered_file() -> None:
    inp = hostile_input()
    p = va.pod_parts(inp)
    rendered = set(va.agent_templates(inp))
    subs = {m["mount_path"]: m["sub_path"] for m in p.app_mounts if "sub_path" in m}
    assert set(subs) == {f.path for f in inp.files}
    for path, sub in subs.items():
        assert f"{va.SECRETS_DIR}/{sub}" in rendered and sub == "files" + path


def test_mixed_variable_renders_to_its_own_file() -> None:
    inp = hostile_input()
    env = {e["name"]: e["value"] for e in va.pod_parts(inp).app_env}
    assert env == {
        "DB_PASSWORD_FILE": "/vault/secrets/db/password",
        "DSN_FILE": "/vault/secrets/vars/DSN",
        "API_TOKEN_FILE": "/vault/secrets/api/token",
    }
    dsn = va.agent_templates(inp)["/vault/secrets/vars/DSN"]
    assert dsn.startswith("postgres://{{ with secret ") and dsn.endswith("@db:5432/shop?x='y'&h=$HOME")
    # MODE has no placeholder: a plain variable, Score's $$ unescaped, every $ doubled for Kubernetes.
    assert va.plain_env(inp) == [{"name": "MODE", "value": "plain $$literal"}]


# --------------------------------------------------------------------------------------------------
# Unit: escaping
# --------------------------------------------------------------------------------------------------
def test_literal_template_braces_and_score_escape_survive() -> None:
    text = va.agent_templates(hostile_input())["/vault/secrets/files/etc/shop/config.yaml"]
    assert '{{"{{"}} not a template }}' in text
    assert "${resources.db.password}" in text and "$${" not in text  # $$ is Score's literal $


@pytest.mark.parametrize(
    ("value", "expected"),
    [("plain", '"plain"'), ('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), ("https://v:8200", '"https://v:8200"')],
)
def test_hcl_string_escapes(value: str, expected: str) -> None:
    assert va.hcl_string(value) == expected


@pytest.mark.parametrize("value", ["a\nb", "x${y}", "x%{y}", "tab\there"])
def test_hcl_string_refuses_what_hcl_would_interpret(value: str) -> None:
    with pytest.raises(ValueError, match="accepted"):
        va.hcl_string(value)


def _emulate_env_file(inp: va.AgentInput, values: dict[tuple[str, str], str]) -> str:
    """What consul-template renders for the env file, emulated: each secret action replaced by the
    value with Go's strings.ReplaceAll(value, "'", "'\\''") (what the template's replaceAll calls)."""
    text = va.agent_templates(inp)[va.ENV_FILE]
    for (res, key), value in values.items():
        action = (
            f'{{{{ with secret "{va.secret_path(inp, res)}" }}}}'
            f"{{{{ .Data.data.{key} | replaceAll \"'\" \"'\\\\''\" }}}}{{{{ end }}}}"
        )
        text = text.replace(action, value.replace("'", "'\\''"))
    return text.replace('{{"{{"}}', "{{")


def _fuzz_values(n: int = 60) -> list[str]:
    """Seeded random strings over the characters shells and templates care about, plus any printable."""
    rng = random.Random(16)
    special = "'\"$`\\\n\t {}()|;&<>*?[]#~=%!^"
    pool = special * 4 + "".join(chr(c) for c in range(0x20, 0x7F)) + "é€😀"
    return [HOSTILE, "", "'", "''", "\n", "$", "{{", "}}"] + [
        "".join(rng.choice(pool) for _ in range(rng.randint(1, 40))) for _ in range(n)
    ]


def test_env_file_quoting_holds_for_any_value(tmp_path: Path) -> None:
    """Every value comes back byte for byte from `. env; printf %s "$VAR"` (one shell per value)."""
    inp = hostile_input()
    for i, value in enumerate(_fuzz_values()):
        path = tmp_path / f"env{i}"
        others = {("db", "username"): value[::-1], ("api", "token"): "t"}
        path.write_text(_emulate_env_file(inp, {("db", "password"): value, **others}), encoding="utf-8")
        out = subprocess.run(
            ["/bin/sh", "-c", '. "$1" && printf %s "$DB_PASSWORD"', "sh", str(path)],
            capture_output=True,
            timeout=30,
            check=True,
        )
        assert out.stdout.decode("utf-8") == value, (i, value)


# --------------------------------------------------------------------------------------------------
# Unit: bad input
# --------------------------------------------------------------------------------------------------
def test_check_names_every_problem() -> None:
    bad = hostile_input(
        secrets=(SecretResource("env", ("x",)), SecretResource("db", ("1pass", "username", "password"))),
        variables={"A": "${resources.db.nope}", "B": "${resources.db.username}", "B_FILE": "x"},
        files=(ContainerFile("/etc/a", "x", "rw"), ContainerFile("/etc/a/b", "y"), ContainerFile("/etc//c", "z")),
        format="yaml",
        render_interval="soon",
        vault_address="vault:8200",
        role='r"\n',
    )
    problems = "\n".join(va.check(bad))
    for needle in (
        "resources.env: the name 'env'",
        "resources.db.params.keys: '1pass'",
        "variables.A: ${resources.db.nope} is not a declared secret key",
        "variables.B: holds secret placeholders, so the platform sets B_FILE",
        "files./etc/a.mode: 'rw'",
        "files./etc/a: is a file, but /etc/a/b is declared inside it",
        "secrets.agentFormat: 'yaml'; accepted: files, env",
        "secrets.renderInterval: 'soon'",
        "vault_address: 'vault:8200'; accepted: an http:// or https:// URL",
        "role: 'r\"\\n': contains a control character",
        "files./etc//c: accepted: a normalised absolute file path",
    ):
        assert needle in problems, (needle, problems)
    with pytest.raises(ValueError, match="invalid Vault Agent input"):
        va.pod_parts(bad)
    assert va.check(hostile_input()) == [] and va.check(demo_input()) == []
    (bad_service,) = va.check(hostile_input(service="Shop\n"))
    assert bad_service.startswith("service: 'Shop\\n'; accepted: a DNS-1123 label of at most 51 characters")
    assert va.check(hostile_input(vault_address="http://vault:8200", ca_file=CA)) == [
        f"ca_file: {CA!r} is set but vault_address 'http://vault:8200' is not https://"
    ]


def test_only_agent_delivery_with_secrets_gets_the_sidecar() -> None:
    spec = demo_spec()
    assert va.needs_agent(spec)
    native = replace(spec, secrets_delivery=replace(spec.secrets_delivery, mode="native"))
    (orders,) = load_services({"orders-api": {}})
    for other in (native, replace(spec, secrets=())):
        assert not va.needs_agent(other)
        with pytest.raises(ValueError, match="needs_agent"):
            va.agent_input(other, vault_address=VAULT, ca_file="", auth_mount="kubernetes", kv_mount="secret")
    assert va.needs_agent(orders) == (orders.secrets_delivery.mode == "agent" and bool(orders.secrets))
    assert "no vault-secret resource" in "\n".join(va.check(hostile_input(secrets=(), variables={}, files=())))


def test_agent_input_refusal_is_a_config_error_naming_the_file() -> None:
    spec = demo_spec()
    bad = replace(
        spec,
        secrets=(SecretResource("files", ("password", "username")),),
        secrets_delivery=replace(spec.secrets_delivery, render_interval="0s"),
    )
    with pytest.raises(ServiceError) as info:
        va.agent_input(bad, vault_address=VAULT, ca_file="", auth_mount="kubernetes", kv_mount="secret")
    assert isinstance(info.value, ConfigError)  # the render prints it and exits 2
    assert info.value.problems[0].startswith("services/go-deployment-demo/score.yaml: resources.files: the name")
    assert (
        "services/go-deployment-demo/score.yaml: containers.*.variables.DB_PASSWORD: ${resources.db.password}"
        in (info.value.problems[1])
    )
    assert info.value.problems[-1].startswith(
        "services/go-deployment-demo/platform.yaml: secrets.renderInterval: '0s'; accepted: a duration"
    )


# --------------------------------------------------------------------------------------------------
# Unit: the policy pack and the Kubernetes schema
# --------------------------------------------------------------------------------------------------
def _deployment(inp: va.AgentInput) -> tuple[dict[str, Any], dict[str, Any]]:
    """The demo's pod as the component builds it: app container + sidecar, in engine (camelCase) form."""
    p = va.pod_parts(inp)
    app = e.container(
        "go-deployment-demo",
        env=camel(p.app_env + va.plain_env(inp)),
        volumeMounts=camel(p.app_mounts),
    )
    spec = e.pod_spec(
        [app], initContainers=[camel(p.sidecar)], volumes=camel(p.volumes), serviceAccountName="go-deployment-demo"
    )
    deployment = e.workload("Deployment", name="go-deployment-demo", namespace=NAMESPACE, spec=spec)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": p.config_map_name, "namespace": NAMESPACE},
        "data": p.config_map_data,
    }
    return deployment, config_map


def _findings(deployment: dict[str, Any], stack: str) -> dict[str, list[str]]:
    """Every resource rule of the pack over the Deployment, with the stack's policy configuration."""
    conf = json.loads((ROOT / "policies" / "config" / f"{stack}.json").read_text())
    out: dict[str, list[str]] = {}
    for rule in registry.RULES:
        if rule.kind != "resource" or e.WORKLOAD_TOKENS["Deployment"] not in rule.applies_to:
            continue
        cfg = conf.get(rule.name)
        config = {k: v for k, v in cfg.items() if k != "enforcementLevel"} if isinstance(cfg, dict) else None
        out[rule.name] = registry.check_resource(rule.name, e.WORKLOAD_TOKENS["Deployment"], deployment, config)
    return out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_sidecar_passes_every_workload_policy(stack: str) -> None:
    """Zero findings from every resource rule, with the Vault image pinned by digest as the pack asks."""
    deployment, _ = _deployment(demo_input(image=f"docker.io/hashicorp/vault:2.1.2@{e.DIGEST}"))
    findings = _findings(deployment, stack)
    assert len(findings) >= 10  # the workload, image and secret rules all looked at it
    assert {k: v for k, v in findings.items() if v} == {}


def test_with_the_pinned_image_only_the_advisory_digest_rule_remarks() -> None:
    """versions.image("vault") carries a tag, no digest (the Vault server's own image too): the one
    remark is the advisory images-pinned-by-digest, about the image, not the sidecar."""
    deployment, _ = _deployment(demo_input())
    conf = json.loads((ROOT / "policies" / "config" / "prod.json").read_text())
    remarks = {k for k, v in _findings(deployment, "prod").items() if v}
    assert remarks == {"images-pinned-by-digest"} and conf["images-pinned-by-digest"] == "advisory"


def test_a_broken_sidecar_is_caught_by_the_pack() -> None:
    """The policy test above can fail: the same pod with the sidecar's hardening removed does."""
    deployment, _ = _deployment(demo_input())
    car = deployment["spec"]["template"]["spec"]["initContainers"][0]
    del car["livenessProbe"]
    car["securityContext"]["allowPrivilegeEscalation"] = True
    found = {
        r.name
        for r in registry.RULES
        if r.kind == "resource" and registry.check_resource(r.name, e.WORKLOAD_TOKENS["Deployment"], deployment)
    }
    assert {"workload-probes", "workload-no-privilege-escalation"} <= found


def test_rollout_carrying_the_sidecar_validates_against_the_rollout_crd() -> None:
    """Services run as Argo Rollouts: the vendored CRD's strict schema keeps restartPolicy (a pruned one
    would turn the sidecar into an init container that never ends)."""
    deployment, _ = _deployment(demo_input())
    rollout = e.workload(
        "Rollout",
        name="go-deployment-demo",
        namespace=NAMESPACE,
        spec=deployment["spec"]["template"]["spec"],
        extra_spec={"strategy": {"canary": {"steps": [{"setWeight": 20.0}, {"pause": {"duration": "1m"}}]}}},
    )
    validate_custom_resource(rollout)
    car = dict(rollout["spec"]["template"]["spec"]["initContainers"][0], unknownField=True)
    rollout["spec"]["template"]["spec"]["initContainers"] = [car]
    with pytest.raises(jsonschema.ValidationError):  # the schema is strict: the check can fail
        validate_custom_resource(rollout)


@pytest.mark.tools
def test_pod_with_sidecar_validates_strictly(tmp_path: Path) -> None:
    deployment, config_map = _deployment(demo_input())
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump_all([config_map, deployment]))
    exe = Path(sys.executable).parent / "kubernetes-validate"
    validator = str(exe) if exe.exists() else shutil.which("kubernetes-validate")
    assert validator, "kubernetes-validate is not installed (requirements-dev.txt)"
    proc = subprocess.run(
        [validator, "--strict", "--quiet", "-k", "1.35.0", str(path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------------
# Server: the real bao agent against a real OpenBao with real Kubernetes auth
# --------------------------------------------------------------------------------------------------
TLS_HCL = """\
storage "raft" {
  path    = "{{DATA_DIR}}"
  node_id = "test-node-0"
}
listener "tcp" {
  address         = "127.0.0.1:{{PORT}}"
  cluster_address = "127.0.0.1:{{CLUSTER_PORT}}"
  tls_cert_file   = "TLS_DIR/tls.crt"
  tls_key_file    = "TLS_DIR/tls.key"
}
disable_mlock = true
api_addr      = "{{ADDR}}"
cluster_addr  = "{{CLUSTER_ADDR}}"
"""


@dataclass
class Cluster:
    bao: OpenBao
    root: hvac.Client
    key: Any
    ca_file: Path
    tokenreview: s.TokenReviewApi


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("agent-cluster")
    tls = base / "tls"
    write_tls_files(tls, ["vault.vault.svc"])
    key = rsa_key()
    with (
        s.TokenReviewApi(key, tls) as api,
        openbao(base / "bao", TLS_HCL.replace("TLS_DIR", str(tls)), ca_cert=tls / "ca.crt") as bao,
    ):
        keys, root_token = bao.init()
        bao.unseal(keys)
        root = bao.client(root_token)
        root.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        root.sys.enable_auth_method("kubernetes", path="kubernetes")
        root.write_data(
            "auth/kubernetes/config",
            data={
                "kubernetes_host": api.url,
                "kubernetes_ca_cert": (tls / "ca.crt").read_text(),
                "disable_local_ca_jwt": True,
            },
        )
        yield Cluster(bao, root, key, tls / "ca.crt", api)


def _onboard(c: Cluster, inp: va.AgentInput, secrets: dict[str, dict[str, str]]) -> None:
    """What the platform's Vault configuration does for a service: a read policy on its KV prefix and a
    Kubernetes role bound to its service account with audience vault (the reconcile tool's body)."""
    policy = f"{inp.service}-read"
    c.root.sys.create_or_update_policy(
        policy, f'path "{inp.kv_mount}/data/{inp.secrets_prefix}/{inp.service}/*" {{ capabilities = ["read"] }}\n'
    )
    role = dc.kubernetes_role(
        inp.role, NAMESPACE, service_account=inp.service, policies=[policy], audience=inp.token_audience
    )
    c.root.write_data(f"auth/{inp.auth_mount}/role/{inp.role}", data=role_body("kubernetes", role))
    for res, data in secrets.items():
        c.root.secrets.kv.v2.create_or_update_secret(
            path=f"{inp.secrets_prefix}/{inp.service}/{res}", secret=data, mount_point=inp.kv_mount
        )


def _start(c: Cluster, inp: va.AgentInput, tmp: Path, interval: str = "2s") -> tuple[va.AgentInput, Path, Path]:
    token = tmp / "token" / "token"
    token.parent.mkdir(parents=True)
    token.write_text(s.service_account_token(c.key, NAMESPACE, inp.service, audience=inp.token_audience))
    test_inp = s.for_test(inp, address=c.bao.addr, ca_file=str(c.ca_file), token_path=token, interval=interval)
    config, secrets_dir = s.adapted_agent_files(test_inp, tmp)
    return test_inp, config, secrets_dir


@pytest.mark.server
def test_real_agent_renders_the_demo_secrets_and_follows_rotation(cluster: Cluster, tmp_path: Path) -> None:
    inp = demo_input()
    _onboard(cluster, inp, {"db": {"username": "demo", "password": "first-Pa55"}})
    test_inp, config, secrets_dir = _start(cluster, inp, tmp_path)
    assert not s.probe_passes(test_inp, secrets_dir)  # nothing rendered: the app container would not start
    with s.bao_agent(config, tmp_path / "agent.log") as agent:
        agent.wait_ready(lambda: s.probe_passes(test_inp, secrets_dir), timeout=60, what="every template rendered")
        files = {p: s.local_path(p, secrets_dir) for p in va.agent_templates(test_inp)}
        assert files["/vault/secrets/db/password"].read_text() == "first-Pa55"
        assert files["/vault/secrets/db/username"].read_text() == "demo"
        assert files["/vault/secrets/files/etc/demo/config.yaml"].read_text() == (
            'listen: ":3000"\ndatabase:\n  user: demo\n  password: first-Pa55\n'
        )
        assert oct(files["/vault/secrets/files/etc/demo/config.yaml"].stat().st_mode & 0o777) == "0o440"
        assert oct(files["/vault/secrets/db/password"].stat().st_mode & 0o777) == "0o400"
        # No token sink: only the rendered files are in the secrets volume.
        on_disk = {str(p.relative_to(secrets_dir)) for p in secrets_dir.rglob("*") if p.is_file()}
        assert on_disk == {p.removeprefix(va.SECRETS_DIR + "/") for p in files}

        # Rotation: a new KV version reaches the files at the next render (interval 2 s; the default 5 m
        # would never show it within this wait).
        cluster.root.secrets.kv.v2.create_or_update_secret(
            path="apps/go-deployment-demo/db", secret={"username": "demo", "password": "second-Pa55"}
        )
        wait_until(
            lambda: files["/vault/secrets/db/password"].read_text() == "second-Pa55", 30, what="the rotated password"
        )
        wait_until(lambda: "second-Pa55" in files["/vault/secrets/env"].read_text(), 30, what="the rotated env file")
        assert agent.running()
    log = (tmp_path / "agent.log").read_text()
    assert "first-Pa55" not in log and "second-Pa55" not in log  # secrets never reach the agent's log
    assert cluster.tokenreview.reviews and all(r["audiences"] == ["vault"] for r in cluster.tokenreview.reviews)


@pytest.mark.server
def test_real_agent_env_file_and_files_keep_hostile_values(cluster: Cluster, tmp_path: Path) -> None:
    inp = hostile_input()
    values = {"db": {"username": "us'er$1", "password": HOSTILE}, "api": {"token": 't0k"en{{x}}\n'}}
    _onboard(cluster, inp, values)
    test_inp, config, secrets_dir = _start(cluster, inp, tmp_path)
    with s.bao_agent(config, tmp_path / "agent.log") as agent:
        agent.wait_ready(lambda: s.probe_passes(test_inp, secrets_dir), timeout=60, what="every template rendered")
        env_file = s.local_path(va.ENV_FILE, secrets_dir)
        for var, expected in {
            "DB_PASSWORD": HOSTILE,
            "API_TOKEN": 't0k"en{{x}}\n',
            "DSN": f"postgres://us'er$1:{HOSTILE}@db:5432/shop?x='y'&h=$HOME",
        }.items():
            out = subprocess.run(
                ["/bin/sh", "-c", f'. "$1" && printf %s "${var}"', "sh", str(env_file)],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            assert out.stdout == expected, var
            # The _FILE variable's target holds the same value.
            target = next(x["value"] for x in va.pod_parts(test_inp).app_env if x["name"] == f"{var}_FILE")
            assert s.local_path(target, secrets_dir).read_text() == expected
        config_yaml = s.local_path(va.rendered_file("/etc/shop/config.yaml"), secrets_dir).read_text()
        assert config_yaml == (
            'user: "us\'er$1"\nliteral: "{{ not a template }} ${resources.db.password}"\n'
        )  # literal braces and Score's $$ escape survive; no secret where none was asked for
        assert s.local_path(va.rendered_file("/etc/shop/token"), secrets_dir).read_text() == 't0k"en{{x}}\n'


@pytest.mark.server
def test_rotation_follows_the_configured_interval_not_something_else(cluster: Cluster, tmp_path: Path) -> None:
    """The control for the rotation test: with a 1 h interval a new version does not show within 6 s
    (three 2 s intervals), so it is the configured interval that brings rotation there."""
    inp = demo_input(role="demo-slow")
    _onboard(cluster, inp, {"db": {"username": "demo", "password": "slow-1"}})
    test_inp, config, secrets_dir = _start(cluster, inp, tmp_path, interval="1h")
    with s.bao_agent(config, tmp_path / "agent.log") as agent:
        agent.wait_ready(lambda: s.probe_passes(test_inp, secrets_dir), timeout=60, what="every template rendered")
        password = s.local_path("/vault/secrets/db/password", secrets_dir)
        assert password.read_text() == "slow-1"
        cluster.root.secrets.kv.v2.create_or_update_secret(
            path="apps/go-deployment-demo/db", secret={"username": "demo", "password": "slow-2"}
        )
        with pytest.raises(TimeoutError):
            wait_until(lambda: password.read_text() == "slow-2", 6, what="no re-render before the interval")
        assert agent.running()


@pytest.mark.server
def test_real_agent_fails_loudly_on_a_missing_key(cluster: Cluster, tmp_path: Path) -> None:
    inp = hostile_input(service="shop-missing", role="shop-missing")
    _onboard(cluster, inp, {"db": {"username": "u"}, "api": {"token": "t"}})  # no password in Vault
    test_inp, config, secrets_dir = _start(cluster, inp, tmp_path)
    with s.bao_agent(config, tmp_path / "agent.log") as agent:
        wait_until(lambda: not agent.running(), 60, what="the agent to exit on the missing key")
        assert agent.proc is not None and agent.proc.returncode != 0
    assert not s.probe_passes(test_inp, secrets_dir)  # the app container would never start on it
    assert not s.local_path("/vault/secrets/db/password", secrets_dir).exists()
    log = (tmp_path / "agent.log").read_text()
    assert "map has no entry for key" in log and "password" in log


@pytest.mark.server
@pytest.mark.parametrize("case", ["another service account", "another audience", "another signing key", "expired"])
def test_kubernetes_auth_refuses_tokens_the_api_server_would_not_accept(cluster: Cluster, case: str) -> None:
    """The TokenReview stand-in is no rubber stamp: the real auth method, through it, refuses these."""
    inp = demo_input()
    _onboard(cluster, inp, {"db": {"username": "demo", "password": "x"}})
    key, name, audience, ttl = cluster.key, inp.service, "vault", 600
    if case == "another service account":
        name = "orders-api"
    elif case == "another audience":
        audience = "https://kubernetes.default.svc.cluster.local"
    elif case == "another signing key":
        key = rsa_key()
    else:
        ttl = -120
    token = s.service_account_token(key, NAMESPACE, name, audience=audience, ttl=ttl)
    with pytest.raises(hvac.exceptions.Forbidden):
        cluster.bao.client().auth.kubernetes.login(inp.role, token)
    good = s.service_account_token(cluster.key, NAMESPACE, inp.service)
    assert cluster.bao.client().auth.kubernetes.login(inp.role, good)["auth"]["client_token"]

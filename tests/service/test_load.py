"""Service definitions: Score workload + platform section + stack overrides into a ServiceSpec, and every bad
definition refused with the file and the field named."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from components.service import load
from components.service.load import ServiceError, load_services
from tests.conftest import ROOT
from tests.service.stacks import edit_yaml, project_copy
from tools import render


def test_the_two_services_load_with_their_own_conventions() -> None:
    orders, demo = load_services({"orders-api": {"tag": "1.2.3", "replicas": 3}, "go-deployment-demo": {}}, ROOT)
    assert orders.image == "ghcr.io/example-org/orders-api:1.2.3" and orders.replicas == 3
    assert orders.sli.status_label == "status" and orders.secrets_delivery.mode == "native"
    assert demo.sli.status_label == "code" and demo.http_port.target_port == 3000
    assert demo.namespace == "demo" and demo.secrets_delivery.mode == "agent"
    assert {s.kind: s.objective_percent for s in demo.slos} == {"availability": 99.5, "latency": 99.0}
    assert demo.container.variables["DB_PASSWORD"] == "${resources.db.password}"
    assert demo.repository.language == "go" and demo.repository.test_command == "go test ./..."


def test_where_the_definition_is_silent_the_platform_defaults_apply(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "services" / "tiny").mkdir(parents=True)
    (root / "services" / "tiny" / "score.yaml").write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: tiny}\n"
        "containers: {main: {image: 'ghcr.io/acme/tiny:0.1.0'}}\nservice: {ports: {http: {port: 8080}}}\n"
    )
    (root / "services" / "tiny" / "platform.yaml").write_text(
        "apiVersion: hardening/v1\nkind: ServicePlatform\nteam: acme\ncostCenter: cc-acme\n"
        "repository: {owner: acme, name: tiny}\n"
    )
    (spec,) = load_services({"tiny": {}}, root)
    assert spec.namespace == "acme"  # the team's namespace
    assert spec.sli.duration_histogram == "http_server_request_duration_seconds"  # OpenTelemetry conventions
    assert spec.sli.status_label == "http_response_status_code"
    assert [s.objective_percent for s in spec.slos] == [99.9]
    assert spec.container.resources.cpu_limit == "500m" and spec.run_as_user == 10001
    assert spec.delivery.strategy == "canary" and spec.secrets_delivery.mode == "agent"


def _broken(tmp_path: Path, service: str, file: str, change: Any) -> Path:
    return project_copy(tmp_path, lambda r: edit_yaml(r / "services" / service / file, change))


CASES: dict[str, tuple[str, str, Any, str]] = {
    "score schema violation": (
        "orders-api",
        "score.yaml",
        lambda d: d["containers"]["main"].__setitem__("imagee", "x"),
        r"services/orders-api/score\.yaml: containers\.main: Additional properties are not allowed \('imagee'",
    ),
    "probe on an undeclared port": (
        "orders-api",
        "score.yaml",
        lambda d: d["containers"]["main"]["readinessProbe"]["httpGet"].__setitem__("port", 9999),
        r"services/orders-api/score\.yaml: containers\.main\.readinessProbe\.httpGet\.port: 9999 is not a declared "
        r"port; declared container ports \(service\.ports targetPort\): 8080",
    ),
    "SLO outside (0, 100)": (
        "orders-api",
        "platform.yaml",
        lambda d: d["slos"][0].__setitem__("objective", 100),
        r"services/orders-api/platform\.yaml: slos\[0\]\.objective: 100; accepted: a percentage above 0 and below 100",
    ),
    "namespace clash with the platform": (
        "orders-api",
        "platform.yaml",
        lambda d: d.__setitem__("namespace", "monitoring"),
        r"services/orders-api/platform\.yaml: namespace: 'monitoring' is a platform or reserved namespace",
    ),
    "kube-system": (
        "orders-api",
        "platform.yaml",
        lambda d: d.__setitem__("namespace", "kube-system"),
        r"namespace: 'kube-system' is a platform or reserved namespace",
    ),
    "another team's namespace": (
        "go-deployment-demo",
        "platform.yaml",
        lambda d: d.__setitem__("namespace", "web"),
        r"services/go-deployment-demo/platform\.yaml: namespace: 'web' belongs to team 'web'",
    ),
    "placeholder to nothing": (
        "go-deployment-demo",
        "score.yaml",
        lambda d: d["containers"]["main"]["variables"].__setitem__("TOKEN", "${resources.cache.token}"),
        r"services/go-deployment-demo/score\.yaml: containers\.main\.variables\.TOKEN: \$\{resources\.cache\.token\} "
        r"refers to resource 'cache', which is not declared; declared vault-secret resources: db",
    ),
    "placeholder to a missing key": (
        "go-deployment-demo",
        "score.yaml",
        lambda d: d["containers"]["main"]["variables"].__setitem__("X", "${resources.db.token}"),
        r"refers to key 'token' of 'db', which lists only username, password",
    ),
    "a resource type the platform does not provide": (
        "go-deployment-demo",
        "score.yaml",
        lambda d: d["resources"].__setitem__("cache", {"type": "redis"}),
        r"services/go-deployment-demo/score\.yaml: resources\.cache\.type: 'redis' is not a resource type this "
        r"platform provides; accepted: vault-secret",
    ),
    "two services with the same name": (
        "go-deployment-demo",
        "score.yaml",
        lambda d: d["metadata"].__setitem__("name", "orders-api"),
        r"services/go-deployment-demo/score\.yaml: metadata\.name: 'orders-api' differs from its folder",
    ),
    "exec probe": (
        "orders-api",
        "score.yaml",
        lambda d: d["containers"]["main"].__setitem__("livenessProbe", {"exec": {"command": ["true"]}}),
        r"livenessProbe\.exec: exec probes are not provided by the platform; accepted: httpGet",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_definitions_exit_2_naming_file_and_field_and_write_nothing(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    service, file, change, message = CASES[case]
    root = _broken(tmp_path, service, file, change)
    with pytest.raises(ServiceError, match=message):
        load_services({"orders-api": {}, "go-deployment-demo": {}}, root)
    out = tmp_path / "dist"
    code = render.render("prod", out, stream=io.StringIO(), root=root, policy=False)
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tag": "latest"}, r"hardening:services\.orders-api\.tag: 'latest'; accepted: an immutable image tag"),
        ({"replicas": 0}, r"hardening:services\.orders-api\.replicas: 0; accepted: an integer from 1 to 100"),
        ({"maxReplicas": 2, "replicas": 3}, r"maxReplicas: 2 is below replicas 3"),
        ({"colour": "blue"}, r"hardening:services\.orders-api\.colour: unknown key; accepted: tag, replicas"),
        ({"host": "not a host"}, r"hardening:services\.orders-api\.host: 'not a host'"),
        ({"resources": "cpu=1"}, r"hardening:services\.orders-api\.resources: 'cpu=1'"),
        ({"canary": {"weights": [80, 20]}}, r"canary\.weights: \[80, 20\]; accepted: integer weights strictly"),
        ({"tag": "1.0.0é"}, r"hardening:services\.orders-api\.tag: '1\.0\.0é'; accepted: an immutable image tag"),
    ],
)
def test_stack_overrides_are_typed_and_unknown_keys_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        load_services({"orders-api": overrides}, ROOT)


def test_a_service_without_a_folder_names_the_ones_there() -> None:
    with pytest.raises(
        ServiceError,
        match=r"hardening:services\.billing: no folder services/billing/; available "
        r"services: go-deployment-demo, orders-api",
    ):
        load_services({"billing": {}}, ROOT)


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    def both(root: Path) -> None:
        edit_yaml(root / "services/orders-api/platform.yaml", lambda d: d["slos"][0].__setitem__("objective", 0))
        edit_yaml(root / "services/go-deployment-demo/platform.yaml", lambda d: d.__setitem__("namespace", "vault"))

    with pytest.raises(ServiceError) as info:
        load_services({"orders-api": {}, "go-deployment-demo": {}}, project_copy(tmp_path, both))
    assert len(info.value.problems) == 2, info.value.problems


def test_derived_names_fit_their_limits() -> None:
    assert load.MAX_NAME + len("-preview") == 63


def test_a_service_name_must_start_with_a_letter(tmp_path: Path) -> None:
    """Kubernetes Service names are DNS-1035 labels: `1orders` would render a Service the API server refuses."""

    def rename(root: Path) -> None:
        (root / "services" / "orders-api").rename(root / "services" / "1orders")
        edit_yaml(root / "services/1orders/score.yaml", lambda d: d["metadata"].__setitem__("name", "1orders"))

    with pytest.raises(
        ServiceError, match=r"services/1orders/score\.yaml: metadata\.name: '1orders'; accepted: a DNS-1035"
    ):
        load_services({"1orders": {}}, project_copy(tmp_path, rename))


def test_a_trailing_newline_in_the_platform_section_is_refused(tmp_path: Path) -> None:
    """`repository.name: "orders-api\\n"` would otherwise reach the CI roles' bound claims."""
    root = _broken(
        tmp_path, "orders-api", "platform.yaml", lambda d: d["repository"].__setitem__("name", "orders-api\n")
    )
    with pytest.raises(
        ServiceError, match=r"platform\.yaml: repository\.name: 'orders-api\\n'; accepted: a single line"
    ):
        load_services({"orders-api": {}}, root)


def test_a_name_too_long_for_its_derived_names_is_refused(tmp_path: Path) -> None:
    name = "a" * 63

    def rename(root: Path) -> None:
        (root / "services" / "orders-api").rename(root / "services" / name)
        edit_yaml(root / f"services/{name}/score.yaml", lambda d: d["metadata"].__setitem__("name", name))

    root = project_copy(tmp_path, rename)
    with pytest.raises(ServiceError, match=rf"metadata\.name: '{name}'; accepted: .* of at most 55 characters"):
        load_services({name: {}}, root)

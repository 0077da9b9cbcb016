"""Run the real Prometheus tools on the rendered monitoring configuration.

Debian's Prometheus 2.42 is built without Kubernetes service discovery, so ``swap_discovery`` replaces
each job's ``kubernetes_sd_configs`` with ``file_sd_configs`` whose target groups carry the
``__meta_kubernetes_*`` labels Kubernetes SD would give representative pods and nodes (``pod_targets``,
``node_target``, ``endpointslice_targets``). Prometheus then applies the rendered relabeling unchanged.
Every address is on 127.0.0.0/8: scrapes never leave the machine.
"""

from __future__ import annotations

import copy
import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from components.monitoring.scrape import meta_name, to_yaml
from tests.support.procs import Server, free_port, http_ok

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
AMTOOL = "/usr/bin/amtool"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


# --------------------------------------------------------------------------------------------------
# Representative Kubernetes SD target groups
# --------------------------------------------------------------------------------------------------
@dataclass
class Container:
    name: str
    ports: Sequence[tuple[str, int]] = ()
    init: bool = False


@dataclass
class Pod:
    name: str
    namespace: str
    ip: str
    containers: Sequence[Container]
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    phase: str = "Running"
    node: str = "node-a"


def _pod_meta(pod: Pod) -> dict[str, str]:
    meta = {
        "__meta_kubernetes_namespace": pod.namespace,
        "__meta_kubernetes_pod_name": pod.name,
        "__meta_kubernetes_pod_ip": pod.ip,
        "__meta_kubernetes_pod_phase": pod.phase,
        "__meta_kubernetes_pod_ready": "true" if pod.phase == "Running" else "false",
        "__meta_kubernetes_pod_node_name": pod.node,
        "__meta_kubernetes_pod_host_ip": "127.0.0.250",
        "__meta_kubernetes_pod_uid": f"uid-{pod.name}",
        "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
        "__meta_kubernetes_pod_controller_name": pod.name.rsplit("-", 1)[0],
    }
    for key, value in pod.labels.items():
        meta[f"__meta_kubernetes_pod_label_{meta_name(key)}"] = value
        meta[f"__meta_kubernetes_pod_labelpresent_{meta_name(key)}"] = "true"
    for key, value in pod.annotations.items():
        meta[f"__meta_kubernetes_pod_annotation_{meta_name(key)}"] = value
        meta[f"__meta_kubernetes_pod_annotationpresent_{meta_name(key)}"] = "true"
    return meta


def pod_targets(pod: Pod) -> list[dict[str, Any]]:
    """What Kubernetes SD (role pod) yields: one target per container port, one per port-less container."""
    groups = []
    for c in pod.containers:
        base = {
            **_pod_meta(pod),
            "__meta_kubernetes_pod_container_name": c.name,
            "__meta_kubernetes_pod_container_image": f"example/{c.name}:1.0",
            "__meta_kubernetes_pod_container_init": "true" if c.init else "false",
        }
        if not c.ports:
            groups.append({"targets": [pod.ip], "labels": base})
        for port_name, number in c.ports:
            groups.append(
                {
                    "targets": [f"{pod.ip}:{number}"],
                    "labels": {
                        **base,
                        "__meta_kubernetes_pod_container_port_name": port_name,
                        "__meta_kubernetes_pod_container_port_number": str(number),
                        "__meta_kubernetes_pod_container_port_protocol": "TCP",
                    },
                }
            )
    return groups


def endpointslice_targets(
    service: str, service_labels: Mapping[str, str], port_name: str, port: int, pods: Sequence[Pod]
) -> list[dict[str, Any]]:
    """What Kubernetes SD (role endpointslice) yields for a Service backed by ``pods``."""
    groups = []
    for pod in pods:
        labels = {
            **_pod_meta(pod),
            "__meta_kubernetes_service_name": service,
            "__meta_kubernetes_endpointslice_name": f"{service}-abcde",
            "__meta_kubernetes_endpointslice_port_name": port_name,
            "__meta_kubernetes_endpointslice_port": str(port),
            "__meta_kubernetes_endpointslice_port_protocol": "TCP",
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
            "__meta_kubernetes_pod_container_name": pod.containers[0].name,
        }
        for key, value in service_labels.items():
            labels[f"__meta_kubernetes_service_label_{meta_name(key)}"] = value
        groups.append({"targets": [f"{pod.ip}:{port}"], "labels": labels})
    return groups


def node_target(name: str, ip: str, port: int = 10250) -> dict[str, Any]:
    """What Kubernetes SD (role node) yields: the kubelet endpoint of the node."""
    return {
        "targets": [f"{ip}:{port}"],
        "labels": {
            "__meta_kubernetes_node_name": name,
            "__meta_kubernetes_node_address_InternalIP": ip,
            "__meta_kubernetes_node_address_Hostname": name,
            "__meta_kubernetes_node_label_kubernetes_io_hostname": name,
            "__meta_kubernetes_node_labelpresent_kubernetes_io_hostname": "true",
        },
    }


# --------------------------------------------------------------------------------------------------
# Rewriting the rendered configuration for this machine
# --------------------------------------------------------------------------------------------------
def swap_discovery(
    config: Mapping[str, Any],
    tmp: Path,
    groups: Mapping[str, list[dict[str, Any]]],
    alertmanager_groups: list[dict[str, Any]] | None = None,
    rules_dir: Path | None = None,
) -> dict[str, Any]:
    """A copy of ``config`` where every ``kubernetes_sd_configs`` becomes a ``file_sd_configs`` file.

    ``groups`` maps job name to its target groups (jobs not listed get none); files the config reads
    (service account token, CA) point to a dummy in ``tmp`` and the system CA bundle; ``rule_files`` to ``rules_dir``.
    Nothing else changes: relabeling, paths, schemes, intervals stay as rendered.
    """
    cfg = copy.deepcopy(dict(config))
    sd_dir = tmp / "sd"
    sd_dir.mkdir(parents=True, exist_ok=True)
    dummy = tmp / "dummy-credential"
    dummy.write_text("dummy\n")
    unknown = set(groups) - {j["job_name"] for j in cfg["scrape_configs"]}
    if unknown:
        raise KeyError(f"no scrape job named {sorted(unknown)}")

    def swap(section: dict[str, Any], name: str, target_groups: list[dict[str, Any]]) -> None:
        assert "kubernetes_sd_configs" in section, f"{name} has no kubernetes_sd_configs"
        del section["kubernetes_sd_configs"]
        path = sd_dir / f"{name}.json"
        path.write_text(json.dumps(target_groups))
        section["file_sd_configs"] = [{"files": [str(path)], "refresh_interval": "1s"}]
        if "credentials_file" in section.get("authorization", {}):
            section["authorization"]["credentials_file"] = str(dummy)
        if "ca_file" in section.get("tls_config", {}):
            section["tls_config"]["ca_file"] = CA_BUNDLE  # must parse as PEM; never used (nothing listens)

    for job in cfg["scrape_configs"]:
        if "static_configs" in job and "kubernetes_sd_configs" not in job:
            continue  # the blackbox job: static targets, already what Prometheus scrapes (its exporter's address)
        swap(job, job["job_name"], groups.get(job["job_name"], []))
    for i, am in enumerate(cfg.get("alerting", {}).get("alertmanagers", [])):
        swap(am, f"alertmanagers-{i}", alertmanager_groups or [])
    if rules_dir is not None:
        cfg["rule_files"] = [str(rules_dir / "*.yaml")]
    return cfg


def write_rules(files: Mapping[str, Mapping[str, Any]], rules_dir: Path) -> list[Path]:
    rules_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in files.items():
        path = rules_dir / name
        path.write_text(to_yaml(content))
        paths.append(path)
    return paths


def run_tool(argv: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


# --------------------------------------------------------------------------------------------------
# Real servers
# --------------------------------------------------------------------------------------------------
def get_json(url: str, params: Mapping[str, str] | None = None, timeout: float = 5.0) -> Any:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"tests only talk to loopback, not {url}")
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read())


class _LoopbackServer:
    """A Debian server binary on a free loopback port, configured by a YAML file, ready on ``/-/ready``."""

    binary: str
    config_name: str

    def __init__(self, config: Mapping[str, Any], tmp: Path, extra_args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = tmp / self.config_name
        self.config_path.write_text(to_yaml(config))
        self.server = Server(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *extra_args,
                "--log.level=warn",
            ],
            tmp / f"{Path(self.binary).name}.log",
        )

    def __enter__(self) -> Self:
        self.server.start()
        self.server.wait_ready(
            lambda: http_ok(f"{self.url}/-/ready"), timeout=60, what=f"{Path(self.binary).name} ready"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


class Prometheus(_LoopbackServer):
    """The Debian Prometheus on a free loopback port with a given configuration."""

    binary = PROMETHEUS
    config_name = "prometheus.yml"

    def __init__(self, config: Mapping[str, Any], tmp: Path) -> None:
        super().__init__(config, tmp, [f"--storage.tsdb.path={tmp / 'tsdb'}", "--rules.alert.resend-delay=1s"])

    def api(self, path: str, **params: str) -> Any:
        body = get_json(f"{self.url}/api/v1/{path}", params or None)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]  # type: ignore[no-any-return]


class Alertmanager(_LoopbackServer):
    """The Debian Alertmanager on a free loopback port, clustering off."""

    binary = ALERTMANAGER
    config_name = "alertmanager.yml"

    def __init__(self, config: Mapping[str, Any], tmp: Path) -> None:
        super().__init__(config, tmp, [f"--storage.path={tmp / 'am-data'}", "--cluster.listen-address="])


def promql_errors(prom: Prometheus, exprs: Sequence[str]) -> dict[str, str]:
    """Expressions the real Prometheus refuses, with its error (``{}`` when every one parses)."""
    import urllib.error

    errors: dict[str, str] = {}
    for expr in exprs:
        url = f"{prom.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback only
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            errors[expr] = f"{body.get('errorType')}: {body.get('error')}"
    return errors


def empty_prometheus_config() -> dict[str, Any]:
    return {"global": {"scrape_interval": "15s", "evaluation_interval": "15s"}, "scrape_configs": []}


class WebhookReceiver:
    """A tiny HTTP server on loopback recording every Alertmanager webhook POST (with its arrival time)."""

    def __init__(self) -> None:
        import http.server
        import threading
        import time

        received: list[tuple[float, dict[str, Any]]] = []
        self.received = received
        self._lock = threading.Lock()
        lock = self._lock

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    received.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/alerts"
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def alerts(self, status: str = "firing") -> list[tuple[float, dict[str, Any]]]:
        """(arrival time, alert) for every alert with ``status`` in every notification so far."""
        with self._lock:
            return [(t, a) for t, msg in self.received for a in msg["alerts"] if a["status"] == status]


def post_json(url: str, payload: Any) -> int:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"tests only talk to loopback, not {url}")
    req = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
        return int(resp.status)


class FakeExporter:
    """A loopback HTTP server answering ``GET <path>`` with Prometheus text from ``routes[path](query)``
    (query parameters as a dict of lists); anything else is a 404. Stands in for an exporter whose *series*
    matter to a test (their names and labels), so the relabeling and the queries on them run for real."""

    def __init__(self, routes: Mapping[str, Any], tls: tuple[Path, Path] | None = None) -> None:
        import http.server
        import ssl
        import threading

        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(parsed.query)
                seen.append((parsed.path, query))
                route = routes.get(parsed.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = (route(query) if callable(route) else route).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if tls:  # e.g. the kubelet: HTTPS with a self-signed certificate (the rendered job skips verification)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeExporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def self_signed_certificate(tmp: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for 127.0.0.1 (openssl), for a fake HTTPS exporter."""
    cert, key = tmp / "fake.crt", tmp / "fake.key"
    result = run_tool(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return cert, key

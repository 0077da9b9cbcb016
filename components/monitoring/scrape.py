"""The Prometheus configuration: global settings, alerting, rule files and every scrape job.

``prometheus_config(...)`` returns the configuration as a plain dict (``to_yaml`` renders it). Jobs:

- ``kubernetes-pods``: pods that opt in with the ``prometheus.io/*`` annotations of
  ``components.conventions`` (scrape, port, path, scheme). Pending/Succeeded/Failed pods and init
  containers are skipped; when ``prometheus.io/port`` is set only that port is scraped, otherwise every
  declared container port. Series get ``namespace``, ``pod``, ``container``, ``node``, ``app`` (pod label
  ``app``, else ``app.kubernetes.io/name``) and ``rollouts_pod_template_hash`` (the Argo Rollouts pod label).
- ``kube-state-metrics`` (``honor_labels``: its series describe other objects), ``node-exporter``,
  ``prometheus`` and ``alertmanager`` themselves, found by ``app.kubernetes.io/name`` and a port name.
- ``kubelet`` and ``cadvisor``: each node's kubelet on :10250 with the service account token
  (least privilege: RBAC ``nodes/metrics``), or through the API server proxy (``nodes/proxy``).
- one job per ``ScrapeTarget`` handed in by other components (Vault, Loki, Alloy, OpenCost, Rollouts).

Discovery is ``kubernetes_sd_configs`` restricted to one namespace per job; the relabeling does the
selection, so the same rules work when a test swaps discovery for ``file_sd_configs``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from components import conventions as cv
from components import durations, yamltext
from components.monitoring import names
from components.monitoring.specs import ProbeTarget, ScrapeTarget

_SCRAPE_UNITS = ("ms", "s", "m", "h")  # what Prometheus takes for scrape interval and timeout here
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
SKIPPED_POD_PHASES = ("Pending", "Succeeded", "Failed")
KUBELET_MODES = ("direct", "apiserver", "none")
SA_TOKEN = f"{names.SERVICE_ACCOUNT_DIR}/token"
SA_CA = f"{names.SERVICE_ACCOUNT_DIR}/ca.crt"
SERVICE_LABEL = "service"
BLACKBOX_JOB = "blackbox"


def meta_name(label_or_annotation: str) -> str:
    """How Kubernetes SD spells a label/annotation key in ``__meta_*`` names (non [a-zA-Z0-9_] -> ``_``)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", label_or_annotation)


def pod_label(key: str) -> str:
    return f"__meta_kubernetes_pod_label_{meta_name(key)}"


def pod_annotation(key: str) -> str:
    return f"__meta_kubernetes_pod_annotation_{meta_name(key)}"


def _regex_literal(value: str) -> str:
    """``value`` as an RE2 regex matching exactly it (label values only hold [A-Za-z0-9-_.])."""
    return re.sub(r"([.\\+*?()|\[\]{}^$])", r"\\\1", value)


def duration_seconds(value: str, what: str) -> float:
    try:
        return durations.seconds(value, units=_SCRAPE_UNITS, single=True)
    except ValueError:
        raise ValueError(
            f"{what} = {value!r} is invalid; accepted: a duration with one unit (ms, s, m, h), e.g. 30s"
        ) from None


# --------------------------------------------------------------------------------------------------
# Relabeling building blocks
# --------------------------------------------------------------------------------------------------
def _skip_unscrapable_pods() -> list[dict[str, Any]]:
    return [
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "|".join(SKIPPED_POD_PHASES), "action": "drop"},
        {"source_labels": ["__meta_kubernetes_pod_container_init"], "regex": "true", "action": "drop"},
    ]


def _pod_target_labels() -> list[dict[str, Any]]:
    """namespace, pod, container, node, app (label ``app`` wins over ``app.kubernetes.io/name``), hash."""
    return [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
        {"source_labels": [pod_label(cv.LABEL_NAME)], "regex": "(.+)", "target_label": "app"},
        {"source_labels": [pod_label(cv.LABEL_APP)], "regex": "(.+)", "target_label": "app"},
        {
            "source_labels": [pod_label(cv.ROLLOUTS_HASH_POD_LABEL)],
            "regex": "(.+)",
            "target_label": cv.ROLLOUTS_HASH_SERIES_LABEL,
        },
    ]


def _address_from_pod_ip(port_label: str) -> list[dict[str, Any]]:
    """``__address__`` = pod IP and the port in ``port_label`` (IPv6 addresses get brackets)."""
    return [
        {
            "source_labels": [port_label, "__meta_kubernetes_pod_ip"],
            "regex": r"(\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})",
            "replacement": "[$2]:$1",
            "target_label": "__address__",
        },
        {
            "source_labels": [port_label, "__meta_kubernetes_pod_ip"],
            "regex": r"(\d+);((([0-9]+?)(\.|$)){4})",
            "replacement": "$2:$1",
            "target_label": "__address__",
        },
    ]


def _kubernetes_sd(
    role: str, namespace: str | None, selector: Mapping[str, str] | None = None, selector_role: str | None = None
) -> list[dict[str, Any]]:
    sd: dict[str, Any] = {"role": role}
    if namespace:
        sd["namespaces"] = {"names": [namespace]}
    if selector:
        sd["selectors"] = [
            {"role": selector_role or role, "label": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}
        ]
    return [sd]


# --------------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------------
def annotated_pods_job(
    job_name: str = names.ANNOTATED_PODS_JOB, exclude: Sequence[ScrapeTarget] = ()
) -> dict[str, Any]:
    """Pods in any namespace that carry ``prometheus.io/scrape: "true"``.

    Pods that a dedicated pod-role job of ``exclude`` already scrapes are skipped even when annotated,
    so no target is scraped twice under two job names.
    """
    port_ann = pod_annotation(cv.ANNOTATION_PORT)
    relabel: list[dict[str, Any]] = [
        {"source_labels": [pod_annotation(cv.ANNOTATION_SCRAPE)], "regex": "true", "action": "keep"},
    ]
    for target in exclude:
        if target.role != "pod":
            continue
        keys = sorted(target.selector)
        relabel.append(
            {
                "source_labels": ["__meta_kubernetes_namespace", *(pod_label(k) for k in keys)],
                "regex": ";".join(_regex_literal(v) for v in [target.namespace, *(target.selector[k] for k in keys)]),
                "action": "drop",
            }
        )
    relabel += [
        *_skip_unscrapable_pods(),
        # The port to scrape: the annotation, else each declared container port.
        {"source_labels": ["__meta_kubernetes_pod_container_port_number"], "target_label": "__tmp_port"},
        {"source_labels": [port_ann], "regex": r"(\d+)", "target_label": "__tmp_port"},
        {"source_labels": ["__tmp_port"], "regex": "", "action": "drop"},
        # Pod SD yields one target per declared container port (one per container without ports):
        # keep the one whose port is the port to scrape, so each pod is scraped once per port.
        {"source_labels": ["__meta_kubernetes_pod_container_port_number"], "target_label": "__tmp_container_port"},
        {
            "source_labels": ["__meta_kubernetes_pod_container_port_number", port_ann],
            "regex": r";(\d+)",
            "target_label": "__tmp_container_port",
        },
        {"source_labels": ["__tmp_container_port"], "target_label": "__tmp_port", "action": "keepequal"},
        {"source_labels": [pod_annotation(cv.ANNOTATION_SCHEME)], "regex": "(https?)", "target_label": "__scheme__"},
        {"source_labels": [pod_annotation(cv.ANNOTATION_PATH)], "regex": "(/.*)", "target_label": "__metrics_path__"},
        *_address_from_pod_ip("__tmp_port"),
        *_pod_target_labels(),
        # The service a series belongs to: the pod label app.kubernetes.io/name (the per-service SLI rules
        # select {namespace, service}; the Rollout's pods carry it, canary and stable alike).
        {"source_labels": [pod_label(cv.LABEL_NAME)], "regex": "(.+)", "target_label": SERVICE_LABEL},
    ]
    return {
        "job_name": job_name,
        "kubernetes_sd_configs": _kubernetes_sd("pod", None),
        "relabel_configs": relabel,
    }


def _pod_relabel(target: ScrapeTarget) -> list[dict[str, Any]]:
    """Keep the pods of ``target``'s selector, on its container port (by number or by name)."""
    relabel: list[dict[str, Any]] = [
        {"source_labels": [pod_label(key)], "regex": _regex_literal(value), "action": "keep"}
        for key, value in sorted(target.selector.items())
    ]
    relabel += _skip_unscrapable_pods()
    if isinstance(target.port, int):
        relabel.append(
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                "regex": str(target.port),
                "action": "keep",
            }
        )
    else:
        relabel.append(
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": _regex_literal(target.port),
                "action": "keep",
            }
        )
    return relabel


def _service_relabel(target: ScrapeTarget) -> list[dict[str, Any]]:
    """Keep the endpoints of the Services of ``target``'s selector, on its Service port name."""
    relabel: list[dict[str, Any]] = [
        {
            "source_labels": [f"__meta_kubernetes_service_label_{meta_name(key)}"],
            "regex": _regex_literal(value),
            "action": "keep",
        }
        for key, value in sorted(target.selector.items())
    ]
    relabel.append(
        {
            "source_labels": ["__meta_kubernetes_endpointslice_port_name"],
            "regex": _regex_literal(str(target.port)),
            "action": "keep",
        }
    )
    relabel += _skip_unscrapable_pods()
    relabel.append({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"})
    return relabel


def target_job(target: ScrapeTarget) -> dict[str, Any]:
    """The scrape job of one ``ScrapeTarget``."""
    # The namespace is also restricted by discovery; keeping it here makes the relabeling self-contained.
    relabel: list[dict[str, Any]] = [
        {"source_labels": ["__meta_kubernetes_namespace"], "regex": _regex_literal(target.namespace), "action": "keep"},
    ]
    if target.role == "pod":
        relabel += _pod_relabel(target)
        sd = _kubernetes_sd("pod", target.namespace, target.selector)
    else:
        relabel += _service_relabel(target)
        sd = _kubernetes_sd("endpointslice", target.namespace, target.selector, selector_role="service")
    if not target.honor_labels:
        relabel += _pod_target_labels()
    # honor_labels jobs (kube-state-metrics, OpenCost) export series about other objects: the scraper's own
    # namespace/pod/container/app would be pinned on every series that has none of its own (kube_node_info,
    # kube_deployment_*), so they are not attached at all: ``instance`` still names the target.
    job: dict[str, Any] = {"job_name": target.name}
    if target.interval:
        job["scrape_interval"] = target.interval
    if target.timeout:
        job["scrape_timeout"] = target.timeout
    if target.honor_labels:
        job["honor_labels"] = True
    job["scheme"] = target.scheme
    job["metrics_path"] = target.metrics_path
    if target.params:
        job["params"] = target.params
    if target.bearer_token_file:
        job["authorization"] = {"type": "Bearer", "credentials_file": target.bearer_token_file}
    if target.ca_file or target.tls_server_name:
        tls: dict[str, Any] = {}
        if target.ca_file:
            tls["ca_file"] = target.ca_file
        if target.tls_server_name:
            tls["server_name"] = target.tls_server_name
        job["tls_config"] = tls
    job["kubernetes_sd_configs"] = sd
    job["relabel_configs"] = relabel
    if not target.honor_labels:
        # An exporter's own ``namespace`` label describes an object (argo-rollouts' rollout_info{namespace="web"}):
        # Prometheus renames it exported_namespace on conflict with the target's; put it back where it belongs.
        job["metric_relabel_configs"] = [
            {"source_labels": ["exported_namespace"], "regex": "(.+)", "target_label": "namespace"},
            {"regex": "exported_namespace", "action": "labeldrop"},
        ]
    return job


def probe_job(probes: Sequence[ProbeTarget], exporter_address: str, job_name: str = BLACKBOX_JOB) -> dict[str, Any]:
    """The blackbox exporter job: one static target per probed URL, labelled with the probed service's
    ``namespace`` and ``service``; Prometheus asks ``http://<exporter>/probe?target=<url>&module=<module>``."""
    seen: set[tuple[str, str]] = set()
    static = []
    for p in probes:
        if (p.namespace, p.service) in seen:
            raise ValueError(f"probes: service {p.namespace}/{p.service} is probed twice; accepted: one probe each")
        seen.add((p.namespace, p.service))
        static.append(
            {
                "targets": [p.url],
                "labels": {"namespace": p.namespace, SERVICE_LABEL: p.service, "__param_module": p.module},
            }
        )
    return {
        "job_name": job_name,
        "metrics_path": "/probe",
        "static_configs": static,
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": exporter_address},
        ],
    }


def kubelet_jobs(mode: str = "direct", insecure_skip_verify: bool = True) -> list[dict[str, Any]]:
    """``kubelet`` (/metrics) and ``cadvisor`` (/metrics/cadvisor) for every node.

    ``direct`` scrapes ``<node>:10250`` with the service account token (RBAC: ``nodes/metrics``; most
    kubelets serve a self-signed certificate, hence ``insecure_skip_verify``, the token still
    authenticates us). ``apiserver`` goes through ``/api/v1/nodes/<node>/proxy`` with a verified
    certificate but needs ``nodes/proxy``, a far broader permission.
    """
    if mode not in KUBELET_MODES:
        raise ValueError(f"kubelet = {mode!r} is invalid; accepted: {', '.join(KUBELET_MODES)}")
    if mode == "none":
        return []
    jobs = []
    for job_name, path in ((names.KUBELET_JOB, "/metrics"), (names.CADVISOR_JOB, "/metrics/cadvisor")):
        relabel: list[dict[str, Any]] = [
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
        ]
        tls: dict[str, Any] = {"ca_file": SA_CA}
        if mode == "apiserver":
            relabel += [
                {"target_label": "__address__", "replacement": "kubernetes.default.svc:443"},
                {
                    "source_labels": ["__meta_kubernetes_node_name"],
                    "regex": "(.+)",
                    "target_label": "__metrics_path__",
                    "replacement": f"/api/v1/nodes/$1/proxy{path}",
                },
            ]
        elif insecure_skip_verify:
            tls["insecure_skip_verify"] = True
        jobs.append(
            {
                "job_name": job_name,
                "scheme": "https",
                "metrics_path": path,
                "authorization": {"type": "Bearer", "credentials_file": SA_TOKEN},
                "tls_config": tls,
                "kubernetes_sd_configs": _kubernetes_sd("node", None),
                "relabel_configs": relabel,
            }
        )
    return jobs


def builtin_targets(
    monitoring_namespace: str = cv.NS_MONITORING, node_exporter_namespace: str = cv.NS_NODE_EXPORTER
) -> list[ScrapeTarget]:
    """The jobs Monitoring brings itself: Prometheus, Alertmanager, kube-state-metrics, node-exporter."""
    return [
        ScrapeTarget(
            names.PROMETHEUS, monitoring_namespace, {cv.LABEL_NAME: names.PROMETHEUS}, names.PROMETHEUS_PORT_NAME
        ),
        ScrapeTarget(
            names.ALERTMANAGER, monitoring_namespace, {cv.LABEL_NAME: names.ALERTMANAGER}, names.ALERTMANAGER_PORT_NAME
        ),
        ScrapeTarget(
            names.KUBE_STATE_METRICS,
            monitoring_namespace,
            {cv.LABEL_NAME: names.KUBE_STATE_METRICS},
            names.KUBE_STATE_METRICS_PORT_NAME,
            honor_labels=True,
        ),
        ScrapeTarget(
            names.NODE_EXPORTER,
            node_exporter_namespace,
            {cv.LABEL_NAME: names.NODE_EXPORTER},
            names.NODE_EXPORTER_PORT_NAME,
        ),
    ]


def alertmanager_discovery(target: ScrapeTarget) -> dict[str, Any]:
    """``alerting.alertmanagers`` entry: every Alertmanager pod (HA peers each get every alert)."""
    job = target_job(target)
    return {
        "scheme": target.scheme,
        "api_version": "v2",
        "kubernetes_sd_configs": job["kubernetes_sd_configs"],
        "relabel_configs": job["relabel_configs"],
    }


def prometheus_config(
    *,
    scrape_interval: str = "30s",
    evaluation_interval: str = "30s",
    scrape_timeout: str | None = None,
    external_labels: Mapping[str, str] | None = None,
    rule_files: Sequence[str] = (f"{names.PROMETHEUS_RULES_DIR}/*.yaml",),
    monitoring_namespace: str = cv.NS_MONITORING,
    node_exporter_namespace: str = cv.NS_NODE_EXPORTER,
    targets: Sequence[ScrapeTarget] = (),
    kubelet: str = "direct",
    kubelet_insecure_skip_verify: bool = True,
    annotated_pods: bool = True,
    alertmanager: ScrapeTarget | None = None,
    probes: Sequence[ProbeTarget] = (),
    blackbox_address: str | None = None,
) -> dict[str, Any]:
    """The complete Prometheus configuration as a dict.

    ``targets`` are the jobs other components add; ``alertmanager`` overrides how Alertmanager pods
    are found (default: ``app.kubernetes.io/name=alertmanager``, port ``web`` in the monitoring namespace).
    """
    interval_s = duration_seconds(scrape_interval, "scrape_interval")
    duration_seconds(evaluation_interval, "evaluation_interval")
    if scrape_timeout is not None and duration_seconds(scrape_timeout, "scrape_timeout") > interval_s:
        raise ValueError(
            f"scrape_timeout = {scrape_timeout!r} is invalid; accepted: at most scrape_interval ({scrape_interval})"
        )
    labels = dict(external_labels or {})
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_NAME.match(key) or key.startswith("__"):
            raise ValueError(f"external_labels key {key!r} is invalid; accepted: a Prometheus label name")
        if not isinstance(value, str) or not value:
            raise ValueError(f"external_labels[{key!r}] = {value!r} is invalid; accepted: a non-empty string")
    for i, target in enumerate(targets):
        if not isinstance(target, ScrapeTarget):
            raise ValueError(f"targets[{i}] = {target!r} is invalid; accepted: a ScrapeTarget")
    all_targets = [*builtin_targets(monitoring_namespace, node_exporter_namespace), *targets]
    jobs: list[dict[str, Any]] = []
    if annotated_pods:
        jobs.append(annotated_pods_job(exclude=all_targets))
    jobs += kubelet_jobs(kubelet, kubelet_insecure_skip_verify)
    jobs += [target_job(t) for t in all_targets]
    if blackbox_address:
        jobs.append(probe_job(probes, blackbox_address))
    seen: set[str] = set()
    for job in jobs:
        if job["job_name"] in seen:
            raise ValueError(
                f"scrape job name {job['job_name']!r} is used twice; accepted: unique job names "
                f"(built-in jobs: {', '.join(sorted(_builtin_job_names()))})"
            )
        seen.add(job["job_name"])

    global_cfg: dict[str, Any] = {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval}
    if scrape_timeout:
        global_cfg["scrape_timeout"] = scrape_timeout
    if labels:
        global_cfg["external_labels"] = labels
    am = alertmanager or ScrapeTarget(
        names.ALERTMANAGER, monitoring_namespace, {cv.LABEL_NAME: names.ALERTMANAGER}, names.ALERTMANAGER_PORT_NAME
    )
    return {
        "global": global_cfg,
        "alerting": {"alertmanagers": [alertmanager_discovery(am)]},
        "rule_files": list(rule_files),
        "scrape_configs": jobs,
    }


_SD_RESOURCES: dict[str, list[tuple[str, str]]] = {  # SD role -> (apiGroup, resource) it lists and watches
    "pod": [("", "pods")],
    "endpointslice": [("discovery.k8s.io", "endpointslices"), ("", "services"), ("", "pods")],
    "node": [("", "nodes")],
}


def required_rbac(config: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The RBAC rules Prometheus needs for ``config``: ``{"<namespace>" or "*": [PolicyRule dicts]}``.

    ``"*"`` holds the cluster-wide rules (a ClusterRole): discovery without a namespace list, the
    kubelet's ``nodes/metrics`` (or ``nodes/proxy`` through the API server). Namespaced entries become a
    Role + RoleBinding in that namespace.
    """
    wanted: dict[str, set[tuple[str, str]]] = {}
    sections = [*config.get("scrape_configs", []), *config.get("alerting", {}).get("alertmanagers", [])]
    for section in sections:
        for sd in section.get("kubernetes_sd_configs", []):
            scopes = sd.get("namespaces", {}).get("names") or ["*"]
            for scope in scopes:
                wanted.setdefault(scope, set()).update(_SD_RESOURCES[sd["role"]])
        relabels = section.get("relabel_configs", [])
        if any(
            r.get("target_label") == "__address__" and "kubernetes.default.svc" in str(r.get("replacement"))
            for r in relabels
        ):
            wanted.setdefault("*", set()).add(("", "nodes/proxy"))
        elif any(sd.get("role") == "node" for sd in section.get("kubernetes_sd_configs", [])):
            wanted.setdefault("*", set()).add(("", "nodes/metrics"))
    # A cluster-wide grant already covers the same resource in every namespace.
    cluster = wanted.get("*", set())
    out: dict[str, list[dict[str, Any]]] = {}
    for scope in sorted(wanted):
        resources = wanted[scope] if scope == "*" else wanted[scope] - cluster
        rules: list[dict[str, Any]] = []
        for group in sorted({g for g, _ in resources}):
            listed = sorted(r for g, r in resources if g == group and "/" not in r)
            sub = sorted(r for g, r in resources if g == group and "/" in r)  # nodes/metrics: get only
            if listed:
                rules.append({"apiGroups": [group], "resources": listed, "verbs": ["get", "list", "watch"]})
            if sub:
                rules.append({"apiGroups": [group], "resources": sub, "verbs": ["get"]})
        if rules:
            out[scope] = rules
    return out


def _builtin_job_names() -> set[str]:
    return {names.ANNOTATED_PODS_JOB, names.KUBELET_JOB, names.CADVISOR_JOB, *(t.name for t in builtin_targets())}


def to_yaml(data: Any) -> str:
    """YAML text of a builder's output (keys in insertion order, multi-line strings as blocks)."""
    return yamltext.dump(data)

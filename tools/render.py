"""Offline render: run the program for a stack under Pulumi's mocks and write everything it would deploy.

    python -m tools.render --stack dev [--out dist/dev] [--set key=value ...] [--verbose] [--json]

Writes, atomically (a failed render leaves the previous output untouched):
  dist/<stack>/k8s/NN-<component>.yaml   every Kubernetes object, multi-document, in apply order
  dist/<stack>/k8s/kustomization.yaml    the files in order (+ upstream release manifests), for kubectl -k
  dist/<stack>/secrets.example/*.sh      Secrets whose values are Pulumi secrets: NOT in the kustomization;
                                         each script creates its Secret from environment variables
  dist/<stack>/workflows/<path>          every file the program commits to GitHub repositories
  dist/<stack>/plan.json                 every resource (urn, type, name, parent, inputs; secrets masked)
  dist/<stack>/policy.json, cost.json    the policy report and the cost estimate
  dist/<stack>/.hardening-render         the marker: which files this render wrote
and prints a summary (resources per component, policy results by rule, cost against the budget, what
was skipped and why, the next commands). ``--out`` replaces only a directory a render made (it holds the
marker and nothing else than the files the marker lists); any other non-empty directory is refused.
No cluster, no Pulumi CLI, no credentials: this is also what a pull request from a fork can run.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _json_str  # json's own (its C version when built)
from pathlib import Path
from typing import Any, NoReturn, TextIO

from components import yamltext
from tools import cli
from tools.mockrun import ROOT, Resource, Run, StackFileError, load_stack_config, mask_secrets, run_stack

MASK = "<redacted: Pulumi secret>"
MARKER_FILE = ".hardening-render"
MARKER_TOOL = "tools.render"
SECRETS_EXAMPLE = "secrets.example"
# The builders' own input-error classes ("module:Class"). Each names the field, the bad value and what is
# accepted; the render turns them into exit 2 and names the stack settings the value came from. A class
# that no longer exists (after a refactor) is simply not caught here; the validator should catch first.
BUILDER_ERRORS = (
    "components.ci.workflows.common:WorkflowOptionsError",
    "components.canary.specs:StrategyError",
    "components.canary.analysis_eval:AnalysisError",
    "components.canary.analysis_eval:ConditionError",
    "components.vault.server_config:ServerConfigError",
    "components.vault.declarative:ConfigurationError",
    "components.vault.policy_hcl:PolicyError",
    "components.cost.estimate:EstimateError",
)

# Apply order by kind (Helm's install order, trimmed); custom resources go last.
KIND_ORDER = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
]
_KIND_RANK = {k: i for i, k in enumerate(KIND_ORDER)}
# Components whose files must come first regardless of registration order.
FIRST_COMPONENTS = ("namespaces",)
UPSTREAM_MANIFEST_TYPES = ("kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml:ConfigFile")
REPOSITORY_FILE_TYPE = "github:index/repositoryFile:RepositoryFile"


class OutDirError(cli.UserError):
    """``--out`` names a directory the render must not replace."""


@dataclass(frozen=True)
class HeldSecret:
    """A Secret held out of ``k8s/``: some of its values are Pulumi secrets the render cannot write."""

    namespace: str
    name: str
    type: str
    secret_keys: tuple[str, ...]  # the keys whose values are Pulumi secrets (read from the environment)
    plain: tuple[tuple[str, str], ...]  # the keys whose values are plain, with their values
    labels: tuple[tuple[str, str], ...]

    @property
    def path(self) -> str:
        return f"{SECRETS_EXAMPLE}/{self.namespace}-{self.name}.sh"

    def env_var(self, key: str) -> str:
        return re.sub(r"[^A-Z0-9]+", "_", f"{self.name}_{key}".upper()).strip("_")

    def script(self, stack: str) -> str:
        """A POSIX shell script that creates the Secret; every Pulumi-secret value comes from a variable."""
        env = " ".join(f"{self.env_var(k)}=..." for k in self.secret_keys)
        lines = [
            "#!/bin/sh",
            f"# Secret {self.namespace}/{self.name} (stack {stack}): its value(s) for "
            f"{', '.join(self.secret_keys)} are Pulumi secrets,",
            "# which the offline render never writes, so this Secret is not in k8s/kustomization.yaml.",
            f"# Create it before `kubectl apply -k dist/{stack}/k8s`, with the values in the environment:",
            f"#   {env} sh dist/{stack}/{self.path}",
            "# (a random password: `openssl rand -base64 32`; or read it from Vault: `vault kv get -field=KEY ...`).",
            "set -eu",
            *(f': "${{{self.env_var(k)}:?set {self.env_var(k)}}}"' for k in self.secret_keys),
            f"kubectl create secret generic {shlex.quote(self.name)} --namespace {shlex.quote(self.namespace)} \\",
            f"  --type {shlex.quote(self.type)} \\",
        ]
        for key, value in self.plain:
            lines.append(f"  --from-literal={shlex.quote(key)}={shlex.quote(value)} \\")
        for key in self.secret_keys:
            var = self.env_var(key)
            lines.append(f'  --from-literal={shlex.quote(key)}="${var}" \\')
        lines.append("  --dry-run=client -o yaml \\")
        if self.labels:
            labels = " ".join(shlex.quote(f"{k}={v}") for k, v in self.labels)
            lines.append(f"  | kubectl label --local -f - -o yaml {labels} \\")
        lines.append("  | kubectl apply -f -")
        return "\n".join(lines) + "\n"


@dataclass
class Rendered:
    """Everything a render produces, in memory, before anything is written."""

    stack: str
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text
    objects: list[dict[str, Any]] = field(default_factory=list)  # every manifest in k8s/ (masked)
    held: list[HeldSecret] = field(default_factory=list)  # Secrets in secrets.example/ instead
    kinds: dict[str, Counter[str]] = field(default_factory=dict)  # component -> kind -> count
    resources: int = 0
    repository_files: int = 0
    exit_code: int = 0


def component_key(run: Run, res: Resource) -> str:
    comp = run.component_of(res)
    if comp is None:
        return "platform"
    if comp.type == "hardening:service:Service":
        return f"service-{comp.name}"  # one file per onboarded service
    return comp.type.split(":")[1]


def canonical(value: Any) -> Any:
    """Maps with sorted keys, recursively: the mock engine's property order is not stable."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


class _NotPlainJson(Exception):
    """A value ``json_text`` leaves to the json module (a tuple, a non-str key, a non-finite float...)."""


def json_text(value: Any) -> str:
    """``json.dumps(value, indent=1)``, character for character, in a third of the time for plain data (dicts
    with str keys, lists, str, int, finite float, bool, None): the json module encodes with its pure-Python
    encoder as soon as ``indent`` is set, and plan.json is ~5 MB at 50 services. Other values: json.dumps."""
    try:
        return _json_indented(value, "\n")
    except _NotPlainJson:
        return json.dumps(value, indent=1)


def _json_indented(value: Any, newline: str) -> str:
    t = type(value)
    if t is str:
        return _json_str(value)
    if t is dict:
        if not value:
            return "{}"
        inner = newline + " "
        items = []
        for k, v in value.items():
            if type(k) is not str:
                raise _NotPlainJson
            items.append(_json_str(k) + ": " + _json_indented(v, inner))
        return "{" + inner + ("," + inner).join(items) + newline + "}"
    if t is list:
        if not value:
            return "[]"
        inner = newline + " "
        return "[" + inner + ("," + inner).join([_json_indented(v, inner) for v in value]) + newline + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if t is int:
        return int.__repr__(value)
    if t is float and math.isfinite(value):
        return float.__repr__(value)
    raise _NotPlainJson


def manifest(res: Resource) -> dict[str, Any]:
    """The Kubernetes manifest of a resource (apiVersion, kind, metadata first), secrets masked."""
    inputs = canonical(mask_secrets(res.inputs, MASK))
    meta = inputs.get("metadata") or {}
    if not meta.get("name"):
        raise ValueError(f"{res.urn}: metadata.name is not set; every object needs an explicit, stable name")
    doc: dict[str, Any] = {"apiVersion": inputs.get("apiVersion"), "kind": inputs.get("kind"), "metadata": meta}
    for key, value in inputs.items():
        if key not in doc:
            doc[key] = value
    return doc


def _apply_order(doc: dict[str, Any]) -> tuple[int, str, str, str]:
    meta = doc.get("metadata") or {}
    return (
        _KIND_RANK.get(str(doc.get("kind")), len(KIND_ORDER)),
        str(doc.get("kind")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def _is_k8s_object(res: Resource) -> bool:
    return (
        res.custom
        and res.type.startswith("kubernetes:")
        and res.type not in UPSTREAM_MANIFEST_TYPES
        and not res.type.startswith("kubernetes:helm")
    )


def _held_secret(doc: Mapping[str, Any]) -> HeldSecret | None:
    """The Secret as a HeldSecret when any of its values is a Pulumi secret (masked), else None."""
    if doc.get("kind") != "Secret" or doc.get("apiVersion") != "v1":
        return None
    secret: list[str] = []
    plain: list[tuple[str, str]] = []
    for section in ("stringData", "data"):
        values = doc.get(section)
        if values == MASK:  # the whole map is one secret: its keys are unknown offline
            raise ValueError(f"Secret {doc['metadata']['name']}: {section} is a secret as a whole; make each value one")
        for key, value in (values or {}).items():
            if value == MASK:
                secret.append(str(key))
            elif section == "data":
                import base64

                plain.append((str(key), base64.b64decode(str(value)).decode()))
            else:
                plain.append((str(key), str(value)))
    if not secret:
        return None
    meta = doc.get("metadata") or {}
    return HeldSecret(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta["name"]),
        type=str(doc.get("type") or "Opaque"),
        secret_keys=tuple(secret),
        plain=tuple(plain),
        labels=tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items())),
    )


def render_run(run: Run) -> Rendered:
    out = Rendered(stack=run.stack)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    upstream: dict[str, list[dict[str, Any]]] = defaultdict(list)  # ConfigFile name -> its objects
    order: list[str] = []
    by_urn = {r.urn: r for r in run.resources}
    for res in run.resources:
        key = component_key(run, res)
        parent = by_urn.get(res.parent or "")
        if _is_k8s_object(res) and parent is not None and parent.type in UPSTREAM_MANIFEST_TYPES:
            # an upstream release manifest's objects (expanded like the provider does): their own folder
            upstream[parent.name].append(manifest(res))
        elif _is_k8s_object(res):
            doc = manifest(res)
            held = _held_secret(doc)
            if held is not None:
                out.held.append(held)
                continue
            if key not in order:
                order.append(key)
            groups[key].append(doc)
        elif res.type == REPOSITORY_FILE_TYPE:
            inputs = mask_secrets(res.inputs, MASK)
            # one folder per repository: every service's repository gets the same workflow paths
            out.files[f"workflows/{inputs['repository']}/{inputs['file']}"] = str(inputs.get("content", ""))
            out.repository_files += 1
    for held in sorted(out.held, key=lambda h: h.path):
        out.files[held.path] = held.script(run.stack)
    # Registration order under the mocks is asynchronous: order files by name (namespaces first) so that
    # file names are stable from run to run.
    ordered = [k for k in FIRST_COMPONENTS if k in order] + sorted(k for k in order if k not in FIRST_COMPONENTS)
    kustomize: list[str] = []
    for index, key in enumerate(ordered):
        docs = sorted(groups[key], key=_apply_order)
        out.objects.extend(docs)
        name = f"k8s/{index * 10:02d}-{key}.yaml"
        out.files[name] = yamltext.dump_all(docs)
        kustomize.append(name.removeprefix("k8s/"))
        if index == 0:
            # Upstream release manifests (CRDs, controllers) right after the namespaces, each in a folder of
            # its own so that it can be applied (and its CRDs established) first.
            for up_name in sorted(upstream):
                docs = sorted(upstream[up_name], key=_apply_order)
                out.objects.extend(docs)
                sub = f"upstream-{up_name}"
                out.files[f"k8s/{sub}/manifest.yaml"] = yamltext.dump_all(docs)
                out.files[f"k8s/{sub}/kustomization.yaml"] = yamltext.dump(
                    {
                        "apiVersion": "kustomize.config.k8s.io/v1beta1",
                        "kind": "Kustomization",
                        "resources": ["manifest.yaml"],
                    }
                )
                kustomize.append(sub)
    out.files["k8s/kustomization.yaml"] = yamltext.dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": kustomize}
    )
    plan = {
        "project": run.project,
        "stack": run.stack,
        "resources": [canonical(mask_secrets(r.to_record(), MASK)) for r in sorted(run.resources, key=lambda r: r.urn)],
        "outputs": {k: (MASK if k in run.secret_outputs else mask_secrets(v, MASK)) for k, v in run.outputs.items()},
    }
    out.files["plan.json"] = json_text(plan) + "\n"
    out.resources = len(run.resources)
    for r in run.resources:
        if r.custom and not r.type.startswith("pulumi:providers"):
            kind = str(r.inputs.get("kind") or r.type.split(":")[-1])
            out.kinds.setdefault(component_key(run, r), Counter())[kind] += 1
    out.kinds = dict(sorted(out.kinds.items()))
    return out


# --- optional reports: each plugs in when its module exists ----------------------------------------
def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _policy_step(run: Run, out: Rendered, pack: Any) -> Any:
    report = pack.finish([r.to_record() for r in run.resources])
    out.files["policy.json"] = report.to_json()
    if report.mandatory_failures:
        out.exit_code = 1
    return report


def _cost_step(run: Run, out: Rendered) -> Any:
    from components.cost import estimate as cost_estimate

    plan = json.loads(out.files["plan.json"])
    if cost_estimate.COST_MODEL_OUTPUT not in plan["outputs"]:
        return None
    est = cost_estimate.estimate_plan(plan)
    out.files["cost.json"] = json.dumps(est.to_dict(), indent=1) + "\n"
    return est


# --- the summary -------------------------------------------------------------------------------------
SHOWN = 3  # resources named per policy rule unless --verbose
SHOWN_KINDS = 4  # kinds named per component unless --verbose
SHOWN_COMPONENTS = 4  # components named in the cost line unless --verbose


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path.absolute()) if rel.startswith("..") else rel


def _subject(run: Run, urn: str, type_: str, name: str) -> str:
    res = next((r for r in run.resources if r.urn == urn), None)
    if res is not None and res.type.startswith("kubernetes:"):
        meta = res.inputs.get("metadata") or {}
        kind = res.inputs.get("kind") or res.type.split(":")[-1]
        ns = meta.get("namespace")
        return f"{kind}/{ns}/{meta.get('name')}" if ns else f"{kind}/{meta.get('name')}"
    return f"{type_.split(':')[-1]} {name}" if type_ else "stack"


def _truthy(config: Mapping[str, str], key: str) -> bool | None:
    value = config.get(key)
    return None if value is None else value.strip().lower() == "true"


def build_summary(
    run: Run,
    out: Rendered,
    report: Any,
    est: Any,
    *,
    out_dir: Path,
    config: Mapping[str, str],
    policy_requested: bool,
    seconds: float,
) -> dict[str, Any]:
    """The render summary as plain data (``--json`` prints it; ``format_summary`` prints it as text)."""
    stack, where = run.stack, _display(out_dir)
    doc: dict[str, Any] = {
        "stack": stack,
        "out": where,
        "files": len(out.files) + 1,  # + the marker
        "seconds": round(seconds, 2),
        "resources": out.resources,
        "kubernetesObjects": len(out.objects),
        "repositoryFiles": out.repository_files,
        "components": {
            comp: {"total": sum(kinds.values()), "kinds": dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))}
            for comp, kinds in out.kinds.items()
        },
        "policy": None,
        "cost": None,
        "heldSecrets": [
            {
                "secret": f"{h.namespace}/{h.name}",
                "file": f"{where}/{h.path}",
                "env": [h.env_var(k) for k in h.secret_keys],
            }
            for h in sorted(out.held, key=lambda h: h.path)
        ],
        "skipped": [],
        "next": [],
        "exitCode": out.exit_code,
    }
    skipped: list[str] = doc["skipped"]
    if report is not None:
        rules: dict[tuple[str, str], dict[str, Any]] = {}
        rank = {"mandatory": 0, "remediate": 1, "advisory": 2}
        for v in report.violations:
            rule = rules.setdefault(
                (v.level, v.policy), {"policy": v.policy, "level": v.level, "resources": [], "fix": v.remediation}
            )
            rule["count"] = rule.get("count", 0) + 1
            subject = _subject(run, v.urn, v.type, v.name)
            if subject not in rule["resources"]:
                rule["resources"].append(subject)
        levels = Counter(report.levels.values())
        doc["policy"] = {
            "pack": f"{report.pack}@{report.version}",
            "policies": len(report.levels),
            "levels": dict(sorted(levels.items())),
            "mandatory": report.mandatory_failures,
            "advisory": report.advisory_warnings,
            "verdict": "FAIL" if report.mandatory_failures else "ok",
            "rules": [  # resources sorted: the pack answers in no fixed order
                {**r, "resources": sorted(r["resources"])}
                for (_, _), r in sorted(rules.items(), key=lambda kv: (rank.get(kv[0][0], 3), kv[0][1]))
            ],
        }
    elif policy_requested:
        skipped.append("policy pack: tools/policy_report.py is not in this revision")
    else:
        skipped.append("policy pack: --no-policy")
    if est is not None:
        total, budget = est.total, est.prices.monthly_budget
        reasons = Counter(s.reason for s in est.skipped)
        doc["cost"] = {
            "monthly": round(total.monthly, 2),
            "currency": est.prices.currency,
            "budget": budget,
            "budgetPercent": round(total.monthly * 100 / budget, 1) if budget else None,
            "cpuCores": round(total.cpu_cores, 3),
            "memoryGib": round(total.memory_gib, 3),
            "storageGib": round(total.storage_gib, 3),
            "loadBalancers": total.load_balancers,
            "byComponent": {
                k: round(g.monthly, 2) for k, g in sorted(est.by_component.items(), key=lambda kv: -kv[1].monthly)
            },
            "notPriced": [{"urn": s.urn, "type": s.type, "reason": s.reason} for s in est.skipped],
        }
        for reason, n in sorted(reasons.items()):
            skipped.append(f"{n} resource(s) not priced: {reason}")
    else:
        skipped.append("cost estimate: the stack does not deploy CostVisibility (which exports the prices)")
    if out.repository_files == 0:
        manage = _truthy(config, f"{run.project}:githubManage")
        why = "githubManage is false" if manage is False else "the stack commits no file to GitHub"
        skipped.append(f"0 repository files: {why}")
    if out.held:
        skipped.append(
            f"{len(out.held)} Secret(s) not in k8s/ (their values are Pulumi secrets): see {where}/{SECRETS_EXAMPLE}/"
        )
    nxt: list[str] = doc["next"]
    for h in doc["heldSecrets"]:
        nxt.append(f"{' '.join(e + '=...' for e in h['env'])} sh {h['file']}")
    nxt.append(f"kubectl apply -k {where}/k8s")
    nxt.append(
        f"pulumi preview --stack {stack} --policy-pack policies --policy-pack-config policies/config/{stack}.json"
    )
    if est is not None:
        nxt.append(
            f"python -m tools.cost diff ../main/dist/{stack} {where}   "
            f"# against main: git worktree add ../main main && make -C ../main render STACK={stack}"
        )
    return doc


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text


def format_summary(doc: Mapping[str, Any], *, verbose: bool = False, color: bool = False) -> list[str]:
    st = _Style(color)
    lines = [
        st(f"stack {doc['stack']}", "1")
        + f": {doc['resources']} resources, {doc['kubernetesObjects']} Kubernetes objects, "
        f"{doc['repositoryFiles']} repository files -> {doc['out']} ({doc['files']} files, {doc['seconds']:.1f}s)"
    ]
    width = max((len(c) for c in doc["components"]), default=0)
    for comp, data in doc["components"].items():
        kinds = list(data["kinds"].items())
        shown = kinds if verbose else kinds[:SHOWN_KINDS]
        text = ", ".join(f"{k} {n}" for k, n in shown)
        if len(kinds) > len(shown):
            text += f", +{len(kinds) - len(shown)} kinds"
        lines.append(f"  {comp:<{width}} {data['total']:>4}  {text}")
    pol = doc["policy"]
    if pol is not None:
        verdict = st(pol["verdict"], "1;31" if pol["verdict"] == "FAIL" else "32")
        levels = ", ".join(f"{n} {lvl}" for lvl, n in pol["levels"].items())
        lines.append(
            st("policies", "1") + f": {pol['pack']}, {pol['policies']} rules ({levels}): "
            f"{pol['mandatory']} mandatory, {pol['advisory']} advisory violation(s) -> {verdict}"
        )
        for rule in pol["rules"]:
            res = rule["resources"]
            shown = res if verbose else res[:SHOWN]
            names = ", ".join(shown) + (f", +{len(res) - len(shown)} more (--verbose)" if len(res) > len(shown) else "")
            level = st(f"{rule['level'].upper():<9}", "1;31" if rule["level"] == "mandatory" else "33")
            lines.append(f"  {level} {rule['policy']} x{rule['count']}: {names}")
            lines.append(f"            fix: {rule['fix']}")
    cost = doc["cost"]
    if cost is not None:
        from components.cost.estimate import money

        cur = cost["currency"]
        budget = ""
        if cost["budget"]:
            state = "over" if cost["monthly"] > cost["budget"] else "within"
            budget = f", {cost['budgetPercent']:g} % of the {money(cost['budget'], cur)} budget ({state})"
        lines.append(
            st("cost", "1") + f": {money(cost['monthly'], cur)} per month{budget}; requests "
            f"{cost['cpuCores']:g} vCPU, {cost['memoryGib']:g} GiB memory, {cost['storageGib']:g} GiB disk, "
            f"{cost['loadBalancers']} load balancer(s)"
        )
        comps = list(cost["byComponent"].items())
        shown_c = comps if verbose else comps[:SHOWN_COMPONENTS]
        text = ", ".join(f"{k} {money(v, cur)}" for k, v in shown_c)
        if len(comps) > len(shown_c):
            text += f", +{len(comps) - len(shown_c)} more"
        lines.append(f"  by component: {text}")
    if doc["skipped"]:
        lines.append(st("skipped", "1") + ":")
        lines += [f"  {s}" for s in doc["skipped"]]
    lines.append(st("next", "1") + ":")
    lines += [f"  {n}" for n in doc["next"]]
    if doc["exitCode"] == 1:
        lines.append(st("render FAILED: a mandatory policy is violated (see above)", "1;31"))
    return lines


# --- writing -----------------------------------------------------------------------------------------
def _files_under(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file() or p.is_symlink()}


def _marker_files(marker: Path) -> set[str]:
    try:
        doc = json.loads(marker.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("tool") != MARKER_TOOL or not isinstance(doc.get("files"), list):
        raise OutDirError(
            f"--out {marker.parent}: {MARKER_FILE} is not a marker the render wrote; refusing to replace the "
            "directory (accepted: a new or empty directory, or one a previous render made)"
        )
    return {str(f) for f in doc["files"]}


# What a render wrote before the marker existed: accepted once, so an old dist/<stack> does not block.
_UNMARKED_LAYOUT = re.compile(r"(plan|policy|cost)\.json|k8s/[^/]+\.yaml|k8s/upstream-[^/]+/[^/]+\.yaml|workflows/.+")


def _unmarked_render(out_dir: Path) -> bool:
    """``out_dir`` holds only what a render without the marker wrote (and its plan.json is a render's)."""
    try:
        plan = json.loads((out_dir / "plan.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(plan, dict) or not {"project", "stack", "resources", "outputs"} <= set(plan):
        return False
    return all(_UNMARKED_LAYOUT.fullmatch(rel) for rel in _files_under(out_dir))


def check_out_dir(out_dir: Path) -> None:
    """Refuse (OutDirError) unless ``out_dir`` is new, empty, or a render's own output with nothing added."""
    accepted = "accepted: a new or empty directory, or one a previous render made"
    if out_dir.is_symlink():
        raise OutDirError(f"--out {out_dir}: is a symbolic link; {accepted}")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutDirError(f"--out {out_dir}: exists and is not a directory; {accepted}")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return
    marker = out_dir / MARKER_FILE
    if not marker.is_file() and _unmarked_render(out_dir):
        return
    if not marker.is_file():
        entries = sorted(p.name for p in out_dir.iterdir())
        sample = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise OutDirError(
            f"--out {out_dir}: refusing to replace it: it is not empty ({sample}) and has no {MARKER_FILE} "
            f"marker, so no render made it; {accepted} (move its files away, or pick another --out)"
        )
    extra = sorted(_files_under(out_dir) - _marker_files(marker) - {MARKER_FILE})
    if extra:
        sample = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        raise OutDirError(
            f"--out {out_dir}: refusing to replace it: it holds {len(extra)} file(s) the render did not write "
            f"({sample}); move them out of the directory first"
        )


def write_atomically(out_dir: Path, files: dict[str, str]) -> None:
    """Write ``files`` (+ the marker) as ``out_dir``, replacing it only when ``check_out_dir`` accepts it."""
    check_out_dir(out_dir)
    backup = out_dir.with_name(f".{out_dir.name}-old")  # left behind only by an interrupted render
    check_out_dir(backup)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    marker = json.dumps({"tool": MARKER_TOOL, "files": sorted(files)}, indent=1) + "\n"
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for rel, text in {**files, MARKER_FILE: marker}.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        if backup.exists():
            shutil.rmtree(backup)
        if out_dir.exists():
            out_dir.rename(backup)
        tmp.rename(out_dir)
        if backup.exists():
            shutil.rmtree(backup)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


# --- bad input -----------------------------------------------------------------------------------------
def parse_sets(values: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise cli.UserError(f"--set {item!r}: expected KEY=VALUE (e.g. --set appReplicas=2)")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value) if value[:1] in "[{" else value
        except json.JSONDecodeError:
            out[key] = value
    return out


def _builder_error_classes() -> tuple[type[BaseException], ...]:
    classes: list[type[BaseException]] = []
    for spec in BUILDER_ERRORS:
        module, _, name = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type) and issubclass(cls, BaseException):
            classes.append(cls)
    return tuple(classes)


def settings_in(message: str, config: Mapping[str, str], secret_keys: Sequence[str]) -> list[tuple[str, str]]:
    """The plain stack settings the rejected values in ``message`` come from: for each quoted value in the
    message, the setting whose value is the longest part of it (``'orders-api-canary'`` -> appName)."""
    candidates = {
        k: v
        for k, v in config.items()
        if k not in secret_keys
        and len(v) >= 3
        and v.lower() not in ("true", "false")
        and not re.fullmatch(r"[0-9.]+", v)
    }
    found: dict[str, str] = {}
    for quoted in re.findall(r"'([^']*)'", message):
        inside = [(k, v) for k, v in candidates.items() if v in quoted]
        if inside:
            key, value = max(inside, key=lambda kv: (len(kv[1]), kv[0]))
            found[key] = value
    return sorted(found.items())


def _config(stack: str, overrides: Mapping[str, Any] | None, root: Path) -> tuple[dict[str, str], list[str]]:
    try:
        project, config, secret_keys = load_stack_config(stack, root)
    except StackFileError:
        return {}, []
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return config, secret_keys


def builder_message(exc: BaseException, config: Mapping[str, str], secret_keys: Sequence[str]) -> str:
    text = str(exc)
    module = type(exc).__module__.removeprefix("components.")
    lines = [f"error: invalid configuration: {text}", f"  (rejected by the {module} builder, {type(exc).__name__})"]
    named = settings_in(text, config, secret_keys)
    if named:
        shown = ", ".join(f"{k} = {v!r} ({len(v)} characters)" for k, v in named)
        lines.append(f"  the value comes from the stack setting(s): {shown}")
    else:
        lines.append("  the value is derived from the stack settings; no setting holds it verbatim")
    return "\n".join(lines)


# --- the command -----------------------------------------------------------------------------------------
def render(
    stack: str,
    out_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    policy: bool = True,
    cost: bool = True,
    stream: TextIO | None = None,
    *,
    verbose: bool = False,
    as_json: bool = False,
    quiet: bool = False,
    root: Path = ROOT,
) -> int:
    """Render ``stack``; returns the exit status (0, 1 or 2; a bug raises). Prints to ``stream`` (stdout);
    errors go to stderr."""
    from components.config import ConfigError
    from components.vendored import VendoredFileError

    stream = stream or sys.stdout
    started = time.perf_counter()
    out_dir = out_dir or root / "dist" / stack
    pack = policy_report = None
    input_errors: tuple[type[BaseException], ...] = (ConfigError, StackFileError, VendoredFileError, cli.UserError)
    builder_errors = _builder_error_classes()
    if policy and _has_module("tools.policy_report"):
        policy_report = importlib.import_module("tools.policy_report")
        input_errors += (policy_report.PolicyConfigError,)
    report = est = None
    try:
        if policy_report is not None:
            # pulumi_policy's analyzer servicer in this process, after the run: the same requests and answers
            # as the engine's gRPC round trips (tests hold both equal), without a second interpreter.
            pack = policy_report.InProcessPack(stack=stack)
        run = run_stack(stack, root=root, overrides=overrides)
        out = render_run(run)
        if pack is not None:
            report = _policy_step(run, out, pack)
        if cost and _has_module("components.cost.estimate"):
            est = _cost_step(run, out)
        write_atomically(out_dir, out.files)
    except input_errors as exc:
        print(str(exc) if isinstance(exc, ConfigError) else f"error: {exc}", file=sys.stderr)
        return cli.EXIT_USAGE
    except builder_errors as exc:
        print(builder_message(exc, *_config(stack, overrides, root)), file=sys.stderr)
        return cli.EXIT_USAGE
    finally:
        if pack is not None:
            pack.stop()
    config, _ = _config(stack, overrides, root)
    doc = build_summary(
        run,
        out,
        report,
        est,
        out_dir=out_dir,
        config=config,
        policy_requested=policy,
        seconds=time.perf_counter() - started,
    )
    if as_json:
        print(json.dumps(doc, indent=1), file=stream)
    elif not quiet:
        color = stream.isatty() and not os.environ.get("NO_COLOR")
        for line in format_summary(doc, verbose=verbose, color=color):
            print(line, file=stream)
    elif out.exit_code == 1:
        print("render FAILED: a mandatory policy is violated (policy.json)", file=sys.stderr)
    return out.exit_code


def _main(argv: Sequence[str] | None) -> int:
    parser = cli.Parser(prog="python -m tools.render", description=__doc__)
    cli.add_stack(parser)
    parser.add_argument(
        "--out", type=Path, help="output directory (default dist/<stack>); replaced only if a render made it"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key for this render only (repeatable)",
    )
    parser.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    parser.add_argument("--verbose", action="store_true", help="name every resource and kind in the summary")
    cli.add_json(parser)
    cli.add_quiet(parser)
    args = parser.parse_args(argv)
    return render(
        args.stack,
        args.out,
        parse_sets(args.set),
        policy=not args.no_policy,
        verbose=args.verbose,
        as_json=args.json,
        quiet=args.quiet,
    )


def exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: the files are written and closed, the mock
    runtime is stopped, and nothing registered with ``atexit`` has work left. Freeing the thousands of
    classes of the typed Pulumi SDKs one by one costs a few hundred milliseconds for nothing."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """The command with the CLI convention's error handling (tools/cli.py): returns the exit status."""
    return cli.run("render", lambda: _main(argv))


if __name__ == "__main__":
    exit_now(main())

"""CI rules over the GitHub Actions workflow files the program commits (``github.RepositoryFile``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from components import yamltext

from .common import REPOSITORY_FILE, Resource, Rule, as_list, as_map

_WORKFLOW_PATH = re.compile(r"^\.github/workflows/[^/]+\.ya?ml$")
_SHA_PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
_DOCKER_DIGEST = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
_BUILD_RUN = re.compile(r"\b(?:docker|podman)\s+(?:buildx\s+)?(?:build|bake)\b|\bbuildah\s+(?:bud|build)\b|\bkaniko\b")
_TRIVY_RUN = re.compile(r"\btrivy\s+(?:image|fs|repo|config)\b")


def workflow_of(res: Resource) -> tuple[str, str] | None:
    """``(path, content)`` when ``res`` commits a workflow file, else None."""
    if res.type != REPOSITORY_FILE:
        return None
    path, content = res.props.get("file"), res.props.get("content")
    if not isinstance(path, str) or not _WORKFLOW_PATH.match(path.lstrip("/")) or not isinstance(content, str):
        return None
    return path, content


@functools.lru_cache(maxsize=64)
def load_workflow(content: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """The parsed workflow, or why it cannot be read. Parsed once per content (several rules read each
    file; libyaml's parser); the result is shared, so rules only read it."""
    try:
        doc = yamltext.load(content)
    except yaml.YAMLError as exc:
        return None, f"is not valid YAML ({str(exc).splitlines()[0]})"
    if not isinstance(doc, Mapping):
        return None, "is not a YAML mapping"
    return doc, None


def triggers(doc: Mapping[str, Any]) -> set[str]:
    # YAML 1.1 reads the bare key ``on`` as the boolean True.
    raw: Mapping[Any, Any] = doc
    on = raw.get("on", raw.get(True))
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return {t for t in on if isinstance(t, str)}
    if isinstance(on, Mapping):
        return {str(t) for t in on}
    return set()


def jobs(doc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for job_id, job in as_map(doc.get("jobs")).items():
        if isinstance(job, Mapping):
            yield str(job_id), job


def steps(doc: Mapping[str, Any]) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    for job_id, job in jobs(doc):
        for i, step in enumerate(as_list(job.get("steps"))):
            if isinstance(step, Mapping):
                yield job_id, i, step


def _step_name(job_id: str, i: int, step: Mapping[str, Any]) -> str:
    label = step.get("name") or step.get("id") or step.get("uses") or f"#{i + 1}"
    return f"job {job_id!r} step {str(label)!r}"


def _uses(step: Mapping[str, Any], action: str) -> bool:
    uses = step.get("uses")
    return isinstance(uses, str) and uses.split("@", 1)[0].lower() == action


def _run(step: Mapping[str, Any]) -> str:
    run = step.get("run")
    return run if isinstance(run, str) else ""


def _with(step: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(step.get("with"))


def _workflow_check(inner: Any) -> Any:
    def check(res: Resource, config: Mapping[str, Any]) -> list[str]:
        found = workflow_of(res)
        if found is None:
            return []
        path, content = found
        doc, error = load_workflow(content)
        if doc is None:
            return [f"{path}: {error}"]
        return [f"{path}: {m}" for m in inner(doc, config)]

    check.__name__ = inner.__name__
    check.__doc__ = inner.__doc__
    return check


def builds_image(doc: Mapping[str, Any]) -> bool:
    return any(_uses(s, "docker/build-push-action") or _BUILD_RUN.search(_run(s)) for _, _, s in steps(doc))


def _severities(text: Any) -> set[str]:
    return {s.strip().upper() for s in str(text).split(",") if s.strip()} if text is not None else set()


def _image_scan(doc: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if not builds_image(doc):
        return []
    required = {s.upper() for s in config.get("failOnSeverities") or ["CRITICAL", "HIGH"] if isinstance(s, str)}
    problems: list[str] = []
    good_scan, any_scan, sarif_scan = False, False, False
    for job_id, i, s in steps(doc):
        if _uses(s, "aquasecurity/trivy-action"):
            any_scan = True
            w = _with(s)
            sev = _severities(w.get("severity"))
            exit_code = str(w.get("exit-code", "0")).strip()
            fmt = str(w.get("format", "table")).strip()
            who = _step_name(job_id, i, s)
            if not required <= sev:
                problems.append(
                    f"{who} scans severities {sorted(sev) or 'all (default)'} but must fail on {sorted(required)}"
                )
            elif exit_code != "1":
                problems.append(f"{who} has exit-code {exit_code!r}: findings do not fail the build (want '1')")
            else:
                good_scan = True
            sarif_scan = sarif_scan or fmt == "sarif"
        elif _TRIVY_RUN.search(_run(s)):
            any_scan = True
            run = _run(s)
            m = re.search(r"--severity[ =]([A-Z,]+)", run)
            sev = _severities(m.group(1)) if m else set()
            if required <= sev and re.search(r"--exit-code[ =]1\b", run):
                good_scan = True
            else:
                problems.append(
                    f"{_step_name(job_id, i, s)} runs trivy without "
                    f"--exit-code 1 --severity {','.join(sorted(required))}"
                )
            sarif_scan = sarif_scan or bool(re.search(r"--format[ =]sarif\b", run))
    uploads = [(job_id, i, s) for job_id, i, s in steps(doc) if _uses(s, "github/codeql-action/upload-sarif")]
    msgs = []
    if not any_scan:
        msgs.append("builds a container image but runs no Trivy scan (aquasecurity/trivy-action)")
    elif not good_scan:
        msgs.extend(problems)
    if any_scan and not sarif_scan:
        msgs.append("the Trivy scan does not write SARIF (format: sarif)")
    if not uploads:
        msgs.append("does not upload SARIF to code scanning (github/codeql-action/upload-sarif)")
    elif not any(
        re.sub(r"\s", "", str(s.get("if", ""))).find(cond) >= 0
        for _, _, s in uploads
        for cond in ("always()", "!cancelled()")
    ):
        msgs.append(
            "the SARIF upload step lacks `if: always()` (or `!cancelled()`), so results are lost "
            "exactly when the scan fails the job"
        )
    return msgs


def _all_uses(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for job_id, job in jobs(doc):
        uses = job.get("uses")
        if isinstance(uses, str):
            yield f"job {job_id!r}", uses
    for job_id, i, s in steps(doc):
        uses = s.get("uses")
        if isinstance(uses, str):
            yield _step_name(job_id, i, s), uses


def _pinned(doc: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for who, uses in _all_uses(doc):
        if uses.startswith("./"):
            continue
        if uses.startswith("docker://"):
            if not _DOCKER_DIGEST.match(uses):
                msgs.append(f"{who} uses {uses!r}: pin the image by @sha256 digest")
        elif not _SHA_PINNED.match(uses):
            msgs.append(f"{who} uses {uses!r}: pin it by full 40-character commit SHA")
    return msgs


def _is_write(perms: Any) -> list[str]:
    if perms == "write-all":
        return ["write-all"]
    return [f"{k}: write" for k, v in as_map(perms).items() if v == "write"]


def _permissions(doc: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    top = doc.get("permissions", None)
    has_top = "permissions" in doc
    if has_top:
        writes = _is_write(top)
        if writes:
            msgs.append(f"workflow-level permissions grant {writes}; grant write scopes per job instead")
    for job_id, job in jobs(doc):
        if "permissions" not in job:
            if not has_top:
                msgs.append(
                    f"job {job_id!r} has no permissions and the workflow sets none "
                    "(the token gets the repository default)"
                )
            continue
        if job.get("permissions") == "write-all":
            msgs.append(f"job {job_id!r} grants write-all; list the scopes it needs")
    return msgs


_HEAD_REF = re.compile(r"pull_request\.head\.(?:sha|ref|repo)|github\.head_ref|refs/pull/|merge_commit_sha")


def _prt_checkout(doc: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if "pull_request_target" not in triggers(doc):
        return []
    msgs = []
    for job_id, i, s in steps(doc):
        if _uses(s, "actions/checkout"):
            w = _with(s)
            for key in ("ref", "repository"):
                val = w.get(key)
                if isinstance(val, str) and _HEAD_REF.search(val):
                    msgs.append(
                        f"{_step_name(job_id, i, s)} checks out the pull request head ({key}: {val}) "
                        "in a pull_request_target workflow"
                    )
        run = _run(s)
        if re.search(r"\bgh\s+pr\s+checkout\b", run) or (
            re.search(r"\bgit\s+(?:checkout|fetch)\b", run) and _HEAD_REF.search(run)
        ):
            msgs.append(
                f"{_step_name(job_id, i, s)} checks out the pull request head in a pull_request_target workflow"
            )
    return msgs


image_scan = _workflow_check(_image_scan)


POLICY_CI_IMAGE_SCAN = Rule(
    name="ci-image-scan",
    area="ci",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=image_scan,
    applies_to=frozenset({REPOSITORY_FILE}),
    config={
        "failOnSeverities": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["CRITICAL", "HIGH"],
            "description": "Severities the Trivy scan must fail the build on.",
        },
    },
    description="Every workflow that builds an image scans it with Trivy, fails on CRITICAL/HIGH and "
    "uploads SARIF to code scanning.",
    remediation="Add aquasecurity/trivy-action (pinned) after the build with severity: CRITICAL,HIGH, "
    "exit-code: '1', format: sarif, then github/codeql-action/upload-sarif with "
    "if: always() and security-events: write on that job.",
)


actions_pinned_by_sha = _workflow_check(_pinned)


POLICY_CI_ACTIONS_PINNED_BY_SHA = Rule(
    name="ci-actions-pinned-by-sha",
    area="ci",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=actions_pinned_by_sha,
    applies_to=frozenset({REPOSITORY_FILE}),
    description="Every `uses:` in a workflow is pinned by full commit SHA (docker:// by digest).",
    remediation="Reference actions as owner/repo@<40-hex SHA> from components/versions.py ACTIONS "
    "(keep the tag in a trailing comment).",
)


least_privilege_permissions = _workflow_check(_permissions)


POLICY_CI_LEAST_PRIVILEGE_PERMISSIONS = Rule(
    name="ci-least-privilege-permissions",
    area="ci",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=least_privilege_permissions,
    applies_to=frozenset({REPOSITORY_FILE}),
    description="Workflows declare explicit, least-privilege token permissions (read at workflow level, "
    "writes per job, never write-all).",
    remediation="Add `permissions: {contents: read}` at workflow level and grant write scopes "
    "(packages, security-events, id-token...) only on the jobs that need them.",
)


no_pull_request_target_checkout = _workflow_check(_prt_checkout)


POLICY_CI_NO_PULL_REQUEST_TARGET_CHECKOUT = Rule(
    name="ci-no-pull-request-target-checkout",
    area="ci",
    severity="critical",
    kind="resource",
    default_level="mandatory",
    check=no_pull_request_target_checkout,
    applies_to=frozenset({REPOSITORY_FILE}),
    description="No pull_request_target workflow checks out the pull request's head (untrusted code with "
    "a privileged token).",
    remediation="Use the pull_request trigger for anything that runs PR code; keep pull_request_target "
    "for labelling/commenting without checking out the head.",
)


# Expression injection -----------------------------------------------------------------------------
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# Contexts whose text someone outside the repository can choose: any field of the triggering event
# (titles, bodies, branch names, commit messages, labels...), the head branch, and inputs.
_UNTRUSTED = re.compile(
    r"\b(?:github\s*\.\s*event\s*\.\s*)?inputs\s*\.\s*([\w\-]+)|\bgithub\s*\.\s*(?:event\b[\w.\-\[\]'\"*]*|head_ref\b)"
)
# Event fields that are numbers, ids or SHAs: not text an attacker can shape into a command.
_SAFE_EVENT_FIELD = re.compile(
    r"\.(?:number|id|node_id|sha|before|after|run_id|run_number|run_attempt|additions|deletions|"
    r"changed_files|commits|draft|merged|fork)$"
)
_SAFE_INPUT_TYPES = frozenset({"boolean", "number", "choice", "environment"})


def _input_types(doc: Mapping[str, Any]) -> dict[str, str]:
    raw: Mapping[Any, Any] = doc
    on = as_map(raw.get("on", raw.get(True)))
    out: dict[str, str] = {}
    for trigger in ("workflow_dispatch", "workflow_call"):
        for name, spec in as_map(as_map(on.get(trigger)).get("inputs")).items():
            out[str(name)] = str(as_map(spec).get("type", "string"))
    return out


def _untrusted(expr: str, input_types: Mapping[str, str]) -> list[str]:
    found = []
    for m in _UNTRUSTED.finditer(expr):
        text = re.sub(r"\s", "", m.group(0))
        if m.group(1) is not None:  # inputs.<name>: safe only when typed so it cannot carry text
            types = {input_types.get(m.group(1), "string")}
            if types <= _SAFE_INPUT_TYPES:
                continue
        elif text.startswith("github.event") and (text == "github.event_name" or _SAFE_EVENT_FIELD.search(text)):
            continue
        found.append(text)
    return found


def _injection(doc: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    types = _input_types(doc)
    msgs = []
    for job_id, i, s in steps(doc):
        sinks = [("run", _run(s))]
        if _uses(s, "actions/github-script"):
            sinks.append(("with.script", str(_with(s).get("script", ""))))
        for field, text in sinks:
            for expr in _EXPR.findall(text):
                for ctx in _untrusted(expr, types):
                    msgs.append(
                        f"{_step_name(job_id, i, s)} expands ${{{{ {ctx} }}}} in {field}: text from outside the "
                        "repository becomes code; pass it through env: and quote the variable"
                    )
    return msgs


# Security gates that cannot fail --------------------------------------------------------------------
_SCAN_ACTIONS = (
    "aquasecurity/trivy-action",
    "github/codeql-action/analyze",
    "zizmorcore/zizmor-action",
    "anchore/scan-action",
    "gitleaks/gitleaks-action",
    "returntocorp/semgrep-action",
    "semgrep/semgrep-action",
    "bridgecrewio/checkov-action",
    "aquasecurity/tfsec-action",
    "snyk/actions",
    "ossf/scorecard-action",
    "google/osv-scanner-action",
)
_SCAN_RUN = re.compile(
    r"\b(?:trivy|grype|zizmor|gitleaks|semgrep|checkov|tfsec|osv-scanner|bandit|pip-audit|safety\s+check|"
    r"npm\s+audit|yarn\s+audit|snyk\s+test|kubesec|kube-linter|conftest|cosign\s+verify)\b"
)
_SWALLOW = re.compile(r"\|\|\s*(?:true|:|exit\s+0)\b|\bset\s+\+e\b|;\s*true\s*$|\bexit\s+0\s*$", re.MULTILINE)
_NO_FAIL_INPUTS = {
    "aquasecurity/trivy-action": ("exit-code", "0", ("0", "")),
    "anchore/scan-action": ("fail-build", "true", ("false",)),
    "aquasecurity/tfsec-action": ("soft_fail", "false", ("true",)),
    "bridgecrewio/checkov-action": ("soft_fail", "false", ("true",)),
}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _gate(step: Mapping[str, Any]) -> str | None:
    uses = step.get("uses")
    if isinstance(uses, str):
        base = uses.split("@", 1)[0].lower()
        for action in _SCAN_ACTIONS:
            if base == action or base.startswith(action + "/"):
                return action
    m = _SCAN_RUN.search(_run(step))
    return m.group(0) if m else None


def _gates_can_fail(doc: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for job_id, job in jobs(doc):
        for i, s in enumerate(as_list(job.get("steps"))):
            if not isinstance(s, Mapping) or (gate := _gate(s)) is None:
                continue
            who = f"{_step_name(job_id, i, s)} ({gate})"
            if _truthy(s.get("continue-on-error")):
                msgs.append(f"{who} sets continue-on-error: true, so its findings never fail the job")
            if _truthy(job.get("continue-on-error")):
                msgs.append(f"{who} is in job {job_id!r} with continue-on-error: true")
            swallowed = _SWALLOW.search(_run(s))
            if swallowed:
                msgs.append(f"{who} swallows the scanner's exit status ({swallowed.group(0)!r})")
            if gate in _NO_FAIL_INPUTS:
                key, default, bad = _NO_FAIL_INPUTS[gate]
                value = str(_with(s).get(key, default)).strip().strip("'\"").lower()
                if value in bad:
                    msgs.append(f"{who} has {key}: {value or default!r}, so findings do not fail the job")
    return msgs


# Reusable workflows and runners ---------------------------------------------------------------------
def _inherit_unpinned(doc: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    msgs = []
    for job_id, job in jobs(doc):
        uses = job.get("uses")
        local = isinstance(uses, str) and uses.startswith("./")
        if isinstance(uses, str) and job.get("secrets") == "inherit" and not local and not _SHA_PINNED.match(uses):
            msgs.append(
                f"job {job_id!r} passes secrets: inherit to {uses!r}, which is not pinned by commit SHA: "
                "whoever moves that ref receives every secret"
            )
    return msgs


_FORK_GUARD = re.compile(
    r"head\.repo\.full_name\s*==\s*github\.repository|github\.repository\s*==\s*github\.event\.pull_request\.head"
    r"\.repo\.full_name|!\s*github\.event\.pull_request\.head\.repo\.fork|head\.repo\.fork\s*==\s*false"
)


def _self_hosted(runs_on: Any) -> bool:
    if isinstance(runs_on, str):
        return "self-hosted" in runs_on
    if isinstance(runs_on, list):
        return any(_self_hosted(x) for x in runs_on)
    if isinstance(runs_on, Mapping):
        return "group" in runs_on or _self_hosted(runs_on.get("labels"))
    return False


def _self_hosted_on_forks(doc: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    on = triggers(doc) & {"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"}
    if not on:
        return []
    return [
        f"job {job_id!r} runs on a self-hosted runner ({job.get('runs-on')!r}) on {', '.join(sorted(on))}, "
        "so a fork's pull request runs code on it; add `if: github.event.pull_request.head.repo.full_name == "
        "github.repository` or use a GitHub-hosted runner"
        for job_id, job in jobs(doc)
        if _self_hosted(job.get("runs-on")) and not _FORK_GUARD.search(str(job.get("if", "")))
    ]


no_untrusted_input_in_run = _workflow_check(_injection)


POLICY_CI_NO_UNTRUSTED_INPUT_IN_RUN = Rule(
    name="ci-no-untrusted-input-in-run",
    area="ci",
    severity="critical",
    kind="resource",
    default_level="mandatory",
    check=no_untrusted_input_in_run,
    applies_to=frozenset({REPOSITORY_FILE}),
    description="No `run:` script (or github-script `script`) expands text from outside the repository: "
    "`${{ github.event.* }}` (titles, bodies, branch names, commit messages), `github.head_ref`, string inputs.",
    remediation="Pass the value through `env:` (`env: {TITLE: ${{ github.event.pull_request.title }}}`) and "
    'use "$TITLE" in the script; numbers, ids and SHAs of the event and boolean/choice inputs are fine.',
)


security_gates_can_fail = _workflow_check(_gates_can_fail)


POLICY_CI_SECURITY_GATES_CAN_FAIL = Rule(
    name="ci-security-gates-can-fail",
    area="ci",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=security_gates_can_fail,
    applies_to=frozenset({REPOSITORY_FILE}),
    description="A security scan step (Trivy, CodeQL, zizmor, Grype, gitleaks, Semgrep, Checkov...) can fail "
    "its job: no continue-on-error, no `|| true`/`set +e`, no exit-code 0 or soft_fail.",
    remediation="Remove continue-on-error and `|| true` from the scan; give trivy-action exit-code: '1' "
    "(anchore fail-build: true); to keep SARIF on failure, upload it in a later step with if: always().",
)


no_secrets_inherit_unpinned = _workflow_check(_inherit_unpinned)


POLICY_CI_NO_SECRETS_INHERIT_UNPINNED = Rule(
    name="ci-no-secrets-inherit-unpinned",
    area="ci",
    severity="high",
    kind="resource",
    default_level="mandatory",
    check=no_secrets_inherit_unpinned,
    applies_to=frozenset({REPOSITORY_FILE}),
    description="`secrets: inherit` goes only to reusable workflows in this repository or pinned by commit SHA.",
    remediation="Pin the reusable workflow (owner/repo/.github/workflows/x.yml@<40-hex SHA>) or pass only "
    "the secrets it needs (`secrets: {TOKEN: ${{ secrets.TOKEN }}}`).",
)


no_self_hosted_on_forks = _workflow_check(_self_hosted_on_forks)


POLICY_CI_NO_SELF_HOSTED_ON_FORKS = Rule(
    name="ci-no-self-hosted-on-forks",
    area="ci",
    severity="critical",
    kind="resource",
    default_level="mandatory",
    check=no_self_hosted_on_forks,
    applies_to=frozenset({REPOSITORY_FILE}),
    description="No job of a pull_request(_target) workflow runs on a self-hosted runner unless it is "
    "guarded against pull requests from forks.",
    remediation="Run pull-request jobs on GitHub-hosted runners, or add "
    "`if: github.event.pull_request.head.repo.full_name == github.repository` to the job.",
)

"""CI/CD of the app repository: workflow builders (``components.ci.workflows``) and the CiPipelines
component that commits them and manages environments, secrets and the main-branch ruleset on GitHub."""

from components.ci.component import CiPipelines, CiPipelinesArgs
from components.ci.workflows import WorkflowOptions, build_workflows, render_workflows, required_checks

__all__ = [
    "CiPipelines",
    "CiPipelinesArgs",
    "WorkflowOptions",
    "build_workflows",
    "render_workflows",
    "required_checks",
]

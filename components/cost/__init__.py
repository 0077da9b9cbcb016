"""Cost visibility: OpenCost with the stack's unit prices, and the pull-request cost estimate.

Import-light on purpose: ``estimate`` (standard library only) is imported by the offline render, the
``python -m tools.cost`` command and the policy pack; the ``CostVisibility`` ComponentResource lives in
``component.py`` and ``monitoring_addons`` in ``addons.py``.

- ``estimate``: monthly cost of a rendered ``plan.json`` by component, namespace and team.
- ``diff``: compare two estimates; the Markdown pull-request comment and the threshold check.
- ``opencost``: OpenCost's custom pricing, the ``costModel`` stack output, RBAC rules, env, UI nginx.
- ``addons``: the OpenCost scrape job, cost rules and the cost dashboard handed to Monitoring.
"""

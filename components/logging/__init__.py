"""Logging: Grafana Loki (single binary, filesystem storage, retention that deletes) and Grafana Alloy.

Import-light like ``components.monitoring``: the builders (``loki_config``, ``alloy_config``,
``dashboard``, ``rules``, ``addons``) return plain data and never import Pulumi. The ComponentResource
lives in ``component.py``: ``from components.logging.component import Logging, LoggingArgs``.

This is the subpackage ``components.logging``; it never shadows the standard library's ``logging``
(only the repository root is on ``sys.path``, never ``components/``).
"""

from __future__ import annotations

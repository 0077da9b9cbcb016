"""orders-api: a small orders service instrumented for the hardening platform.

Run it with ``python -m orders_api`` (container, working directory ``/app``) or
``python -m app.orders_api`` from the repository root. Configuration: environment variables,
see :mod:`orders_api.settings` and ``docs/APP.md``.
"""

from __future__ import annotations

__all__ = ["create_app", "load_settings"]

from .api import create_app
from .settings import load_settings

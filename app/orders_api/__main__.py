"""``python -m orders_api``: validate the settings, configure JSON logs, serve with uvicorn.

Exit status 2 with one JSON line on stderr naming every invalid variable when the configuration is
invalid. SIGTERM/SIGINT: uvicorn stops accepting connections, finishes in-flight requests (up to
``APP_SHUTDOWN_TIMEOUT_SECONDS``), then the lifespan stops the Vault refresher.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping

import uvicorn

from .api import create_app
from .logs import configure_logging
from .settings import SettingsError, load_settings


def main(environ: Mapping[str, str] | None = None) -> int:
    try:
        settings = load_settings(os.environ if environ is None else environ)
    except SettingsError as exc:
        sys.stderr.write(
            json.dumps(
                {
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "level": "error",
                    "logger": "orders_api.settings",
                    "msg": "invalid configuration; not starting",
                    "problems": exc.problems,
                }
            )
            + "\n"
        )
        return 2
    configure_logging(settings.log_level)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds + 0.999),
        # behind the Service's load balancer connections are reused; keep them a little longer than 5 s
        timeout_keep_alive=15,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

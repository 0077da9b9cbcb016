"""Entry point: ``python -m tools.vault``."""

from tools.vault.cli import main

raise SystemExit(main())

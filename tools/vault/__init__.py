"""Vault operator command: ``python -m tools.vault <status|init|unseal|reconcile|seed|rotation-report>``.

See ``tools/vault/cli.py`` for the commands and docs/SECURITY_GUIDE.md for the operator walkthrough.
"""

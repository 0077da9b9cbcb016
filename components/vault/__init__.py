"""Vault on Kubernetes: server configuration, declarative configuration and policies (pure builders).

Import-light on purpose: the operator command (``python -m tools.vault``) and the tests import the
builders below without Pulumi. The ``SecretsVault`` ComponentResource lives in ``component.py`` and is
imported from there by ``__main__.py``.

- ``server_config``: the server HCL (Raft, listener/TLS, service registration, telemetry), probes, env.
- ``declarative``: the platform's desired configuration (KV v2, Kubernetes and JWT auth, policies, audit),
  built as the document the reconcile step applies.
- ``document``: that document (``hardening/v2``), shaped like the Vault API: the JSON Schema in
  ``schema/vault-config.schema.json``, one module per section with its builders and semantic checks, and
  the ``hardening/v1`` conversion.
- ``policy_hcl``: ACL policies as data, rendered to / parsed from HCL.
"""

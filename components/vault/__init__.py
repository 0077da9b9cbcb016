"""Vault on Kubernetes: server configuration, declarative configuration and policies (pure builders).

Import-light on purpose: the operator command (``python -m tools.vault``) and the tests import the
builders below without Pulumi. The ``SecretsVault`` ComponentResource lives in ``component.py`` and is
imported from there by ``__main__.py``.

- ``server_config``: the server HCL (Raft, listener/TLS, service registration, telemetry), probes, env.
- ``declarative``: the whole desired configuration (KV v2, Kubernetes and JWT auth, policies, audit) as
  one data structure, rendered to the document the reconcile step applies, and validated.
- ``policy_hcl``: ACL policies as data, rendered to / parsed from HCL.
"""

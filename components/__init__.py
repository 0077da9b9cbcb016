"""Pulumi ComponentResources that harden a web service on Kubernetes.

One folder per area (monitoring, logging, vault, canary, cost, ci, namespaces); configuration
artifacts come from pure builder functions inside each folder and are tested on their own.
"""

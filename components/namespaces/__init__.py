"""Platform namespaces: Pod Security labels, cost labels, LimitRange, ResourceQuota, default-deny."""

from components.namespaces.component import PlatformNamespaces, PlatformNamespacesArgs
from components.namespaces.specs import NamespaceSpec, platform_namespaces

__all__ = ["NamespaceSpec", "PlatformNamespaces", "PlatformNamespacesArgs", "platform_namespaces"]

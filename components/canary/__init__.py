"""Progressive delivery: Argo Rollouts controller, the app as a canary/blue-green Rollout, analysis."""

from components.canary.component import CanaryDelivery, CanaryDeliveryArgs
from components.canary.monitoring import monitoring_addons

__all__ = ["CanaryDelivery", "CanaryDeliveryArgs", "monitoring_addons"]

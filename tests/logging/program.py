"""A Pulumi program with only the Logging component, run under mocks by tests/logging/test_component.py.

It mirrors what ``__main__.py`` does for Logging (validated settings, explicit provider, the component,
its stack outputs) so the component is tested on its own, for each stack's real configuration.
"""

import pulumi
import pulumi_kubernetes as k8s

from components.config import settings_from_pulumi
from components.logging.component import Logging, LoggingArgs

settings = settings_from_pulumi()
provider = k8s.Provider("k8s", enable_server_side_apply=True)
logging_ = Logging("logging", LoggingArgs(settings), opts=pulumi.ResourceOptions(providers={"kubernetes": provider}))
pulumi.export("lokiPushUrl", logging_.push_url)
pulumi.export("lokiQueryUrl", logging_.query_url)

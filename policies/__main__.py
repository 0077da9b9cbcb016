"""CrossGuard entry point: builds the PolicyPack from the rule list in ``policies/registry.py``.

The Pulumi CLI (and ``tests/policies/grpc_engine.py``, the engine-equivalence test) runs this file with
the pack directory as the working directory; the repository root goes on ``sys.path`` so ``policies.*``
and ``components.conventions`` import the same way as in tests. ``PolicyPack`` serves gRPC and blocks
until the process is stopped.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from pulumi_policy import PolicyPack  # noqa: E402

from policies.registry import pack_arguments  # noqa: E402

PolicyPack(**pack_arguments())

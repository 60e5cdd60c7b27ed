"""The transport seam: every byte iotvet sends to a target goes through here.

Scope, rate, concurrency and budgets are enforced at this layer, before anything leaves,
so no probe can bypass them. Library exceptions are translated into
:class:`~iotvet.core.errors.TargetError` here and nowhere else.
"""

from iotvet.transport.governor import Governor
from iotvet.transport.http import Exchange, HttpTransport, Request, Response

__all__ = ["Exchange", "Governor", "HttpTransport", "Request", "Response"]

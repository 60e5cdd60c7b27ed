"""Identities on the wire: applying credentials, logging in, refreshing, verifying liveness."""

from iotvet.auth.session import Liveness, Session, open_sessions

__all__ = ["Liveness", "Session", "open_sessions"]

"""The registry of channel kinds. A kind is one module that calls `register()`; add its import below."""

from notifications.channel_kinds import email, webhook  # noqa: F401  (registers the kinds)
from notifications.channel_kinds.base import ChannelKind, get_kind, register, registered_kinds

__all__ = ["ChannelKind", "get_kind", "register", "registered_kinds"]

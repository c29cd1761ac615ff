"""The per-process cache of the runtime SMTP sender.

A found provider is kept for NOTIFICATION_SENDER_CACHE_TTL_SECONDS; a missing one is never cached,
so a process notices a newly created provider on its next send. The process that creates or
updates the provider invalidates its cache on commit; other processes refresh within the TTL.
Either way, the pooled SMTP connections to a relay the provider no longer names are closed.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings

from core.telemetry import tracer
from providers.kinds import SMTP, SmtpConfig
from providers.models import NotificationProvider
from providers.smtp import SmtpEndpoint, close_pooled


@dataclass(frozen=True)
class SmtpSender:
    """The resolved provider: what to send as (config) and where to connect (endpoint)."""

    provider_id: uuid.UUID
    config: SmtpConfig
    endpoint: SmtpEndpoint


@dataclass(frozen=True)
class _Entry:
    sender: SmtpSender
    expires_at: float


_lock = threading.Lock()
_entry: _Entry | None = None
# Bumped by every invalidation, so a load that raced with one is not stored.
_generation = 0
# The endpoint of the last sender loaded, kept past the entry's TTL to close its pooled connections
# once a reload finds the provider changed or gone.
_last_endpoint: SmtpEndpoint | None = None


def provider_endpoint(config: SmtpConfig) -> SmtpEndpoint:
    """Where the provider's relay is: `insecure=false` means verified TLS."""
    return SmtpEndpoint(
        host=config.relay,
        port=config.port,
        tls=not config.insecure,
        username=config.username,
        password=config.password,
    )


def _load() -> SmtpSender | None:
    provider = NotificationProvider.objects.filter(provider=SMTP.key).first()
    if provider is None:
        return None
    config = SMTP.resolve(provider.config, provider.secrets)
    return SmtpSender(provider_id=provider.id, config=config, endpoint=provider_endpoint(config))


def get_smtp_sender() -> SmtpSender | None:
    """The SMTP provider as this process currently sees it, or None when none is configured."""
    global _entry, _last_endpoint
    with tracer().start_as_current_span("notification.smtp_sender") as span:
        now = time.monotonic()
        with _lock:
            entry = _entry if _entry is not None and _entry.expires_at > now else None
            generation = _generation
        cache_hit = entry is not None
        if entry is not None:
            sender: SmtpSender | None = entry.sender
        else:
            # Read outside the lock: a slow database must not block cache hits in other threads.
            sender = _load()
            previous = None
            with _lock:
                if generation == _generation:
                    previous, _last_endpoint = _last_endpoint, sender.endpoint if sender is not None else None
                    if sender is not None:
                        _entry = _Entry(sender, now + settings.NOTIFICATION_SENDER_CACHE_TTL_SECONDS)
            if previous is not None and (sender is None or sender.endpoint != previous):
                close_pooled(previous)  # changed by another process: its relay or credentials are stale
        span.set_attribute("provider_configured", sender is not None)
        span.set_attribute("cache_hit", cache_hit)
        if sender is not None:
            span.set_attribute("provider_id", str(sender.provider_id))
        return sender


def invalidate_sender_cache() -> None:
    """Forgets the cached sender of this process and closes its pooled connections; the next call
    reads the database."""
    global _entry, _generation, _last_endpoint
    with _lock:
        previous, _last_endpoint = _last_endpoint, None
        _entry = None
        _generation += 1
    if previous is not None:
        close_pooled(previous)

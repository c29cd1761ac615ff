"""Webhook signatures: HMAC-SHA256 over ``f"{timestamp}.{body}"`` (docs/webhooks.md).

The timestamp is in the signed string so a receiver can refuse replays of an old, captured request.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Notification-Signature"
TIMESTAMP_HEADER = "X-Notification-Timestamp"
DELIVERY_ID_HEADER = "X-Notification-Delivery-Id"
SCHEME = "sha256"


def signature(secret: str, timestamp: int, body: str) -> str:
    """The value of the signature header: ``sha256=<hex digest>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signature_headers(secret: str, body: str, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, *, timestamp: str, body: str, signature_header: str, tolerance: int = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - sent_at) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent_at, body), signature_header)

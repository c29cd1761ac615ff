"""Per-user rate limits for actions that reach out to the network on a caller's behalf.

Channel validation, a rule dry run with `send`, and the provider test each open a connection to a
host the caller configured; unlimited, they would make the service a port scanner. The services call
`rate_limit_hit` before connecting, so every interface (REST, GraphQL, admin) shares one budget.

Counters live where every process sees them: in Redis when RATE_LIMIT_REDIS_URL is set (it defaults
to CELERY_BROKER_URL when that is a Redis URL), otherwise in the database (`RateLimitCounter`).
Both count atomically, so concurrent requests cannot slip past the limit. The window is fixed:
NOTIFICATION_TEST_SEND_LIMIT actions per NOTIFICATION_TEST_SEND_WINDOW_SECONDS, per user.
System actors (the CLI, run by someone with shell access) are not limited.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.actors import SystemActor
from core.errors import DomainError, ErrorCode
from core.models import RateLimitCounter
from core.redis_clients import redis_client

logger = logging.getLogger(__name__)

TEST_SEND = "test-send"
KEY_PREFIX = "ratelimit"


class RateLimited(DomainError):
    """Too many actions in the current window; `retry_after` is the number of seconds until it ends."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _hit_redis(url: str, key: str, window: int) -> int:
    pipe = redis_client(url).pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window + 1, nx=True)
    count, _ = pipe.execute()
    return int(count)


def _hit_database(key: str, expires_in: float) -> int:
    now = timezone.now()
    with transaction.atomic():
        if not RateLimitCounter.objects.filter(key=key).update(count=F("count") + 1):
            try:
                with transaction.atomic():
                    RateLimitCounter.objects.create(key=key, count=1, expires_at=now + timedelta(seconds=expires_in))
            except IntegrityError:  # another process created it first
                RateLimitCounter.objects.filter(key=key).update(count=F("count") + 1)
            else:
                # A new window began: the counters of windows that ended are of no use any more.
                RateLimitCounter.objects.filter(expires_at__lt=now).delete()
        return RateLimitCounter.objects.values_list("count", flat=True).get(key=key)


def rate_limit_hit(*, actor: Any, scope: str = TEST_SEND, what: str = "test sends") -> None:
    """Counts one action of `actor` in `scope`; raises RateLimited once the window's budget is spent."""
    limit: int = settings.NOTIFICATION_TEST_SEND_LIMIT
    window: int = settings.NOTIFICATION_TEST_SEND_WINDOW_SECONDS
    user_id = getattr(actor, "pk", None)
    if limit <= 0 or window <= 0 or isinstance(actor, SystemActor) or user_id is None:
        return
    now = time.time()
    window_number = int(now // window)
    key = f"{KEY_PREFIX}:{scope}:{user_id}:{window_number}"
    url = settings.RATE_LIMIT_REDIS_URL
    count = _hit_redis(url, key, window) if url else _hit_database(key, (window_number + 1) * window - now)
    if count > limit:
        retry_after = max(1, math.ceil((window_number + 1) * window - now))
        # Worth an operator's attention: a user probing hosts and ports looks like this.
        logger.warning("Rate limit reached", extra={"scope": scope, "user_id": user_id, "count": count})
        raise RateLimited(
            f"Too many {what}: at most {limit} per {window} seconds. Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )

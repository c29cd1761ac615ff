"""One Redis client per URL and process, shared by the modules that keep cross-process state in Redis."""

from __future__ import annotations

from functools import lru_cache

import redis


@lru_cache(maxsize=8)
def redis_client(url: str) -> redis.Redis:
    # redis-py's pool notices a fork and reconnects in the child, so a cached client is fork-safe.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

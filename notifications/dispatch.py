"""Which `deliver` tasks go to the broker: one per channel while one waits or runs, not one per delivery.

A `deliver` task sends its own delivery and then drains the pending deliveries of its channel
(`notifications.delivery.delivery_process`), so one task covers every delivery of its channel
that is committed while it runs. With a Redis broker a flag per channel says "a task for this
channel is queued or draining, and will look for pending rows again before it ends":

- after its rows are committed, `enqueue` sets the flag (SET NX) and publishes a task only if it
  was not set already;
- a drain holds the flag while it runs (`drain_holds`; DRAIN_SECONDS is well inside its TTL) and,
  before it ends, clears it (`drain_ending`) and then looks for pending rows once more.

So a delivery whose emitter found the flag set is committed before that last look, and the drain
sends it; one committed later finds the flag clear and publishes a task. No pending delivery is
left without a task to come, except when a worker dies mid-drain: its flag then expires after
FLAG_TTL_MS and the channel's pending rows wait for the next emit to it or for the sweeper. A
drain that sees a full batch also asks for a `spare` task, at most one per SPARE_INTERVAL_MS and
channel, so that idle workers share a backlog. Every emit also leaves a wake-up token, which a
drain with nothing left to send waits on for a moment (`wait_for_more`) before it ends.

With any other broker (the embedded filesystem one), or with tasks run eagerly, there is no
shared flag: every delivery gets its own task, as before, and the drains make most of them no-ops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import redis

from core.redis_clients import redis_client

logger = logging.getLogger(__name__)

FLAG_TTL_MS = 10_000
SPARE_INTERVAL_MS = 1_000
KEY_PREFIX = "notification:drain:"
SPARE_PREFIX = "notification:spare:"
WAKE_PREFIX = "notification:wake:"
# Tokens that wake a drain waiting for more: one is enough (a woken drain claims every pending
# row), and more would only wake it again to find nothing.
WAKE_TOKENS_KEPT = 1
WAKE_TTL_MS = 2_000


def _deliver() -> Any:
    from notifications.tasks import deliver  # the tasks module imports the pipeline, which imports this one

    return deliver


def _flags() -> redis.Redis | None:
    """The Redis that holds the flags (the broker's, as the app is configured now), or None."""
    conf = _deliver().app.conf
    url = str(conf.broker_url or "")
    if conf.task_always_eager or not url.startswith(("redis://", "rediss://")):
        return None
    return redis_client(url)


def _publish(delivery_id: str) -> None:
    _deliver().apply_async(args=[delivery_id])


def _flag_set(flags: redis.Redis, key: str, ttl_ms: int = FLAG_TTL_MS) -> bool:
    """Sets a flag that was clear; True when it was. A Redis error counts as clear: a spare task
    costs little, a missing one delays deliveries until the sweeper."""
    try:
        return bool(flags.set(key, 1, nx=True, px=ttl_ms))
    except redis.RedisError:
        logger.warning("Could not set a channel's drain flag in Redis; queueing a task anyway", exc_info=True)
        return True


def enqueue(deliveries: Iterable[tuple[str, Any]]) -> None:
    """Queues tasks for committed `(delivery_id, channel_id)` pairs: one per channel that has none
    waiting or draining, or, without shared flags, one per delivery. A draining task waiting for
    more (`wait_for_more`) is woken instead."""
    flags = _flags()
    seen: set[Any] = set()
    for delivery_id, channel_id in deliveries:
        if flags is None or channel_id is None:
            _publish(delivery_id)
        elif channel_id not in seen:
            seen.add(channel_id)
            if _flag_set_and_wake(flags, channel_id):
                _publish(delivery_id)


# Sets the flag if clear (KEYS[1], ARGV[1] ms) and leaves one wake-up token (KEYS[2], ARGV[2] kept
# for ARGV[3] ms); returns 1 when the flag was clear. One command: cheaper to send than four.
_FLAG_SET_AND_WAKE = """
local was_clear = redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1])
redis.call('RPUSH', KEYS[2], 1)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return was_clear and 1 or 0
"""


@lru_cache(maxsize=8)
def _flag_set_and_wake_script(flags: redis.Redis) -> Any:
    return flags.register_script(_FLAG_SET_AND_WAKE)


def _flag_set_and_wake(flags: redis.Redis, channel_id: Any) -> bool:
    """`_flag_set` and a wake-up token for a drain waiting on the channel, in one round trip."""
    try:
        was_clear = _flag_set_and_wake_script(flags)(
            keys=[f"{KEY_PREFIX}{channel_id}", f"{WAKE_PREFIX}{channel_id}"],
            args=[FLAG_TTL_MS, WAKE_TOKENS_KEPT, WAKE_TTL_MS],
        )
    except redis.RedisError:
        logger.warning("Could not set a channel's drain flag in Redis; queueing a task anyway", exc_info=True)
        return True
    return bool(was_clear)


def wait_for_more(channel_id: Any, timeout: float) -> bool:
    """Blocks until an emitter signals a new delivery for the channel, or `timeout` seconds pass."""
    flags = _flags()
    if flags is None:
        return False
    try:
        return flags.blpop([f"{WAKE_PREFIX}{channel_id}"], timeout=timeout) is not None
    except redis.RedisError:
        logger.warning("Could not wait for a channel's wake-up token in Redis", exc_info=True)
        return False


def kick(*, channel_id: Any, delivery_id: str, spare: bool = False) -> None:
    """Asks for one more task on the channel, named by any of its deliveries.

    A drain that stops with work left (its time is up, or a transient failure) has cleared its
    flag and asks for its continuation, unless another task waits or drains already; one that
    saw a full batch asks for a `spare`, so that an idle worker shares the rest. Without shared
    flags a continuation is always published and a spare never (every delivery has its own task
    then); tasks run eagerly ask for nothing, as the caller's loop runs one for every delivery.
    """
    if _deliver().app.conf.task_always_eager:
        return
    flags = _flags()
    if flags is None:
        if not spare:
            _publish(delivery_id)
    elif spare:
        if _flag_set(flags, f"{SPARE_PREFIX}{channel_id}", SPARE_INTERVAL_MS):
            _publish(delivery_id)
    elif _flag_set(flags, f"{KEY_PREFIX}{channel_id}"):
        _publish(delivery_id)


def drain_holds(channel_id: Any) -> None:
    """Sets (or refreshes) the channel's flag: a drain is on it, emitters need not queue a task."""
    flags = _flags()
    if flags is None:
        return
    try:
        flags.set(f"{KEY_PREFIX}{channel_id}", 1, px=FLAG_TTL_MS)
    except redis.RedisError:
        logger.warning("Could not set a channel's drain flag in Redis", exc_info=True)


def drain_ending(channel_id: Any) -> None:
    """Clears the channel's flag; the drain then looks for pending rows once more before it ends."""
    flags = _flags()
    if flags is None:
        return
    try:
        flags.delete(f"{KEY_PREFIX}{channel_id}")
    except redis.RedisError:
        # The flag then expires on its own; until it does, new deliveries wait for the sweeper.
        logger.warning("Could not clear a channel's drain flag in Redis", exc_info=True)

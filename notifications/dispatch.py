"""Which `deliver` tasks go to the broker: one per channel while one waits, not one per delivery.

A `deliver` task sends its own delivery and then drains the pending deliveries of its channel
(`notifications.delivery.delivery_run`), so one task waiting in the queue covers every delivery
of its channel created before it starts. With a Redis broker a flag per channel says "a task for
this channel is queued and has not started":

- after its rows are committed, `enqueue` sets the flag (SET NX) and publishes a task only if it
  was not set already;
- a task clears the flag (`drain_started`) before its first look for pending rows.

A delivery committed before that look is drained by the task; one committed after it finds the
flag clear and publishes a new task. No pending delivery is ever left without a task to come,
except when a task dies (a killed worker): then its channel's pending rows wait for the next
emit to the channel or for the sweeper. The flag expires after KICK_TTL_MS, so a queued task
that the broker lost blocks new ones for that long at most.

With any other broker (the embedded filesystem one), or with tasks run eagerly, there is no
shared flag: every delivery gets its own task, as before, and the drains make most of them no-ops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import redis

from core.redis_clients import redis_client

logger = logging.getLogger(__name__)

KICK_TTL_MS = 30_000
KEY_PREFIX = "notification:drain-queued:"


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


def _flag_set(flags: redis.Redis, channel_id: Any) -> bool:
    """Sets the channel's flag; True when it was clear. A Redis error counts as clear: a spare task
    costs little, a missing one delays deliveries until the sweeper."""
    try:
        return bool(flags.set(f"{KEY_PREFIX}{channel_id}", 1, nx=True, px=KICK_TTL_MS))
    except redis.RedisError:
        logger.warning("Could not set a channel's drain flag in Redis; queueing a task anyway", exc_info=True)
        return True


def enqueue(deliveries: Iterable[tuple[str, Any]]) -> None:
    """Queues tasks for committed `(delivery_id, channel_id)` pairs: one per channel that has none
    waiting, or, without shared flags, one per delivery."""
    flags = _flags()
    seen: set[Any] = set()
    for delivery_id, channel_id in deliveries:
        if flags is None or channel_id is None:
            _publish(delivery_id)
        elif channel_id not in seen:
            seen.add(channel_id)
            if _flag_set(flags, channel_id):
                _publish(delivery_id)


def kick(*, channel_id: Any, delivery_id: str, spare: bool = False) -> None:
    """Asks for one more task on the channel, named by any of its deliveries, unless one waits.

    A drain that stops with work left (its time is up, or a transient failure) asks for its
    continuation; one that saw a full batch asks for a `spare`, so that an idle worker shares the
    rest. Without shared flags a continuation is always published and a spare never (every
    delivery has its own task then); tasks run eagerly ask for nothing, as the caller's loop
    runs one for every delivery.
    """
    if _deliver().app.conf.task_always_eager:
        return
    flags = _flags()
    if flags is None:
        if not spare:
            _publish(delivery_id)
    elif _flag_set(flags, channel_id):
        _publish(delivery_id)


def drain_started(channel_id: Any) -> None:
    """Clears the channel's flag: from now on a new delivery needs a new task."""
    flags = _flags()
    if flags is None:
        return
    try:
        flags.delete(f"{KEY_PREFIX}{channel_id}")
    except redis.RedisError:
        # The flag then expires on its own; until it does, the next emit's task comes from the sweeper.
        logger.warning("Could not clear a channel's drain flag in Redis", exc_info=True)

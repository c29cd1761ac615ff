"""Celery tasks: an id in, one service call, the retry policy declared here.

Tasks take a delivery id only, never config or secrets, so the broker holds nothing sensitive.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from notifications.delivery import delivery_process, delivery_sweep


@shared_task(
    name="notifications.deliver",
    acks_late=True,  # a worker that dies mid-task leaves the message to be redelivered...
    reject_on_worker_lost=True,  # ...and the claim in delivery_process makes that redelivery safe
    ignore_result=True,
    # The database went away: try the task again later. Send failures are retried by the service's
    # own schedule (below), not by Celery's, since the delivery row holds that state.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def deliver(delivery_id: str) -> None:
    result = delivery_process(delivery_id=delivery_id)
    # The deliveries drained with this one may have no task of their own: their retries go out here.
    for processed in (result, *result.also):
        if processed.retry_at is not None:
            deliver.apply_async(args=[processed.delivery_id], eta=processed.retry_at)


@shared_task(name="notifications.sweep_deliveries", ignore_result=True)
def sweep_deliveries() -> int:
    """Run by Celery beat: re-enqueues deliveries whose task was lost."""
    ids = delivery_sweep()
    for delivery_id in ids:
        deliver.apply_async(args=[delivery_id])
    return len(ids)

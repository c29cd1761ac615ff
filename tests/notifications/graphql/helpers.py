"""Rows the GraphQL tests read: deliveries with attempts, as the worker would have left them."""

from datetime import UTC, datetime

from notifications.models import Delivery, DeliveryAttempt, DeliveryStatus, Rule
from tests.factories import EventFactory, RuleFactory
from tests.notifications.builders import SESSION

NOW = datetime(2026, 1, 13, 9, 30, tzinfo=UTC)


def failed_delivery(rule: Rule | None = None, *, attempts: int = 2, status: str = DeliveryStatus.FAILED) -> Delivery:
    rule = rule or RuleFactory()
    delivery = Delivery.objects.create(
        event=EventFactory(event_type=rule.event_type, payload=SESSION),
        rule=rule,
        channel=rule.channel,
        status=status,
        attempts=attempts,
        failure_stage="webhook_send" if status == DeliveryStatus.FAILED else "",
        last_error="HTTP 500 from the receiver",
    )
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            delivery=delivery,
            number=number,
            started_at=NOW,
            finished_at=NOW,
            outcome="transient_error",
            transient=True,
            failure_stage="webhook_send",
            status_code=500,
            error_code="WEBHOOK_BAD_STATUS",
            excerpt="boom",
        )
        for number in range(1, attempts + 1)
    )
    return delivery

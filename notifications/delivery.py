"""The delivery pipeline: claim a delivery, resolve, render, send, record the attempt, schedule a retry.

Delivery is at least once. A worker claims a row with one conditional UPDATE before it sends, so a
task the broker hands out twice sends once; what can still duplicate is described in
`delivery_sweep`. Receivers deduplicate with the delivery id (the `X-Notification-Delivery-Id`
header of a webhook, the Message-ID of an email).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import DomainError, ErrorCode
from core.telemetry import tracer
from notifications import rendering
from notifications.channel_kinds import get_kind
from notifications.channel_kinds.base import SendFailure, redact
from notifications.models import (
    AttemptOutcome,
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    FailureStage,
    Rule,
)
from providers.sender_cache import SmtpSender, get_smtp_sender

logger = logging.getLogger(__name__)

CLAIMABLE = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
LAST_ERROR_CHARS = 500
SWEEP_BATCH = 500
# Pauses before recording an attempt again on a new connection, when the database connection was
# lost while the message went out (see _record_reconnecting).
RECORD_RETRY_PAUSES = (0.2, 1.0, 3.0)


@dataclass(frozen=True)
class Outcome:
    """What one try came to. `error_message` and `excerpt` are redacted already."""

    status: str  # sent | skipped | failed
    failure_stage: str = ""
    skip_reason: str = ""
    error_code: str = ""
    error_message: str = ""
    transient: bool = False
    status_code: int | None = None
    excerpt: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class ProcessResult:
    """`status` is None when this call did not claim the delivery (someone else has it, or it is done)."""

    delivery_id: str
    status: str | None = None
    retry_at: datetime | None = None


def rule_context(rule: Rule | None) -> dict[str, Any]:
    if rule is None:
        return {}
    return {"id": str(rule.id), "name": rule.name, "event_type": rule.event_type, "description": rule.description}


def channel_context(channel: Channel) -> dict[str, Any]:
    return {"id": str(channel.id), "name": channel.name, "channel_type": channel.channel_type}


def template_context(
    *,
    event_type: str,
    payload: dict[str, Any],
    event_id: Any,
    timestamp: datetime | str,
    rule: Rule | None,
    channel: Channel,
    sender: SmtpSender | None = None,
) -> dict[str, Any]:
    return rendering.build_context(
        event_type=event_type,
        payload=payload,
        event_id=str(event_id),
        timestamp=timestamp,
        rule=rule_context(rule),
        channel=channel_context(channel),
        admin_panel_url=sender.config.admin_panel_url if sender is not None else "",
    )


def _failed(stage: str, exc: DomainError, *, secrets: list[str], transient: bool) -> Outcome:
    return Outcome(
        status="failed",
        failure_stage=stage,
        error_code=str(exc.code),
        error_message=redact(exc.message, secrets=secrets, limit=LAST_ERROR_CHARS),
        transient=transient,
    )


def _run(
    *,
    channel: Channel,
    event_type: str,
    payload: dict[str, Any],
    event_id: Any,
    timestamp: datetime | str,
    rule: Rule | None,
    message_template: str,
    subject_template: str,
    delivery_id: str,
    span: Any,
) -> Outcome:
    kind = get_kind(channel.channel_type)
    try:
        sender = get_smtp_sender()
    except DomainError as exc:  # e.g. SECRET_UNREADABLE after a key mix-up: fixable, so retried
        span.set_attributes(kind.span_attributes(channel=channel, event_type=event_type, sender=None))
        return _failed(FailureStage.RESOLVE_PROVIDER, exc, secrets=[], transient=True)
    span.set_attributes(kind.span_attributes(channel=channel, event_type=event_type, sender=sender))
    secrets = kind.secret_values(channel=channel, sender=sender)
    skip_reason = kind.skip_reason(channel=channel, sender=sender)
    if skip_reason:
        return Outcome(status="skipped", skip_reason=skip_reason)
    context = template_context(
        event_type=event_type,
        payload=payload,
        event_id=event_id,
        timestamp=timestamp,
        rule=rule,
        channel=channel,
        sender=sender,
    )
    try:
        rendered = kind.render(
            channel=channel, message_template=message_template, subject_template=subject_template, context=context
        )
    except rendering.RenderError as exc:
        # The same event renders the same way next time: permanent until the template changes.
        error = DomainError(str(exc), code=exc.code)
        return _failed(FailureStage.RENDER_TEMPLATE, error, secrets=secrets, transient=False)
    try:
        result = kind.send(channel=channel, message=rendered, sender=sender, delivery_id=delivery_id)
    except SendFailure as exc:
        return Outcome(
            status="failed",
            failure_stage=kind.send_stage,
            error_code=str(exc.code),
            error_message=redact(exc.message, secrets=secrets, limit=LAST_ERROR_CHARS),
            transient=exc.transient,
            status_code=exc.status_code,
            excerpt=exc.excerpt,
            retry_after=exc.retry_after,
        )
    return Outcome(status="sent", status_code=result.status_code, excerpt=result.excerpt)


def attempt_send(
    *,
    channel: Channel,
    event_type: str,
    payload: dict[str, Any],
    event_id: Any,
    timestamp: datetime | str,
    rule: Rule | None,
    message_template: str,
    subject_template: str,
    delivery_id: str,
    attempt: int = 1,
    skip_reason: str = "",
) -> Outcome:
    """One try through the channel kind, inside its span. Deliveries and channel validation share it.

    The span records only kinds, ids and outcomes: never recipients, subjects, bodies or secrets.
    """
    kind = get_kind(channel.channel_type)
    with tracer().start_as_current_span(kind.span_name) as span:
        span.set_attribute("channel_type", channel.channel_type)
        span.set_attribute("delivery_id", delivery_id)
        span.set_attribute("attempt", attempt)
        if skip_reason:
            span.set_attributes(kind.span_attributes(channel=channel, event_type=event_type, sender=None))
            outcome = Outcome(status="skipped", skip_reason=skip_reason)
        else:
            outcome = _run(
                channel=channel,
                event_type=event_type,
                payload=payload,
                event_id=event_id,
                timestamp=timestamp,
                rule=rule,
                message_template=message_template,
                subject_template=subject_template,
                delivery_id=delivery_id,
                span=span,
            )
        span.set_attribute("delivery_outcome", outcome.status)
        if outcome.skip_reason:
            span.set_attribute("skip_reason", outcome.skip_reason)
        if outcome.failure_stage:
            span.set_attribute("failure_stage", outcome.failure_stage)
            span.set_attribute("error_code", outcome.error_code)
            span.set_attribute("transient", outcome.transient)
        if outcome.status_code is not None:
            span.set_attribute("status_code", outcome.status_code)
    return outcome


def backoff_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential, with jitter.

    The step doubles from NOTIFICATION_RETRY_BASE_SECONDS up to NOTIFICATION_RETRY_MAX_SECONDS;
    NOTIFICATION_RETRY_JITTER of it is random (1, the default, is "full jitter": anywhere in
    (0, step]), so workers that failed together do not retry together.
    """
    step = min(settings.NOTIFICATION_RETRY_MAX_SECONDS, settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    return step * (1 - settings.NOTIFICATION_RETRY_JITTER * (rng or random).random())


def _retry_delay(attempt: int, retry_after: float | None) -> float:
    delay = backoff_delay(attempt)
    if retry_after is not None:
        # The server's Retry-After is a lower bound, capped so that it cannot park a delivery forever.
        delay = max(delay, min(retry_after, settings.NOTIFICATION_RETRY_MAX_SECONDS))
    return delay


def _claim(pk: uuid.UUID) -> Delivery | None:
    """pending/retrying and due -> sending, in one conditional UPDATE; None when another worker has it."""
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            Delivery.objects.filter(pk=pk, status__in=CLAIMABLE)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now, updated_at=now)
        )
        if not claimed:
            return None
        return Delivery.objects.select_related("event", "rule", "channel").get(pk=pk)


def _pre_skip_reason(delivery: Delivery) -> str:
    """Reasons that stop a delivery before anything is resolved: the rule or channel went away."""
    if delivery.channel is None:
        return "channel_deleted"
    if delivery.rule is None:
        return "rule_deleted"
    if not delivery.channel.enabled:
        return "channel_disabled"
    if not delivery.rule.enabled:
        return "rule_disabled"
    return ""


def _attempt_outcome(outcome: Outcome) -> str:
    if outcome.status == "sent":
        return AttemptOutcome.SENT
    if outcome.status == "skipped":
        return AttemptOutcome.SKIPPED
    return AttemptOutcome.TRANSIENT_ERROR if outcome.transient else AttemptOutcome.PERMANENT_ERROR


def _record(delivery: Delivery, outcome: Outcome) -> ProcessResult:
    """Writes the attempt and the delivery's new state; returns when to try again, if at all."""
    number = delivery.attempts
    finished = timezone.now()
    retry_at = None
    if outcome.status == "sent":
        status = DeliveryStatus.SENT
    elif outcome.status == "skipped":
        status = DeliveryStatus.SKIPPED
    elif outcome.transient and number < settings.NOTIFICATION_MAX_ATTEMPTS:
        status = DeliveryStatus.RETRYING
        retry_at = finished + timedelta(seconds=_retry_delay(number, outcome.retry_after))
    else:
        status = DeliveryStatus.FAILED
    last_error = f"{outcome.error_code}: {outcome.error_message}" if outcome.error_code else ""
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=delivery.claimed_at,
            finished_at=finished,
            outcome=_attempt_outcome(outcome),
            transient=outcome.transient,
            failure_stage=outcome.failure_stage,
            status_code=outcome.status_code,
            error_code=outcome.error_code,
            excerpt=outcome.excerpt,
        )
        # Guarded by the attempt number: if the sweeper gave the row to another worker meanwhile,
        # that worker's result is the one that counts.
        updated = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING, attempts=number).update(
            status=status,
            next_attempt_at=retry_at,
            failure_stage=outcome.failure_stage,
            skip_reason=outcome.skip_reason,
            last_error=last_error,
            sent_at=finished if status == DeliveryStatus.SENT else None,
            updated_at=finished,
        )
    if not updated:
        return ProcessResult(delivery_id=str(delivery.pk))
    return ProcessResult(delivery_id=str(delivery.pk), status=status, retry_at=retry_at)


def _record_reconnecting(delivery: Delivery, outcome: Outcome) -> ProcessResult:
    """`_record`, tried again on a new connection when the database connection was lost.

    By now the message has gone out (or failed): the outcome is known and only its record is
    missing. Left to a task retry, the row would stay `sending` and the sweeper would send the
    message a second time. A record whose commit landed before the connection broke shows up as
    a duplicate attempt number on the next try: the row is then as that commit left it.
    """
    pauses = list(RECORD_RETRY_PAUSES)
    while True:
        try:
            return _record(delivery, outcome)
        except IntegrityError:
            if len(pauses) == len(RECORD_RETRY_PAUSES):
                raise
            return ProcessResult(delivery_id=str(delivery.pk))
        except (OperationalError, InterfaceError):
            if not pauses or connection.in_atomic_block:
                raise
            logger.warning(
                "Lost the database connection while recording a delivery attempt; recording it on a new one",
                extra={"delivery_id": str(delivery.pk), "attempt": delivery.attempts},
            )
            connection.close()
            time.sleep(pauses.pop(0))


def delivery_process(*, delivery_id: str) -> ProcessResult:
    """Claims, sends and records one delivery; the caller re-enqueues it at `retry_at` when set."""
    try:
        pk = uuid.UUID(str(delivery_id))
    except ValueError:
        logger.warning("Ignoring a delivery task with a malformed id")
        return ProcessResult(delivery_id=str(delivery_id))
    delivery = _claim(pk)
    if delivery is None:
        return ProcessResult(delivery_id=str(pk))
    event: Event = delivery.event
    rule = delivery.rule
    skip_reason = _pre_skip_reason(delivery)
    if delivery.channel is None:  # nothing to send through, nor a kind to name the span after
        outcome = Outcome(status="skipped", skip_reason=skip_reason)
    else:
        outcome = attempt_send(
            channel=delivery.channel,
            event_type=event.event_type,
            payload=event.payload,
            event_id=event.id,
            timestamp=event.occurred_at,
            rule=rule,
            message_template=rule.message_template if rule else "",
            subject_template=rule.subject_template if rule else "",
            delivery_id=str(delivery.pk),
            attempt=delivery.attempts,
            skip_reason=skip_reason,
        )
    result = _record_reconnecting(delivery, outcome)
    logger.info(
        "Delivery attempt finished",
        extra={
            "delivery_id": str(delivery.pk),
            "attempt": delivery.attempts,
            "delivery_outcome": outcome.status,
            "status": result.status or "superseded",
            "failure_stage": outcome.failure_stage,
            "error_code": outcome.error_code,
        },
    )
    return result


def delivery_sweep(*, now: datetime | None = None) -> list[str]:
    """Finds deliveries whose task was lost and returns their ids for re-enqueueing.

    Three kinds, each older than NOTIFICATION_SWEEP_AGE_SECONDS: `pending` ones (the enqueue after
    commit failed, or the broker lost the message), `retrying` ones whose `next_attempt_at` is long
    past (the worker died before re-enqueueing, or the delayed message was lost), and `sending` ones
    whose claim is that old (the worker died mid-send). Those are reset to `retrying` first, in the
    same transaction that finds them; one whose attempts are used up becomes `failed` instead.

    What can duplicate: a worker that sent the message but died before recording it leaves the row
    `sending`; the sweeper then hands it out again and it is sent a second time. A message still
    waiting in a long queue is enqueued once more too, but its claim makes the extra task a no-op.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.NOTIFICATION_SWEEP_AGE_SECONDS)
    with transaction.atomic():
        stuck = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.SENDING, claimed_at__lt=cutoff)
            .values_list("pk", "attempts")[:SWEEP_BATCH]
        )
        exhausted = [pk for pk, attempts in stuck if attempts >= settings.NOTIFICATION_MAX_ATTEMPTS]
        revived = [pk for pk, attempts in stuck if attempts < settings.NOTIFICATION_MAX_ATTEMPTS]
        Delivery.objects.filter(pk__in=exhausted, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.FAILED,
            last_error=f"{ErrorCode.INTERNAL_ERROR}: the worker of the last attempt was lost; attempts are used up.",
            updated_at=now,
        )
        Delivery.objects.filter(pk__in=revived, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.RETRYING, next_attempt_at=now, updated_at=now
        )
        lost = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=DeliveryStatus.PENDING, updated_at__lt=cutoff)
                | Q(status=DeliveryStatus.RETRYING, next_attempt_at__lt=cutoff)
            )
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        # Stamped, so that a long queue does not get the same ids again at every sweep.
        Delivery.objects.filter(pk__in=lost, status=DeliveryStatus.PENDING).update(updated_at=now)
        Delivery.objects.filter(pk__in=lost, status=DeliveryStatus.RETRYING).update(next_attempt_at=now, updated_at=now)
    if exhausted:
        logger.warning("Deliveries failed after their worker was lost", extra={"count": len(exhausted)})
    ids = [str(pk) for pk in [*revived, *lost]]
    if ids:
        logger.info("Re-enqueueing deliveries whose task was lost", extra={"count": len(ids)})
    return ids

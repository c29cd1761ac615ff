"""The delivery pipeline: claim deliveries, resolve, render, send, record the attempts, schedule retries.

Delivery is at least once. A worker claims rows (one conditional UPDATE, or FOR UPDATE SKIP LOCKED)
before it sends, so a task the broker hands out twice sends once; what can still duplicate is
described in `delivery_sweep` and docs/RELIABILITY.md. Receivers deduplicate with the delivery id
(the `X-Notification-Delivery-Id` header of a webhook, the Message-ID of an email). A task sends its
own delivery and then drains its channel's pending ones in batches (`delivery_process`); which
tasks reach the broker at all is `notifications.dispatch`'s business.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import DomainError, ErrorCode
from core.telemetry import tracer
from notifications import dispatch, rendering
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
# A drain starts no further send after this long; the rest go back to pending and to the queue, so
# that one busy channel does not hold a worker while other channels' tasks wait.
DRAIN_SECONDS = 2.0
# When its channel has nothing pending, a drain waits this long for an emitter's signal, then ends.
LINGER_SECONDS = 0.05
# Woken by an emitter, a drain lets this long pass before it claims, so that a steady stream of
# events is sent in batches of a few rather than one by one: a claim, a record and a wake-up per
# delivery cost more worker and database CPU than the few milliseconds of latency this adds.
GATHER_SECONDS = 0.005


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
    """`status` is None when this call did not claim the delivery (someone else has it, or it is done).

    `also` holds the results of the other deliveries of the channel that this call drained (see
    `delivery_process`); each is re-enqueued at its own `retry_at`.
    """

    delivery_id: str
    status: str | None = None
    retry_at: datetime | None = None
    also: tuple[ProcessResult, ...] = ()


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


def _claim_own(pk: uuid.UUID) -> Delivery | None:
    """The task's own delivery, pending/retrying and due -> sending in one conditional UPDATE, then
    loaded; None when another worker has it or it is done (a redelivered task costs that statement)."""
    now = timezone.now()
    claimed = (
        Delivery.objects.filter(pk=pk, status__in=CLAIMABLE)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now, updated_at=now)
    )
    return Delivery.objects.select_related("event", "rule", "channel").get(pk=pk) if claimed else None


# One statement, one round trip, whether it finds rows or not (a drain runs it after every
# batch): claims the rows and returns them with their event and rule.
_CLAIM_PENDING_SQL = """
    WITH claimed AS (
        UPDATE {deliveries} SET status = %s, attempts = attempts + 1, claimed_at = %s, updated_at = %s
        WHERE id IN (
            SELECT id FROM {deliveries} WHERE channel_id = %s AND status = %s
            ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED
        )
        RETURNING *
    )
    SELECT {columns} FROM claimed
    JOIN {events} AS e ON e.id = claimed.event_id
    LEFT JOIN {rules} AS r ON r.id = claimed.rule_id
    ORDER BY claimed.created_at
"""
_CLAIMED_MODELS = ((Delivery, "claimed"), (Event, "e"), (Rule, "r"))


@lru_cache(maxsize=8)
def _row_reader(model: type, vendor: str) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """A model's concrete field names, and the ORM's converters of those that have any."""
    fields = model._meta.concrete_fields
    converters = [(index, field.get_db_converters(connection)) for index, field in enumerate(fields)]
    return [field.attname for field in fields], [(index, found) for index, found in converters if found]


def model_from_row(model: type, values: tuple) -> Any:
    """A model instance from its concrete fields' raw values, converted as the ORM converts them."""
    names, converters = _row_reader(model, connection.vendor)
    converted = list(values)
    for index, functions in converters:
        for convert in functions:
            converted[index] = convert(converted[index], None, connection)
    return model.from_db(connection.alias, names, converted)


@lru_cache(maxsize=4)
def _claim_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    return _CLAIM_PENDING_SQL.format(
        deliveries=quote(Delivery._meta.db_table),
        events=quote(Event._meta.db_table),
        rules=quote(Rule._meta.db_table),
        columns=", ".join(
            f"{alias}.{quote(field.column)}"
            for model, alias in _CLAIMED_MODELS
            for field in model._meta.concrete_fields
        ),
    )


def _claim_and_load_postgresql(channel_id: uuid.UUID, limit: int, now: datetime) -> list[Delivery]:
    sql = _claim_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [DeliveryStatus.SENDING, now, now, channel_id, DeliveryStatus.PENDING, limit])
        rows = cursor.fetchall()
    widths = [len(model._meta.concrete_fields) for model, _ in _CLAIMED_MODELS]
    batch = []
    for row in rows:
        delivery = model_from_row(Delivery, row[: widths[0]])
        delivery.event = model_from_row(Event, row[widths[0] : widths[0] + widths[1]])
        rule_values = row[widths[0] + widths[1] :]
        delivery.rule = model_from_row(Rule, rule_values) if rule_values[0] is not None else None
        batch.append(delivery)
    return batch


def _claim_and_load_orm(channel_id: uuid.UUID, limit: int, now: datetime) -> list[Delivery]:
    """The same in ORM statements, for SQLite (one writer at a time, so no row locks to skip)."""
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(channel_id=channel_id, status=DeliveryStatus.PENDING)
            .order_by("created_at")
            .values_list("pk", flat=True)[:limit]
        )
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now, updated_at=now
        )
    return list(Delivery.objects.select_related("event", "rule").filter(pk__in=ids).order_by("created_at"))


def _claim_pending(channel_id: uuid.UUID, limit: int, channel: Channel | None = None) -> list[Delivery]:
    """Up to `limit` pending deliveries of the channel, oldest first, claimed and loaded.

    Taken FOR UPDATE SKIP LOCKED, so concurrent drains of one channel never wait for or share a
    row; the partial index `delivery_pending_channel_idx` serves it. The `channel` is given by a
    drain that has it already (from its first batch), and attached rather than loaded per row.
    """
    if limit < 1:
        return []
    claim = _claim_and_load_postgresql if connection.vendor == "postgresql" else _claim_and_load_orm
    batch = claim(channel_id, limit, timezone.now())
    if batch and channel is None:
        channel = Channel.objects.get(pk=channel_id)
    for delivery in batch:
        delivery.channel = channel
    return batch


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


@dataclass(frozen=True)
class _Attempt:
    """One try of a claimed delivery, waiting to be recorded."""

    delivery: Delivery
    outcome: Outcome
    started: datetime
    finished: datetime


def _next_state(attempt: _Attempt, recorded: datetime) -> tuple[str, datetime | None]:
    """The delivery's status after this try, and when to try again (counted from `recorded`), if at all."""
    outcome, number = attempt.outcome, attempt.delivery.attempts
    if outcome.status == "sent":
        return DeliveryStatus.SENT, None
    if outcome.status == "skipped":
        return DeliveryStatus.SKIPPED, None
    if outcome.transient and number < settings.NOTIFICATION_MAX_ATTEMPTS:
        return DeliveryStatus.RETRYING, recorded + timedelta(seconds=_retry_delay(number, outcome.retry_after))
    return DeliveryStatus.FAILED, None


@dataclass(frozen=True)
class _NewState:
    """A delivery's state after one try, to be written if the row is still the try's to record."""

    delivery_id: uuid.UUID
    attempts: int
    status: str
    next_attempt_at: datetime | None
    failure_stage: str
    skip_reason: str
    last_error: str
    sent_at: datetime | None


# One statement, atomic by itself: the attempt rows, and the new states of the deliveries still
# `sending` under the same attempt number (a row the sweeper handed to another worker meanwhile is
# left to that worker); returns the ids it updated.
_RECORD_SQL = """
    WITH attempt_rows AS (INSERT INTO {attempts} ({attempt_columns}) VALUES {attempt_values}),
    updated AS (
        UPDATE {deliveries} AS d SET status = v.status, next_attempt_at = v.next_attempt_at,
            failure_stage = v.failure_stage, skip_reason = v.skip_reason, last_error = v.last_error,
            sent_at = v.sent_at, updated_at = %s
        FROM (VALUES {state_values})
            AS v(id, attempts, status, next_attempt_at, failure_stage, skip_reason, last_error, sent_at)
        WHERE d.id = v.id AND d.status = %s AND d.attempts = v.attempts
        RETURNING d.id
    )
    SELECT id FROM updated
"""
_STATE_VALUE = "(%s::uuid, %s::integer, %s, %s::timestamptz, %s, %s, %s, %s::timestamptz)"


@lru_cache(maxsize=64)
def _record_sql(vendor: str, rows: int) -> tuple[str, tuple[str, ...]]:
    """The statement for `rows` attempts, and the attempt fields in the order of its values."""
    fields = [field for field in DeliveryAttempt._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    row_placeholder = f"({', '.join(['%s'] * len(fields))})"
    sql = _RECORD_SQL.format(
        attempts=quote(DeliveryAttempt._meta.db_table),
        attempt_columns=", ".join(quote(field.column) for field in fields),
        attempt_values=", ".join([row_placeholder] * rows),
        deliveries=quote(Delivery._meta.db_table),
        state_values=", ".join([_STATE_VALUE] * rows),
    )
    return sql, tuple(field.attname for field in fields)


def _write_record_postgresql(rows: list[DeliveryAttempt], states: list[_NewState], recorded: datetime) -> set:
    sql, names = _record_sql(connection.vendor, len(rows))
    # Plain values (UUIDs, numbers, strings, aware datetimes) that the driver adapts as they are.
    params: list[Any] = [getattr(row, name) for row in rows for name in names]
    params.append(recorded)
    for state in states:
        params += (
            state.delivery_id,
            state.attempts,
            state.status,
            state.next_attempt_at,
            state.failure_stage,
            state.skip_reason,
            state.last_error,
            state.sent_at,
        )
    params.append(DeliveryStatus.SENDING)
    # Inside a caller's transaction (the tests'), a savepoint keeps a failed statement from
    # aborting it; on its own, the statement needs no transaction around it.
    guard = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with guard, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _write_record_orm(rows: list[DeliveryAttempt], states: list[_NewState], recorded: datetime) -> set:
    """The same as one transaction of ORM statements, for SQLite (one writer at a time)."""
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create(rows)
        current = set(
            Delivery.objects.filter(
                pk__in=[state.delivery_id for state in states], status=DeliveryStatus.SENDING
            ).values_list("pk", "attempts")
        )
        updated = set()
        for state in states:
            if (state.delivery_id, state.attempts) in current:
                fields = dataclasses.asdict(state)
                del fields["delivery_id"], fields["attempts"]
                Delivery.objects.filter(pk=state.delivery_id).update(**fields, updated_at=recorded)
                updated.add(state.delivery_id)
        return updated


def _record(attempts: list[_Attempt]) -> list[ProcessResult]:
    """Writes the attempts and the deliveries' new states at once; returns when to try each again,
    if at all."""
    recorded = timezone.now()
    states = []
    for attempt in attempts:
        status, retry_at = _next_state(attempt, recorded)
        outcome = attempt.outcome
        states.append(
            _NewState(
                delivery_id=attempt.delivery.pk,
                attempts=attempt.delivery.attempts,
                status=status,
                next_attempt_at=retry_at,
                failure_stage=outcome.failure_stage,
                skip_reason=outcome.skip_reason,
                last_error=f"{outcome.error_code}: {outcome.error_message}" if outcome.error_code else "",
                sent_at=recorded if status == DeliveryStatus.SENT else None,
            )
        )
    rows = [
        DeliveryAttempt(
            delivery=attempt.delivery,
            number=attempt.delivery.attempts,
            started_at=attempt.started,
            finished_at=attempt.finished,
            outcome=_attempt_outcome(attempt.outcome),
            transient=attempt.outcome.transient,
            failure_stage=attempt.outcome.failure_stage,
            status_code=attempt.outcome.status_code,
            error_code=attempt.outcome.error_code,
            excerpt=attempt.outcome.excerpt,
        )
        for attempt in attempts
    ]
    write = _write_record_postgresql if connection.vendor == "postgresql" else _write_record_orm
    updated = write(rows, states, recorded)
    return [
        ProcessResult(delivery_id=str(state.delivery_id), status=state.status, retry_at=state.next_attempt_at)
        if state.delivery_id in updated
        else ProcessResult(delivery_id=str(state.delivery_id))  # superseded: another worker's now
        for state in states
    ]


def _record_reconnecting(attempts: list[_Attempt]) -> list[ProcessResult]:
    """`_record`, tried again on a new connection when the database connection was lost.

    By now the messages have gone out (or failed): the outcomes are known and only their record is
    missing. Left to a task retry, the rows would stay `sending` and the sweeper would send the
    messages a second time. A record whose commit landed before the connection broke shows up as
    a duplicate attempt number on the next try: the rows are then as that commit left them.
    """
    pauses = list(RECORD_RETRY_PAUSES)
    while True:
        try:
            return _record(attempts)
        except IntegrityError:
            if len(pauses) == len(RECORD_RETRY_PAUSES):
                raise
            return [ProcessResult(delivery_id=str(attempt.delivery.pk)) for attempt in attempts]
        except (OperationalError, InterfaceError):
            if not pauses or connection.in_atomic_block:
                raise
            logger.warning(
                "Lost the database connection while recording delivery attempts; recording them on a new one",
                extra={"delivery_ids": [str(attempt.delivery.pk) for attempt in attempts]},
            )
            connection.close()
            time.sleep(pauses.pop(0))


def _release(deliveries: list[Delivery]) -> list[ProcessResult]:
    """Gives claimed deliveries that a drain did not try back: pending, their attempt count as it was."""
    if not deliveries:
        return []
    now = timezone.now()
    for claimed_at in {delivery.claimed_at for delivery in deliveries}:  # one claim, or the own one and a batch
        Delivery.objects.filter(
            pk__in=[delivery.pk for delivery in deliveries if delivery.claimed_at == claimed_at],
            status=DeliveryStatus.SENDING,
            claimed_at=claimed_at,
        ).update(status=DeliveryStatus.PENDING, attempts=F("attempts") - 1, claimed_at=None, updated_at=now)
    return [ProcessResult(delivery_id=str(delivery.pk), status=DeliveryStatus.PENDING) for delivery in deliveries]


def _attempt(delivery: Delivery) -> _Attempt:
    event: Event = delivery.event
    rule = delivery.rule
    skip_reason = _pre_skip_reason(delivery)
    started = timezone.now()
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
    return _Attempt(delivery=delivery, outcome=outcome, started=started, finished=timezone.now())


def _send(batch: list[Delivery], deadline: float) -> tuple[list[_Attempt], list[Delivery]]:
    """Tries the batch in order on the channel's pooled connection; stops after a transient failure
    (the endpoint is in trouble) or at the deadline. Returns the attempts and the untried rest."""
    attempts: list[_Attempt] = []
    for index, delivery in enumerate(batch):
        if attempts and (attempts[-1].outcome.transient or time.monotonic() > deadline):
            return attempts, batch[index:]
        attempts.append(_attempt(delivery))
    return attempts, []


def _log_recorded(attempts: list[_Attempt], results: list[ProcessResult]) -> None:
    for attempt, result in zip(attempts, results, strict=True):
        logger.info(
            "Delivery attempt finished",
            extra={
                "delivery_id": result.delivery_id,
                "attempt": attempt.delivery.attempts,
                "delivery_outcome": attempt.outcome.status,
                "status": result.status or "superseded",
                "failure_stage": attempt.outcome.failure_stage,
                "error_code": attempt.outcome.error_code,
            },
        )


def _linger(channel_id: uuid.UUID, limit: int, deadline: float, channel: Channel | None) -> list[Delivery]:
    """Waits up to LINGER_SECONDS (more each time an emitter signals) for the channel's next
    deliveries before a drain ends.

    At a steady trickle of events, ending and starting a task for each costs more (a Celery task
    is ~2 ms of CPU) than keeping the drain: it blocks in Redis until an emitter wakes it
    (`dispatch.wait_for_more`), without a poll, then gathers for GATHER_SECONDS. Without shared
    flags it does not wait.
    """
    while time.monotonic() + LINGER_SECONDS < deadline and dispatch.wait_for_more(channel_id, LINGER_SECONDS):
        time.sleep(GATHER_SECONDS)
        batch = _claim_pending(channel_id, limit, channel)
        if batch:
            return batch
    return []


def _process_batch(batch: list[Delivery], deadline: float) -> tuple[list[ProcessResult], bool]:
    """Sends and records a claimed batch; True as well when the drain should stop here (a transient
    failure, or its time is up), the untried rest given back."""
    attempts, untried = _send(batch, deadline)
    recorded = _record_reconnecting(attempts)
    _log_recorded(attempts, recorded)
    stop = bool(untried) or attempts[-1].outcome.transient or time.monotonic() > deadline
    return [*recorded, *_release(untried)], stop


def _drain(channel_id: uuid.UUID, batch: list[Delivery]) -> list[ProcessResult]:
    """Sends `batch` and then the channel's pending deliveries, batch by batch, holding the
    channel's flag (see `dispatch`) until its last look for pending rows.

    The channel is read with the first batch and kept for the drain: an edit to it reaches the
    deliveries claimed after that, at most DRAIN_SECONDS later (rules are read with each batch).
    """
    limit = max(1, settings.NOTIFICATION_DELIVERY_BATCH_SIZE)
    deadline = time.monotonic() + DRAIN_SECONDS
    batch += _claim_pending(channel_id, limit - len(batch), batch[0].channel if batch else None)
    channel = batch[0].channel if batch else None
    results: list[ProcessResult] = []
    while True:
        if not batch:
            dispatch.drain_ending(channel_id)
            batch = _claim_pending(channel_id, limit, channel)  # the last look, once the flag is clear
            if not batch:
                return results
            dispatch.drain_holds(channel_id)
        channel = batch[0].channel
        if len(batch) == limit:
            dispatch.kick(channel_id=channel_id, delivery_id=str(batch[-1].pk), spare=True)
        processed, stop = _process_batch(batch, deadline)
        results += processed
        if stop:
            dispatch.drain_ending(channel_id)
            dispatch.kick(channel_id=channel_id, delivery_id=str(batch[0].pk))  # pending rows may be left
            return results
        # A batch short of the limit took every pending row there was; rows committed since have
        # sent a wake-up (see dispatch), so the drain waits for one rather than looking at once.
        # The flag set when the drain began outlives it (DRAIN_SECONDS is well inside its TTL).
        more = _claim_pending(channel_id, limit, channel) if len(batch) == limit else []
        batch = more or _linger(channel_id, limit, deadline, channel)


def delivery_process(*, delivery_id: str) -> ProcessResult:
    """What a `deliver` task does: claims, sends and records its delivery, then drains its channel.

    The drain claims the channel's pending deliveries in batches of NOTIFICATION_DELIVERY_BATCH_SIZE
    (each batch shares the pooled connection, one claim and one record) until none is left,
    waiting a few milliseconds for more before it ends (`_linger`), and holds the channel's flag
    meanwhile so that new deliveries need no task of their own (`dispatch`). It stops early after a
    transient failure (each delivery then backs off on its own schedule) or after DRAIN_SECONDS,
    so that other channels get their turn; the untried ones go back to pending and one more task
    is asked for. A full batch asks for a spare task, so that an idle worker shares a backlog.
    The results of the other deliveries are in `also`; the caller re-enqueues every result that
    has a `retry_at`. A worker lost mid-drain leaves its claimed rows `sending` for the sweeper.
    """
    try:
        pk = uuid.UUID(str(delivery_id))
    except ValueError:
        logger.warning("Ignoring a delivery task with a malformed id")
        return ProcessResult(delivery_id=str(delivery_id))
    own = _claim_own(pk)
    channel_id = own.channel_id if own else Delivery.objects.filter(pk=pk).values_list("channel_id", flat=True).first()
    if channel_id is None:  # a deleted channel (its deliveries are skipped) or an unknown id: no drain
        results = _process_batch([own], time.monotonic() + DRAIN_SECONDS)[0] if own else []
    else:
        dispatch.drain_holds(channel_id)
        try:
            results = _drain(channel_id, [own] if own else [])
        except BaseException:
            dispatch.drain_ending(channel_id)  # new deliveries queue tasks again; this one is retried or swept
            raise
    own_result = next((result for result in results if result.delivery_id == str(pk)), None)
    return dataclasses.replace(
        own_result or ProcessResult(delivery_id=str(pk)),
        also=tuple(result for result in results if result.delivery_id != str(pk)),
    )


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

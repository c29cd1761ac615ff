"""delivery_process, the task around it, the sweeper and the replay service, in this process."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict, ErrorCode, PermissionDenied
from notifications.delivery import backoff_delay, delivery_process, delivery_sweep
from notifications.models import AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus
from notifications.services import delivery_retry, emit
from notifications.tasks import deliver
from providers.services import notification_provider_config_update
from tests.notifications.builders import (
    ACTOR,
    SESSION,
    SIGNING_SECRET,
    SMTP_PASSWORD,
    WEBHOOK_TOKEN,
    email_channel,
    rule,
    smtp_provider,
    webhook_channel,
)
from tests.support.otel import attributes, spans_named

pytestmark = pytest.mark.django_db


def emitted(payload=None) -> Delivery:
    (delivery,) = emit(actor=ACTOR, event_type="session.started", payload=payload or SESSION).deliveries
    return delivery


def fresh(delivery: Delivery) -> Delivery:
    return Delivery.objects.get(pk=delivery.pk)


def test_a_sent_delivery_records_one_attempt(webhook_receiver):
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    delivery = emitted()

    result = delivery_process(delivery_id=str(delivery.id))

    delivery = fresh(delivery)
    assert (result.status, result.retry_at) == (DeliveryStatus.SENT, None)
    assert (delivery.status, delivery.attempts, delivery.failure_stage, delivery.last_error) == ("sent", 1, "", "")
    assert delivery.sent_at is not None
    (attempt,) = delivery.attempt_log.all()
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, AttemptOutcome.SENT, 200)
    assert attempt.started_at <= attempt.finished_at
    assert receiver.requests[0].headers["X-Notification-Delivery-Id"] == str(delivery.id)


def test_a_task_delivered_twice_sends_once(webhook_receiver):
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    delivery = emitted()

    first = deliver.apply(args=[str(delivery.id)])
    second = deliver.apply(args=[str(delivery.id)])

    assert first.successful() and second.successful()
    assert len(receiver.requests) == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1


def test_only_due_pending_or_retrying_rows_are_claimed(webhook_receiver):
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    delivery = emitted()
    later = timezone.now() + timedelta(minutes=5)

    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.RETRYING, next_attempt_at=later)
    assert delivery_process(delivery_id=str(delivery.id)).status is None
    for status in (DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED):
        Delivery.objects.filter(pk=delivery.pk).update(status=status, next_attempt_at=None)
        assert delivery_process(delivery_id=str(delivery.id)).status is None
    assert delivery_process(delivery_id="not-a-uuid").status is None
    assert receiver.requests == []


def test_a_transient_failure_is_scheduled_and_the_last_one_fails(settings, webhook_receiver):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    # A fixed, long first delay: with full jitter it could end before the assertion below runs.
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 60
    settings.NOTIFICATION_RETRY_JITTER = 0
    receiver = webhook_receiver(responses=[(503, {}, "down")])
    rule(webhook_channel(receiver.url))
    delivery = emitted()

    first = delivery_process(delivery_id=str(delivery.id))
    assert first.status == DeliveryStatus.RETRYING
    assert fresh(delivery).next_attempt_at == first.retry_at > timezone.now()
    assert fresh(delivery).failure_stage == "webhook_send"

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    second = delivery_process(delivery_id=str(delivery.id))

    assert (second.status, second.retry_at) == (DeliveryStatus.FAILED, None)
    delivery = fresh(delivery)
    assert (delivery.attempts, delivery.last_error) == (
        2,
        "WEBHOOK_BAD_STATUS: 127.0.0.1 answered 503 (not a success).",
    )
    assert [a.outcome for a in delivery.attempt_log.all()] == [AttemptOutcome.TRANSIENT_ERROR] * 2


def test_retry_after_is_a_lower_bound_capped_by_the_maximum(settings, webhook_receiver):
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 60
    receiver = webhook_receiver(responses=[(429, {"Retry-After": "30"}, ""), (503, {"Retry-After": "86400"}, "")])
    rule(webhook_channel(receiver.url))
    delivery = emitted()

    first = delivery_process(delivery_id=str(delivery.id))
    assert first.retry_at - fresh(delivery).attempt_log.get().finished_at >= timedelta(seconds=30)

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
    second = delivery_process(delivery_id=str(delivery.id))
    assert second.retry_at - timezone.now() <= timedelta(seconds=60)


def test_backoff_is_exponential_with_jitter(settings):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 2
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 100
    settings.NOTIFICATION_RETRY_JITTER = 0
    assert [backoff_delay(n) for n in range(1, 9)] == [2, 4, 8, 16, 32, 64, 100, 100]

    settings.NOTIFICATION_RETRY_JITTER = 1
    rng = random.Random(7)
    delays = [backoff_delay(3, rng=rng) for _ in range(500)]
    assert all(0 < delay <= 8 for delay in delays)
    assert min(delays) < 1 and max(delays) > 7  # full jitter spreads over the whole step


def test_a_render_error_fails_at_once_without_sending(webhook_receiver):
    receiver = webhook_receiver()
    # session_name is optional: the example payload has it, this event does not.
    rule(webhook_channel(receiver.url), message_template="{{ session_name }} started")
    delivery = emitted()

    result = delivery_process(delivery_id=str(delivery.id))

    delivery = fresh(delivery)
    assert result.status == DeliveryStatus.FAILED
    assert (delivery.failure_stage, delivery.attempts) == ("render_template", 1)
    assert delivery.last_error.startswith("TEMPLATE_ERROR: Undefined variable")
    (attempt,) = delivery.attempt_log.all()
    assert (attempt.outcome, attempt.transient) == (AttemptOutcome.PERMANENT_ERROR, False)
    assert receiver.requests == []


def test_a_subject_that_renders_a_line_break_is_refused(smtp_server):
    server = smtp_server(auth_require_tls=False)
    smtp_provider(server.host, server.port)
    rule(email_channel(), subject_template="Session {{ session_name }}")
    delivery = emitted({**SESSION, "session_name": "x\r\nBcc: victim@example.com"})

    delivery_process(delivery_id=str(delivery.id))

    delivery = fresh(delivery)
    assert (delivery.status, delivery.failure_stage) == (DeliveryStatus.FAILED, "render_template")
    assert "line break" in delivery.last_error
    assert server.messages == []


def test_no_provider_means_skipped_and_the_task_succeeds(span_exporter):
    rule(email_channel())
    delivery = emitted()

    outcome = deliver.apply(args=[str(delivery.id)])

    assert outcome.successful()
    delivery = fresh(delivery)
    assert (delivery.status, delivery.skip_reason, delivery.failure_stage) == ("skipped", "no_smtp_provider", "")
    assert delivery.attempt_log.get().outcome == AttemptOutcome.SKIPPED
    (span,) = spans_named(span_exporter, "notification.send_rendered_email")
    facts = attributes(span)
    assert facts["email_type"] == "session.started"
    assert facts["provider_configured"] is False
    assert facts["delivery_outcome"] == "skipped"
    assert facts["skip_reason"] == "no_smtp_provider"
    assert "failure_stage" not in facts


def test_failure_spans_name_the_stage(span_exporter, webhook_receiver):
    receiver = webhook_receiver(responses=[(404, {}, "")])
    rule(webhook_channel(receiver.url))
    delivery = emitted()

    delivery_process(delivery_id=str(delivery.id))

    facts = attributes(spans_named(span_exporter, "notification.send_webhook")[0])
    assert (facts["delivery_outcome"], facts["failure_stage"], facts["status_code"]) == ("failed", "webhook_send", 404)
    assert facts["event_type"] == "session.started" and facts["delivery_id"] == str(delivery.id)


def test_a_channel_disabled_after_the_event_skips_its_delivery(webhook_receiver):
    receiver = webhook_receiver()
    hook = webhook_channel(receiver.url)
    rule(hook)
    delivery = emitted()
    hook.enabled = False
    hook.save()

    delivery_process(delivery_id=str(delivery.id))

    assert (fresh(delivery).status, fresh(delivery).skip_reason) == ("skipped", "channel_disabled")
    assert receiver.requests == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_no_secret_recipient_subject_or_body_in_any_span(span_exporter, smtp_server, webhook_receiver):
    server = smtp_server(credentials=("mailer", SMTP_PASSWORD), auth_require_tls=False)
    smtp_provider(server.host, server.port, username="provider-user", password="provider-pass-5ecret")
    receiver = webhook_receiver()
    rule(
        webhook_channel(receiver.url, headers={"Authorization": WEBHOOK_TOKEN}, signing_secret=SIGNING_SECRET),
        message_template="Body text {{ session_id }}",
    )
    rule(
        email_channel(
            to=("secret-recipient@example.com",),
            smtp={"host": server.host, "port": server.port, "use_tls": False},
            auth={"username": "mailer", "password": SMTP_PASSWORD},
        ),
        message_template="Body text {{ session_id }}",
        subject_template="Subject line {{ status }}",
    )
    for delivery in emit(actor=ACTOR, event_type="session.started", payload=SESSION).deliveries:
        assert delivery_process(delivery_id=str(delivery.id)).status == DeliveryStatus.SENT

    spans = span_exporter.get_finished_spans()
    assert {"notification.send_webhook", "notification.send_rendered_email", "notification.smtp_sender"} <= {
        span.name for span in spans
    }
    values = " ".join(str(value) for span in spans for value in attributes(span).values())
    for secret in (
        WEBHOOK_TOKEN,
        SIGNING_SECRET,
        SMTP_PASSWORD,
        "provider-pass-5ecret",
        "provider-user",
        "secret-recipient",
        "Subject line",
        "Body text",
    ):
        assert secret not in values


def test_the_sender_cache_hits_is_invalidated_by_an_update_and_never_caches_absence(
    span_exporter, smtp_server, django_capture_on_commit_callbacks
):
    rule(email_channel())
    assert delivery_process(delivery_id=str(emitted().id)).status == DeliveryStatus.SKIPPED

    # Created after a send found none: the very next send uses it (callbacks not run, so no invalidation).
    first_server = smtp_server(auth_require_tls=False)
    provider = smtp_provider(first_server.host, first_server.port)
    assert delivery_process(delivery_id=str(emitted().id)).status == DeliveryStatus.SENT
    assert delivery_process(delivery_id=str(emitted().id)).status == DeliveryStatus.SENT
    assert len(first_server.messages) == 2

    second_server = smtp_server(auth_require_tls=False)
    with django_capture_on_commit_callbacks(execute=True):
        notification_provider_config_update(
            actor=ACTOR,
            provider_id=provider.id,
            config={**provider.config, "port": second_server.port},
        )
    assert delivery_process(delivery_id=str(emitted().id)).status == DeliveryStatus.SENT

    assert len(second_server.messages) == 1
    hits = [attributes(span)["cache_hit"] for span in spans_named(span_exporter, "notification.smtp_sender")]
    assert hits == [False, False, True, False]


def test_the_sweeper_finds_lost_deliveries_and_leaves_fresh_ones(settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    rule(webhook_channel("https://hooks.example.com/in"))
    now = timezone.now()
    old = now - timedelta(seconds=settings.NOTIFICATION_SWEEP_AGE_SECONDS + 1)
    pending_fresh, pending_old, retrying_old, sending_old, sending_spent, sending_fresh = (emitted() for _ in range(6))
    Delivery.objects.filter(pk=pending_old.pk).update(updated_at=old)
    Delivery.objects.filter(pk=retrying_old.pk).update(status="retrying", next_attempt_at=old, attempts=1)
    Delivery.objects.filter(pk=sending_old.pk).update(status="sending", claimed_at=old, attempts=1)
    Delivery.objects.filter(pk=sending_spent.pk).update(status="sending", claimed_at=old, attempts=3)
    Delivery.objects.filter(pk=sending_fresh.pk).update(status="sending", claimed_at=now, attempts=1)

    ids = delivery_sweep(now=now)

    assert sorted(ids) == sorted(str(d.pk) for d in (pending_old, retrying_old, sending_old))
    assert fresh(sending_old).status == DeliveryStatus.RETRYING and fresh(sending_old).next_attempt_at == now
    assert fresh(sending_spent).status == DeliveryStatus.FAILED
    assert fresh(sending_fresh).status == DeliveryStatus.SENDING
    assert fresh(pending_fresh).status == DeliveryStatus.PENDING
    assert delivery_sweep(now=now) == []  # stamped: not handed out again at the next sweep


def test_a_failed_delivery_can_be_replayed(webhook_receiver, django_capture_on_commit_callbacks):
    receiver = webhook_receiver(responses=[(404, {}, ""), (200, {}, "")])
    rule(webhook_channel(receiver.url))
    delivery = emitted()
    delivery_process(delivery_id=str(delivery.id))
    assert fresh(delivery).status == DeliveryStatus.FAILED

    with django_capture_on_commit_callbacks() as callbacks:
        replayed = delivery_retry(actor=ACTOR, delivery_id=delivery.id)

    assert (replayed.status, replayed.attempts, replayed.failure_stage) == ("pending", 1, "")
    assert len(callbacks) == 1
    assert delivery_process(delivery_id=str(delivery.id)).status == DeliveryStatus.SENT
    assert fresh(delivery).attempts == 2


def test_only_failed_or_skipped_deliveries_can_be_replayed(make_user, webhook_receiver):
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    delivery = emitted()
    with pytest.raises(Conflict) as error:
        delivery_retry(actor=ACTOR, delivery_id=delivery.id)
    assert error.value.code == ErrorCode.DELIVERY_NOT_RETRYABLE

    with pytest.raises(PermissionDenied):
        delivery_retry(actor=make_user("NotificationViewer"), delivery_id=delivery.id)

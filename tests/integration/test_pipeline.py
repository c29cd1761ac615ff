"""The whole pipeline: emit here, a real Celery worker on Redis delivers to real HTTP and SMTP servers."""

import base64
import json
import socket
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.utils import timezone

from notifications.models import AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus
from notifications.services import emit
from notifications.tasks import deliver, sweep_deliveries
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
from tests.support.worker import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def settled(event, count: int = 1) -> list[Delivery]:
    """The event's deliveries once `count` of them reached a final status."""
    deliveries = list(Delivery.objects.filter(event=event).order_by("created_at"))
    done = [d for d in deliveries if d.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)]
    return deliveries if len(done) >= count else []


def attempts(delivery: Delivery) -> list[DeliveryAttempt]:
    return list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))


def test_one_event_two_rules_gives_one_request_and_one_email(celery_worker, webhook_receiver, smtp_server):
    receiver = webhook_receiver()
    smtp = smtp_server(auth_require_tls=False)
    smtp_provider(smtp.host, smtp.port)
    rule(webhook_channel(receiver.url), message_template='{"text": "Session {{ session_id }} is {{ status }}"}')
    rule(
        email_channel(),
        message_template="Session {{ session_id }} started on {{ cluster_mode }}.",
        subject_template="[{{ event_type }}] {{ session_id }}",
    )
    celery_worker()

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)
    deliveries = wait_until(lambda: settled(result.event, 2), what="both deliveries")

    assert [d.status for d in deliveries] == [DeliveryStatus.SENT, DeliveryStatus.SENT]
    assert [len(attempts(d)) for d in deliveries] == [1, 1]
    (request,) = receiver.requests
    assert request.text == '{"text": "Session s-1 is RUNNING"}'
    assert request.headers["Content-Type"] == "application/json"
    (mail,) = smtp.messages
    message = mail.message
    assert message["Subject"] == "[session.started] s-1"
    assert mail.rcpt_tos == ["ops@example.com"]
    assert message["From"] == "Notification Service <no-reply@example.com>"
    text, html = (part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart())
    assert "Session s-1 started on single-node." in text
    assert "Session s-1 started on single-node." in html
    email_delivery = next(d for d in deliveries if d.channel.channel_type == "email")
    assert message["Message-ID"] == f"<{email_delivery.id}@notification-service>"
    assert message["Date"]


def test_idempotency_key_twice_gives_one_event_and_one_send_per_rule(celery_worker, webhook_receiver):
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    celery_worker()

    first = emit(actor=ACTOR, event_type="session.started", payload=SESSION, idempotency_key="evt-42")
    second = emit(actor=ACTOR, event_type="session.started", payload=SESSION, idempotency_key="evt-42")
    (delivery,) = wait_until(lambda: settled(first.event), what="the delivery")

    assert not second.created and second.event.pk == first.event.pk
    assert [d.pk for d in second.deliveries] == [delivery.pk]
    receiver.wait_for(1)
    # Give a wrongly queued second send time to arrive before counting.
    wait_until(lambda: DeliveryAttempt.objects.filter(delivery=delivery).exists())
    assert len(receiver.requests) == 1
    assert Delivery.objects.count() == 1


def test_http_500_500_200_is_sent_after_three_attempts_with_growing_delays(celery_worker, webhook_receiver):
    receiver = webhook_receiver(responses=[(500, {}, "boom"), (500, {}, "boom"), (200, {}, "ok")])
    rule(webhook_channel(receiver.url))
    celery_worker(NOTIFICATION_RETRY_JITTER="0")  # a fixed ladder: 0.2 s, then 0.4 s

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)
    (delivery,) = wait_until(lambda: settled(result.event), what="the delivery")

    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 3
    tries = attempts(delivery)
    assert [(a.outcome, a.status_code, a.transient) for a in tries] == [
        (AttemptOutcome.TRANSIENT_ERROR, 500, True),
        (AttemptOutcome.TRANSIENT_ERROR, 500, True),
        (AttemptOutcome.SENT, 200, False),
    ]
    first_wait = tries[1].started_at - tries[0].finished_at
    second_wait = tries[2].started_at - tries[1].finished_at
    assert first_wait >= timedelta(seconds=0.2)
    assert second_wait >= timedelta(seconds=0.4)
    assert second_wait > first_wait
    assert len(receiver.requests) == 3


def test_http_404_fails_after_one_permanent_attempt(celery_worker, webhook_receiver):
    receiver = webhook_receiver(responses=[(404, {}, "no such hook")])
    rule(webhook_channel(receiver.url))
    celery_worker()

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)
    (delivery,) = wait_until(lambda: settled(result.event), what="the delivery")

    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.failure_stage == "webhook_send"
    assert delivery.last_error.startswith("WEBHOOK_BAD_STATUS")
    (attempt,) = attempts(delivery)
    assert (attempt.outcome, attempt.transient, attempt.status_code) == (AttemptOutcome.PERMANENT_ERROR, False, 404)
    assert attempt.excerpt == "no such hook"


def test_429_with_retry_after_waits_at_least_that_long(celery_worker, webhook_receiver):
    receiver = webhook_receiver(responses=[(429, {"Retry-After": "2"}, "slow down"), (200, {}, "ok")])
    rule(webhook_channel(receiver.url))
    celery_worker()

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)
    (delivery,) = wait_until(lambda: settled(result.event), what="the delivery")

    assert delivery.status == DeliveryStatus.SENT
    first, second = attempts(delivery)
    assert second.started_at - first.finished_at >= timedelta(seconds=2)
    assert receiver.requests[1].at - receiver.requests[0].at >= timedelta(seconds=2)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


def test_smtp_down_then_up_is_delivered_once_it_is_back(celery_worker):
    with socket.socket() as probe:  # a port nobody listens on, for now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = email_channel(smtp={"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 2})
    rule(channel, subject_template="{{ session_id }} is up")
    celery_worker(NOTIFICATION_MAX_ATTEMPTS="12")

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)
    (delivery,) = result.deliveries
    first = wait_until(lambda: DeliveryAttempt.objects.filter(delivery=delivery).first(), what="a failed attempt")
    assert (first.outcome, first.failure_stage, first.error_code) == (
        AttemptOutcome.TRANSIENT_ERROR,
        "smtp_send",
        "SMTP_CONNECT_FAILED",
    )
    assert Delivery.objects.get(pk=delivery.pk).status in (DeliveryStatus.RETRYING, DeliveryStatus.SENDING)

    inbox = _Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        (delivery,) = wait_until(lambda: settled(result.event), timeout=30, what="the delivery")
    finally:
        server.stop()

    assert delivery.status == DeliveryStatus.SENT and delivery.attempts >= 2
    assert len(inbox.messages) == 1
    assert b"Subject: s-1 is up" in inbox.messages[0]


def test_the_broker_message_holds_the_delivery_id_and_nothing_secret(celery_broker, celery_worker, webhook_receiver):
    receiver = webhook_receiver()
    hook = webhook_channel(
        receiver.url + "?team=ops",
        headers={"Authorization": WEBHOOK_TOKEN},
        signing_secret=SIGNING_SECRET,
    )
    mail = email_channel(
        to=("secret-recipient@example.com",),
        smtp={"host": "127.0.0.1", "port": 9, "use_tls": False},
        auth={"username": "mailer", "password": SMTP_PASSWORD},
    )
    rule(hook)
    rule(mail)

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)

    raw_messages = celery_broker.lrange("celery", 0, -1)
    assert len(raw_messages) == 2
    for raw in raw_messages:
        for secret in (WEBHOOK_TOKEN, SIGNING_SECRET, SMTP_PASSWORD, "secret-recipient", "mailer"):
            assert secret.encode() not in raw
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert message["headers"]["task"] == "notifications.deliver"
        assert kwargs == {}
        assert args in ([str(d.id)] for d in result.deliveries)
        for secret in (WEBHOOK_TOKEN, SIGNING_SECRET, SMTP_PASSWORD, "secret-recipient"):
            assert secret not in json.dumps(message["headers"])

    celery_worker()
    webhook_delivery = next(d for d in result.deliveries if d.channel_id == hook.id)
    wait_until(lambda: Delivery.objects.get(pk=webhook_delivery.pk).status == DeliveryStatus.SENT)
    assert receiver.requests[0].query_string == "team=ops"
    assert receiver.requests[0].headers["Authorization"] == WEBHOOK_TOKEN


def test_a_delivery_handed_to_two_workers_many_times_is_sent_once(celery_worker, webhook_receiver):
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    celery_worker()
    celery_worker()

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)
    (delivery,) = result.deliveries
    for _ in range(6):
        deliver.apply_async(args=[str(delivery.id)])
    wait_until(lambda: settled(result.event), what="the delivery")
    time.sleep(1)  # leave the duplicate tasks time to run, and find nothing to claim

    assert len(receiver.requests) == 1
    assert len(attempts(delivery)) == 1
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT


def test_the_sweeper_revives_deliveries_whose_task_was_lost(celery_broker, celery_worker, webhook_receiver):
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    lost_in_queue = emit(actor=ACTOR, event_type="session.started", payload=SESSION).deliveries[0]
    lost_mid_send = emit(actor=ACTOR, event_type="session.started", payload=SESSION).deliveries[0]
    celery_broker.flushdb()  # the broker lost its queue
    long_ago = timezone.now() - timedelta(seconds=settings.NOTIFICATION_SWEEP_AGE_SECONDS + 60)
    Delivery.objects.filter(pk=lost_in_queue.pk).update(updated_at=long_ago)
    # A worker claimed this one, then died before recording anything.
    Delivery.objects.filter(pk=lost_mid_send.pk).update(status=DeliveryStatus.SENDING, attempts=1, claimed_at=long_ago)
    celery_worker()

    sweep_deliveries.apply_async()

    wait_until(
        lambda: set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT},
        what="both deliveries sent",
    )
    assert len(receiver.requests) == 2
    assert Delivery.objects.get(pk=lost_mid_send.pk).attempts == 2

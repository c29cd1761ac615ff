"""What the benchmark's optimisations must keep: the per-process SMTP connection pool (providers/smtp.py)
and the per-channel delivery batch (notifications/delivery.py), against real SMTP and HTTP servers."""

import socket
from collections.abc import Iterator

import pytest

from notifications.delivery import delivery_process
from notifications.event_types import get_event_type
from notifications.models import Delivery, DeliveryAttempt, DeliveryStatus
from notifications.services import emit
from providers import smtp
from providers.sender_cache import get_smtp_sender, invalidate_sender_cache
from tests.notifications.builders import ACTOR, SESSION, email_channel, rule, smtp_provider, webhook_channel
from tests.support.http import http_server, webhook_receiver  # noqa: F401  (fixtures)
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]
CREDENTIALS = ("mailer", "smtp-pass-5ecret")
DOWNLOAD = get_event_type("artifact.download.completed")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    invalidate_sender_cache()
    yield
    invalidate_sender_cache()


def emitted(count: int = 1) -> list[Delivery]:
    return [emit(actor=ACTOR, event_type="session.started", payload=SESSION).deliveries[0] for _ in range(count)]


def send_one() -> str:
    return delivery_process(delivery_id=str(emitted()[0].pk)).status


@pytest.fixture
def mail_route(smtp_server):  # noqa: F811
    server = smtp_server(credentials=CREDENTIALS, auth_require_tls=False)
    smtp_provider(server.host, server.port, username=CREDENTIALS[0], password=CREDENTIALS[1])
    rule(email_channel())
    return server


def test_sends_share_one_authenticated_connection(mail_route):
    assert [send_one(), send_one(), send_one()] == [DeliveryStatus.SENT] * 3

    assert len(mail_route.messages) == 3
    assert mail_route.auth_attempts == [("mailer", True)]


def test_a_connection_the_server_dropped_is_replaced_and_the_message_still_goes(mail_route):
    assert send_one() == DeliveryStatus.SENT
    ((backend, _),) = smtp._pool._idle[get_smtp_sender().endpoint]
    backend.connection.sock.shutdown(socket.SHUT_RDWR)  # as a relay that timed the idle client out

    assert send_one() == DeliveryStatus.SENT
    assert len(mail_route.messages) == 2
    assert len(mail_route.auth_attempts) == 2


def test_an_idle_connection_past_the_limit_is_not_reused(mail_route, settings):
    settings.NOTIFICATION_SMTP_POOL_IDLE_SECONDS = 0

    assert [send_one(), send_one()] == [DeliveryStatus.SENT] * 2
    assert len(mail_route.auth_attempts) == 2


def test_a_provider_change_closes_its_pooled_connections(mail_route):
    assert send_one() == DeliveryStatus.SENT
    provider_endpoint = get_smtp_sender().endpoint
    assert provider_endpoint in smtp._pool._idle
    invalidate_sender_cache()  # what a provider update does on commit

    assert provider_endpoint not in smtp._pool._idle
    assert send_one() == DeliveryStatus.SENT
    assert len(mail_route.auth_attempts) == 2


def test_a_channel_with_its_own_smtp_block_has_its_own_connection(mail_route, smtp_server):  # noqa: F811
    own = smtp_server(credentials=CREDENTIALS, auth_require_tls=False)
    rule(
        email_channel(
            name="own-relay",
            smtp={"host": own.host, "port": own.port, "use_tls": False},
            auth={"username": CREDENTIALS[0], "password": CREDENTIALS[1]},
        )
    )
    for delivery in emit(actor=ACTOR, event_type="session.started", payload=SESSION).deliveries * 2:
        delivery_process(delivery_id=str(delivery.pk))
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PENDING)

    assert (len(mail_route.messages), len(own.messages)) == (2, 2)
    assert (len(mail_route.auth_attempts), len(own.auth_attempts)) == (1, 1)


def test_a_task_drains_the_pending_deliveries_of_its_channel_in_batches(webhook_receiver, settings):  # noqa: F811
    settings.NOTIFICATION_DELIVERY_BATCH_SIZE = 3
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    other = webhook_receiver()
    rule(webhook_channel(other.url, name="other-hook"), event_type=DOWNLOAD.code, message_template="done")
    first, *rest = emitted(7)
    elsewhere = emit(actor=ACTOR, event_type=DOWNLOAD.code, payload=DOWNLOAD.example).deliveries[0]

    result = delivery_process(delivery_id=str(first.pk))

    assert result.status == DeliveryStatus.SENT
    assert sorted(r.delivery_id for r in result.also) == sorted(str(d.pk) for d in rest)
    assert {r.status for r in result.also} == {DeliveryStatus.SENT}
    assert delivery_process(delivery_id=str(rest[0].pk)).status is None  # its own task finds it done
    assert Delivery.objects.get(pk=elsewhere.pk).status == DeliveryStatus.PENDING  # another channel's
    assert not other.requests
    assert sorted(request.headers["X-Notification-Delivery-Id"] for request in receiver.requests) == sorted(
        str(d.pk) for d in (first, *rest)
    )
    assert DeliveryAttempt.objects.filter(number=1).count() == 7


def test_a_transient_failure_ends_the_drain_and_gives_the_rest_back(webhook_receiver, settings):  # noqa: F811
    settings.NOTIFICATION_DELIVERY_BATCH_SIZE = 3
    receiver = webhook_receiver(responses=[(200, {}, "ok"), (503, {}, "down"), (200, {}, "ok")])
    rule(webhook_channel(receiver.url))
    first, second, *rest = emitted(5)

    result = delivery_process(delivery_id=str(first.pk))

    assert result.status == DeliveryStatus.SENT
    assert len(receiver.requests) == 2
    by_id = {r.delivery_id: r for r in result.also}
    assert (by_id[str(second.pk)].status, by_id[str(second.pk)].retry_at is not None) == (
        DeliveryStatus.RETRYING,
        True,
    )
    # The third was claimed with the batch and given back; the others were never claimed.
    assert [by_id[str(rest[0].pk)].status, by_id[str(rest[0].pk)].retry_at] == [DeliveryStatus.PENDING, None]
    for delivery in rest:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.claimed_at) == (DeliveryStatus.PENDING, 0, None)
    assert delivery_process(delivery_id=str(rest[0].pk)).status == DeliveryStatus.SENT


def test_a_record_leaves_a_row_that_another_worker_has_taken_over(webhook_receiver):  # noqa: F811
    from notifications import delivery as pipeline

    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    first, second = emitted(2)
    batch = pipeline._claim_pending(first.channel_id, 2)
    attempts = [pipeline._attempt(claimed) for claimed in batch]
    # Meanwhile the sweeper gave the second back and another worker claimed it: attempt 2 is theirs.
    Delivery.objects.filter(pk=second.pk).update(attempts=2)

    results = pipeline._record(attempts)

    assert [(r.delivery_id, r.status) for r in results] == [
        (str(first.pk), DeliveryStatus.SENT),
        (str(second.pk), None),
    ]
    second.refresh_from_db()
    assert (second.status, second.attempts) == (DeliveryStatus.SENDING, 2)
    assert DeliveryAttempt.objects.filter(delivery=second, number=1).count() == 1  # what happened is kept

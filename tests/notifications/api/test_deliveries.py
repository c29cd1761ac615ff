"""deliveries/ over HTTP: the log with filters and cursor pages, one delivery with its attempts, retry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus
from tests.core.api_fixtures import API
from tests.factories import EventFactory

DELIVERIES = f"{API}deliveries/"


@pytest.fixture
def failed_delivery(rule):
    event = EventFactory(event_type="session.started", payload={})
    delivery = Delivery.objects.create(
        event=event,
        rule=rule,
        channel=rule.channel,
        status=DeliveryStatus.FAILED,
        attempts=1,
        failure_stage="webhook_send",
        last_error="The webhook answered HTTP 404.",
    )
    now = timezone.now()
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=now - timedelta(seconds=1),
        finished_at=now,
        outcome=AttemptOutcome.PERMANENT_ERROR,
        failure_stage="webhook_send",
        status_code=404,
        error_code="WEBHOOK_BAD_STATUS",
        excerpt="HTTP 404",
    )
    return delivery


def test_list_filter_and_read_with_attempts(client_for, failed_delivery, rule):
    viewer = client_for("viewer")
    sent = Delivery.objects.create(
        event=EventFactory(), rule=None, channel=rule.channel, status=DeliveryStatus.SENT, attempts=1
    )
    listed = viewer.get(DELIVERIES)
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    assert [item["id"] for item in listed.json()["results"]] == [str(sent.id), str(failed_delivery.id)]

    def ids(query):
        response = viewer.get(DELIVERIES, query)
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["results"]]

    assert ids({"status": "failed"}) == [str(failed_delivery.id)]
    assert ids({"rule": str(rule.id)}) == [str(failed_delivery.id)]
    assert ids({"channel": str(rule.channel_id), "ordering": "created_at"}) == [str(failed_delivery.id), str(sent.id)]
    assert ids({"event_type": "session.started"}) == [str(failed_delivery.id)]
    assert ids({"created_after": (timezone.now() + timedelta(days=1)).isoformat()}) == []

    detail = viewer.get(f"{DELIVERIES}{failed_delivery.id}/")
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "failed"
    assert body["event_type"] == "session.started"
    assert body["last_error"] == "The webhook answered HTTP 404."
    assert [attempt["status_code"] for attempt in body["attempt_log"]] == [404]
    assert body["attempt_log"][0]["error_code"] == "WEBHOOK_BAD_STATUS"


def test_an_unknown_status_filter_names_the_field(client_for):
    response = client_for("viewer").get(DELIVERIES, {"status": "lost"})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert list(response.json()["fields"]) == ["status"]


def test_retry_queues_a_failed_delivery_again(client_for, failed_delivery):
    response = client_for("writer").post(f"{DELIVERIES}{failed_delivery.id}/retry/")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending"
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == DeliveryStatus.PENDING


def test_retry_of_a_sent_delivery_is_a_conflict(client_for, failed_delivery):
    Delivery.objects.filter(pk=failed_delivery.pk).update(status=DeliveryStatus.SENT)
    response = client_for("writer").post(f"{DELIVERIES}{failed_delivery.id}/retry/")
    assert response.status_code == 409
    assert response.json()["code"] == "DELIVERY_NOT_RETRYABLE"

"""events/ and event-types/ over HTTP: emit (202, idempotent 200), list with cursor pages, read."""

import pytest

from notifications.event_types import registered_event_types
from notifications.models import Delivery, Event
from tests.core.api_fixtures import API
from tests.factories import EventFactory

EVENTS = f"{API}events/"
EVENT_TYPES = f"{API}event-types/"
PAYLOAD = {"session_id": "s-1", "session_type": "batch", "cluster_mode": "single-node", "status": "RUNNING"}


@pytest.fixture
def publisher(client_for):
    return client_for("publisher")


def test_emit_is_accepted_with_one_delivery_per_matching_rule(publisher, rule):
    response = publisher.post(EVENTS, {"event_type": "session.started", "payload": PAYLOAD, "idempotency_key": "k-1"})
    assert response.status_code == 202, response.json()
    body = response.json()
    event = Event.objects.get()
    delivery = Delivery.objects.get()
    assert body["id"] == str(event.id)
    assert body["event_type"] == "session.started"
    assert body["payload"] == PAYLOAD
    assert body["deliveries"] == [
        {"id": str(delivery.id), "rule": str(rule.id), "channel": str(rule.channel_id), "status": "pending"}
    ]


def test_the_same_idempotency_key_again_returns_the_first_event_with_200(publisher, rule):
    first = publisher.post(EVENTS, {"event_type": "session.started", "payload": PAYLOAD, "idempotency_key": "k-1"})
    again = publisher.post(
        EVENTS, {"event_type": "session.started", "payload": {**PAYLOAD, "status": "OTHER"}, "idempotency_key": "k-1"}
    )
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_emit_without_matching_rules_stores_the_event_with_no_deliveries(publisher):
    response = publisher.post(EVENTS, {"event_type": "notification.test", "payload": {"message": "hi"}})
    assert response.status_code == 202
    assert response.json()["deliveries"] == []
    assert response.json()["idempotency_key"] is None


def test_list_and_read_events(client_for):
    viewer = client_for("viewer")
    older = EventFactory(idempotency_key="a")
    newer = EventFactory(event_type="session.started", payload=PAYLOAD)
    listed = viewer.get(EVENTS)
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    assert [item["id"] for item in listed.json()["results"]] == [str(newer.id), str(older.id)]
    assert [item["id"] for item in viewer.get(EVENTS, {"event_type": "notification.test"}).json()["results"]] == [
        str(older.id)
    ]
    detail = viewer.get(f"{EVENTS}{older.id}/")
    assert detail.status_code == 200
    assert detail.json()["idempotency_key"] == "a"
    assert detail.json()["deliveries"] == []


def test_event_cursor_pages(client_for):
    viewer = client_for("viewer")
    ids = [str(EventFactory().id) for _ in range(5)]
    seen = []
    page = viewer.get(EVENTS, {"limit": 2}).json()
    while True:
        assert page["count"] == 5
        seen += [item["id"] for item in page["results"]]
        if not page["next"]:
            break
        page = viewer.get(page["next"]).json()
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5


def test_a_forged_cursor_is_a_validation_error(client_for):
    viewer = client_for("viewer")
    EventFactory()
    for cursor in ("bz14", "cD1ub3QtYS1kYXRl"):  # base64 of "o=x" and of "p=not-a-date"
        response = viewer.get(EVENTS, {"cursor": cursor})
        assert response.status_code == 400, response.content
        assert response.json()["fields"] == {"cursor": ["Invalid cursor."]}


def test_event_types_list_and_detail(client_for):
    viewer = client_for("viewer")
    listed = viewer.get(EVENT_TYPES)
    assert listed.status_code == 200
    assert listed.json()["count"] == len(registered_event_types())
    assert [item["event_type"] for item in listed.json()["results"]] == sorted(registered_event_types())
    assert [item["event_type"] for item in viewer.get(EVENT_TYPES, {"search": "SESSION."}).json()["results"]] == [
        "session.started",
        "session.terminated",
    ]
    detail = viewer.get(f"{EVENT_TYPES}session.started/")
    assert detail.status_code == 200
    body = detail.json()
    assert set(body) == {"event_type", "description", "json_schema", "example"}
    assert body["json_schema"]["additionalProperties"] is False
    assert body["example"]["session_type"] == "batch"
    assert viewer.get(f"{EVENT_TYPES}no.such.type/").json()["code"] == "NOT_FOUND"

import logging
from datetime import UTC, datetime

import pytest

from core.errors import ErrorCode, NotAuthenticated, PermissionDenied, ValidationError
from notifications.models import Delivery, DeliveryStatus, Event
from notifications.services import emit
from tests.notifications.builders import ACTOR, SESSION, rule, webhook_channel

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/in"


def test_emit_stores_the_event_and_one_pending_delivery_per_matching_rule(django_capture_on_commit_callbacks):
    channel = webhook_channel(URL)
    first, second = rule(channel, name="a"), rule(channel, name="b")
    rule(channel, name="other type", event_type="session.terminated")

    with django_capture_on_commit_callbacks() as callbacks:
        result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)

    assert result.created
    assert result.event.payload == SESSION
    assert {d.rule_id for d in result.deliveries} == {first.id, second.id}
    assert all(d.status == DeliveryStatus.PENDING and d.attempts == 0 for d in result.deliveries)
    assert Delivery.objects.filter(event=result.event).count() == 2
    assert len(callbacks) == 1  # one on-commit enqueue for the whole batch


def test_disabled_rules_and_rules_of_disabled_channels_do_not_match():
    live, dead = webhook_channel(URL, name="live"), webhook_channel(URL, name="dead")
    dead.enabled = False
    dead.save()
    kept = rule(live, name="kept")
    rule(live, name="off", enabled=False)
    rule(dead, name="on a disabled channel")

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)

    assert [d.rule_id for d in result.deliveries] == [kept.id]


@pytest.mark.parametrize("rules", [1, 50])
def test_matching_costs_the_same_queries_whatever_the_number_of_rules(
    rules, django_assert_num_queries, require_postgres
):
    channel = webhook_channel(URL)
    for index in range(rules):
        rule(channel, name=f"r{index}", condition="status == 'RUNNING'")

    # The rules with their channels, then the event with its deliveries in one statement.
    with django_assert_num_queries(2):
        result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)

    assert len(result.deliveries) == rules
    stored = Delivery.objects.filter(event_id=result.event.pk)
    assert sorted(stored.values_list("pk", flat=True)) == sorted(d.pk for d in result.deliveries)
    assert set(stored.values_list("status", "attempts")) == {("pending", 0)}
    assert Event.objects.get(pk=result.event.pk).payload == SESSION


@pytest.mark.parametrize("rules", [0, 1, 50])
def test_without_conditions_an_event_is_matched_and_stored_with_its_deliveries_in_one_statement(
    rules, django_assert_num_queries, require_postgres
):
    channel = webhook_channel(URL)
    made = [rule(channel, name=f"r{index}") for index in range(rules)]
    rule(channel, name="other type", event_type="session.terminated")

    with django_assert_num_queries(1):
        result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)

    assert sorted(d.rule_id for d in result.deliveries) == sorted(r.id for r in made)
    assert all(d.channel_id == channel.id and d.event_id == result.event.pk for d in result.deliveries)
    stored = Delivery.objects.filter(event_id=result.event.pk)
    assert sorted(stored.values_list("pk", "rule_id", "created_at")) == sorted(
        (d.pk, d.rule_id, d.created_at) for d in result.deliveries
    )
    assert set(stored.values_list("status", "attempts", "channel_id")) == (
        {("pending", 0, channel.id)} if rules else set()
    )
    assert Event.objects.get(pk=result.event.pk).payload == SESSION


def test_one_conditional_rule_among_plain_ones_stores_nothing_until_the_conditions_are_evaluated(
    django_assert_num_queries, require_postgres
):
    channel = webhook_channel(URL)
    plain = rule(channel, name="plain")
    firing = rule(channel, name="firing", condition="status == 'RUNNING'")
    rule(channel, name="silent", condition="status == 'TERMINATED'")

    # The matching statement stores nothing when a rule has a condition; the second stores the rest.
    with django_assert_num_queries(2):
        result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)

    assert sorted(d.rule_id for d in result.deliveries) == sorted([plain.id, firing.id])
    assert Event.objects.count() == 1
    assert sorted(Delivery.objects.values_list("rule_id", flat=True)) == sorted([plain.id, firing.id])


def test_an_event_with_a_key_is_stored_in_one_transaction(django_assert_num_queries, require_postgres):
    rule(webhook_channel(URL))

    # The rules; savepoint, event, release (a repeated key is settled there); the deliveries; inside
    # the test's transaction, the outer atomic block is one more savepoint and its release.
    with django_assert_num_queries(7):
        result = emit(actor=ACTOR, event_type="session.started", payload=SESSION, idempotency_key="k-0")

    assert Delivery.objects.filter(event_id=result.event.pk).count() == 1


def test_an_idempotency_key_seen_before_returns_the_first_event_and_queues_nothing(
    django_capture_on_commit_callbacks,
):
    rule(webhook_channel(URL))
    first = emit(actor=ACTOR, event_type="session.started", payload=SESSION, idempotency_key="k-1")

    with django_capture_on_commit_callbacks() as callbacks:
        again = emit(actor=ACTOR, event_type="session.started", payload=SESSION, idempotency_key="k-1")

    assert not again.created
    assert again.event.pk == first.event.pk
    assert [d.pk for d in again.deliveries] == [d.pk for d in first.deliveries]
    assert callbacks == []
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1


def test_conditions_decide_which_rules_fire():
    channel = webhook_channel(URL)
    running = rule(channel, name="running", condition="status == 'RUNNING'")
    rule(channel, name="batch only when interactive", condition="session_type == 'interactive'")

    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION)

    assert [d.rule_id for d in result.deliveries] == [running.id]


def test_a_condition_that_errors_does_not_fire_and_is_logged_without_payload(caplog):
    channel = webhook_channel(URL)
    # Valid against the example payload (session_name is set there) but not against this event.
    rule(channel, name="fragile", condition="session_name.startswith('train')")
    steady = rule(channel, name="steady")
    payload = {**SESSION, "session_id": "very-private-session-id"}

    with caplog.at_level(logging.WARNING, logger="notifications.services"):
        result = emit(actor=ACTOR, event_type="session.started", payload=payload)

    assert [d.rule_id for d in result.deliveries] == [steady.id]
    assert "condition failed" in caplog.text
    assert "very-private-session-id" not in caplog.text


def test_the_payload_is_checked_against_the_event_type():
    with pytest.raises(ValidationError) as error:
        emit(actor=ACTOR, event_type="session.started", payload={**SESSION, "surprise": 1})
    assert "payload.surprise" in error.value.fields

    with pytest.raises(ValidationError) as error:
        emit(actor=ACTOR, event_type="no.such.type", payload={})
    assert "event_type" in error.value.fields
    assert Event.objects.count() == 0


def test_occurred_at_defaults_to_now_and_accepts_iso_strings():
    result = emit(actor=ACTOR, event_type="session.started", payload=SESSION, occurred_at="2026-01-13T09:30:00Z")
    assert result.event.occurred_at == datetime(2026, 1, 13, 9, 30, tzinfo=UTC)

    with pytest.raises(ValidationError) as error:
        emit(actor=ACTOR, event_type="session.started", payload=SESSION, occurred_at="yesterday")
    assert error.value.code == ErrorCode.VALIDATION_ERROR and "occurred_at" in error.value.fields


@pytest.mark.parametrize("impossible", ["2026-02-30T09:30:00Z", "2026-01-13T25:00:00Z", "0000-01-13T09:30:00Z"])
def test_a_well_formed_but_impossible_occurred_at_is_a_validation_error_and_nothing_is_stored(impossible):
    with pytest.raises(ValidationError) as error:
        emit(actor=ACTOR, event_type="session.started", payload=SESSION, occurred_at=impossible)
    assert error.value.code == ErrorCode.VALIDATION_ERROR and "occurred_at" in error.value.fields
    assert Event.objects.count() == 0


def test_emitting_needs_the_add_event_permission(make_user, anonymous):
    with pytest.raises(NotAuthenticated):
        emit(actor=anonymous, event_type="session.started", payload=SESSION)
    with pytest.raises(PermissionDenied):
        emit(actor=make_user("NotificationViewer"), event_type="session.started", payload=SESSION)

    assert emit(actor=make_user("EventPublisher"), event_type="session.started", payload=SESSION).created


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "key", "field"),
    [
        ({"message": "a\x00b"}, None, "payload.message"),
        ({"message": "ok"}, "key\x00", "idempotency_key"),
        ({"message": "a\ud800b"}, None, "payload.message"),
        ({"message": "ok", "\udfff": "x"}, None, "payload"),
        ({"message": "ok"}, "key\udfff", "idempotency_key"),
        ({"message": "ok", "n": float("inf")}, None, "payload.n"),
    ],
)
def test_text_no_column_can_store_is_refused_before_anything_is_stored(payload, key, field):
    with pytest.raises(ValidationError) as caught:
        emit(actor=ACTOR, event_type="notification.test", payload=payload, idempotency_key=key)
    assert list(caught.value.fields) == [field]
    assert Event.objects.count() == 0

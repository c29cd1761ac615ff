"""The event-type registry and payload validation for every starter type."""

import copy

import pytest

from core.errors import ValidationError
from notifications.event_types import (
    EventType,
    get_event_type,
    register_event_type,
    registered_event_types,
    unregister_event_type,
    validate_payload,
)

STARTER_TYPES = {
    "session.started",
    "session.terminated",
    "artifact.download.completed",
    "endpoint.lifecycle.changed",
    "notification.test",
}

# (event type, a required field, a value of the wrong type for a field)
CASES = [
    ("session.started", "session_id", ("cluster_mode", 3)),
    ("session.terminated", "status", ("termination_reason", ["x"])),
    ("artifact.download.completed", "success", ("success", "yes")),
    ("endpoint.lifecycle.changed", "event_timestamp", ("event_timestamp", "yesterday")),
    ("notification.test", "message", ("message", {"a": 1})),
]


def test_registry_pins_the_starter_catalogue():
    assert set(registered_event_types()) == STARTER_TYPES


@pytest.mark.parametrize("code", sorted(STARTER_TYPES))
def test_each_example_payload_is_valid(code):
    event_type = get_event_type(code)
    assert validate_payload(code, event_type.example) is event_type
    assert event_type.schema["additionalProperties"] is False
    assert event_type.description


@pytest.mark.parametrize(("code", "required", "wrong"), CASES)
def test_missing_field_is_named(code, required, wrong):
    payload = copy.deepcopy(get_event_type(code).example)
    del payload[required]
    with pytest.raises(ValidationError) as caught:
        validate_payload(code, payload)
    assert caught.value.fields == {f"payload.{required}": ["This field is required."]}


@pytest.mark.parametrize(("code", "required", "wrong"), CASES)
def test_wrong_type_is_named(code, required, wrong):
    field, value = wrong
    payload = {**get_event_type(code).example, field: value}
    with pytest.raises(ValidationError) as caught:
        validate_payload(code, payload)
    assert list(caught.value.fields) == [f"payload.{field}"]


@pytest.mark.parametrize("code", sorted(STARTER_TYPES))
def test_unknown_field_is_refused_and_named(code):
    payload = {**get_event_type(code).example, "surprise": 1}
    with pytest.raises(ValidationError) as caught:
        validate_payload(code, payload)
    assert caught.value.fields == {"payload.surprise": ["Unknown field."]}


def test_optional_fields_may_be_left_out():
    payload = {"session_id": "s", "session_type": "interactive", "cluster_mode": "single-node", "status": "RUNNING"}
    validate_payload("session.started", payload)


def test_non_object_payload_is_refused():
    with pytest.raises(ValidationError) as caught:
        validate_payload("notification.test", ["message"])
    assert list(caught.value.fields) == ["payload"]


def test_unknown_event_type_names_the_field():
    with pytest.raises(ValidationError) as caught:
        validate_payload("payment.overdue", {})
    assert list(caught.value.fields) == ["event_type"]


def test_host_application_registers_its_own_type():
    overdue = EventType(
        code="payment.overdue",
        description="A payment is past due.",
        schema={"properties": {"invoice_id": {"type": "string"}}, "required": ["invoice_id"]},
        example={"invoice_id": "INV-1"},
    )
    register_event_type(overdue)
    try:
        assert validate_payload("payment.overdue", {"invoice_id": "INV-2"}) is overdue
        with pytest.raises(ValueError, match="already registered"):
            register_event_type(overdue)
    finally:
        unregister_event_type("payment.overdue")
    assert "payment.overdue" not in registered_event_types()


def test_an_example_that_breaks_its_own_schema_is_refused_at_registration():
    with pytest.raises(ValueError, match="example payload"):
        EventType(code="x.y", description="", schema={"properties": {"n": {"type": "integer"}}}, example={"n": "1"})


def test_settings_entry_registers_types(settings):
    from notifications.event_types import load_configured_event_types

    settings.NOTIFICATION_EVENT_TYPES = ["tests.notifications.sample_event_types.ORDER_SHIPPED"]
    try:
        load_configured_event_types()
        assert get_event_type("order.shipped").example == {"order_id": "o-1"}
    finally:
        unregister_event_type("order.shipped")

"""Each bad input is a 400 VALIDATION_ERROR naming its field, and nothing is stored."""

import json

import pytest

from core.models import AuditEntry
from notifications.event_types import EventType, register_event_type, unregister_event_type
from notifications.models import Channel, Delivery, Event, Rule
from providers.models import NotificationProvider
from tests.core.api_fixtures import API, email_config, smtp_provider_config, webhook_config

SESSION = {"session_id": "s-1", "session_type": "batch", "cluster_mode": "single-node", "status": "RUNNING"}


def _channel(channel_type, config, name="c"):
    return {"name": name, "channel_type": channel_type, "config": config}


def _email_with(message=None, smtp=None):
    config = email_config()
    config["message"].update(message or {})
    config["smtp"].update(smtp or {})
    return config


def _rule(channel_id, **overrides):
    return {"name": "r", "event_type": "session.started", "channel": channel_id, "message_template": "hi", **overrides}


# (id, path, body, field): `path` and `body` may name {channel} for the seeded webhook channel's id.
CASES = [
    (
        "invalid email address",
        "channels/",
        _channel("email", _email_with({"to_emails": ["not-an-email"]})),
        "config.message.to_emails.0",
    ),
    (
        "invalid provider from_email",
        "providers/",
        {"provider": "smtp", "name": "p", "config": smtp_provider_config(from_email="nope")},
        "config.from_email",
    ),
    (
        "provider port 0",
        "providers/",
        {"provider": "smtp", "name": "p", "config": smtp_provider_config(port=0)},
        "config.port",
    ),
    (
        "provider port 70000",
        "providers/",
        {"provider": "smtp", "name": "p", "config": smtp_provider_config(port=70000)},
        "config.port",
    ),
    ("smtp block port 0", "channels/", _channel("email", _email_with(smtp={"port": 0})), "config.smtp.port"),
    ("smtp block port 70000", "channels/", _channel("email", _email_with(smtp={"port": 70000})), "config.smtp.port"),
    ("URL without scheme", "channels/", _channel("webhook", webhook_config("hooks.example.com/in")), "config.url"),
    ("unknown channel_type", "channels/", _channel("sms", {"number": "+100"}), "channel_type"),
    ("template syntax error", "rules/", _rule("{channel}", message_template="{{ session_id "), "message_template"),
    ("condition syntax error", "rules/", _rule("{channel}", condition="session_type =="), "condition"),
    ("template over 64 KB", "rules/", _rule("{channel}", message_template="x" * (64 * 1024 + 1)), "message_template"),
    ("rule with an unknown event type", "rules/", _rule("{channel}", event_type="no.such.type"), "event_type"),
    (
        "test_message over 5,000 characters",
        "channels/{channel}/validate/",
        {"test_message": "x" * 5001},
        "test_message",
    ),
    ("unknown event type", "events/", {"event_type": "no.such.type", "payload": {}}, "event_type"),
    (
        "payload with an unknown field",
        "events/",
        {"event_type": "session.started", "payload": {**SESSION, "colour": "red"}},
        "payload.colour",
    ),
    (
        "payload missing a required field",
        "events/",
        {
            "event_type": "session.started",
            "payload": {"session_id": "s-1", "session_type": "batch", "cluster_mode": "x"},
        },
        "payload.status",
    ),
    ("unknown top-level field", "channels/", {**_channel("webhook", webhook_config()), "colour": "red"}, "colour"),
    ("config field typo", "channels/", _channel("webhook", {**webhook_config(), "urll": "x"}), "config.urll"),
    ("body that is a list", "channels/", [1, 2], "non_field_errors"),
]


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (Channel, Rule, Event, Delivery, NotificationProvider, AuditEntry)
    }


@pytest.fixture
def superuser_client(client_for):
    return client_for("superuser")


@pytest.mark.parametrize(("path", "body", "field"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_names_its_field_and_stores_nothing(superuser_client, webhook_channel, path, body, field):
    channel = str(webhook_channel.id)
    path = path.format(channel=channel)
    if isinstance(body, dict) and body.get("channel") == "{channel}":
        body = {**body, "channel": channel}
    before = _counts()
    response = superuser_client.post(f"{API}{path}", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["fields"], error
    assert error["message"]
    assert _counts() == before


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "PARSE_ERROR"),
        ('{"name": "x",}', "application/json", 400, "PARSE_ERROR"),
        ("name=x&channel_type=webhook", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("just text", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
    ids=["broken JSON", "trailing comma", "form body", "plain text"],
)
def test_a_non_json_body_is_refused_and_stores_nothing(superuser_client, body, content_type, status, code):
    before = _counts()
    response = superuser_client.generic("POST", f"{API}channels/", body, content_type=content_type)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message"}
    assert _counts() == before


def test_patch_with_bad_input_changes_nothing(superuser_client, webhook_channel):
    response = superuser_client.patch(
        f"{API}channels/{webhook_channel.id}/", {"name": "renamed", "config": webhook_config("ftp://x/")}
    )
    assert response.status_code == 400
    assert "config.url" in response.json()["fields"]
    webhook_channel.refresh_from_db()
    assert webhook_channel.name == "ops-webhook"
    assert webhook_channel.config["url"] == "https://hooks.example.com/in?team=ops"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("events/", {"event_type": "notification.test", "payload": {"message": "a\x00b"}}, "payload.message"),
        ("channels/", {"name": "a\x00", "channel_type": "webhook", "config": webhook_config()}, "name"),
        ("channels/", _channel("webhook", {**webhook_config(), "headers": {"X-A": "\x00"}}), "config.headers.X-A"),
        ("events/", {"event_type": "notification.test", "payload": {"message": "a\ud800b"}}, "payload.message"),
        ("channels/", {"name": "a\udfff", "channel_type": "webhook", "config": webhook_config()}, "name"),
        ("channels/", _channel("webhook", {**webhook_config(), "headers": {"X-A": "\udc80"}}), "config.headers.X-A"),
    ],
    ids=[
        "in a payload",
        "in a name",
        "in a header value",
        "surrogate in a payload",
        "surrogate in a name",
        "surrogate in a header value",
    ],
)
def test_text_no_column_can_store_is_refused_wherever_it_is(superuser_client, path, body, field):
    before = _counts()
    # As a JSON client sends it: a surrogate as a \ud800 escape.
    response = superuser_client.post(f"{API}{path}", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert _counts() == before


@pytest.fixture
def numeric_event_type():
    overdue = EventType(
        code="payment.overdue", description="", schema={"properties": {"amount": {"type": "number"}}}, example={}
    )
    register_event_type(overdue)
    yield overdue
    unregister_event_type(overdue.code)


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_a_number_too_large_for_json_storage_names_its_field(superuser_client, numeric_event_type, number):
    body = f'{{"event_type": "payment.overdue", "payload": {{"amount": {number}}}}}'
    response = superuser_client.post(f"{API}events/", body, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["payload.amount"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "yesterday"])
def test_a_date_time_filter_out_of_range_names_its_field(superuser_client, value):
    response = superuser_client.get(f"{API}channels/", {"created_after": value})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["created_after"]


def test_a_date_time_filter_with_an_offset_postgresql_refuses_is_normalised(superuser_client, webhook_channel):
    response = superuser_client.get(f"{API}deliveries/", {"created_before": "2999-01-01T00:00:00+21:05"})
    assert response.status_code == 200

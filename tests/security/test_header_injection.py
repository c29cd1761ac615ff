"""CR, LF and the other line breaks in every field that reaches a mail or HTTP header (or an SMTP
command line) are refused when saved, with the field named and nothing stored; a subject that only
breaks once rendered fails the delivery before anything is sent."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from notifications.delivery import delivery_process
from notifications.models import Channel, DeliveryStatus, Rule
from notifications.services import emit
from providers.models import NotificationProvider
from tests.core.api_fixtures import API
from tests.notifications.builders import ACTOR, email_channel, rule, smtp_provider, webhook_channel

pytestmark = pytest.mark.django_db

# Python's email package splits header values at every str.splitlines() break, not only CR and LF.
BREAKS = {"crlf": "\r\n", "lf": "\n", "cr": "\r", "vt": "\x0b", "ff": "\x0c", "nel": "\x85", "ls": "\u2028"}
INJECTED = "Bcc: victim@example.com"

EMAIL_CONFIG = {
    "message": {"from_email": "alerts@example.com", "to_emails": ["ops@example.com"], "subject_template": "Hi"},
    "smtp": {"host": "smtp.example.com", "port": 587, "use_tls": True, "timeout": 5},
    "auth": {"username": "mailer", "password": "mail-pass-71c2"},
}
WEBHOOK_CONFIG = {"url": "https://hooks.example.com/in", "method": "POST", "headers": {"X-Api-Key": "k-1"}}
PROVIDER_CONFIG = {
    "relay": "smtp.example.com",
    "port": 587,
    "insecure": False,
    "from_email": "notify@example.com",
    "from_name": "Notifications",
    "admin_panel_url": "https://admin.example.com",
    "username": "relay-user",
    "password": "relay-pass-0d1e",
}


def _set(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(config)
    *parents, leaf = path.split(".")
    target = config
    for part in parents:
        target = target[part]
    target[leaf] = value
    return config


def _break(value: str, separator: str) -> str:
    return f"{value}{separator}{INJECTED}"


# (config path, how to put the break in, the field path the error names)
CHANNEL_FIELDS = [
    ("email", "message.from_email", lambda s: _break("alerts@example.com", s), "config.message.from_email"),
    ("email", "message.to_emails", lambda s: [_break("ops@example.com", s)], "config.message.to_emails.0"),
    ("email", "message.subject_template", lambda s: _break("Hi", s), "config.message.subject_template"),
    ("email", "auth.username", lambda s: _break("mailer", s), "config.auth.username"),
    ("email", "smtp.host", lambda s: _break("smtp.example.com", s), "config.smtp.host"),
    ("email", "smtp.host", lambda s: "smtp" + s + ".example.com", "config.smtp.host"),
    ("webhook", "url", lambda s: _break("https://hooks.example.com/in", s), "config.url"),
    ("webhook", "method", lambda s: _break("POST", s), "config.method"),
    ("webhook", "headers", lambda s: {"X-Api-Key": _break("k-1", s)}, "config.headers.X-Api-Key"),
    ("webhook", "headers", lambda s: {_break("X-Api-Key", s): "k-1"}, "config.headers"),
    ("webhook", "headers", lambda s: {"X-Api-Key" + s: "k-1"}, "config.headers"),
]


@pytest.mark.parametrize("separator", BREAKS.values(), ids=BREAKS.keys())
@pytest.mark.parametrize(
    ("kind", "path", "make", "field"), CHANNEL_FIELDS, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CHANNEL_FIELDS)]
)
def test_a_line_break_in_a_channel_header_field_is_refused(client_for, kind, path, make, field, separator):
    base = EMAIL_CONFIG if kind == "email" else WEBHOOK_CONFIG
    body = {"name": "injected", "channel_type": kind, "config": _set(base, path, make(separator))}

    response = client_for("writer").post(f"{API}channels/", json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert any(name == field or name.startswith(f"{field}.") for name in error["fields"]), error
    assert not Channel.objects.exists()


PROVIDER_FIELDS = ["from_email", "from_name", "relay", "username", "admin_panel_url"]


@pytest.mark.parametrize("separator", BREAKS.values(), ids=BREAKS.keys())
@pytest.mark.parametrize("field", PROVIDER_FIELDS)
def test_a_line_break_in_a_provider_field_is_refused(client_for, field, separator):
    config = {**PROVIDER_CONFIG, field: _break(PROVIDER_CONFIG[field], separator)}
    body = {"name": "Relay", "provider": "smtp", "config": config}

    response = client_for("superuser").post(f"{API}providers/", json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == [f"config.{field}"]
    assert not NotificationProvider.objects.exists()


@pytest.mark.parametrize("separator", BREAKS.values(), ids=BREAKS.keys())
@pytest.mark.parametrize("template", ["Hi{sep}" + INJECTED, "Hi{{{{ {sep!r} }}}}" + INJECTED])
def test_a_line_break_in_a_rule_subject_is_refused(client_for, template, separator):
    channel = email_channel()
    body = {
        "name": "r",
        "event_type": "notification.test",
        "channel": str(channel.pk),
        "subject_template": template.format(sep=separator),
    }

    response = client_for("writer").post(f"{API}rules/", json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["subject_template"]
    assert not Rule.objects.exists()


UPDATE_PROVIDER = """
mutation($input: NotificationProviderConfigUpdateInput!) {
  notificationProviderConfigUpdate(input: $input) {
    __typename
    ... on NotificationProviderConfigUpdatePayloadError { code fields { field } }
  }
}
"""


def test_graphql_refuses_them_too(as_user):
    provider = smtp_provider("smtp.example.com", 587)
    config = {
        "relay": "smtp.example.com",
        "port": 587,
        "insecure": False,
        "fromEmail": "notify@example.com",
        "fromName": _break("Notifications", "\r\n"),
    }
    data = as_user()(UPDATE_PROVIDER, {"input": {"notificationProviderId": str(provider.pk), "smtp": config}})
    result = data["notificationProviderConfigUpdate"]
    assert (result["__typename"], result["code"]) == (
        "NotificationProviderConfigUpdatePayloadError",
        "VALIDATION_ERROR",
    )
    assert [field["field"] for field in result["fields"]] == ["config.fromName"]
    provider.refresh_from_db()
    assert provider.config["from_name"] == "Notification Service"


@pytest.mark.parametrize("separator", BREAKS.values(), ids=BREAKS.keys())
def test_a_subject_that_breaks_only_once_rendered_fails_before_sending(smtp_server, separator):
    """The payload is the attacker's: its text lands in the subject; the delivery fails, nothing is sent."""
    sink = smtp_server(auth_require_tls=False)
    channel = email_channel(smtp={"host": sink.host, "port": sink.port, "use_tls": False, "timeout": 5})
    rule(channel, event_type="notification.test", subject_template="Alert: {{ message }}", message_template="hi")

    result = emit(actor=ACTOR, event_type="notification.test", payload={"message": _break("hi", separator)})
    (delivery,) = result.deliveries
    delivery_process(delivery_id=str(delivery.pk))
    delivery.refresh_from_db()

    assert (delivery.status, delivery.failure_stage) == (DeliveryStatus.FAILED, "render_template")
    assert "line break" in delivery.last_error
    assert sink.messages == []


def test_payload_line_breaks_in_an_email_body_are_only_text(smtp_server):
    sink = smtp_server(auth_require_tls=False)
    channel = email_channel(smtp={"host": sink.host, "port": sink.port, "use_tls": False, "timeout": 5})
    rule(channel, event_type="notification.test", subject_template="Alert", message_template="{{ message }}")

    result = emit(actor=ACTOR, event_type="notification.test", payload={"message": "hi\r\n\r\n" + INJECTED})
    delivery_process(delivery_id=str(result.deliveries[0].pk))

    (received,) = sink.messages
    assert received.rcpt_tos == ["ops@example.com"]
    assert received.message["Bcc"] is None


def test_payload_line_breaks_never_reach_webhook_headers(webhook_receiver):
    receiver = webhook_receiver()
    channel = webhook_channel(receiver.url, headers={"X-Team": "ops"}, signing_secret="s" * 32)
    rule(channel, event_type="notification.test", message_template="{{ message }}")

    result = emit(actor=ACTOR, event_type="notification.test", payload={"message": "x\r\nX-Injected: 1\r\n\r\n"})
    delivery_process(delivery_id=str(result.deliveries[0].pk))

    (request,) = receiver.requests
    assert "X-Injected" not in request.headers
    assert request.body == b"x\r\nX-Injected: 1\r\n\r\n"


def test_a_request_id_with_a_line_break_is_not_echoed(client_for):
    response = client_for("viewer").get(f"{API}nope/", headers={"X-Request-ID": "abcdefgh12\n"})
    assert response.status_code == 404
    assert "\n" not in response.get("X-Request-ID", "")

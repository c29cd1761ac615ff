"""channel_validate and rule_validate: a test message through the real send path, and a dry run."""

import json

import pytest

from core.errors import ErrorCode, PermissionDenied, ValidationError
from notifications.models import Delivery
from notifications.services import channel_validate, rule_validate
from tests.notifications.builders import ACTOR, SESSION, email_channel, rule, smtp_provider, webhook_channel

pytestmark = pytest.mark.django_db


def test_validate_sends_a_test_message_to_a_webhook(webhook_receiver):
    receiver = webhook_receiver()
    channel = webhook_channel(receiver.url)

    result = channel_validate(actor=ACTOR, channel_id=channel.id, test_message="Hello from ops")

    assert result["success"] is True and result["error"] is None and result["delivered_at"]
    body = json.loads(receiver.requests[0].body)
    assert (body["event_type"], body["data"]) == ("notification.test", {"message": "Hello from ops"})
    assert Delivery.objects.count() == 0  # a test message is not a delivery


def test_validate_reports_a_failure_without_the_remote_body(webhook_receiver):
    receiver = webhook_receiver(responses=[(500, {}, "stack trace with internals")])
    channel = webhook_channel(receiver.url)

    result = channel_validate(actor=ACTOR, channel_id=channel.id, test_message="hi")

    assert result["success"] is False and result["delivered_at"] is None
    assert result["error"]["code"] == ErrorCode.WEBHOOK_BAD_STATUS
    assert "internals" not in json.dumps(result, default=str)


def test_validate_goes_through_the_ssrf_guard(settings, webhook_receiver):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = []
    receiver = webhook_receiver()
    channel = webhook_channel(receiver.url)

    result = channel_validate(actor=ACTOR, channel_id=channel.id, test_message="hi")

    assert result["error"]["code"] == ErrorCode.WEBHOOK_ADDRESS_REFUSED
    assert receiver.requests == []


def test_validate_an_email_channel(smtp_server):
    channel = email_channel()
    result = channel_validate(actor=ACTOR, channel_id=channel.id, test_message="Mail check")
    assert (result["success"], result["error"]["code"]) == (False, ErrorCode.NO_SMTP_PROVIDER)

    server = smtp_server(auth_require_tls=False)
    smtp_provider(server.host, server.port)
    result = channel_validate(actor=ACTOR, channel_id=channel.id, test_message="Mail check")

    assert result["success"] is True
    assert "message: Mail check" in server.messages[0].raw.decode()


def test_the_test_message_is_bounded_and_validate_needs_change_permission(make_user, webhook_receiver):
    channel = webhook_channel(webhook_receiver().url)
    with pytest.raises(ValidationError) as error:
        channel_validate(actor=ACTOR, channel_id=channel.id, test_message="x" * 5001)
    assert (error.value.code, list(error.value.fields)) == (ErrorCode.VALIDATION_ERROR, ["test_message"])
    with pytest.raises(PermissionDenied):
        channel_validate(actor=make_user("NotificationViewer"), channel_id=channel.id, test_message="hi")


def test_rule_dry_run_renders_with_the_example_payload():
    channel = email_channel()
    saved = rule(channel, subject_template="[{{ event_type }}] {{ session_name }}", condition="status == 'RUNNING'")

    result = rule_validate(actor=ACTOR, rule_id=saved.id)

    assert result["matched"] is True and result["sent"] is False and result["error"] is None
    assert result["rendered"]["subject"] == "[session.started] training-run-42"
    assert result["rendered"]["body"].startswith("Session 3f1c2b7e-6f0a-4d8e-9b1a-2c3d4e5f6a7b is RUNNING")


def test_rule_dry_run_with_a_payload_reports_condition_and_render_errors():
    channel = webhook_channel("https://hooks.example.com/in")
    saved = rule(channel, message_template="{{ session_name }}", condition="status == 'RUNNING'")

    result = rule_validate(actor=ACTOR, rule_id=saved.id, payload={**SESSION, "status": "PENDING"})
    assert result["matched"] is False

    result = rule_validate(actor=ACTOR, rule_id=saved.id, payload=SESSION)
    assert result["rendered"] is None
    assert result["error"]["code"] == ErrorCode.TEMPLATE_ERROR

    with pytest.raises(ValidationError) as error:
        rule_validate(actor=ACTOR, rule_id=saved.id, payload={"nope": 1})
    assert "payload.nope" in error.value.fields


def test_rule_validate_can_send(make_user, webhook_receiver):
    receiver = webhook_receiver()
    saved = rule(webhook_channel(receiver.url))

    result = rule_validate(actor=ACTOR, rule_id=saved.id, payload=SESSION, send=True)

    assert (result["matched"], result["sent"], result["error"]) == (True, True, None)
    assert result["rendered"] == {"subject": None, "body": "Session s-1 is RUNNING"}
    assert receiver.requests[0].text == "Session s-1 is RUNNING"

    viewer = make_user("NotificationViewer")
    assert rule_validate(actor=viewer, rule_id=saved.id)["sent"] is False
    with pytest.raises(PermissionDenied):
        rule_validate(actor=viewer, rule_id=saved.id, send=True)

"""Channels, rules and deliveries in the admin, as a person uses them."""

from __future__ import annotations

import json

import pytest

from core.actors import SystemActor
from notifications.models import Channel, Delivery, DeliveryStatus, Rule
from notifications.services import channel_create, emit, rule_create
from tests.support.worker import wait_until

# Committed data: the browser talks to the live server's thread.
pytestmark = pytest.mark.django_db(transaction=True)

HEADER_SECRET = "header-secret-value-1"
SIGNING_SECRET = "signing-secret-0123456789"
ACTOR = SystemActor("tests")
SESSION = {"session_id": "abc", "session_type": "batch", "cluster_mode": "single-node", "status": "FAILED"}


def _webhook_channel(url: str) -> Channel:
    return channel_create(
        actor=ACTOR,
        name="ops-hook",
        channel_type="webhook",
        config={"url": url, "headers": {"X-Api-Key": HEADER_SECRET}, "signing_secret": SIGNING_SECRET},
    )


def test_writer_adds_channels_that_fit_their_kind_and_sends_a_test_message(
    page, login, staff_user, webhook_receiver, screenshot
):
    receiver = webhook_receiver()
    staff_user("writer", "NotificationWriter")
    login("writer", "/admin/notifications/channel/add/")

    page.select_option("#id_channel_type", "webhook")
    assert page.is_visible("fieldset.kind-webhook") and page.is_hidden("fieldset.kind-email")
    page.fill("#id_name", "ops-hook")
    page.fill("#id_url", receiver.url)
    page.fill("#id_headers", f"X-Api-Key: {HEADER_SECRET}")
    page.fill("#id_signing_secret", SIGNING_SECRET)
    screenshot("channel-add-webhook")
    page.click("input[name=_continue]")
    assert "was added successfully" in page.inner_text(".messagelist")
    channel = Channel.objects.get(name="ops-hook")
    assert channel.secrets == {"headers": {"X-Api-Key": HEADER_SECRET}, "signing_secret": SIGNING_SECRET}
    assert page.input_value("#id_headers") == "" and page.input_value("#id_signing_secret") == ""
    assert "Stored: X-Api-Key" in page.inner_text(".field-headers")
    assert HEADER_SECRET not in page.content() and SIGNING_SECRET not in page.content()
    screenshot("channel-change")

    # Saved again with the secrets blank, they are kept.
    page.fill("#id_timeout", "5")
    page.click("input[name=_continue]")
    channel.refresh_from_db()
    assert channel.config["timeout"] == 5.0 and channel.secrets["signing_secret"] == SIGNING_SECRET

    page.click("text=Send test message")
    page.fill("#id_test_message", "Hello from the admin")
    page.click("input[name=_run]")
    assert "Sent." in page.inner_text(".messagelist .success")
    screenshot("channel-test-message")
    (request,) = receiver.wait_for(1)
    assert request.headers["X-Api-Key"] == HEADER_SECRET
    assert "X-Notification-Signature" in request.headers
    assert "Hello from the admin" in request.text

    # An email channel: its own fields, with the service's errors at the field concerned.
    page.goto("/admin/notifications/channel/add/")
    page.select_option("#id_channel_type", "email")
    assert page.is_hidden("fieldset.kind-webhook") and page.is_visible("fieldset.kind-email")
    page.fill("#id_name", "ops-mail")
    page.fill("#id_to_emails", "ops@example.com\nnot-an-address")
    page.click("input[name=_save]")
    assert "valid email" in page.inner_text(".field-to_emails .errorlist")
    screenshot("channel-add-email-error")
    page.fill("#id_to_emails", "ops@example.com\noncall@example.com")
    page.click("input[name=_save]")
    assert "was added successfully" in page.inner_text(".messagelist")
    assert Channel.objects.get(name="ops-mail").config["message"]["to_emails"] == [
        "ops@example.com",
        "oncall@example.com",
    ]
    screenshot("channel-list")


def test_rule_templates_are_checked_on_save_and_previewed(page, login, staff_user, webhook_receiver, screenshot):
    _webhook_channel(webhook_receiver().url)
    staff_user("writer", "NotificationWriter")
    login("writer", "/admin/notifications/rule/add/")

    page.fill("#id_name", "failed sessions")
    page.select_option("#id_event_type", "session.started")
    page.select_option("#id_channel", label="ops-hook")
    page.fill("#id_message_template", "Session {{ session_id }} is {{ stauts }}")
    page.click("input[name=_continue]")
    assert "stauts" in page.inner_text(".field-message_template .errorlist")
    screenshot("rule-add-template-error")
    assert not Rule.objects.exists()

    page.fill("#id_message_template", "Session {{ session_id }} is {{ status }}")
    page.click("input[name=_continue]")
    assert "was added successfully" in page.inner_text(".messagelist")
    screenshot("rule-change")

    page.click("text=Preview")
    assert json.loads(page.input_value("#id_payload"))["status"] == "RUNNING"  # the example payload
    page.click("input[name=_run]")
    assert page.inner_text("#result .result-2") == "Session 3f1c2b7e-6f0a-4d8e-9b1a-2c3d4e5f6a7b is RUNNING"
    page.fill("#id_payload", json.dumps(SESSION))
    page.click("input[name=_run]")
    assert page.inner_text("#result .result-2") == "Session abc is FAILED"
    screenshot("rule-preview")
    page.fill("#id_payload", '{"session_id": "abc"}')
    page.click("input[name=_run]")
    assert "payload.status" in page.inner_text(".field-payload .errorlist")


def test_failed_delivery_is_retried_to_sent(page, login, staff_user, webhook_receiver, celery_worker, screenshot):
    """A real Celery worker delivers; the first try gets a permanent 400, the retry a 200."""
    celery_worker()
    receiver = webhook_receiver(responses=[(400, {}, "rejected"), (200, {}, "ok")])
    channel = _webhook_channel(receiver.url)
    rule_create(actor=ACTOR, name="failed sessions", event_type="session.started", channel=channel.pk)
    emit(actor=ACTOR, event_type="session.started", payload=SESSION)
    delivery = wait_until(
        lambda: Delivery.objects.filter(status=DeliveryStatus.FAILED).first(), what="the delivery to fail"
    )
    staff_user("writer", "NotificationWriter", "NotificationProviderViewer")  # the latter may read the audit log

    login("writer", "/admin/notifications/delivery/?status__exact=failed")
    assert "Failed" in page.inner_text("#result_list tbody")
    screenshot("delivery-list")
    page.click(f"text={str(delivery.pk)[:8]}")
    attempts = page.inner_text(".inline-group")
    assert "permanent_error" in attempts and "400" in attempts
    assert page.locator("input[name=_save]").count() == 0  # read-only
    assert page.locator("text=Retry").count() == 1
    screenshot("delivery-failed")

    page.goto("/admin/notifications/delivery/?status__exact=failed")
    page.check(f"input[name=_selected_action][value='{delivery.pk}']")
    page.select_option("select[name=action]", "retry")
    page.click("button[name=index]")
    assert "Queued 1 delivery(ies) again." in page.inner_text(".messagelist")
    wait_until(lambda: Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT, what="the retry")
    page.goto(f"/admin/notifications/delivery/{delivery.pk}/change/")
    assert page.inner_text(".field-status .readonly") == "Sent"
    assert page.locator(".inline-group td.field-number").count() == 2
    assert page.locator("text=Retry").count() == 0
    screenshot("delivery-sent")
    assert len(receiver.requests) == 2

    for name, path in [
        ("admin-index", "/admin/"),
        ("event-list", "/admin/notifications/event/"),
        ("audit-entries", "/admin/core/auditentry/"),
    ]:
        page.goto(path)
        screenshot(name)
    assert "delivery.retry" in page.inner_text("#result_list")


def test_a_viewer_sees_channels_rules_and_deliveries_read_only(page, login, staff_user, webhook_receiver):
    channel = _webhook_channel(webhook_receiver().url)
    rule = rule_create(
        actor=ACTOR,
        name="failed sessions",
        event_type="session.started",
        channel=channel.pk,
        message_template="Session {{ session_id }}",
    )
    staff_user("viewer", "NotificationViewer")
    login("viewer", f"/admin/notifications/channel/{channel.pk}/change/")
    assert page.locator("input[name=_save]").count() == 0 and page.locator("#id_url").count() == 0
    assert page.locator("text=Send test message").count() == 0
    configuration = page.inner_text(".field-configuration")
    assert "X-Api-Key" in configuration and '"has_signing_secret": true' in configuration
    assert HEADER_SECRET not in page.content() and SIGNING_SECRET not in page.content()
    assert page.goto(f"/admin/notifications/channel/{channel.pk}/test/").status == 403
    assert page.goto("/admin/notifications/channel/add/").status == 403

    # Viewing a rule includes the dry-run preview, without the option to send.
    page.goto(f"/admin/notifications/rule/{rule.pk}/change/")
    assert page.locator("input[name=_save]").count() == 0
    page.click("text=Preview")
    assert page.locator("#id_send").count() == 0
    page.click("input[name=_run]")
    assert page.inner_text("#result .result-2") == "Session 3f1c2b7e-6f0a-4d8e-9b1a-2c3d4e5f6a7b"

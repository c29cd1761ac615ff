"""The SMTP provider pages at /notification-providers/, as a person uses them."""

from __future__ import annotations

import re

import pytest

from core.actors import SystemActor
from core.models import AuditEntry
from providers.models import NotificationProvider
from providers.services import notification_provider_create
from tests.support.smtp import SmtpTestServer, make_self_signed_cert

# Committed data: the browser talks to the live server's thread.
pytestmark = pytest.mark.django_db(transaction=True)

SMTP_USER = "mailer-account"
SMTP_PASSWORD = "smtp-Pa55word-never-shown"


@pytest.fixture
def smtp(tmp_path, settings):
    """An SMTP server requiring STARTTLS and AUTH, with its certificate trusted by the service."""
    cert = make_self_signed_cert(tmp_path / "tls")
    settings.NOTIFICATION_SMTP_CA_BUNDLE = str(cert.cert_path)
    with SmtpTestServer(tls_cert=cert, credentials=(SMTP_USER, SMTP_PASSWORD)) as server:
        yield server


def _fill_provider_form(page, *, port: int) -> None:
    page.fill("#id_name", "Primary SMTP")
    page.select_option("#id_provider", "smtp")
    page.fill("#id_relay", "127.0.0.1")
    page.fill("#id_port", str(port))
    page.fill("#id_from_email", "no-reply@example.com")
    page.fill("#id_from_name", "Notifications")
    page.fill("#id_admin_panel_url", "https://admin.example.com")
    page.fill("#id_username", SMTP_USER)
    page.fill("#id_password", SMTP_PASSWORD)


def test_writer_creates_the_provider_edits_it_with_a_blank_password_and_sends_a_test_email(
    page, login, staff_user, smtp, screenshot
):
    staff_user("writer", "NotificationProviderWriter")

    page.goto("/notification-providers/")
    assert "/admin/login/" in page.url  # login required
    screenshot("login")
    login("writer", "/notification-providers/")
    screenshot("provider-list-empty")

    page.click("text=Add notification provider")
    page.wait_for_url("**/notification-providers/add/")
    assert page.get_attribute("#id_password", "type") == "password"
    assert page.get_attribute("#id_username", "type") == "password"
    _fill_provider_form(page, port=smtp.port)
    screenshot("provider-add")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r".*/notification-providers/$"))
    assert "was added successfully" in page.inner_text(".messagelist")
    row = page.inner_text("#result_list tbody tr")
    assert "Primary SMTP" in row and "127.0.0.1" in row and "Notifications <no-reply@example.com>" in row
    screenshot("provider-list")
    provider = NotificationProvider.objects.get()
    assert provider.secrets == {"username": SMTP_USER, "password": SMTP_PASSWORD}

    # A second SMTP provider is refused on the form.
    page.goto("/notification-providers/add/")
    _fill_provider_form(page, port=smtp.port)
    page.fill("#id_name", "Second SMTP")
    page.click("input[name=_save]")
    assert "DUPLICATE_PROVIDER" in page.inner_text(".errorlist.nonfield")
    screenshot("provider-add-duplicate")
    assert NotificationProvider.objects.count() == 1

    # The change form never shows the credentials; saved with them blank, they are kept.
    page.goto(f"/notification-providers/{provider.pk}/change/")
    assert page.input_value("#id_username") == ""
    assert page.input_value("#id_password") == ""
    assert SMTP_PASSWORD not in page.content() and SMTP_USER not in page.content()
    page.fill("#id_from_name", "Ops Notifications")
    page.click("input[name=_continue]")
    assert "was changed successfully" in page.inner_text(".messagelist")
    provider.refresh_from_db()
    assert provider.config["from_name"] == "Ops Notifications"
    assert provider.secrets == {"username": SMTP_USER, "password": SMTP_PASSWORD}
    history = page.inner_text("table.audit-history")
    assert "notification_provider.config_update" in history and "writer" in history and "from_name" in history
    screenshot("provider-change")

    # The test email still authenticates with the kept password, over STARTTLS.
    page.click("text=Send test email")
    page.fill("#id_send_to", "ops@example.com")
    page.click("input[name=_run]")
    message = page.inner_text(".messagelist")
    assert "Success" in message and "authenticated" in message and "sent a test message" in message
    screenshot("provider-test-email")
    assert smtp.auth_attempts == [(SMTP_USER, True)]
    assert [received.rcpt_tos for received in smtp.messages] == [["ops@example.com"]]
    assert AuditEntry.objects.filter(action="notification_provider.test", actor="writer").exists()


def test_a_wrong_password_shows_the_error_code_of_the_test(page, login, staff_user, smtp):
    provider = notification_provider_create(
        actor=SystemActor("tests"),
        provider="smtp",
        name="Primary SMTP",
        config={
            "relay": "127.0.0.1",
            "port": smtp.port,
            "from_email": "no-reply@example.com",
            "username": SMTP_USER,
            "password": "not-the-password",
        },
    )
    staff_user("writer", "NotificationProviderWriter")
    login("writer", f"/notification-providers/{provider.pk}/test/")
    page.click("input[name=_run]")
    assert "SMTP_AUTH_FAILED" in page.inner_text(".messagelist .error")
    assert "not-the-password" not in page.content()


def test_a_viewer_sees_the_provider_read_only(page, login, staff_user, screenshot):
    provider = notification_provider_create(
        actor=SystemActor("tests"),
        provider="smtp",
        name="Primary SMTP",
        config={
            "relay": "smtp.example.com",
            "port": 587,
            "from_email": "no-reply@example.com",
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
        },
    )
    staff_user("viewer", "NotificationProviderViewer")
    login("viewer", "/notification-providers/")
    assert "smtp.example.com" in page.inner_text("#result_list")
    assert page.locator("text=Add notification provider").count() == 0

    page.click("text=Primary SMTP")
    page.wait_for_url(f"**/notification-providers/{provider.pk}/change/")
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("#id_relay").count() == 0
    assert page.locator("text=Send test email").count() == 0
    assert "smtp.example.com" in page.inner_text(".field-relay")
    assert page.inner_text(".field-password .readonly") == "stored"
    assert SMTP_PASSWORD not in page.content() and SMTP_USER not in page.content()
    assert "notification_provider.create" in page.inner_text("table.audit-history")
    screenshot("provider-view-only")

    # Nor can the viewer reach the pages that change or test it.
    for path in ("/notification-providers/add/", f"/notification-providers/{provider.pk}/test/"):
        response = page.goto(path)
        assert response.status == 403

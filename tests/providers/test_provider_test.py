"""`notification_provider_test` against a real aiosmtpd server: plaintext, STARTTLS, AUTH, refusals."""

import pytest

from core.errors import ValidationError
from core.models import AuditEntry
from providers.services import notification_provider_test
from tests.providers.factories import SmtpProviderFactory

USER, PASSWORD = "relay-user", "relay-pass-5e6f"


def provider_for(server, *, insecure, username="", password=""):
    return SmtpProviderFactory(
        config={
            "relay": server.host,
            "port": server.port,
            "insecure": insecure,
            "admin_panel_url": "",
            "from_email": "no-reply@example.com",
            "from_name": "Notifications",
        },
        secrets={key: value for key, value in {"username": username, "password": password}.items() if value},
    )


@pytest.mark.django_db
def test_plaintext_relay_with_insecure_true_sends_the_test_message(smtp_server, superuser):
    server = smtp_server()
    provider = provider_for(server, insecure=True)

    result = notification_provider_test(actor=superuser, provider_id=provider.pk, send_to="ops@example.com")

    assert result.success, result
    assert result.error_code is None
    [received] = server.messages
    assert received.rcpt_tos == ["ops@example.com"]
    assert received.message["From"] == "Notifications <no-reply@example.com>"
    assert received.message["Subject"]
    assert received.message["Date"] and received.message["Message-ID"]


@pytest.mark.django_db
def test_connect_only_sends_nothing(smtp_server, superuser):
    server = smtp_server()
    provider = provider_for(server, insecure=True)

    result = notification_provider_test(actor=superuser, provider_id=provider.pk)

    assert result.success, result
    assert server.messages == []


@pytest.mark.django_db
def test_starttls_with_a_certificate_trusted_through_the_ca_bundle(smtp_server, self_signed_cert, settings, superuser):
    settings.NOTIFICATION_SMTP_CA_BUNDLE = str(self_signed_cert.cert_path)
    server = smtp_server(tls_cert=self_signed_cert, credentials=(USER, PASSWORD))
    provider = provider_for(server, insecure=False, username=USER, password=PASSWORD)

    result = notification_provider_test(actor=superuser, provider_id=provider.pk, send_to="ops@example.com")

    assert result.success, result
    assert "TLS" in result.message and "authenticated" in result.message
    assert server.auth_attempts == [(USER, True)]
    assert len(server.messages) == 1


@pytest.mark.django_db
def test_starttls_with_an_untrusted_certificate_is_smtp_tls_failed(smtp_server, self_signed_cert, superuser):
    server = smtp_server(tls_cert=self_signed_cert)
    provider = provider_for(server, insecure=False)

    result = notification_provider_test(actor=superuser, provider_id=provider.pk, send_to="ops@example.com")

    assert (result.success, result.error_code) == (False, "SMTP_TLS_FAILED")
    assert server.messages == []


@pytest.mark.django_db
def test_wrong_password_is_smtp_auth_failed(smtp_server, self_signed_cert, settings, superuser):
    settings.NOTIFICATION_SMTP_CA_BUNDLE = str(self_signed_cert.cert_path)
    server = smtp_server(tls_cert=self_signed_cert, credentials=(USER, PASSWORD))
    provider = provider_for(server, insecure=False, username=USER, password="wrong-password")

    result = notification_provider_test(actor=superuser, provider_id=provider.pk, send_to="ops@example.com")

    assert (result.success, result.error_code) == (False, "SMTP_AUTH_FAILED")
    assert "wrong-password" not in result.message
    # smtplib tries each mechanism the server offers; none succeeded.
    assert server.auth_attempts and all(attempt == (USER, False) for attempt in server.auth_attempts)
    assert server.messages == []


@pytest.mark.django_db
def test_auth_over_plaintext_with_insecure_true(smtp_server, superuser):
    server = smtp_server(credentials=(USER, PASSWORD), auth_require_tls=False)

    good = notification_provider_test(
        actor=superuser, provider_id=provider_for(server, insecure=True, username=USER, password=PASSWORD).pk
    )
    assert good.success, good

    SmtpProviderFactory._meta.model.objects.all().delete()
    bad = notification_provider_test(
        actor=superuser, provider_id=provider_for(server, insecure=True, username=USER, password="nope").pk
    )
    assert (bad.success, bad.error_code) == (False, "SMTP_AUTH_FAILED")


@pytest.mark.django_db
def test_tls_required_but_not_offered_is_refused_with_smtp_tls_failed(smtp_server, superuser):
    server = smtp_server(credentials=(USER, PASSWORD), auth_require_tls=False)
    provider = provider_for(server, insecure=False, username=USER, password=PASSWORD)

    result = notification_provider_test(actor=superuser, provider_id=provider.pk, send_to="ops@example.com")

    assert (result.success, result.error_code) == (False, "SMTP_TLS_FAILED")
    # Refused before the credentials were sent in the clear.
    assert server.auth_attempts == []
    assert server.messages == []


@pytest.mark.django_db
def test_each_test_is_audited_without_the_recipient(smtp_server, superuser):
    server = smtp_server()
    provider = provider_for(server, insecure=True)

    notification_provider_test(actor=superuser, provider_id=provider.pk, send_to="ops@example.com")

    [entry] = AuditEntry.objects.filter(action="notification_provider.test")
    assert entry.object_id == str(provider.pk)
    assert entry.detail == {"success": True, "error_code": None, "send_requested": True}


@pytest.mark.django_db
def test_invalid_recipient_is_a_validation_error(smtp_server, superuser):
    provider = provider_for(smtp_server(), insecure=True)

    with pytest.raises(ValidationError) as excinfo:
        notification_provider_test(actor=superuser, provider_id=provider.pk, send_to="ops@example.com\r\nBcc: x@y.z")
    assert "send_to" in excinfo.value.fields

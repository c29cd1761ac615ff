"""`manage.py notification provider ...` and `notification rotate-keys`."""

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from core.models import AuditEntry
from providers.models import NotificationProvider
from tests.providers.factories import SmtpProviderFactory

CONFIG = json.dumps({"relay": "smtp.example.com", "port": 587, "from_email": "no-reply@example.com"})


def run(capsys, *args: str) -> str:
    call_command("notification", *args)
    return capsys.readouterr().out


@pytest.mark.django_db
def test_create_with_credentials_from_environment_and_stdin(capsys, monkeypatch):
    monkeypatch.setenv("NOTIFICATION_SMTP_USERNAME", "cli-user-1")
    monkeypatch.setattr("sys.stdin", io.StringIO("cli-pass-2\n"))

    out = run(capsys, "provider", "create", "--name", "Primary", "--config", CONFIG, "--password-stdin", "--json")

    shown = json.loads(out)
    assert shown["provider"] == "smtp"
    assert shown["config"]["has_username"] is True and shown["config"]["has_password"] is True
    assert "cli-user-1" not in out and "cli-pass-2" not in out
    assert NotificationProvider.objects.get().secrets == {"username": "cli-user-1", "password": "cli-pass-2"}
    assert AuditEntry.objects.get(action="notification_provider.create").actor == "cli"


@pytest.mark.django_db
def test_list_info_and_update_keep_credentials_hidden(capsys, monkeypatch):
    provider = SmtpProviderFactory(secrets={"username": "kept-user", "password": "kept-pass"})

    listed = run(capsys, "provider", "list")
    info = json.loads(run(capsys, "provider", "info", str(provider.pk), "--json"))
    monkeypatch.setenv("NOTIFICATION_SMTP_PASSWORD", "new-pass-3")
    updated = run(capsys, "provider", "update", str(provider.pk), "--config", CONFIG)

    assert str(provider.pk) in listed and "Primary SMTP" in listed
    assert info["config"]["relay"] == "smtp.example.com"
    for out in (listed, json.dumps(info), updated):
        assert "kept-user" not in out and "kept-pass" not in out and "new-pass-3" not in out
    assert NotificationProvider.objects.get().secrets == {"username": "kept-user", "password": "new-pass-3"}


@pytest.mark.django_db
def test_password_on_the_command_line_is_refused(capsys):
    with pytest.raises(SystemExit):
        call_command("notification", "provider", "create", "--name", "x", "--config", json.dumps({"password": "leaky"}))
    assert "config.password" in capsys.readouterr().err
    assert not NotificationProvider.objects.exists()


@pytest.mark.django_db
def test_duplicate_provider_is_reported_with_its_code(capsys):
    SmtpProviderFactory()

    with pytest.raises(SystemExit) as excinfo:
        call_command("notification", "provider", "create", "--name", "Second", "--config", CONFIG)

    assert excinfo.value.code == 1
    assert "DUPLICATE_PROVIDER" in capsys.readouterr().err


@pytest.mark.django_db
def test_test_verb_exits_non_zero_with_the_error_code(capsys, smtp_server):
    server = smtp_server()
    provider = SmtpProviderFactory(
        config={"relay": server.host, "port": server.port, "insecure": False, "from_email": "no-reply@example.com"},
        secrets={},
    )

    with pytest.raises(SystemExit) as excinfo:
        call_command("notification", "provider", "test", str(provider.pk))

    assert excinfo.value.code == 1
    assert "SMTP_TLS_FAILED" in capsys.readouterr().out


@pytest.mark.django_db
def test_rotate_keys_prints_how_many_values_were_reencrypted(capsys, settings):
    old_key = settings.NOTIFICATION_ENCRYPTION_KEY
    SmtpProviderFactory()
    settings.NOTIFICATION_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS = [old_key]

    assert "Re-encrypted 1 stored secret value(s)" in run(capsys, "rotate-keys")
    assert json.loads(run(capsys, "rotate-keys", "--json"))["reencrypted"] == 0

"""Key rotation: secrets written under key A are re-encrypted under B once, with one audit entry."""

import json
import threading

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.db import connection, connections

from core.models import AuditEntry
from notifications.models import Channel
from providers.models import NotificationProvider
from providers.rotation import encryption_keys_rotate, secret_fields
from providers.startup import notification_startup
from tests.factories import WebhookChannelFactory
from tests.providers.factories import SmtpProviderFactory

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def raw_tokens() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM providers_notificationprovider")
        [(provider_token,)] = cursor.fetchall()
        cursor.execute("SELECT secrets FROM notifications_channel")
        [(channel_token,)] = cursor.fetchall()
    return {"provider": provider_token, "channel": channel_token}


@pytest.fixture
def rows_under_key_a(settings):
    settings.NOTIFICATION_ENCRYPTION_KEY = KEY_A
    settings.NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS = []
    provider = SmtpProviderFactory(secrets={"username": "user-under-a", "password": "pw-under-a"})
    channel = WebhookChannelFactory(secrets={"signing_secret": "signing-under-a"})
    return provider, channel


def test_every_encrypted_model_field_is_discovered():
    labels = {f"{model._meta.label}.{field.name}" for model, field in secret_fields()}
    assert {"providers.NotificationProvider.secrets", "notifications.Channel.secrets"} <= labels


@pytest.mark.django_db
def test_rotation_from_a_to_b(settings, rows_under_key_a):
    provider, channel = rows_under_key_a
    before = raw_tokens()
    Fernet(KEY_A.encode()).decrypt(before["provider"].encode())

    # Start with B active and A deprecated.
    settings.NOTIFICATION_ENCRYPTION_KEY = KEY_B
    settings.NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS = [KEY_A]
    assert NotificationProvider.objects.get(pk=provider.pk).secrets["password"] == "pw-under-a"

    status = notification_startup(component="test")

    assert status.reencrypted == 2
    after = raw_tokens()
    assert after["provider"] != before["provider"] and after["channel"] != before["channel"]
    only_b = Fernet(KEY_B.encode())
    assert json.loads(only_b.decrypt(after["provider"].encode())) == {
        "username": "user-under-a",
        "password": "pw-under-a",
    }
    assert json.loads(only_b.decrypt(after["channel"].encode())) == {"signing_secret": "signing-under-a"}
    with pytest.raises(InvalidToken):
        Fernet(KEY_A.encode()).decrypt(after["provider"].encode())

    # Readable with B alone once A is dropped.
    settings.NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS = []
    assert NotificationProvider.objects.get(pk=provider.pk).secrets["password"] == "pw-under-a"
    assert Channel.objects.get(pk=channel.pk).secrets == {"signing_secret": "signing-under-a"}

    [entry] = AuditEntry.objects.all()
    assert entry.actor == "provider-key-rotation" and entry.actor_user is None
    assert entry.action == "encryption_keys.rotate"
    assert entry.detail["reencrypted"] == 2
    assert entry.detail["objects"]["providers.NotificationProvider.secrets"] == [str(provider.pk)]
    assert "pw-under-a" not in json.dumps(entry.detail)

    # A second start changes nothing and writes no entry.
    settings.NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS = [KEY_A]
    assert notification_startup(component="test").reencrypted == 0
    assert raw_tokens() == after
    assert AuditEntry.objects.count() == 1


@pytest.mark.django_db
def test_rotation_leaves_updated_at_alone(settings, rows_under_key_a):
    provider, _ = rows_under_key_a
    settings.NOTIFICATION_ENCRYPTION_KEY = KEY_B
    settings.NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS = [KEY_A]

    encryption_keys_rotate()

    assert NotificationProvider.objects.get(pk=provider.pk).updated_at == provider.updated_at


@pytest.mark.django_db
def test_nothing_to_rotate_writes_nothing(rows_under_key_a):
    result = encryption_keys_rotate()

    assert result.reencrypted_count == 0 and not result.unreadable
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_a_token_no_key_decrypts_is_reported_and_left_as_is(settings, rows_under_key_a):
    before = raw_tokens()
    # A was lost: neither active nor deprecated.
    settings.NOTIFICATION_ENCRYPTION_KEY = KEY_B

    result = encryption_keys_rotate()

    assert result.reencrypted_count == 0
    assert result.unreadable_count == 2
    assert set(result.unreadable) == {"providers.NotificationProvider.secrets", "notifications.Channel.secrets"}
    assert raw_tokens() == before
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_rotate_each_value_once_with_one_audit_entry(require_postgres, settings):
    settings.NOTIFICATION_ENCRYPTION_KEY = KEY_A
    SmtpProviderFactory()
    WebhookChannelFactory.create_batch(5, secrets={"signing_secret": "s"})
    settings.NOTIFICATION_ENCRYPTION_KEY = KEY_B
    settings.NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS = [KEY_A]
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def start() -> None:
        try:
            barrier.wait(timeout=5)
            counts.append(encryption_keys_rotate().reencrypted_count)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert sorted(counts) == [0, 0, 6]
    assert AuditEntry.objects.filter(action="encryption_keys.rotate").count() == 1

import json
import threading

import pytest
from cryptography.fernet import Fernet
from django.db import connection, connections
from rest_framework import serializers

from core.crypto import keyring
from core.errors import Conflict, DomainError, ErrorCode, NotFound, ValidationError
from core.models import AuditEntry
from core.schema import StrictSerializer
from providers.kinds import ProviderKind, SmtpConfig, register_provider_kind, unregister_provider_kind
from providers.models import NotificationProvider
from providers.selectors import (
    notification_provider_get,
    notification_provider_list,
    notification_provider_public_config,
)
from providers.sender_cache import get_smtp_sender
from providers.services import notification_provider_config_update, notification_provider_create
from tests.providers.factories import SmtpProviderFactory

CONFIG = {
    "relay": "smtp.example.com",
    "port": 587,
    "insecure": False,
    "admin_panel_url": "https://admin.example.com",
    "from_email": "no-reply@example.com",
    "from_name": "Lana Bank",
    "username": "smtp-user-7f3a",
    "password": "s3cret-pa55-91bc",
}


def create(actor, **overrides):
    return notification_provider_create(
        actor=actor, provider="smtp", name=overrides.pop("name", "Primary SMTP"), config={**CONFIG, **overrides}
    )


@pytest.mark.django_db
class TestCreateReadUpdate:
    def test_create_stores_config_and_encrypted_credentials(self, superuser):
        provider = create(superuser, name="  Primary SMTP  ")

        stored = NotificationProvider.objects.get(pk=provider.pk)
        assert stored.name == "Primary SMTP"
        assert stored.provider == "smtp"
        assert "username" not in stored.config and "password" not in stored.config
        assert stored.secrets == {"username": "smtp-user-7f3a", "password": "s3cret-pa55-91bc"}
        assert notification_provider_public_config(stored) == {
            "relay": "smtp.example.com",
            "port": 587,
            "insecure": False,
            "admin_panel_url": "https://admin.example.com",
            "from_email": "no-reply@example.com",
            "from_name": "Lana Bank",
            "has_username": True,
            "has_password": True,
        }

    def test_get_and_list(self, superuser):
        provider = create(superuser)

        assert notification_provider_get(actor=superuser, provider_id=str(provider.pk)) == provider
        assert list(notification_provider_list(actor=superuser)) == [provider]
        with pytest.raises(NotFound):
            notification_provider_get(actor=superuser, provider_id="00000000-0000-0000-0000-000000000000")
        with pytest.raises(NotFound):
            notification_provider_get(actor=superuser, provider_id="not-a-uuid")

    def test_update_replaces_config(self, superuser):
        provider = create(superuser)

        updated = notification_provider_config_update(
            actor=superuser,
            provider_id=provider.pk,
            config={"relay": "relay.example.org", "port": 2525, "insecure": True, "from_email": "ops@example.org"},
        )

        stored = NotificationProvider.objects.get(pk=provider.pk)
        assert updated.config == stored.config
        assert stored.config == {
            "relay": "relay.example.org",
            "port": 2525,
            "insecure": True,
            "admin_panel_url": "",
            "from_email": "ops@example.org",
            "from_name": "",
        }
        assert stored.name == "Primary SMTP"

    def test_update_keeps_omitted_credentials_and_replaces_given_ones(self, superuser):
        provider = create(superuser)
        public = {key: value for key, value in CONFIG.items() if key not in ("username", "password")}

        notification_provider_config_update(actor=superuser, provider_id=provider.pk, config=public)
        assert NotificationProvider.objects.get(pk=provider.pk).secrets == {
            "username": "smtp-user-7f3a",
            "password": "s3cret-pa55-91bc",
        }

        notification_provider_config_update(
            actor=superuser, provider_id=provider.pk, config={**public, "password": "rotated-pw-2"}
        )
        assert NotificationProvider.objects.get(pk=provider.pk).secrets == {
            "username": "smtp-user-7f3a",
            "password": "rotated-pw-2",
        }

        # An explicit empty value clears a credential (a relay without AUTH).
        notification_provider_config_update(
            actor=superuser, provider_id=provider.pk, config={**public, "username": "", "password": ""}
        )
        assert NotificationProvider.objects.get(pk=provider.pk).secrets == {}

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("relay", "not a host!"),
            ("port", 0),
            ("port", 65536),
            ("admin_panel_url", "javascript:alert(1)"),
            ("from_email", "not-an-address"),
            ("from_name", "Evil\r\nBcc: victim@example.com"),
            ("passwrod", "typo"),
        ],
    )
    def test_invalid_config_is_refused_with_the_field_named(self, superuser, field, value):
        with pytest.raises(ValidationError) as excinfo:
            create(superuser, **{field: value})
        assert f"config.{field}" in excinfo.value.fields
        assert not NotificationProvider.objects.exists()

    def test_blank_name_is_refused(self, superuser):
        with pytest.raises(ValidationError) as excinfo:
            create(superuser, name="   ")
        assert "name" in excinfo.value.fields

    def test_unknown_kind_is_refused(self, superuser):
        with pytest.raises(ValidationError) as excinfo:
            notification_provider_create(actor=superuser, provider="carrier-pigeon", name="x", config={})
        assert "provider" in excinfo.value.fields


@pytest.mark.django_db
def test_second_provider_of_a_kind_is_duplicate_provider(superuser):
    first = create(superuser)

    with pytest.raises(Conflict) as excinfo:
        create(superuser, name="Backup SMTP")

    assert excinfo.value.code == ErrorCode.DUPLICATE_PROVIDER
    assert list(NotificationProvider.objects.values_list("pk", flat=True)) == [first.pk]
    # The failed attempt left the surrounding transaction usable and wrote no audit entry.
    assert AuditEntry.objects.filter(action="notification_provider.create").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_racing_creations_one_wins_the_other_is_duplicate_provider(require_postgres, superuser):
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def attempt(name: str) -> None:
        try:
            barrier.wait(timeout=5)
            outcomes.append(create(superuser, name=name))
        except Exception as exc:  # collected and asserted below
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(name,)) for name in ("SMTP A", "SMTP B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    created = [outcome for outcome in outcomes if isinstance(outcome, NotificationProvider)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(created) == 1, outcomes
    assert len(refused) == 1, outcomes
    assert refused[0].code == ErrorCode.DUPLICATE_PROVIDER
    assert NotificationProvider.objects.count() == 1


class _CarrierPigeonConfig(StrictSerializer):
    loft = serializers.CharField()
    password = serializers.CharField(required=False, write_only=True)


class _CarrierPigeonKind(ProviderKind):
    key = "carrier_pigeon"
    config_serializer = _CarrierPigeonConfig
    secret_fields = ("password",)


@pytest.fixture
def second_kind():
    kind = register_provider_kind(_CarrierPigeonKind())
    yield kind
    unregister_provider_kind(kind.key)


@pytest.mark.django_db
def test_config_of_another_kind_is_provider_type_mismatch(superuser, second_kind):
    smtp = create(superuser)
    # One row per kind: a provider of the second kind exists alongside the SMTP one.
    pigeon = notification_provider_create(
        actor=superuser, provider=second_kind.key, name="Pigeons", config={"loft": "north"}
    )

    with pytest.raises(Conflict) as excinfo:
        notification_provider_config_update(
            actor=superuser, provider_id=smtp.pk, provider=second_kind.key, config={"loft": "south"}
        )
    assert excinfo.value.code == ErrorCode.PROVIDER_TYPE_MISMATCH

    with pytest.raises(Conflict) as excinfo:
        notification_provider_config_update(actor=superuser, provider_id=pigeon.pk, provider="smtp", config=CONFIG)
    assert excinfo.value.code == ErrorCode.PROVIDER_TYPE_MISMATCH

    assert NotificationProvider.objects.get(pk=smtp.pk).config["relay"] == "smtp.example.com"
    updated = notification_provider_config_update(
        actor=superuser, provider_id=pigeon.pk, provider=second_kind.key, config={"loft": "south"}
    )
    assert updated.config == {"loft": "south"}


@pytest.mark.django_db
def test_raw_column_holds_no_credential_in_plaintext(superuser):
    create(superuser)

    with connection.cursor() as cursor:
        cursor.execute("SELECT CAST(config AS TEXT), secrets FROM providers_notificationprovider")
        [(raw_config, raw_secrets)] = cursor.fetchall()

    for secret in ("smtp-user-7f3a", "s3cret-pa55-91bc"):
        assert secret not in raw_config
        assert secret not in raw_secrets
    # Not even the names of the secrets show: the whole dict is one Fernet token.
    assert "password" not in raw_secrets and "username" not in raw_secrets
    assert json.loads(keyring().decrypt(raw_secrets.encode())) == {
        "username": "smtp-user-7f3a",
        "password": "s3cret-pa55-91bc",
    }


@pytest.mark.django_db
def test_audit_entries_name_changed_fields_never_values(superuser):
    provider = create(superuser)
    public = {key: value for key, value in CONFIG.items() if key not in ("username", "password")}
    notification_provider_config_update(
        actor=superuser, provider_id=provider.pk, config={**public, "port": 2525, "password": "new-pw-3"}
    )

    entries = {entry.action: entry for entry in AuditEntry.objects.filter(object_id=str(provider.pk))}
    created, updated = entries["notification_provider.create"], entries["notification_provider.config_update"]
    assert created.actor == "root" and created.actor_user == superuser
    assert created.object_type == "notification_provider"
    assert set(created.detail["fields"]) >= {"name", "provider", "relay", "username", "password"}
    assert updated.detail["fields"] == ["port", "password"]
    dumped = json.dumps([created.detail, updated.detail])
    for value in ("smtp-user-7f3a", "s3cret-pa55-91bc", "new-pw-3", "smtp.example.com"):
        assert value not in dumped


@pytest.mark.django_db
def test_create_and_update_invalidate_this_process_sender_cache_on_commit(
    superuser, django_capture_on_commit_callbacks
):
    assert get_smtp_sender() is None
    with django_capture_on_commit_callbacks(execute=True):
        provider = create(superuser)
    assert get_smtp_sender().config.relay == "smtp.example.com"

    public = {key: value for key, value in CONFIG.items() if key not in ("username", "password")}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notification_provider_config_update(
            actor=superuser, provider_id=provider.pk, config={**public, "relay": "relay2.example.com"}
        )
    assert callbacks, "the update registers the invalidation on commit"
    assert get_smtp_sender().config.relay == "relay2.example.com"


@pytest.mark.django_db
def test_repr_and_str_show_no_credential():
    provider = SmtpProviderFactory(secrets={"username": "user-a1b2", "password": "pw-c3d4"})
    config = SmtpConfig(
        relay="smtp.example.com",
        port=587,
        insecure=False,
        from_email="a@example.com",
        username="user-a1b2",
        password="pw-c3d4",
    )
    sender = get_smtp_sender()

    for text in (repr(provider), str(provider), repr(config), str(config), repr(sender), str(sender)):
        assert "user-a1b2" not in text
        assert "pw-c3d4" not in text
    assert "Primary SMTP" in str(provider)


@pytest.mark.django_db
def test_credentials_under_a_lost_key_can_be_replaced_by_an_update(superuser, settings):
    provider = create(superuser)
    settings.NOTIFICATION_ENCRYPTION_KEY = Fernet.generate_key().decode()  # the old key is gone

    with pytest.raises(DomainError) as excinfo:
        notification_provider_get(actor=superuser, provider_id=provider.pk)
    assert excinfo.value.code == ErrorCode.SECRET_UNREADABLE

    public = {key: value for key, value in CONFIG.items() if key not in ("username", "password")}
    notification_provider_config_update(
        actor=superuser, provider_id=provider.pk, config={**public, "username": "re-entered", "password": "pw-4"}
    )
    assert NotificationProvider.objects.get(pk=provider.pk).secrets == {"username": "re-entered", "password": "pw-4"}

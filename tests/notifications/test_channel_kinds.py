"""The config schema of each channel kind: good inputs accepted, each bad one names its field."""

import pytest

from core.errors import ValidationError
from notifications.channel_kinds import get_kind, registered_kinds


def test_registry_pins_the_set_of_kinds():
    assert set(registered_kinds()) == {"webhook", "email"}


def test_unknown_kind_names_the_channel_type_field():
    with pytest.raises(ValidationError) as caught:
        get_kind("sms")
    assert list(caught.value.fields) == ["channel_type"]


WEBHOOK_OK = {
    "url": "https://hooks.example.com/in?token=abc",
    "method": "put",
    "headers": {"Authorization": "Bearer s3cret"},
    "timeout": 3,
    "success_status_codes": [200, 202],
    "signing_secret": "0123456789abcdef-signing",
}


def test_webhook_config_splits_secrets_from_public_config():
    config, secrets = get_kind("webhook").validate(WEBHOOK_OK)
    assert config == {
        "url": "https://hooks.example.com/in?token=abc",
        "method": "PUT",
        "timeout": 3.0,
        "success_status_codes": [200, 202],
    }
    assert secrets == {"headers": {"Authorization": "Bearer s3cret"}, "signing_secret": "0123456789abcdef-signing"}


def test_webhook_defaults():
    config, secrets = get_kind("webhook").validate({"url": "http://hooks.example.com"})
    assert config["method"] == "POST"
    assert config["timeout"] == 10.0
    assert config["success_status_codes"] == []
    assert secrets == {}


def test_webhook_public_config_shows_no_secret_values():
    kind = get_kind("webhook")
    config, secrets = kind.validate(WEBHOOK_OK)
    public = kind.public_config(config, secrets)
    assert public["header_names"] == ["Authorization"]
    assert public["has_signing_secret"] is True
    assert "s3cret" not in repr(public)
    assert "signing" not in repr(public.values())


def test_webhook_update_without_secrets_keeps_the_stored_ones():
    kind = get_kind("webhook")
    _, stored = kind.validate(WEBHOOK_OK)
    config, secrets = kind.validate({"url": "https://hooks.example.com/other"}, stored_secrets=stored)
    assert secrets == stored
    assert config["url"] == "https://hooks.example.com/other"


def test_webhook_null_signing_secret_removes_it():
    kind = get_kind("webhook")
    _, stored = kind.validate(WEBHOOK_OK)
    _, secrets = kind.validate({"url": "https://x.example.com", "signing_secret": None}, stored_secrets=stored)
    assert "signing_secret" not in secrets
    assert secrets["headers"] == {"Authorization": "Bearer s3cret"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "config.url"),
        ({"url": "hooks.example.com/in"}, "config.url"),
        ({"url": "ftp://hooks.example.com/in"}, "config.url"),
        ({"url": "https://"}, "config.url"),
        ({"url": "https://h.example.com", "method": "DELETE"}, "config.method"),
        ({"url": "https://h.example.com", "timeout": 0}, "config.timeout"),
        ({"url": "https://h.example.com", "timeout": -1}, "config.timeout"),
        ({"url": "https://h.example.com", "success_status_codes": [99]}, "config.success_status_codes.0"),
        ({"url": "https://h.example.com", "headers": {"X-A": "a\r\nInjected: 1"}}, "config.headers.X-A"),
        ({"url": "https://h.example.com", "headers": {"Bad Name": "x"}}, "config.headers.Bad Name"),
        ({"url": "https://h.example.com", "headers": {"Host": "evil"}}, "config.headers.Host"),
        ({"url": "https://h.example.com", "signing_secret": "short"}, "config.signing_secret"),
        ({"url": "https://h.example.com", "sekret": "x"}, "config.sekret"),
        ("not an object", "config"),
    ],
)
def test_webhook_bad_config_names_its_field(config, field):
    with pytest.raises(ValidationError) as caught:
        get_kind("webhook").validate(config)
    assert field in caught.value.fields, caught.value.fields


EMAIL_OK = {
    "message": {"from_email": "noreply@example.com", "to_emails": ["admin@example.com"]},
    "smtp": {"host": "smtp.example.com", "port": 587},
    "auth": {"username": "user", "password": "app-password"},
}


def test_email_config_from_seed_000_is_accepted_and_password_split_off():
    config, secrets = get_kind("email").validate(EMAIL_OK)
    assert config["smtp"] == {"host": "smtp.example.com", "port": 587, "use_tls": True, "timeout": 30.0}
    assert config["auth"] == {"username": "user"}
    assert config["message"]["subject_template"]
    assert secrets == {"password": "app-password"}


def test_email_without_smtp_block_uses_the_provider():
    config, secrets = get_kind("email").validate({"message": {"to_emails": ["a@example.com"]}})
    assert config["smtp"] is None
    assert config["auth"] is None
    assert secrets == {}


def test_email_public_config_has_password_marker_only():
    kind = get_kind("email")
    config, secrets = kind.validate(EMAIL_OK)
    public = kind.public_config(config, secrets)
    assert public["auth"] == {"username": "user", "has_password": True}
    assert "app-password" not in repr(public)


def test_email_update_without_password_keeps_it():
    kind = get_kind("email")
    _, stored = kind.validate(EMAIL_OK)
    update = {**EMAIL_OK, "auth": {"username": "user2"}}
    config, secrets = kind.validate(update, stored_secrets=stored)
    assert secrets == {"password": "app-password"}
    assert config["auth"] == {"username": "user2"}


def test_email_removing_auth_drops_the_password():
    kind = get_kind("email")
    _, stored = kind.validate(EMAIL_OK)
    _, secrets = kind.validate({**EMAIL_OK, "auth": None}, stored_secrets=stored)
    assert secrets == {}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"message": {"to_emails": []}}, "config.message.to_emails"),
        ({"message": {}}, "config.message.to_emails"),
        ({"message": {"to_emails": ["not-an-address"]}}, "config.message.to_emails.0"),
        ({"message": {"to_emails": ["a@example.com"], "from_email": "nope"}}, "config.message.from_email"),
        (
            {"message": {"to_emails": ["a@example.com"], "subject_template": "Hi\r\nBcc: x@example.com"}},
            "config.message.subject_template",
        ),
        ({**EMAIL_OK, "smtp": {"host": "smtp.example.com", "port": 0}}, "config.smtp.port"),
        ({**EMAIL_OK, "smtp": {"host": "smtp.example.com", "port": 70000}}, "config.smtp.port"),
        ({**EMAIL_OK, "smtp": {"host": "bad host!", "port": 25}}, "config.smtp.host"),
        ({**EMAIL_OK, "smtp": {"host": "smtp.example.com", "timeout": 0}}, "config.smtp.timeout"),
        ({**EMAIL_OK, "auth": {"username": "u"}}, "config.auth.password"),
        ({"message": {"to_emails": ["a@example.com"]}, "auth": {"username": "u", "password": "p"}}, "config.auth"),
        (
            {"message": {"to_emails": ["a@example.com"]}, "smtp": {"host": "smtp.example.com"}},
            "config.message.from_email",
        ),
        ({**EMAIL_OK, "extra": 1}, "config.extra"),
    ],
)
def test_email_bad_config_names_its_field(config, field):
    with pytest.raises(ValidationError) as caught:
        get_kind("email").validate(config)
    assert field in caught.value.fields, caught.value.fields

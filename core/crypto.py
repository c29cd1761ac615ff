"""Encrypted model fields keyed by our own settings, so keys rotate independently of SECRET_KEY.

django-fernet-encrypted-fields does the column work; we give it Fernet keys from
NOTIFICATION_ENCRYPTION_KEY (active) and NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS (decrypt only),
and refuse to hand back ciphertext when no key fits, which the library would otherwise do silently.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from encrypted_fields.fields import EncryptedCharField, EncryptedTextField

from core.errors import DomainError, ErrorCode


def _fernet_key(raw: str) -> bytes:
    try:
        Fernet(raw.encode())
        return raw.encode()
    except ValueError:
        # Any other string is stretched into a key, so a passphrase works too.
        return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())


def active_key() -> bytes:
    configured = settings.NOTIFICATION_ENCRYPTION_KEY
    if configured:
        return _fernet_key(configured)
    return _fernet_key(f"notification-encryption:{settings.SECRET_KEY}")


def all_keys() -> list[bytes]:
    return [active_key(), *(_fernet_key(key) for key in settings.NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS)]


@cache
def _multi_fernet(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def keyring() -> MultiFernet:
    """Encrypts with the active key, decrypts with any configured key."""
    return _multi_fernet(tuple(all_keys()))


def is_under_active_key(token: str) -> bool:
    try:
        Fernet(active_key()).decrypt(token.encode())
        return True
    except InvalidToken:
        return False


def reencrypt(token: str) -> str:
    return keyring().rotate(token.encode()).decode()


class _KeyringMixin:
    """Overrides the library's key derivation (SECRET_KEY + salt) with the keyring above."""

    @property
    def f(self) -> MultiFernet:  # type: ignore[override]
        return keyring()

    def _decrypt_column(self, value: str) -> str:
        try:
            return keyring().decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise DomainError(
                f"A stored secret of {self.model.__name__}.{self.name} cannot be decrypted with the "  # type: ignore[attr-defined]
                "configured keys; add the old key to NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS.",
                code=ErrorCode.SECRET_UNREADABLE,
            ) from exc


class SecretCharField(_KeyringMixin, EncryptedCharField):
    """A short secret (a user name, a password), encrypted as one Fernet token."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value:
            return value
        return self._decrypt_column(value)


class SecretJSONField(_KeyringMixin, EncryptedTextField):
    """A dict of secrets, serialised and encrypted as one token so that not even its keys show."""

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return keyring().encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value:
            return {}
        return json.loads(self._decrypt_column(value))

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: Any) -> str:
        return ""

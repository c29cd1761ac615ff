"""Re-encrypts every stored secret under the active key (NOTIFICATION_ENCRYPTION_KEY).

Secrets written under a deprecated key (NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS) stay readable, and
this rewrites them so the old key can be dropped. It reads and writes the raw columns, so no model
code (save hooks, auto_now) runs and values already under the active key are left untouched. Run at
every start: the usual run finds nothing to do and takes no lock; rows to rotate are locked and read
again, so concurrent runs re-encrypt each value once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import connection, models, transaction

from core.actors import SystemActor
from core.crypto import SecretCharField, SecretJSONField, is_under_active_key, reencrypt
from core.services import audit_entry_create

logger = logging.getLogger(__name__)

ROTATION_ACTOR = SystemActor("provider-key-rotation")


@dataclass
class KeyRotationResult:
    """Per field label (`app.Model.field`): the primary keys re-encrypted, and those no key decrypts."""

    reencrypted: dict[str, list[str]] = field(default_factory=dict)
    unreadable: dict[str, list[str]] = field(default_factory=dict)

    @property
    def reencrypted_count(self) -> int:
        return sum(len(pks) for pks in self.reencrypted.values())

    @property
    def unreadable_count(self) -> int:
        return sum(len(pks) for pks in self.unreadable.values())


def secret_fields() -> list[tuple[type[models.Model], models.Field]]:
    """Every encrypted column of every installed model, each once (no proxies, no inherited copies)."""
    return [
        (model, model_field)
        for model in apps.get_models()
        if not model._meta.proxy
        for model_field in model._meta.local_concrete_fields
        if isinstance(model_field, SecretCharField | SecretJSONField)
    ]


def _rotate_column(model: type[models.Model], model_field: models.Field, result: KeyRotationResult) -> None:
    quote = connection.ops.quote_name
    table, column, pk = quote(model._meta.db_table), quote(model_field.column), quote(model._meta.pk.column)
    label = f"{model._meta.label}.{model_field.name}"
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    # Identifiers come from model metadata and are quoted; values go as parameters.
    with connection.cursor() as cursor:
        # Ordered, so concurrent runs lock rows in the same order and cannot deadlock.
        cursor.execute(
            f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> '' ORDER BY {pk}"  # noqa: S608
        )
        stale = [pk_value for pk_value, token in cursor.fetchall() if not is_under_active_key(token)]
        for pk_value in stale:
            # Locked and read again: a concurrent start-up may have rotated it meanwhile (it then skips).
            cursor.execute(f"SELECT {column} FROM {table} WHERE {pk} = %s{lock}", [pk_value])  # noqa: S608
            row = cursor.fetchone()
            if row is None or not row[0] or is_under_active_key(row[0]):
                continue
            # Reported in the canonical form (a raw SQLite UUID has no dashes); written back as read.
            object_id = str(model._meta.pk.to_python(pk_value))
            try:
                new_token = reencrypt(row[0])
            except InvalidToken:
                result.unreadable.setdefault(label, []).append(object_id)
                continue
            cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s", [new_token, pk_value])  # noqa: S608
            result.reencrypted.setdefault(label, []).append(object_id)


@transaction.atomic
def encryption_keys_rotate() -> KeyRotationResult:
    """Re-encrypts what is not under the active key; one audit entry when anything changed."""
    result = KeyRotationResult()
    for model, model_field in secret_fields():
        _rotate_column(model, model_field, result)
    if result.reencrypted:
        audit_entry_create(
            actor=ROTATION_ACTOR,
            action="encryption_keys.rotate",
            object_type="encrypted_secrets",
            detail={
                "fields": sorted(result.reencrypted),
                "objects": result.reencrypted,
                "reencrypted": result.reencrypted_count,
            },
        )
    if result.unreadable:
        logger.error(
            "Stored secrets that no configured key decrypts; add the key they were written with to "
            "NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS",
            extra={"unreadable_fields": ",".join(sorted(result.unreadable)), "unreadable": result.unreadable_count},
        )
    return result

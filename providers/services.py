"""Writes and checks for notification providers. Every interface (REST, GraphQL, admin, CLI) calls these.

Permissions live here: create is checked against all providers, update and test against the one
provider concerned. Audit entries name the changed fields, never their values.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from core.actors import require_permission
from core.errors import Conflict, DomainError, ErrorCode, ValidationError
from core.ratelimit import rate_limit_hit
from core.schema import clean_name
from core.services import audit_entry_create
from providers.kinds import SMTP, get_provider_kind
from providers.models import NotificationProvider
from providers.selectors import provider_by_id
from providers.sender_cache import invalidate_sender_cache, provider_endpoint
from providers.smtp import SmtpError, open_backend, send_messages

OBJECT_TYPE = "notification_provider"
TEST_SUBJECT = "Notification service: SMTP provider test"


@dataclass(frozen=True)
class ProviderTestResult:
    """The outcome of a provider test; `error_code` is set when `success` is false."""

    success: bool
    error_code: str | None
    message: str


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


@transaction.atomic
def notification_provider_create(*, actor: Any, provider: Any, name: Any, config: Any) -> NotificationProvider:
    """Creates the one provider of a kind; a second one is refused with DUPLICATE_PROVIDER."""
    require_permission(actor, "providers.add_notificationprovider")
    kind = get_provider_kind(provider)
    clean_config, secrets = kind.validate(config)
    instance = NotificationProvider(name=clean_name(name), provider=kind.key, config=clean_config, secrets=secrets)
    try:
        # The unique constraint decides, so two concurrent creations cannot both succeed.
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise Conflict(
            f"A {kind.key} notification provider already exists; update it instead.",
            code=ErrorCode.DUPLICATE_PROVIDER,
        ) from None
    audit_entry_create(
        actor=actor,
        action="notification_provider.create",
        object_type=OBJECT_TYPE,
        object_id=instance.pk,
        detail={"provider": kind.key, "fields": ["name", "provider", *sorted(clean_config), *sorted(secrets)]},
    )
    transaction.on_commit(invalidate_sender_cache)
    return instance


def _readable_secrets(instance: NotificationProvider) -> dict[str, Any]:
    """The stored secrets, or none when no configured key decrypts them (a lost key): the update replaces them."""
    try:
        return instance.secrets
    except DomainError as exc:
        if exc.code != ErrorCode.SECRET_UNREADABLE:
            raise
        return {}


@transaction.atomic
def notification_provider_config_update(
    *, actor: Any, provider_id: Any, provider: Any = None, config: Any
) -> NotificationProvider:
    """Replaces the config; omitted secrets keep their stored values, an empty one clears it.

    `provider` names the kind of `config`; a kind other than the stored one is PROVIDER_TYPE_MISMATCH.
    """
    require_permission(actor)
    # Secrets deferred: loading must not fail when they are unreadable, since this is how to replace them.
    instance = provider_by_id(provider_id, queryset=NotificationProvider.objects.select_for_update().defer("secrets"))
    require_permission(actor, "providers.change_notificationprovider", obj=instance)
    if provider is not None and get_provider_kind(provider).key != instance.provider:
        raise Conflict(
            f"This provider is of kind {instance.provider!r}; a {provider!r} config cannot be applied to it.",
            code=ErrorCode.PROVIDER_TYPE_MISMATCH,
        )
    kind = get_provider_kind(instance.provider)
    stored_secrets = _readable_secrets(instance)
    clean_config, secrets = kind.validate(config, stored_secrets=stored_secrets)
    changed = _changed_fields(instance.config, clean_config) + _changed_fields(stored_secrets, secrets)
    instance.config, instance.secrets = clean_config, secrets
    instance.save(update_fields=["config", "secrets", "updated_at"])
    audit_entry_create(
        actor=actor,
        action="notification_provider.config_update",
        object_type=OBJECT_TYPE,
        object_id=instance.pk,
        detail={"provider": instance.provider, "fields": changed},
    )
    transaction.on_commit(invalidate_sender_cache)
    return instance


def _clean_send_to(send_to: Any) -> str:
    try:
        if not isinstance(send_to, str):
            raise DjangoValidationError("not a string")
        validate_email(send_to)
    except DjangoValidationError:
        raise ValidationError.for_field("send_to", "Enter a valid email address.") from None
    return send_to


def _run_smtp_test(instance: NotificationProvider, send_to: str | None) -> ProviderTestResult:
    config = SMTP.resolve(instance.config, instance.secrets)
    endpoint = provider_endpoint(config)
    steps = ["connected", "secured with TLS" if endpoint.tls else "plaintext (insecure)"]
    if endpoint.username and endpoint.password:
        steps.append("authenticated")
    try:
        backend = open_backend(endpoint)
        try:
            if send_to:
                message = EmailMessage(
                    subject=TEST_SUBJECT,
                    body=f"This test message confirms that the notification provider {instance.name!r} can send.",
                    from_email=formataddr((config.from_name, config.from_email)),
                    to=[send_to],
                    connection=backend,
                )
                send_messages(backend, [message])
                steps.append("sent a test message")
        finally:
            backend.close()
    except SmtpError as exc:
        return ProviderTestResult(success=False, error_code=str(exc.code), message=exc.message)
    return ProviderTestResult(
        success=True, error_code=None, message=f"{config.relay}:{config.port}: " + ", ".join(steps) + "."
    )


def notification_provider_test(*, actor: Any, provider_id: Any, send_to: Any = None) -> ProviderTestResult:
    """Connects, secures and authenticates as the provider would; sends one message when `send_to` is given.

    SMTP failures come back as an unsuccessful result with their code; bad input and missing
    permissions raise. Not atomic: no transaction is held open while talking to the relay.
    """
    require_permission(actor)
    instance = provider_by_id(provider_id)
    require_permission(actor, "providers.test_notificationprovider", obj=instance)
    recipient = _clean_send_to(send_to) if send_to else None
    if instance.provider != SMTP.key:
        raise ValidationError.for_field("provider", f"Testing is not supported for {instance.provider!r} providers.")
    rate_limit_hit(actor=actor)
    result = _run_smtp_test(instance, recipient)
    audit_entry_create(
        actor=actor,
        action="notification_provider.test",
        object_type=OBJECT_TYPE,
        object_id=instance.pk,
        detail={"success": result.success, "error_code": result.error_code, "send_requested": recipient is not None},
    )
    return result

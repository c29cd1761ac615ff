"""Writes for channels and rules. Every interface (REST, GraphQL, admin, CLI) calls these."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError

from core.actors import require_permission
from core.errors import Conflict, ErrorCode, ValidationError
from core.services import audit_entry_create
from notifications import rendering
from notifications.channel_kinds import get_kind
from notifications.event_types import get_event_type
from notifications.models import Channel, Rule
from notifications.selectors import channel_get, rule_get

_UNSET: Any = object()


def _clean_name(name: Any, *, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError.for_field(field, "A name of 1 to 256 characters is required.")
    name = name.strip()
    if len(name) > 256:
        raise ValidationError.for_field(field, "A name may have at most 256 characters.")
    return name


def _clean_text(value: Any, *, field: str, max_length: int = 10_000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError.for_field(field, "Expected a string.")
    if len(value) > max_length:
        raise ValidationError.for_field(field, f"At most {max_length} characters.")
    return value


def _clean_bool(value: Any, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError.for_field(field, "Expected true or false.")
    return value


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _save_unique_name(instance: Channel) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise Conflict(
            f"A channel named {instance.name!r} already exists.",
            code=ErrorCode.DUPLICATE_NAME,
            fields={"name": ["A channel with this name already exists."]},
        ) from None


@transaction.atomic
def channel_create(
    *,
    actor: Any,
    name: Any,
    channel_type: Any,
    config: Any,
    description: Any = "",
    enabled: Any = True,
) -> Channel:
    require_permission(actor, "notifications.add_channel")
    kind = get_kind(channel_type)
    clean_config, secrets = kind.validate(config)
    channel = Channel(
        name=_clean_name(name),
        description=_clean_text(description, field="description"),
        channel_type=kind.key,
        config=clean_config,
        secrets=secrets,
        enabled=_clean_bool(enabled, field="enabled"),
        created_by=_user(actor),
    )
    _save_unique_name(channel)
    audit_entry_create(
        actor=actor,
        action="channel.create",
        object_type="channel",
        object_id=channel.pk,
        detail={"fields": ["name", "channel_type", "config", "description", "enabled"]},
    )
    return channel


@transaction.atomic
def channel_update(
    *,
    actor: Any,
    channel_id: Any,
    name: Any = _UNSET,
    description: Any = _UNSET,
    channel_type: Any = _UNSET,
    config: Any = _UNSET,
    enabled: Any = _UNSET,
) -> Channel:
    """Changes the given fields. A config that omits a secret keeps the stored one."""
    require_permission(actor, "notifications.change_channel")
    channel = channel_get(actor=actor, channel_id=channel_id)
    channel = Channel.objects.select_for_update().get(pk=channel.pk)
    changed = []
    if channel_type is not _UNSET and channel_type != channel.channel_type:
        kind = get_kind(channel_type)
        if config is _UNSET:
            raise ValidationError.for_field("config", "A new channel type needs a config of that type.")
        channel.channel_type = kind.key
        channel.secrets = {}
        changed.append("channel_type")
    if name is not _UNSET:
        channel.name = _clean_name(name)
        changed.append("name")
    if description is not _UNSET:
        channel.description = _clean_text(description, field="description")
        changed.append("description")
    if enabled is not _UNSET:
        channel.enabled = _clean_bool(enabled, field="enabled")
        changed.append("enabled")
    if config is not _UNSET:
        channel.config, channel.secrets = get_kind(channel.channel_type).validate(
            config, stored_secrets=channel.secrets
        )
        changed.append("config")
    _save_unique_name(channel)
    audit_entry_create(
        actor=actor, action="channel.update", object_type="channel", object_id=channel.pk, detail={"fields": changed}
    )
    return channel


@transaction.atomic
def channel_delete(*, actor: Any, channel_id: Any) -> None:
    require_permission(actor, "notifications.delete_channel")
    channel = channel_get(actor=actor, channel_id=channel_id)
    try:
        with transaction.atomic():
            channel.delete()
    except ProtectedError:
        rule_names = sorted(rule.name for rule in channel.rules.all()[:5])
        raise Conflict(
            f"Channel {channel.name!r} is used by rules ({', '.join(rule_names)}); delete or move them first.",
            code=ErrorCode.CHANNEL_IN_USE,
        ) from None
    audit_entry_create(actor=actor, action="channel.delete", object_type="channel", object_id=channel_id)


def _check_rule_templates(rule: Rule) -> None:
    event_type = get_event_type(rule.event_type)
    rendering.check_template(rule.message_template, field="message_template")
    rendering.check_template(rule.subject_template, field="subject_template")
    if rule.condition:
        rendering.check_template(rule.condition, field="condition", kind="expression")
    rendering.check_against_example(
        templates={
            "message_template": (rule.message_template, "text"),
            "subject_template": (rule.subject_template, "text"),
        },
        event_type=rule.event_type,
        example=event_type.example,
        condition=rule.condition,
    )


def _resolve_channel(actor: Any, channel: Any) -> Channel:
    if isinstance(channel, Channel):
        return channel
    try:
        return channel_get(actor=actor, channel_id=channel)
    except Exception as exc:
        if getattr(exc, "code", None) == ErrorCode.NOT_FOUND:
            raise ValidationError.for_field("channel", f"Channel {channel} does not exist.") from None
        raise


@transaction.atomic
def rule_create(
    *,
    actor: Any,
    name: Any,
    event_type: Any,
    channel: Any,
    message_template: Any = "",
    subject_template: Any = "",
    condition: Any = "",
    description: Any = "",
    enabled: Any = True,
) -> Rule:
    require_permission(actor, "notifications.add_rule")
    rule = Rule(
        name=_clean_name(name),
        description=_clean_text(description, field="description"),
        event_type=get_event_type(event_type).code,
        channel=_resolve_channel(actor, channel),
        message_template=_clean_text(message_template, field="message_template", max_length=10**6),
        subject_template=_clean_text(subject_template, field="subject_template", max_length=998),
        condition=_clean_text(condition, field="condition", max_length=4096),
        enabled=_clean_bool(enabled, field="enabled"),
        created_by=_user(actor),
    )
    _check_rule_templates(rule)
    rule.save()
    audit_entry_create(actor=actor, action="rule.create", object_type="rule", object_id=rule.pk)
    return rule


@transaction.atomic
def rule_update(
    *,
    actor: Any,
    rule_id: Any,
    name: Any = _UNSET,
    event_type: Any = _UNSET,
    channel: Any = _UNSET,
    message_template: Any = _UNSET,
    subject_template: Any = _UNSET,
    condition: Any = _UNSET,
    description: Any = _UNSET,
    enabled: Any = _UNSET,
) -> Rule:
    require_permission(actor, "notifications.change_rule")
    rule = rule_get(actor=actor, rule_id=rule_id)
    changes = {
        "name": (name, lambda v: _clean_name(v)),
        "description": (description, lambda v: _clean_text(v, field="description")),
        "event_type": (event_type, lambda v: get_event_type(v).code),
        "channel": (channel, lambda v: _resolve_channel(actor, v)),
        "message_template": (message_template, lambda v: _clean_text(v, field="message_template", max_length=10**6)),
        "subject_template": (subject_template, lambda v: _clean_text(v, field="subject_template", max_length=998)),
        "condition": (condition, lambda v: _clean_text(v, field="condition", max_length=4096)),
        "enabled": (enabled, lambda v: _clean_bool(v, field="enabled")),
    }
    changed = []
    for field, (value, clean) in changes.items():
        if value is not _UNSET:
            setattr(rule, field, clean(value))
            changed.append(field)
    _check_rule_templates(rule)
    rule.save()
    audit_entry_create(
        actor=actor, action="rule.update", object_type="rule", object_id=rule.pk, detail={"fields": changed}
    )
    return rule


@transaction.atomic
def rule_delete(*, actor: Any, rule_id: Any) -> None:
    require_permission(actor, "notifications.delete_rule")
    rule = rule_get(actor=actor, rule_id=rule_id)
    rule.delete()
    audit_entry_create(actor=actor, action="rule.delete", object_type="rule", object_id=rule_id)

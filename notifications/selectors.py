"""Reads. Each takes the acting user and checks the view permission, so every interface shares it."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from core.actors import require_permission
from core.errors import NotFound
from notifications.channel_kinds import get_kind
from notifications.event_types import EventType, registered_event_types
from notifications.models import Channel, Delivery, Event, Rule


def _get(queryset: QuerySet, object_id: Any, label: str) -> Any:
    try:
        return queryset.get(pk=uuid.UUID(str(object_id)))
    except (ValueError, TypeError, queryset.model.DoesNotExist):
        raise NotFound(f"{label} {object_id} does not exist.") from None


def channel_list(*, actor: Any) -> QuerySet[Channel]:
    require_permission(actor, "notifications.view_channel")
    return Channel.objects.all()


def channel_get(*, actor: Any, channel_id: Any) -> Channel:
    require_permission(actor, "notifications.view_channel")
    return _get(Channel.objects.all(), channel_id, "Channel")


def channel_public_config(channel: Channel) -> dict[str, Any]:
    """The config as any interface may show it: no secret values, has_* markers instead."""
    return get_kind(channel.channel_type).public_config(channel.config, channel.secrets)


def rule_list(*, actor: Any) -> QuerySet[Rule]:
    require_permission(actor, "notifications.view_rule")
    return Rule.objects.select_related("channel")


def rule_get(*, actor: Any, rule_id: Any) -> Rule:
    require_permission(actor, "notifications.view_rule")
    return _get(Rule.objects.select_related("channel"), rule_id, "Rule")


def event_list(*, actor: Any) -> QuerySet[Event]:
    require_permission(actor, "notifications.view_event")
    return Event.objects.all()


def event_get(*, actor: Any, event_id: Any) -> Event:
    require_permission(actor, "notifications.view_event")
    return _get(Event.objects.all(), event_id, "Event")


def delivery_list(*, actor: Any) -> QuerySet[Delivery]:
    require_permission(actor, "notifications.view_delivery")
    return Delivery.objects.select_related("event", "rule", "channel")


def delivery_get(*, actor: Any, delivery_id: Any) -> Delivery:
    require_permission(actor, "notifications.view_delivery")
    return _get(
        Delivery.objects.select_related("event", "rule", "channel").prefetch_related("attempt_log"),
        delivery_id,
        "Delivery",
    )


def event_type_list(*, actor: Any, search: str = "") -> list[EventType]:
    """The registered event types, for anyone who may see events (viewers, writers, publishers).

    `search` keeps the types whose code or description contains it (case-insensitive).
    """
    require_permission(actor, "notifications.view_event")
    needle = search.lower()
    return [
        event_type
        for event_type in registered_event_types().values()
        if needle in event_type.code.lower() or needle in event_type.description.lower()
    ]


def event_type_get(*, actor: Any, code: str) -> EventType:
    require_permission(actor, "notifications.view_event")
    try:
        return registered_event_types()[code]
    except KeyError:
        raise NotFound(f"Event type {code!r} is not registered.") from None

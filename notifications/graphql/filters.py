"""Filter and order arguments of the list queries, applied to the querysets the selectors return."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import graphene
from django.db.models import QuerySet

from core.graphql import parse_id, plain
from notifications.graphql.types import NotificationChannelType, NotificationDeliveryStatus


class NotificationChannelFilter(graphene.InputObjectType):
    channel_type = NotificationChannelType()
    enabled = graphene.Boolean()
    name_contains = graphene.String(description="Case-insensitive.")


class NotificationChannelOrderBy(graphene.Enum):
    """Ties are broken by id, so pages are stable. Default: NAME_ASC."""

    NAME_ASC = "name"
    NAME_DESC = "-name"
    CREATED_AT_ASC = "created_at"
    CREATED_AT_DESC = "-created_at"
    UPDATED_AT_ASC = "updated_at"
    UPDATED_AT_DESC = "-updated_at"


class NotificationRuleFilter(graphene.InputObjectType):
    event_type = graphene.String()
    channel_id = graphene.ID(description="A global id or the channel's UUID.")
    enabled = graphene.Boolean()
    name_contains = graphene.String(description="Case-insensitive.")


class NotificationRuleOrderBy(graphene.Enum):
    """Ties are broken by id, so pages are stable. Default: NAME_ASC."""

    NAME_ASC = "name"
    NAME_DESC = "-name"
    EVENT_TYPE_ASC = "event_type"
    EVENT_TYPE_DESC = "-event_type"
    CREATED_AT_ASC = "created_at"
    CREATED_AT_DESC = "-created_at"
    UPDATED_AT_ASC = "updated_at"
    UPDATED_AT_DESC = "-updated_at"


class NotificationDeliveryFilter(graphene.InputObjectType):
    status = graphene.List(graphene.NonNull(NotificationDeliveryStatus), description="Any of these statuses.")
    event_type = graphene.String()
    event_id = graphene.ID(description="A global id or the event's UUID.")
    rule_id = graphene.ID(description="A global id or the rule's UUID.")
    channel_id = graphene.ID(description="A global id or the channel's UUID.")
    created_after = graphene.DateTime(description="Inclusive.")
    created_before = graphene.DateTime(description="Exclusive.")


_ID_TYPES = {"event_id": "NotificationEvent", "rule_id": "NotificationRule", "channel_id": "NotificationChannel"}

CHANNEL_LOOKUPS = {"channel_type": "channel_type", "enabled": "enabled", "name_contains": "name__icontains"}
RULE_LOOKUPS = {
    "event_type": "event_type",
    "channel_id": "channel_id",
    "enabled": "enabled",
    "name_contains": "name__icontains",
}
DELIVERY_LOOKUPS = {
    "status": "status__in",
    "event_type": "event__event_type",
    "event_id": "event_id",
    "rule_id": "rule_id",
    "channel_id": "channel_id",
    "created_after": "created_at__gte",
    "created_before": "created_at__lt",
}


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def filtered(
    queryset: QuerySet, values: Mapping[str, Any] | None, lookups: Mapping[str, str], order_by: Any
) -> QuerySet:
    """Applies the given non-null filter fields (an id that names nothing matches nothing) and the
    order, `order_by` being a field name with an optional minus; ties are broken by id."""
    conditions = {}
    for name, value in plain(values or {}).items():
        if value is None:
            continue
        if name in _ID_TYPES:
            value = _uuid_or_none(parse_id(value, _ID_TYPES[name]))
            if value is None:
                return queryset.none()
        conditions[lookups[name]] = value
    return queryset.filter(**conditions).order_by(plain(order_by), "id")

"""Reads of notification providers. Each checks the view permission, so every interface shares it."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from core.actors import require_permission
from core.errors import NotFound
from providers.kinds import get_provider_kind
from providers.models import NotificationProvider

VIEW_PERMISSION = "providers.view_notificationprovider"


def provider_by_id(provider_id: Any, *, queryset: QuerySet[NotificationProvider] | None = None) -> NotificationProvider:
    """The provider row without a permission check, for services that check against the object."""
    queryset = NotificationProvider.objects.all() if queryset is None else queryset
    try:
        return queryset.get(pk=uuid.UUID(str(provider_id)))
    except (ValueError, TypeError, NotificationProvider.DoesNotExist):
        raise NotFound(f"Notification provider {provider_id} does not exist.") from None


def notification_provider_list(*, actor: Any) -> QuerySet[NotificationProvider]:
    require_permission(actor, VIEW_PERMISSION)
    return NotificationProvider.objects.all()


def notification_provider_get(*, actor: Any, provider_id: Any) -> NotificationProvider:
    require_permission(actor)
    provider = provider_by_id(provider_id)
    require_permission(actor, VIEW_PERMISSION, obj=provider)
    return provider


def notification_provider_public_config(provider: NotificationProvider) -> dict[str, Any]:
    """The config as any interface may show it: no credential, `has_username` / `has_password` instead."""
    return get_provider_kind(provider.provider).public_config(provider.config, provider.secrets)

from __future__ import annotations

from typing import Any

from core.actors import SystemActor, actor_name
from core.models import AuditEntry


def audit_entry_create(
    *, actor: Any, action: str, object_type: str, object_id: Any = "", detail: dict[str, Any] | None = None
) -> AuditEntry:
    user = None if isinstance(actor, SystemActor) or not getattr(actor, "is_authenticated", False) else actor
    return AuditEntry.objects.create(
        actor_user=user,
        actor=actor_name(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        detail=detail or {},
    )

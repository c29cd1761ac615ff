"""Who performs an action: a user, or a named system process such as key rotation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import NotAuthenticated, PermissionDenied


@dataclass(frozen=True)
class SystemActor:
    """A process of the service itself; it holds every permission and is named in the audit log."""

    name: str
    is_authenticated: bool = True
    is_superuser: bool = True
    is_active: bool = True
    pk: None = None

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return True

    def get_username(self) -> str:
        return self.name


class Actor(Protocol):
    is_authenticated: bool

    def has_perm(self, perm: str, obj: Any = None) -> bool: ...


def actor_name(actor: Any) -> str:
    if isinstance(actor, SystemActor):
        return actor.name
    return actor.get_username() if getattr(actor, "is_authenticated", False) else "anonymous"


def require_permission(actor: Any, *perms: str, obj: Any = None) -> None:
    """Raises NotAuthenticated for anonymous actors and PermissionDenied when any perm is missing.

    With `obj`, a perm held for all objects or for that object alone (an object-permission backend;
    Django's ModelBackend grants none per object) suffices.
    """
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated("Authentication is required.")
    missing = [perm for perm in perms if not (actor.has_perm(perm) or (obj is not None and actor.has_perm(perm, obj)))]
    if missing:
        raise PermissionDenied(f"You lack the permission {missing[0]}.")
